"""Spectral regularisation on learned codecs: baseline vs phase 1 vs phase 2 vs phase 1+2, seeds × λ.

Cong et al. (ICLR 2026) report that two regularisers speed up the rate–distortion training of hierarchical
(multi-scale latent) codecs: 2.30× with both phases, 1.84× with phase 1 (the DCT truncation curriculum)
alone and 0.91× (slower) with phase 2 (the cross-scale penalty) alone, and that they are ineffective or
harmful on single-scale codecs. This module runs that comparison with :func:`laserlab.train.fit` and
measures it:

- :func:`run_grid` trains every *arm* (a learned codec model section, e.g. a hierarchical VAE and a
  single-scale mean-scale hyperprior) × *variant* (:data:`VARIANTS`) × λ × seed from one base config, on
  the ``rate_distortion`` loss, each run in a fresh folder. A variant with phase 2 is skipped, with the
  reason, for an arm whose model has fewer than two latents (:func:`phase2_unavailable`).
- :func:`speedups` — per (arm, variant, λ, seed): the steps the variant needs to reach the same-seed
  baseline's final validation R-D loss, and baseline steps / variant steps;
- :func:`spread` — mean ± sample standard deviation and min–max over seeds;
- :func:`coded_points`, :func:`bd_rates` — real files of every trained codec on held-out images, and the
  Bjøntegaard-delta rate of each variant against the same-seed baseline over the λ sweep (≥ 4 λ);
- :func:`redundancies` — R² of each coarser latent from the finer one's Haar sub-bands
  (:func:`laserlab.spectral.cross_scale_redundancy`) on held-out images;
- :func:`verdict` — sentences, from the numbers, on whether the paper's speed-ups are reproduced.

The R-D loss compared is the validation ``loss_rate_distortion`` (λ·255²·MSE + bpp on clean held-out
images): the total ``loss`` of a phase-2 run also holds the cross-scale predictor's error, so it is not
comparable across variants.
"""

from __future__ import annotations

import math
import re
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..checks import check_nonnegative_int, check_number
from ..codecs import RDPoint, bd_rate, evaluate, from_checkpoint
from ..models import build_model
from ..spectral import cross_scale_redundancy
from ..train import TrainConfig, fit, late_gain, steps_to_reach

#: variant label → (phase 1, phase 2)
VARIANTS: dict[str, tuple[bool, bool]] = {
    "baseline": (False, False),
    "phase 1": (True, False),
    "phase 2": (False, True),
    "phase 1+2": (True, True),
}

#: the validation column compared across variants (see the module docstring)
RD_LOSS = "val/loss_rate_distortion"

#: what the paper reports for its hierarchical codec (speed-up: baseline epochs / variant epochs to the
#: baseline's final R-D; BD-rate: the ablation's figures, whose anchor the available summaries do not pin
#: down, and for both phases DHIC-Regu against VTM-22.0 on Kodak beside DHIC-Base's figure)
PAPER = {
    "phase 1": {"speedup": 1.84, "bd_rate": "−1.07 %"},
    "phase 2": {"speedup": 0.91, "bd_rate": "−7.66 %"},
    "phase 1+2": {"speedup": 2.30, "bd_rate": "−19.73 % vs VTM (DHIC-Base −11.16 %)"},
}


@dataclass(frozen=True)
class RunKey:
    """One training: ``arm`` (a key of :func:`run_grid`'s ``arms``), ``variant`` (of :data:`VARIANTS`),
    ``lmbda`` (the R-D trade-off λ) and ``seed``."""

    arm: str
    variant: str
    lmbda: float
    seed: int

    @property
    def folder(self) -> str:
        """The run's folder below the grid's output directory, e.g. ``hvae/phase_1and2/lambda0.013/seed0``."""

        def slug(text: str) -> str:
            return re.sub(r"[^A-Za-z0-9_.-]+", "_", text.replace("+", "and"))

        return f"{slug(self.arm)}/{slug(self.variant)}/lambda{self.lmbda:g}/seed{self.seed}"


@dataclass
class Run:
    """One finished training.

    - ``history`` — :meth:`laserlab.train.FitResult.history` (``{column: [(step, value), ...]}``);
    - ``metrics`` — the final held-out metrics (``val/loss_rate_distortion``, ``val/bpp``, ``val/psnr``...);
    - ``model`` — the trained model (eval mode); ``checkpoint`` — its ``last.ckpt``;
    - ``wall_seconds`` / ``cpu_seconds`` — time for :func:`laserlab.train.fit` (CPU: this process, all
      threads).
    """

    key: RunKey
    history: dict[str, list[tuple[int, float]]]
    metrics: dict[str, float]
    model: nn.Module
    checkpoint: Path
    wall_seconds: float
    cpu_seconds: float


@dataclass
class Grid:
    """What :func:`run_grid` returns: ``runs`` by :class:`RunKey`, and ``skipped`` — (arm, variant) → why
    it cannot run — with the grid's axes."""

    runs: dict[RunKey, Run]
    skipped: dict[tuple[str, str], str]
    arms: list[str]
    variants: list[str]
    lmbdas: list[float]
    seeds: list[int]

    def run(self, arm: str, variant: str, lmbda: float, seed: int) -> Run:
        return self.runs[RunKey(arm, variant, lmbda, seed)]

    def ran(self, arm: str) -> list[str]:
        """The variants that ran for ``arm``, in grid order."""
        return [v for v in self.variants if (arm, v) not in self.skipped]

    @property
    def wall_seconds(self) -> float:
        return math.fsum(run.wall_seconds for run in self.runs.values())

    @property
    def cpu_seconds(self) -> float:
        return math.fsum(run.cpu_seconds for run in self.runs.values())


def phase2_unavailable(model: dict) -> str | None:
    """Why the phase-2 cross-scale penalty cannot train ``model`` (a flat model section such as
    ``{"name": "mean_scale_hyperprior", "N": 16, "M": 16}``), or ``None`` when it can: the penalty compares
    consecutive latents (``latent_channels``, fine to coarse), so it needs two or more. (The model is
    built once on the CPU to read them: CompressAI's entropy models cannot be built on the ``meta``
    device.)"""
    options = dict(model)
    name = options.pop("name")
    channels = list(build_model(name, **options).latent_channels)
    if len(channels) >= 2:
        return None
    return (
        f"{name} has {len(channels)} latent decoded into the image (latent_channels {channels}); the "
        "cross-scale penalty needs a pair of latent scales (a hyperprior's z is side information, not a "
        "scale of the reconstruction)"
    )


def _check_axes(values, name: str, kind: str) -> list:
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise TypeError(f"{name} must be a non-empty list of {kind}; got {values!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must not repeat a value; got {list(values)}")
    return list(values)


def run_grid(
    base: TrainConfig,
    *,
    arms: dict[str, dict],
    lmbdas: Sequence[float],
    seeds: Sequence[int],
    output_dir: str | Path,
    variants: Sequence[str] = tuple(VARIANTS),
    on_run: Callable[[Run], None] | None = None,
) -> Grid:
    """Train every arm × variant × λ × seed from ``base`` and return the :class:`Grid`.

    ``base`` carries everything the runs share: data, optimiser, trainer (``max_steps``), and the
    ``spectral`` section's τ schedule, window (``steps``), mask ``kind``, ``delta`` and ``normalize``;
    each run replaces its ``model`` section with ``arms[arm]`` (a flat learned-codec section), sets
    ``spectral.phase1`` / ``phase2`` from :data:`VARIANTS`, the ``rate_distortion`` λ and the seed, and
    writes to ``output_dir / key.folder`` (emptied first). Variants with phase 2 are skipped for arms with
    a single latent (:func:`phase2_unavailable`). ``on_run`` is called with each finished :class:`Run`
    (e.g. to print progress).
    """
    if not isinstance(base, TrainConfig):
        raise TypeError(f"base must be a TrainConfig (laserlab.train.recipe); got {type(base).__name__}")
    if not isinstance(arms, dict) or not arms:
        raise TypeError(f"arms must be a non-empty {{label: model section}}; got {arms!r}")
    variants = _check_axes(variants, "variants", f"names from {list(VARIANTS)}")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"variants {unknown} are not among {list(VARIANTS)}")
    if "baseline" not in variants:
        raise ValueError(
            f"variants must include 'baseline', the reference of every comparison; got {variants}"
        )
    lmbdas = _check_axes(lmbdas, "lmbdas", "positive numbers")
    for lmbda in lmbdas:
        check_number(lmbda, "lmbdas[i]", minimum=0, exclusive=True)
    seeds = _check_axes(seeds, "seeds", "ints >= 0")
    for seed in seeds:
        check_nonnegative_int(seed, "seeds[i]")
    skipped = {}
    for arm, model in arms.items():
        reason = phase2_unavailable(model)
        skipped.update({(arm, v): reason for v in variants if VARIANTS[v][1] and reason is not None})
    output_dir = Path(output_dir)
    values = base.to_dict()
    runs = {}
    for arm, model in arms.items():
        for variant in variants:
            if (arm, variant) in skipped:
                continue
            phase1, phase2 = VARIANTS[variant]
            for lmbda in lmbdas:
                for seed in seeds:
                    key = RunKey(arm, variant, float(lmbda), seed)
                    folder = output_dir / key.folder
                    shutil.rmtree(folder, ignore_errors=True)
                    config = TrainConfig.from_dict(
                        {
                            **values,
                            "model": dict(model),
                            "output_dir": str(folder),
                            "loss": {"rate_distortion": 1.0},
                            "loss_options": {"rate_distortion": {"lmbda": float(lmbda)}},
                            "spectral": {**values["spectral"], "phase1": phase1, "phase2": phase2},
                            "seed": seed,
                        }
                    )
                    wall, cpu = time.perf_counter(), time.process_time()
                    result = fit(config)
                    runs[key] = Run(
                        key=key,
                        history=result.history(),
                        metrics=result.metrics,
                        model=result.model,
                        checkpoint=result.checkpoints["last"],
                        wall_seconds=time.perf_counter() - wall,
                        cpu_seconds=time.process_time() - cpu,
                    )
                    if on_run is not None:
                        on_run(runs[key])
    return Grid(runs, skipped, list(arms), variants, [float(v) for v in lmbdas], seeds)


@dataclass
class Spread:
    """Summary of one quantity over seeds (or seeds × λ): ``count`` values asked for, ``values`` those
    that exist (e.g. seeds whose run reached the target), their ``mean``, sample standard deviation ``sd``
    (n − 1; ``None`` below two values), ``minimum`` and ``maximum`` (all ``None`` without values)."""

    count: int
    values: list[float]
    mean: float | None
    sd: float | None
    minimum: float | None
    maximum: float | None

    @property
    def missing(self) -> int:
        return self.count - len(self.values)

    def format(self, digits: int = 2, unit: str = "") -> str:
        """E.g. ``"1.23× ± 0.10 (1.10–1.35)"``, ``"— (0/3)"``; a trailing ``"; 2/3 reached"`` when some are
        missing."""
        if not self.values:
            return f"— (0/{self.count})"
        f = f"{{:.{digits}f}}"
        text = f.format(self.mean) + unit
        if self.sd is not None:
            text += f" ± {f.format(self.sd)} ({f.format(self.minimum)}–{f.format(self.maximum)})"
        if self.missing:
            text += f"; {len(self.values)}/{self.count} reached"
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "values": self.values,
            "count": self.count,
            "mean": self.mean,
            "sd": self.sd,
            "min": self.minimum,
            "max": self.maximum,
        }


def spread(values: Sequence[float | None]) -> Spread:
    """:class:`Spread` of ``values``; ``None`` entries count as missing (not as zero)."""
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise TypeError(f"values must be a list of numbers or None; got {values!r}")
    present = []
    for value in values:
        if value is not None:
            check_number(value, "values[i]")
            present.append(float(value))
    if not present:
        return Spread(len(values), [], None, None, None, None)
    sd = statistics.stdev(present) if len(present) > 1 else None
    return Spread(len(values), present, statistics.fmean(present), sd, min(present), max(present))


@dataclass
class SpeedUp:
    """Steps to the same-seed baseline's final value for one run: ``target`` (the baseline's final
    ``metric``), ``baseline_steps`` (the first validation step at which the baseline itself reached it),
    ``steps`` (the variant's, ``None`` when never), ``ratio`` = baseline_steps / steps (> 1: faster;
    ``None`` when not reached) and ``final_ratio`` = the variant's final value / target (< 1: better)."""

    key: RunKey
    target: float
    baseline_steps: int
    steps: int | None
    ratio: float | None
    final_ratio: float


def speedup(baseline: Sequence[tuple[int, float]], variant: Sequence[tuple[int, float]]) -> tuple:
    """``(target, baseline_steps, steps, ratio, final_ratio)`` of two validation histories ((step, value)
    pairs, lower is better): the target is the baseline's last value; see :class:`SpeedUp`."""
    if not baseline or not variant:
        raise ValueError("baseline and variant must be non-empty histories of (step, value) pairs")
    target = sorted(baseline)[-1][1]
    baseline_steps = steps_to_reach(baseline, target)  # never None: its last value is the target
    steps = steps_to_reach(variant, target)
    if baseline_steps <= 0:
        raise ValueError(f"the baseline's history must start after step 0; got step {baseline_steps}")
    ratio = None if steps is None else baseline_steps / steps if steps > 0 else math.inf
    return target, baseline_steps, steps, ratio, sorted(variant)[-1][1] / target


def speedups(grid: Grid, *, metric: str = RD_LOSS) -> list[SpeedUp]:
    """:class:`SpeedUp` of every non-baseline run against the baseline of its arm, λ and seed."""
    results = []
    for key, run in grid.runs.items():
        if key.variant == "baseline":
            continue
        reference = grid.run(key.arm, "baseline", key.lmbda, key.seed)
        results.append(SpeedUp(key, *speedup(reference.history[metric], run.history[metric])))
    return results


def relative_late_gain(history: Sequence[tuple[int, float]], *, window: float = 0.25) -> float | None:
    """:func:`laserlab.train.late_gain` of a loss history as a fraction of its final value: about 0 when
    the curve has flattened, −0.1 when the mean over the last quarter of the steps is lower than over the
    quarter before by a tenth of the final loss. ``None`` when undefined (too few points, final value 0)."""
    gain = late_gain(history, window=window)
    if gain is None:
        return None
    final = sorted(history)[-1][1]
    return None if final == 0 else gain / abs(final)


def coded_points(grid: Grid, images) -> dict[RunKey, RDPoint]:
    """Every run's codec (:func:`laserlab.codecs.from_checkpoint`) on ``images`` (a list of (3, H, W) in
    [0, 1] or a batch): real files, coded bpp and PSNR, as :class:`~laserlab.codecs.RDPoint`\\s."""
    return {
        key: evaluate(from_checkpoint(run.checkpoint), images, metrics=("psnr",))
        for key, run in grid.runs.items()
    }


def bd_rates(grid: Grid, points: dict[RunKey, RDPoint]) -> dict[tuple[str, str, int], float]:
    """BD-rate (%, negative: fewer bits at equal PSNR) of each (arm, variant, seed)'s R-D curve over the
    grid's λ against the same arm and seed's baseline curve (:func:`laserlab.codecs.bd_rate`, PSNR, Akima).
    Needs four or more λ (a curve of four points)."""
    if len(grid.lmbdas) < 4:
        raise ValueError(
            f"BD-rate needs an R-D curve of at least 4 points per codec, i.e. 4 or more λ; the grid has "
            f"{len(grid.lmbdas)}: {grid.lmbdas}"
        )
    results = {}
    for arm in grid.arms:
        for variant in grid.ran(arm):
            if variant == "baseline":
                continue
            for seed in grid.seeds:
                anchor = [points[RunKey(arm, "baseline", lmbda, seed)] for lmbda in grid.lmbdas]
                test = [points[RunKey(arm, variant, lmbda, seed)] for lmbda in grid.lmbdas]
                results[arm, variant, seed] = bd_rate(anchor, test)
    return results


@torch.no_grad()
def redundancies(grid: Grid, images: torch.Tensor) -> dict[RunKey, list[float]]:
    """For each run of a model with two or more latents: :func:`laserlab.spectral.cross_scale_redundancy`
    of its latents (eval mode, unquantised) on ``images`` (B, 3, H, W) in [0, 1] — one R² per consecutive
    pair of scales, fine to coarse."""
    results = {}
    for key, run in grid.runs.items():
        model = run.model.eval()
        if len(model.latent_channels) < 2:
            continue
        device = next(model.parameters()).device
        latents = model(images.to(device)).latents
        results[key] = cross_scale_redundancy([z.cpu() for z in latents])
    return results


def verdict(arm: str, variant: str, ratios: Spread, *, paper: float | None) -> str:
    """One sentence on whether ``ratios`` (speed-ups over the runs of ``variant`` on ``arm``: seeds, or
    seeds × λ) reproduce the paper's ``paper`` speed-up: faster only when every run reached the target and
    the smallest ratio exceeds 1, slower when the largest is below 1 or some run never reached it, else
    inconclusive; fewer than 3 runs never support a claim."""
    decided = ratios.count >= 3
    # with every run present (and at least 3 of them) minimum and maximum exist
    faster = decided and not ratios.missing and ratios.minimum > 1
    slower = decided and (ratios.missing > 0 or ratios.maximum < 1)
    if not decided:
        finding = f"only {ratios.count} run(s): no speed-up is claimed"
    elif ratios.missing:
        finding = (
            f"{ratios.missing} of {ratios.count} runs never reached the baseline's final R-D loss: slower "
            f"or worse, not faster ({ratios.format(unit='×')})"
        )
    elif faster:
        finding = f"faster in every run, {ratios.format(unit='×')}"
    elif slower:
        finding = f"slower in every run, {ratios.format(unit='×')}"
    else:
        finding = f"the runs disagree ({ratios.format(unit='×')}): no consistent speed-up"
    if paper is None:
        return f"{arm}, {variant}: {finding}."
    direction = "faster" if paper > 1 else "slower"
    agrees = (faster and paper > 1) or (slower and paper < 1)
    agreement = (
        "the direction agrees with the paper" if agrees else "this does not reproduce the paper's direction"
    )
    return f"{arm}, {variant}: {finding}; the paper reports {paper:.2f}× ({direction}); {agreement}."


__all__ = [
    "PAPER",
    "RD_LOSS",
    "VARIANTS",
    "Grid",
    "Run",
    "RunKey",
    "SpeedUp",
    "Spread",
    "bd_rates",
    "coded_points",
    "phase2_unavailable",
    "redundancies",
    "relative_late_gain",
    "run_grid",
    "speedup",
    "speedups",
    "spread",
    "verdict",
]
