"""Command line: ``laserlab report | train | bench | lab`` (also ``python -m laserlab``)."""

from __future__ import annotations

import argparse
import subprocess
import sys


def _report(args: argparse.Namespace) -> int:
    from . import paths, report

    results = report.run_report(args.profile, only=args.only or None, timeout=args.timeout)
    index = paths.reports_dir() / args.profile / "index.html"
    failed = [r.name for r in results if not r.ok]
    print(f"report: {index} ({len(results) - len(failed)}/{len(results)} OK)")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _train(args: argparse.Namespace) -> int:
    from .train import TrainConfig, fit

    config = TrainConfig.from_yaml(args.config)
    if args.output_dir:
        config = config.with_overrides(output_dir=args.output_dir)
    if args.max_steps:
        config = config.with_overrides(trainer={"max_steps": args.max_steps})
    result = fit(config)
    for name, value in sorted(result.metrics.items()):
        print(f"{name}: {value:.6g}")
    print(f"checkpoint: {result.checkpoints['last']}\nlogs: {result.log_dir}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .bench.__main__ import main as bench_main

    return bench_main(args.rest)


def _lab(args: argparse.Namespace) -> int:
    from . import paths

    return subprocess.call(
        [sys.executable, "-m", "jupyter", "lab", f"--notebook-dir={paths.notebooks_dir()}", *args.rest]
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="laserlab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("report", help="execute every notebook with a profile and write reports/<profile>/")
    p.add_argument(
        "--profile", default="quick", help="parameter profile in notebooks/params (default: quick)"
    )
    p.add_argument(
        "--only", nargs="+", metavar="NAME", help="run only these notebooks (names without .ipynb)"
    )
    p.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds allowed per notebook (default: 1800)"
    )
    p.set_defaults(run=_report)

    p = sub.add_parser("train", help="train an autoencoder from a YAML config (resumes from last.ckpt)")
    p.add_argument(
        "--config", required=True, metavar="FILE", help="YAML training config (laserlab.train.config)"
    )
    p.add_argument("--output-dir", metavar="DIR", help="override the config's output_dir")
    p.add_argument("--max-steps", type=int, metavar="N", help="override trainer.max_steps")
    p.set_defaults(run=_train)

    p = sub.add_parser("bench", help="benchmarks: medians and ratios against anchors")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="benchmark name and its options")
    p.set_defaults(run=_bench)

    p = sub.add_parser("lab", help="start JupyterLab on the notebooks")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="extra arguments for jupyter lab")
    p.set_defaults(run=_lab)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError) as error:  # bad input: one clear line, no traceback
        print(f"laserlab {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
