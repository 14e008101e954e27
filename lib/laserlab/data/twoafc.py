"""Perceptual judgements: BAPPS 2AFC triplets and JND pairs from disk, or synthetic ones made here.

Items are named tuples of float32 tensors, images (3, H, W) in [0, 1] (the DataLoader's default collate
batches them field by field):

- :class:`Triplet` ``(ref, p0, p1, judge)`` — ``judge`` ∈ [0, 1] is the fraction of raters who found
  ``p1`` closer to ``ref`` (0: everyone preferred p0);
- :class:`Pair` ``(p0, p1, same)`` — ``same`` ∈ [0, 1] is the fraction of raters who saw no difference.

Every set has ``groups`` (one label per item: the BAPPS subset, or the synthetic distortion family, for
per-family scores), ``synthetic`` and ``description``.

**BAPPS** (Zhang et al. 2018; ``bapps_2afc``, ``bapps_jnd``) is read from the upstream layout::

    <root>/2afc/{train,val}/<subset>/{ref,p0,p1,judge}/000000.png … (judge: 000000.npy, one float)
    <root>/jnd/val/<subset>/{p0,p1,same}/000000.png …               (same: 000000.npy, one float)

with ``root`` defaulting to ``data/bapps`` (a ``dataset/`` folder inside it, as the upstream download
script creates, is found too). Files are paired by name across the folders. Images go through upstream's
transform without its final normalisation: the file read by :func:`laserlab.data.read_image` (RGB in
[0, 1]) → ``Resize(image_size)`` (bilinear, shorter side, antialiased; in float, so without upstream's
8-bit rounding after a resize — BAPPS's own 64 × 64 images at ``image_size=64`` are not resized). The
archives (jnd.tar.gz, twoafc_val.tar.gz, twoafc_train.tar.gz) are served only from the authors' site
(see ``BAPPS_URL``); nothing here downloads them.

**Synthetic** judgements (``synthetic_2afc``, ``synthetic_jnd``) distort reference crops with the
traditional distortions of :mod:`laserlab.data.distortions` and label them with this documented rule:

- *Severity ladder.* Each family's ``sweep`` (five strengths, mildest first) is a shared ladder: level k
  (k = 1…n) has severity k/n whatever the family. Within a family this only says that more of the same
  distortion is worse; across families it is a modelling assumption (level k of blur is as bad as level
  k of noise), which is exactly what makes cross-family triplets informative — and why these are not
  human data.
- *2AFC.* p0 (family f, the item's group) and p1 (family f too, or with probability ``cross_family``
  another family) get levels of different severity; judge = σ((sev_p0 − sev_p1) / temperature), σ the
  logistic function, so the more severe side is rejected by a fraction of raters that grows with the
  severity gap (``temperature=0``: hard 0/1 labels). Same-family triplets only test monotonicity, which
  any reasonable distance passes; cross-family ones test whether a distance weighs families alike.
- *JND.* p0 = the reference, p1 = its distortion at level k; same = σ((threshold − sev_k) / temperature).

Synthetic sets say so everywhere: ``synthetic=True``, their ``description``, and a ``usage`` record marked
substituted (reports show a banner).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from .. import paths, usage
from ..checks import check_images, check_int, check_number, check_positive_int
from .datasets import DatasetUnavailableError
from .distortions import DISTORTIONS, distort

BAPPS_URL = "https://people.eecs.berkeley.edu/~rich.zhang/projects/2018_perceptual/dataset/"
BAPPS_SUBSETS = {
    ("2afc", "train"): ("traditional", "cnn", "mix"),
    ("2afc", "val"): ("traditional", "cnn", "superres", "deblur", "color", "frameinterp"),
    ("jnd", "val"): ("traditional", "cnn"),
}
_ARCHIVES = {("2afc", "train"): "twoafc_train.tar.gz", ("2afc", "val"): "twoafc_val.tar.gz"}


class Triplet(NamedTuple):
    ref: torch.Tensor
    p0: torch.Tensor
    p1: torch.Tensor
    judge: torch.Tensor  # fraction of raters preferring p1


class Pair(NamedTuple):
    p0: torch.Tensor
    p1: torch.Tensor
    same: torch.Tensor  # fraction of raters who saw no difference


class JudgementSet(Dataset):
    """Base of every 2AFC and JND set: ``groups`` per item, ``synthetic``, ``description``."""

    kind = ""  # "2afc" or "jnd"

    def __init__(self, *, groups: list[str], synthetic: bool, description: str) -> None:
        self.groups = groups
        self.synthetic = synthetic
        self.description = description

    def __len__(self) -> int:
        return len(self.groups)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description}, {len(self)} items)"


# --------------------------------------------------------------------------------------------------
# BAPPS


def bapps_root(root: str | Path | None = None) -> Path:
    """The BAPPS folder: ``root`` or ``data/bapps``; its ``dataset/`` subfolder when that holds the data."""
    base = Path(root).expanduser() if root is not None else paths.data_dir() / "bapps"
    nested = base / "dataset"
    if not any((base / kind).is_dir() for kind in ("2afc", "jnd")) and nested.is_dir():
        return nested
    return base


def bapps_available(root: str | Path | None = None, *, kind: str = "2afc", split: str = "val") -> bool:
    """Whether every subset of BAPPS ``kind``/``split`` is present under ``root`` (default data/bapps)."""
    base = bapps_root(root) / kind / split
    return all((base / s).is_dir() for s in BAPPS_SUBSETS[_check_kind_split(kind, split)])


def _check_kind_split(kind: str, split: str) -> tuple[str, str]:
    if (kind, split) not in BAPPS_SUBSETS:
        raise ValueError(
            f"split must be 'train' or 'val' for 2afc and 'val' for jnd; got kind={kind!r}, split={split!r}"
        )
    return kind, split


def _load_image(path: Path, image_size: int | None) -> torch.Tensor:
    from torchvision.transforms.functional import resize

    from .images import read_image

    image = read_image(path)
    if image_size is None:
        return image
    return resize(image, image_size, antialias=True)  # shorter side, bilinear: upstream's Resize(load_size)


class BAPPSSet(JudgementSet):
    """Items of BAPPS subsets read lazily from disk; files paired by name across the image folders."""

    def __init__(
        self,
        kind: str,
        root: str | Path | None,
        *,
        split: str,
        subsets: Sequence[str] | None,
        image_size: int | None,
    ) -> None:
        _check_kind_split(kind, split)
        known = BAPPS_SUBSETS[(kind, split)]
        subsets = list(known if subsets is None else subsets)
        unknown = sorted(set(subsets) - set(known))
        if unknown or not subsets:
            raise ValueError(f"subsets must be a non-empty selection of {list(known)}; got {subsets!r}")
        if image_size is not None:
            check_positive_int(image_size, "image_size")
        base = bapps_root(root) / kind / split
        image_dirs = ("ref", "p0", "p1") if kind == "2afc" else ("p0", "p1")
        label_dir = "judge" if kind == "2afc" else "same"
        self.kind = kind
        self.image_size = image_size
        self.files: list[tuple[list[Path], Path]] = []
        groups: list[str] = []
        for subset in subsets:
            folder = base / subset
            if not folder.is_dir():
                archive = _ARCHIVES.get((kind, split), "jnd.tar.gz")
                raise DatasetUnavailableError(
                    f"BAPPS {kind}/{split}/{subset} not found: {folder} does not exist. Download "
                    f"{BAPPS_URL}{archive} and extract it so that {base}/<subset>/{{"
                    f"{','.join((*image_dirs, label_dir))}}}/ exist (upstream: scripts/download_dataset.sh), "
                    "or pass root=<folder holding 2afc/ and jnd/>"
                )
            items = self._pair_files(folder, image_dirs, label_dir)
            self.files += items
            groups += [subset] * len(items)
        usage.record("data", f"BAPPS {kind}/{split} ({', '.join(subsets)})", str(base))
        super().__init__(
            groups=groups, synthetic=False, description=f"BAPPS {kind}/{split}: {', '.join(subsets)}"
        )

    @staticmethod
    def _pair_files(
        folder: Path, image_dirs: tuple[str, ...], label_dir: str
    ) -> list[tuple[list[Path], Path]]:
        by_dir = {}
        for name, suffix in [*((d, None) for d in image_dirs), (label_dir, ".npy")]:
            directory = folder / name
            if not directory.is_dir():
                raise DatasetUnavailableError(f"BAPPS subset {folder} is incomplete: {directory} is missing")
            files = [p for p in directory.iterdir() if p.is_file() and (suffix is None or p.suffix == suffix)]
            by_dir[name] = {p.stem: p for p in files}
        stems = sorted(by_dir[label_dir])
        for name, files in by_dir.items():
            if sorted(files) != stems:
                missing = sorted(set(stems) ^ set(files))[:5]
                raise ValueError(
                    f"BAPPS subset {folder}: {name}/ holds {len(files)} files but {label_dir}/ holds "
                    f"{len(stems)}, and names must match one to one (first mismatches: {missing})"
                )
        if not stems:
            raise ValueError(f"BAPPS subset {folder} holds no items ({label_dir}/ is empty)")
        return [([by_dir[d][s] for d in image_dirs], by_dir[label_dir][s]) for s in stems]

    def __getitem__(self, index: int) -> Triplet | Pair:
        images, label_file = self.files[index]
        loaded = [_load_image(p, self.image_size) for p in images]
        label = torch.tensor(float(np.load(label_file).reshape(-1)[0]), dtype=torch.float32)
        return Triplet(*loaded, label) if self.kind == "2afc" else Pair(*loaded, label)


def bapps_2afc(
    root: str | Path | None = None,
    *,
    split: str = "val",
    subsets: Sequence[str] | None = None,
    image_size: int | None = 64,
) -> BAPPSSet:
    """BAPPS 2AFC triplets of ``split`` ("train" or "val"), all subsets unless ``subsets`` names some."""
    return BAPPSSet("2afc", root, split=split, subsets=subsets, image_size=image_size)


def bapps_jnd(
    root: str | Path | None = None, *, subsets: Sequence[str] | None = None, image_size: int | None = 64
) -> BAPPSSet:
    """BAPPS JND pairs (val: "traditional", "cnn")."""
    return BAPPSSet("jnd", root, split="val", subsets=subsets, image_size=image_size)


# --------------------------------------------------------------------------------------------------
# Synthetic judgements


def severity(level: int, levels: int) -> float:
    """Severity of ladder level ``level`` (1 = mildest) out of ``levels``: level / levels."""
    return level / levels


def _logistic(x: float, temperature: float) -> float:
    if temperature == 0:
        return 1.0 if x > 0 else 0.0 if x < 0 else 0.5
    return 1.0 / (1.0 + math.exp(-x / temperature))


def _check_synthetic(references, distortions, temperature) -> list[str]:
    check_images(references, "references")
    if references.shape[0] == 0:
        raise ValueError("references must hold at least one image")
    names = list(DISTORTIONS) if distortions is None else list(distortions)
    if not names:
        raise ValueError(f"distortions must be a non-empty selection of {DISTORTIONS.names()}; got []")
    for name in names:
        DISTORTIONS.check(name, "distortions[i]")
    check_number(temperature, "temperature", minimum=0)
    return names


def _distorted(reference: torch.Tensor, family: str, level: int, seed: int) -> torch.Tensor:
    strength = DISTORTIONS[family].sweep[level - 1]
    return distort(reference[None], family, strength, seed=seed)[0]


class Synthetic2AFC(JudgementSet):
    """Synthetic 2AFC triplets held in memory: ``ref``, ``p0``, ``p1`` (N, 3, H, W), ``judge`` (N,).

    ``p0_distortion[i]`` / ``p1_distortion[i]`` are (family, level, strength, seed) of item i:
    ``distort(ref[i:i+1], family, strength, seed=seed)`` reproduces the image.
    """

    kind = "2afc"

    def __init__(self, ref, p0, p1, judge, *, groups, p0_distortion, p1_distortion, description) -> None:
        super().__init__(groups=groups, synthetic=True, description=description)
        self.ref, self.p0, self.p1, self.judge = ref, p0, p1, judge
        self.p0_distortion, self.p1_distortion = p0_distortion, p1_distortion

    def __getitem__(self, index: int) -> Triplet:
        return Triplet(self.ref[index], self.p0[index], self.p1[index], self.judge[index])


class SyntheticJND(JudgementSet):
    """Synthetic JND pairs held in memory: ``p0`` (the reference), ``p1``, ``same`` (N,).

    ``distortion[i]`` is (family, level, strength, seed) of p1, as in :class:`Synthetic2AFC`.
    """

    kind = "jnd"

    def __init__(self, p0, p1, same, *, groups, distortion, description) -> None:
        super().__init__(groups=groups, synthetic=True, description=description)
        self.p0, self.p1, self.same = p0, p1, same
        self.distortion = distortion

    def __getitem__(self, index: int) -> Pair:
        return Pair(self.p0[index], self.p1[index], self.same[index])


def synthetic_2afc(
    references: torch.Tensor,
    *,
    distortions: Sequence[str] | None = None,
    triplets_per_reference: int = 1,
    cross_family: float = 0.5,
    temperature: float = 0.1,
    seed: int = 0,
) -> Synthetic2AFC:
    """Triplets from ``references`` (N, 3, H, W) in [0, 1], labelled by the module's rule.

    For every reference and every family f in ``distortions`` (default: all of ``DISTORTIONS``),
    ``triplets_per_reference`` triplets with p0 of family f (the item's group) and p1 of family f or,
    with probability ``cross_family``, of another family drawn uniformly; their ladder levels are drawn
    at random until their severities differ (either side may be the worse one). Noise realisations
    differ between p0 and p1. Deterministic for ``seed``.
    """
    families = _check_synthetic(references, distortions, temperature)
    check_number(cross_family, "cross_family (a probability)", minimum=0, maximum=1)
    if cross_family > 0 and len(families) < 2:
        raise ValueError("cross_family > 0 needs at least two distortion families")
    check_positive_int(triplets_per_reference, "triplets_per_reference")
    rng = np.random.default_rng(seed)
    refs, p0s, p1s, judges, groups, d0s, d1s = [], [], [], [], [], [], []
    for reference in references:
        for f, family in enumerate(families):
            for _ in range(triplets_per_reference):
                other = family
                if rng.random() < cross_family:
                    other = families[(f + 1 + rng.integers(len(families) - 1)) % len(families)]
                n0, n1 = len(DISTORTIONS[family].sweep), len(DISTORTIONS[other].sweep)
                a, b = int(rng.integers(1, n0 + 1)), int(rng.integers(1, n1 + 1))
                while severity(a, n0) == severity(b, n1):  # equal severities carry no preference
                    a, b = int(rng.integers(1, n0 + 1)), int(rng.integers(1, n1 + 1))
                seeds = rng.integers(0, 2**31, size=2)
                refs.append(reference)
                p0s.append(_distorted(reference, family, a, int(seeds[0])))
                p1s.append(_distorted(reference, other, b, int(seeds[1])))
                judges.append(_logistic(severity(a, n0) - severity(b, n1), temperature))
                groups.append(family)
                d0s.append((family, a, DISTORTIONS[family].sweep[a - 1], int(seeds[0])))
                d1s.append((other, b, DISTORTIONS[other].sweep[b - 1], int(seeds[1])))
    description = (
        f"SYNTHETIC 2AFC: {len(refs)} triplets from {references.shape[0]} references, families "
        f"{families}, cross_family={cross_family}, temperature={temperature}, seed={seed}"
    )
    usage.record(
        "data",
        "2AFC judgements",
        description,
        substituted=True,
        reason="labels come from a severity ladder of the distortion sweeps, not from human raters",
    )
    return Synthetic2AFC(
        torch.stack(refs),
        torch.stack(p0s),
        torch.stack(p1s),
        torch.tensor(judges, dtype=torch.float32),
        groups=groups,
        p0_distortion=d0s,
        p1_distortion=d1s,
        description=description,
    )


def synthetic_jnd(
    references: torch.Tensor,
    *,
    distortions: Sequence[str] | None = None,
    pairs_per_reference: int = 2,
    threshold: float = 0.4,
    temperature: float = 0.1,
    seed: int = 0,
) -> SyntheticJND:
    """JND pairs (reference, distorted reference) from ``references`` (N, 3, H, W) in [0, 1].

    For every reference and family, ``pairs_per_reference`` different ladder levels drawn at random;
    same = σ((threshold − severity) / temperature) (see the module docstring). Deterministic for ``seed``.
    """
    families = _check_synthetic(references, distortions, temperature)
    check_number(threshold, "threshold (a severity)", minimum=0, maximum=1)
    shortest = min(len(DISTORTIONS[f].sweep) for f in families)
    check_int(pairs_per_reference, "pairs_per_reference", minimum=1, maximum=shortest)
    rng = np.random.default_rng(seed)
    p0s, p1s, sames, groups, details = [], [], [], [], []
    for reference in references:
        for family in families:
            n = len(DISTORTIONS[family].sweep)
            for level in rng.choice(np.arange(1, n + 1), size=pairs_per_reference, replace=False):
                level, noise_seed = int(level), int(rng.integers(0, 2**31))
                p0s.append(reference)
                p1s.append(_distorted(reference, family, level, noise_seed))
                sames.append(_logistic(threshold - severity(level, n), temperature))
                groups.append(family)
                details.append((family, level, DISTORTIONS[family].sweep[level - 1], noise_seed))
    description = (
        f"SYNTHETIC JND: {len(p0s)} pairs from {references.shape[0]} references, families {families}, "
        f"threshold={threshold}, temperature={temperature}, seed={seed}"
    )
    usage.record(
        "data",
        "JND judgements",
        description,
        substituted=True,
        reason="labels come from a severity ladder of the distortion sweeps, not from human raters",
    )
    return SyntheticJND(
        torch.stack(p0s),
        torch.stack(p1s),
        torch.tensor(sames, dtype=torch.float32),
        groups=groups,
        distortion=details,
        description=description,
    )
