"""``python -m laserlab.bench data``: the folder dataset at scale — start-up, images/s and memory.

Writes ``--files`` small PNG files (default 100,000 RGB images of ``--size``² pixels, ``--per-folder`` to
a subfolder) into a temporary folder, and a ``--baseline-files`` folder (default 1,000) beside it. Every
measurement runs in a fresh Python process, the folders interleaved in rotated order over ``--rounds``,
so start-up and memory belong to that process alone:

- start-up: seconds for ``dataset("folder", root=..., split="all")`` (it lists the folder; the files are
  in the page cache, having just been written);
- images/s: ``--sample`` items spread evenly over the folder, read through ``__getitem__`` (decode,
  scale to [0, 1], resize to ``--image-size``);
- memory: RSS growth over the construction (what the index of paths costs), RSS growth after reading
  the sample, and the process's peak RSS (which includes torch).

Anchor: the former construction, which decoded every file once to find unreadable ones before the first
item, timed on the baseline folder and scaled linearly to ``--files`` (labelled estimate). Prints medians
over the rounds with their min–max; the folders are deleted at the end (``--dir`` puts them elsewhere).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..report import table
from . import machine_header

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import numpy as np, psutil, torch
from laserlab.data import dataset
from laserlab.data.datasets import IMAGE_SUFFIXES
root, mode = sys.argv[1], sys.argv[5]
sample, image_size, threads = (int(a) for a in sys.argv[2:5])
torch.set_num_threads(threads)
process = psutil.Process()
before = process.memory_info().rss
start = time.perf_counter()
if mode == "lazy":
    data = dataset("folder", root=root, split="all", image_size=image_size)
    count = len(data)
else:  # the former construction: sorted rglob, then every file decoded once
    from PIL import Image
    files = sorted(p for p in Path(root).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    readable = []
    for path in files:
        with Image.open(path) as image:
            image.convert("RGB").load()
        readable.append(path)
    count = len(readable)
startup = time.perf_counter() - start
built = process.memory_info().rss
seconds, sampled = None, 0
if mode == "lazy":
    indices = np.linspace(0, count - 1, min(sample, count)).round().astype(int)
    sampled = len(indices)
    start = time.perf_counter()
    for i in indices:
        data[int(i)]
    seconds = time.perf_counter() - start
    assert data.skipped == 0
result = {
    "files": count, "startup": startup, "sample": sampled, "seconds": seconds,
    "index_rss": built - before, "after_rss": process.memory_info().rss - before,
    "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
}
print(json.dumps(result))
"""


def write_folder(root: Path, count: int, *, size: int, per_folder: int, variants: int = 64) -> float:
    """``count`` PNG files of ``size``² random RGB pixels under ``root``, ``per_folder`` to a subfolder
    (``variants`` distinct images, encoded once and written in turn); returns the seconds it took."""
    from PIL import Image

    start = time.perf_counter()
    rng = np.random.default_rng(0)
    encoded = []
    for _ in range(variants):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buffer, "PNG")
        encoded.append(buffer.getvalue())
    for i in range(count):
        folder = root / f"part_{i // per_folder:05d}"
        if i % per_folder == 0:
            folder.mkdir(parents=True)
        (folder / f"image_{i:07d}.png").write_bytes(encoded[i % variants])
    return time.perf_counter() - start


def _measure(root: Path, args, mode: str) -> dict:
    import laserlab

    library = str(Path(laserlab.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [library, os.environ.get("PYTHONPATH")]))}
    argv = [str(root), str(args.sample), str(args.image_size), str(args.threads), mode]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *argv], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"measurement process failed ({mode}, {root}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m laserlab.bench data", description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100_000, help="files in the large folder")
    parser.add_argument("--baseline-files", type=int, default=1_000, help="files in the small folder")
    parser.add_argument("--size", type=int, default=16, help="side of each PNG in pixels")
    parser.add_argument("--per-folder", type=int, default=1_000, help="files per subfolder")
    parser.add_argument("--sample", type=int, default=2_000, help="items read to time images/s")
    parser.add_argument("--image-size", type=int, default=16, help="the dataset's image_size")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dir", default=None, help="where to write the temporary folders")
    args = parser.parse_args(argv)
    for name in (
        "files",
        "baseline_files",
        "size",
        "per_folder",
        "sample",
        "image_size",
        "rounds",
        "threads",
    ):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive int; got {getattr(args, name)}")

    print(machine_header("wall", args.threads))
    workdir = Path(tempfile.mkdtemp(prefix="laserlab-bench-data-", dir=args.dir))
    try:
        folders = {"baseline": workdir / "baseline", "large": workdir / "large"}
        counts = {"baseline": args.baseline_files, "large": args.files}
        written = {
            k: write_folder(folders[k], counts[k], size=args.size, per_folder=args.per_folder)
            for k in folders
        }
        print(
            f"# {args.files:,} and {args.baseline_files:,} PNG files of {args.size}×{args.size} RGB "
            f"({args.per_folder:,} per subfolder; written in {written['large']:.1f} s and "
            f"{written['baseline']:.1f} s); sample {args.sample:,} items, image_size {args.image_size}, "
            f"{args.rounds} round(s), a fresh process per measurement"
        )
        runs: dict[str, list[dict]] = {"baseline": [], "large": [], "former": []}
        jobs = [("baseline", "lazy"), ("large", "lazy"), ("former", "former")]
        for r in range(args.rounds):
            for label, mode in jobs[r % len(jobs) :] + jobs[: r % len(jobs)]:
                root = folders["baseline" if label == "former" else label]
                runs[label].append(_measure(root, args, mode))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    mb = 2**20
    rows = []
    for label in ("baseline", "large"):
        results = runs[label]
        rates = [r["sample"] / r["seconds"] for r in results]
        rows.append([
            f"dataset('folder'), {results[0]['files']:,} files",
            _median([r["startup"] for r in results], ".3f"),
            _median(rates, ".0f"),
            f"{statistics.median(r['index_rss'] for r in results) / mb:.1f}",
            f"{statistics.median(r['after_rss'] for r in results) / mb:.1f}",
            f"{statistics.median(r['peak_rss'] for r in results) / mb:.0f}",
        ])  # fmt: skip
    former = statistics.median(r["startup"] for r in runs["former"])
    rows.append([
        f"former: decode all at start, {args.baseline_files:,} files",
        _median([r["startup"] for r in runs["former"]], ".3f"), "", "", "", "",
    ])  # fmt: skip
    rows.append(
        [f"former, {args.files:,} files (estimate)", f"{former * args.files / args.baseline_files:.1f}"]
    )
    rows[-1] += [""] * 4
    header = ["construction", "start-up s", "images/s", "RSS +index MB", "RSS +sample MB", "peak RSS MB"]
    print(table(rows, header))
    large = statistics.median(r["index_rss"] for r in runs["large"])
    small = statistics.median(r["index_rss"] for r in runs["baseline"])
    lazy = statistics.median(r["startup"] for r in runs["large"])
    extra = max(args.files - args.baseline_files, 1)
    print(
        f"index memory: {(large - small) / extra:.1f} bytes per extra file "
        f"({(large - small) / mb:+.1f} MB from {args.baseline_files:,} to {args.files:,} files); "
        f"start-up {former * args.files / args.baseline_files / lazy:.0f}x faster than the former estimate"
    )
    return 0
