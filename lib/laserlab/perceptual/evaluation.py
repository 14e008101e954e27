"""How well a distance agrees with perceptual judgements: the 2AFC score and the JND mAP of BAPPS.

A *distance* is any callable ``distance(images, reference) -> (B,)`` on image batches (B, 3, H, W) in
[0, 1], smaller meaning more similar: an :class:`~laserlab.perceptual.lpips.LPIPS` module, one of
``PIXEL_DISTANCES`` (L2 = MSE, −PSNR, 1 − SSIM; RGB, not upstream's Lab L2), Wasserstein Distortion, or
a lambda. Outputs of shape (B, 1, 1, 1) are accepted and flattened — upstream's JND scorer does not
flatten LPIPS outputs and sorts along a length-1 axis, returning garbage; here every distance becomes
(N,) before anything is sorted.

- **2AFC score** per triplet: 1 − judge if d0 < d1, judge if d1 < d0, 0.5 if d0 = d1 (judge = fraction
  of raters preferring p1); the dataset score is the mean. 1.0 = agrees with every rater; a random
  distance scores 0.5; no distance beats siding with the raters' majority (``TwoAFCResult.oracle()``),
  which is below 1 when raters disagree.
- **JND mAP** (the paper's name for a single average precision): pairs sorted by increasing distance are
  predicted "same"; the fraction ``same`` is a soft positive label: TP = cumsum(same),
  FP = cumsum(1 − same), precision = TP / (TP + FP), recall = TP / Σ same; AP is the VOC all-point area
  (recall padded with 0 and 1, precision with 0 and 0, precision made monotone from the right, summed
  over recall steps). Tied distances cannot be split by any threshold, so the curve is only evaluated
  after the last member of each group of ties (upstream's result for tie-free distances; order-independent
  where there are ties).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..checks import check_positive_int
from ..registry import Registry
from .quality import mse, psnr, ssim

Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

PIXEL_DISTANCES: Registry[Distance] = Registry(
    "pixel distance",
    {
        "l2": mse,
        "psnr": lambda images, reference: -psnr(images, reference),
        "ssim": lambda images, reference: 1.0 - ssim(images, reference),
    },
)


def _as_vector(x, name: str) -> torch.Tensor:
    x = torch.as_tensor(x).detach().reshape(-1).to("cpu", torch.float64)
    if torch.isnan(x).any():
        raise ValueError(f"{name} must not contain NaN")
    return x


def two_afc_scores(d0, d1, judge) -> torch.Tensor:
    """Per-triplet 2AFC scores (N,) float64 for distances d0, d1 and judges in [0, 1] (any shapes of N)."""
    d0, d1, judge = _as_vector(d0, "d0"), _as_vector(d1, "d1"), _as_vector(judge, "judge")
    if not d0.numel() == d1.numel() == judge.numel():
        raise ValueError(
            "d0, d1 and judge must have one value per triplet; "
            f"got {d0.numel()}, {d1.numel()}, {judge.numel()}"
        )
    if judge.numel() and (judge.min() < 0 or judge.max() > 1):
        raise ValueError("judge must hold fractions in [0, 1] (the share of raters preferring p1)")
    return torch.where(d0 < d1, 1.0 - judge, torch.where(d1 < d0, judge, torch.full_like(judge, 0.5)))


@dataclass
class PrecisionRecall:
    """``ap`` (float) and the curve it is the area of: ``precision``, ``recall`` (K,), ``thresholds`` (K,)
    the distance at each point (one point per distinct distance)."""

    ap: float
    precision: torch.Tensor
    recall: torch.Tensor
    thresholds: torch.Tensor


def jnd_average_precision(distances, same) -> PrecisionRecall:
    """JND average precision of ``distances`` against ``same`` fractions (see the module docstring)."""
    d, s = _as_vector(distances, "distances"), _as_vector(same, "same")
    if d.numel() != s.numel():
        raise ValueError(f"distances and same must have one value per pair; got {d.numel()} and {s.numel()}")
    if s.numel() and (s.min() < 0 or s.max() > 1):
        raise ValueError("same must hold fractions in [0, 1] (the share of raters who saw no difference)")
    if not s.sum() > 0:
        raise ValueError("same must be positive for at least one pair; otherwise recall is undefined")
    order = torch.argsort(d, stable=True)
    d, s = d[order], s[order]
    true_positives, false_positives = torch.cumsum(s, 0), torch.cumsum(1.0 - s, 0)
    last_of_ties = torch.ones_like(d, dtype=torch.bool)
    last_of_ties[:-1] = d[1:] != d[:-1]
    true_positives, false_positives = true_positives[last_of_ties], false_positives[last_of_ties]
    precision = true_positives / (true_positives + false_positives)
    recall = true_positives / s.sum()
    zero, one = torch.zeros(1, dtype=d.dtype), torch.ones(1, dtype=d.dtype)
    padded_recall = torch.cat([zero, recall, one])
    envelope = torch.cat([zero, precision, zero]).flip(0).cummax(0).values.flip(0)
    steps = torch.nonzero(padded_recall[1:] != padded_recall[:-1]).reshape(-1)
    ap = torch.sum((padded_recall[steps + 1] - padded_recall[steps]) * envelope[steps + 1])
    return PrecisionRecall(float(ap), precision, recall, d[last_of_ties])


@dataclass
class TwoAFCResult:
    """``score`` (the mean 2AFC score); per triplet ``d0``, ``d1``, ``judge``, ``scores`` (N,), ``groups``."""

    score: float
    d0: torch.Tensor
    d1: torch.Tensor
    judge: torch.Tensor
    scores: torch.Tensor
    groups: list[str] = field(default_factory=list)

    def by_group(self) -> dict[str, float]:
        """Mean score within each group (distortion family or BAPPS subset), in order of appearance."""
        return {g: float(self.scores[_members(self.groups, g)].mean()) for g in dict.fromkeys(self.groups)}

    def oracle(self) -> TwoAFCResult:
        """The result of a distance that always sides with the majority of raters (d0 = judge,
        d1 = 1 − judge): score mean(max(judge, 1 − judge)), the most any distance can reach."""
        d0, d1 = self.judge.clone(), 1.0 - self.judge
        scores = two_afc_scores(d0, d1, self.judge)
        return TwoAFCResult(float(scores.mean()), d0, d1, self.judge, scores, self.groups)


@dataclass
class JNDResult:
    """``ap`` (the JND mAP), its ``curve``, per pair ``distances``, ``same`` (N,) and ``groups``."""

    ap: float
    curve: PrecisionRecall
    distances: torch.Tensor
    same: torch.Tensor
    groups: list[str] = field(default_factory=list)

    def by_group(self) -> dict[str, float]:
        """Average precision within each group (pairs of other groups left out)."""
        return {
            g: jnd_average_precision(self.distances[m], self.same[m]).ap
            for g in dict.fromkeys(self.groups)
            for m in [_members(self.groups, g)]
        }


def _members(groups: list[str], group: str) -> torch.Tensor:
    return torch.tensor([g == group for g in groups], dtype=torch.bool)


def evaluate_2afc(
    distance: Distance, triplets: Dataset, *, batch_size: int = 50, device: torch.device | str | None = None
) -> TwoAFCResult:
    """2AFC score of ``distance`` on a dataset of :class:`~laserlab.data.twoafc.Triplet` items.

    d0 = distance(p0, ref), d1 = distance(p1, ref), in batches of ``batch_size`` triplets moved to
    ``device`` (default: the module's device and dtype when ``distance`` is an ``nn.Module``, else the
    data's).
    ``groups`` are taken from the dataset when it has them.
    """
    d0s, d1s, judges = [], [], []
    with torch.no_grad():
        for ref, p0, p1, judge in _batches(triplets, batch_size):
            d0, d1 = _distances(distance, [(p0, ref), (p1, ref)], device, len(judge))
            d0s.append(d0)
            d1s.append(d1)
            judges.append(_as_vector(judge, "judge"))
    d0, d1, judge = torch.cat(d0s), torch.cat(d1s), torch.cat(judges)
    scores = two_afc_scores(d0, d1, judge)
    return TwoAFCResult(float(scores.mean()), d0, d1, judge, scores, list(getattr(triplets, "groups", [])))


def evaluate_jnd(
    distance: Distance, pairs: Dataset, *, batch_size: int = 50, device: torch.device | str | None = None
) -> JNDResult:
    """JND mAP of ``distance`` on a dataset of :class:`~laserlab.data.twoafc.Pair` items.

    d = distance(p1, p0), flattened to (N,) before sorting (see the module docstring).
    """
    ds, sames = [], []
    with torch.no_grad():
        for p0, p1, same in _batches(pairs, batch_size):
            (d,) = _distances(distance, [(p1, p0)], device, len(same))
            ds.append(d)
            sames.append(_as_vector(same, "same"))
    d, same = torch.cat(ds), torch.cat(sames)
    curve = jnd_average_precision(d, same)
    return JNDResult(curve.ap, curve, d, same, list(getattr(pairs, "groups", [])))


def _batches(dataset: Dataset, batch_size: int):
    check_positive_int(batch_size, "batch_size")
    if len(dataset) == 0:
        raise ValueError("the dataset must hold at least one item")
    return DataLoader(dataset, batch_size=batch_size, shuffle=False)


def _distances(distance: Distance, comparisons, device, n: int) -> list[torch.Tensor]:
    """distance(images, reference) for every (images, reference) of a batch, in one call; each (n,)."""
    # One call for all comparisons of a batch: fewer, larger kernels for network distances.
    images = torch.cat([a for a, _ in comparisons])
    reference = torch.cat([b for _, b in comparisons])
    dtype = None
    if device is None and isinstance(distance, nn.Module):
        # A module's own device and dtype: an LPIPS in float64 on CUDA gets float64 CUDA batches.
        state = next(itertools.chain(distance.parameters(), distance.buffers()), images)
        device, dtype = state.device, state.dtype if state.is_floating_point() else None
    if device is not None:
        images, reference = images.to(device, dtype), reference.to(device, dtype)
    out = distance(images, reference)
    if not isinstance(out, torch.Tensor) or out.numel() != n * len(comparisons):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"distance must return one value per image pair, shape (B,) with B = {n * len(comparisons)}; "
            f"got {got}"
        )
    return list(_as_vector(out, "distance output").split(n))
