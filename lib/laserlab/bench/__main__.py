"""``python -m laserlab.bench <name> [options]``: run one benchmark module."""

from __future__ import annotations

import importlib
import importlib.util
import sys

from . import BENCHMARKS


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    available = [n for n in BENCHMARKS if importlib.util.find_spec(f"laserlab.bench.{n}") is not None]
    if not argv or argv[0] not in available:
        got = repr(argv[0]) if argv else "nothing"
        print(
            f"usage: python -m laserlab.bench NAME [options]; NAME is one of {available}; got {got}",
            file=sys.stderr,
        )
        return 2
    return importlib.import_module(f"laserlab.bench.{argv[0]}").main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
