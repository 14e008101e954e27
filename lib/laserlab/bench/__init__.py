"""Benchmarks: ``python -m laserlab.bench <name>`` prints medians and ratios against anchors, in one run.

Each benchmark is a module ``laserlab.bench.<name>`` with ``main(argv) -> int``. This package holds the
shared harness: interleaved timing with rotated order (so drifting machine load hits every candidate
alike), CPU-time or wall-clock medians with their spread, thread pinning and a machine header; results are
printed with :func:`laserlab.report.table`.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

from ..checks import check_choice

BENCHMARKS = ("sparse", "vq", "bottlenecks", "lpips", "wasserstein", "train", "spectral", "data", "codecs")


@dataclass
class Timing:
    """Seconds per call over repeated calls; ``items`` per call turns them into per-item figures."""

    label: str
    seconds: list[float]
    items: int = 1

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> tuple[float, float]:
        """(min, max) seconds per call."""
        return min(self.seconds), max(self.seconds)

    def per_item(self, scale: float = 1e6) -> float:
        """Median per item, by default in microseconds."""
        return self.median / self.items * scale


@contextmanager
def threads(n: int):
    """Run torch (and the BLAS it calls) with ``n`` threads inside the block."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def interleaved(
    candidates: dict[str, Callable[[], object]],
    *,
    rounds: int = 7,
    warmup: int = 1,
    clock: str = "cpu",
    items: dict[str, int] | int = 1,
) -> dict[str, Timing]:
    """Time each candidate ``rounds`` times, one call of each per round in rotated order.

    ``clock="cpu"`` measures process CPU time (robust on a shared machine with one thread), ``"wall"``
    wall-clock time (use with several threads or a GPU; synchronise inside the callable).
    """
    check_choice(clock, "clock", ("cpu", "wall"))
    now = time.process_time if clock == "cpu" else time.perf_counter
    labels = list(candidates)
    for label in labels:
        for _ in range(warmup):
            candidates[label]()
    samples: dict[str, list[float]] = {label: [] for label in labels}
    for r in range(rounds):
        for label in labels[r % len(labels) :] + labels[: r % len(labels)]:
            start = now()
            candidates[label]()
            samples[label].append(now() - start)
    count = (lambda label: items.get(label, 1)) if isinstance(items, dict) else (lambda label: items)
    return {label: Timing(label, samples[label], count(label)) for label in labels}


def machine_header(clock: str, n_threads: int) -> str:
    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    load_text = ", ".join(f"{x:.1f}" for x in load)
    return (
        f"# machine: {cpu}, {os.cpu_count()} cores, {device}; load average {load_text}\n"
        f"# torch {torch.__version__}, {n_threads} thread(s), clock: {clock} time, medians over rounds"
    )
