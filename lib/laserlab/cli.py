"""Command line: ``laserlab report | train | bench | lab | compress | decompress`` (also
``python -m laserlab``)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


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

    # flags given explicitly are honoured even when falsy: an empty directory or 0 steps is an error
    if args.output_dir is not None and not args.output_dir.strip():
        raise ValueError(f"--output-dir must be a directory path; got {args.output_dir!r}")
    if args.max_steps is not None and args.max_steps < 1:
        raise ValueError(f"--max-steps must be an int >= 1; got {args.max_steps}")
    config = TrainConfig.from_yaml(args.config)
    if args.output_dir is not None:
        config = config.with_overrides(output_dir=args.output_dir)
    if args.max_steps is not None:
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


CODEC_OPTIONS = ("quality", "factor", "upsample")  # command-line flags passed to codecs.build when given


def _add_codec_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--codec", help="codec name (laserlab.codecs.available() lists them)")
    which.add_argument(
        "--checkpoint", metavar="CKPT", help="training checkpoint of a learned codec (laserlab train)"
    )
    parser.add_argument("--quality", type=int, help="quality 0–100 (jpeg, webp, jpeg2000, avif)")
    parser.add_argument("--factor", type=int, help="downsampling factor (thumbnail)")
    parser.add_argument("--upsample", help="bilinear or bicubic (thumbnail)")


def _codec(args: argparse.Namespace):
    from . import codecs

    options = {key: getattr(args, key) for key in CODEC_OPTIONS if getattr(args, key) is not None}
    if args.checkpoint is not None:
        if options:
            flags = ", ".join(f"--{key}" for key in options)
            raise ValueError(f"{flags}: a codec from --checkpoint takes its settings from the checkpoint")
        return codecs.from_checkpoint(args.checkpoint)
    return codecs.build(args.codec, **options)


def _psnr(reconstruction, target) -> str:
    from .perceptual import psnr

    if reconstruction.shape != target.shape:
        raise ValueError(
            f"the reference image has shape {tuple(target.shape)}, "
            f"the decoded one {tuple(reconstruction.shape)}"
        )
    return f"PSNR {float(psnr(reconstruction[None], target[None])[0]):.2f} dB"


def _writable(path: str) -> Path:
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"cannot write {path}: folder {path.parent} does not exist")
    return path


def _rate(data: bytes, image) -> str:
    _, height, width = image.shape
    return f"{len(data)} bytes, {height}×{width}, {8 * len(data) / (height * width):.4f} bpp"


def _compress(args: argparse.Namespace) -> int:
    from .codecs import read_image

    codec = _codec(args)
    output = _writable(args.output)
    image = read_image(args.image)
    data = codec.encode(image)
    output.write_bytes(data)
    line = f"{codec.label}: {output} {_rate(data, image)}"
    if args.psnr:
        line += f", {_psnr(codec.decode(data), image)}"
    print(line)
    return 0


def _decompress(args: argparse.Namespace) -> int:
    from .codecs import read_image, write_image

    codec = _codec(args)
    output = _writable(args.output)
    source = Path(args.file)
    if not source.is_file():
        raise ValueError(f"compressed file {source} does not exist")
    data = source.read_bytes()
    image = codec.decode(data)
    write_image(image, output)
    line = f"{codec.name}: {source} {_rate(data, image)} → {output}"
    if args.reference:
        line += f", {_psnr(image, read_image(args.reference))}"
    print(line)
    return 0


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

    p = sub.add_parser(
        "compress", help="encode an image file with a codec or a trained checkpoint; prints the rate in bpp"
    )
    _add_codec_arguments(p)
    p.add_argument("image", metavar="IMAGE", help="8-bit RGB or greyscale image file (PNG, JPEG, …)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="compressed file to write")
    p.add_argument("--psnr", action="store_true", help="also decode and print the PSNR against IMAGE")
    p.set_defaults(run=_compress)

    p = sub.add_parser("decompress", help="decode a compressed file to a lossless image file")
    _add_codec_arguments(p)
    p.add_argument(
        "file",
        metavar="FILE",
        help="file from `laserlab compress` (give the same codec and options, or the same checkpoint)",
    )
    p.add_argument("-o", "--output", required=True, metavar="IMAGE", help="image to write (.png, .bmp, …)")
    p.add_argument("--reference", metavar="IMAGE", help="original image: print the PSNR against it")
    p.set_defaults(run=_decompress)

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
