"""Phase 1 of spectral regularisation: a low-pass curriculum on whole-image DCT spectra.

Cong et al., "Taming Hierarchical Image Coding Optimization: A Spectral Regularization Perspective"
(ICLR 2026), show the codec only the low frequencies early in training and widen the band linearly.
Per channel over the whole crop, with the orthonormal DCT-II (:mod:`.dct`), ``F = P_H x P_Wᵀ`` and the
truncated image ``x̃ = P_Hᵀ (F ⊙ M) P_W`` with the radial soft mask

    ``M(u, v; τ) = max(0, (τ − r) / τ)``,  ``r = sqrt((u/H)² + (v/W)²)``,  u = 0..H−1, v = 0..W−1:

1 at DC, falling linearly to 0 at r = τ. **τ = 1 is not the identity**: r reaches √2 at the highest
frequency, so at τ = 1 about 79 % of the coefficients pass and all but DC are attenuated (≈ 29–33 dB on
natural 256² crops). Following the paper, truncation is *switched off* after its window — a visible jump
from a blurred to the full-band image — rather than kept at τ_final. The ``"flat_top"`` mask (a project
variant) reaches the identity at τ = 1 instead, so its curriculum ends without a jump.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import lightning as L
import torch

from ..checks import check_nonnegative_int, check_number, check_positive_int, check_tensor
from .dct import dct_2d, idct_2d

#: mask kinds: the paper's soft radial ramp, its hard radial cut, the square cut of public code, and a
#: project variant (not the paper's) whose mask at τ = 1 is the identity
MASK_KINDS = ("radial", "hard", "square", "flat_top")

#: ramp width w of the ``"flat_top"`` mask, in units of r
FLAT_TOP_RAMP = 0.1


def check_tau(tau, name: str = "tau") -> None:
    """``tau`` must be a cutoff in (0, 1]."""
    check_number(tau, name, minimum=0, maximum=1)
    if tau == 0:
        raise ValueError(f"{name} must be a finite number in (0, 1]; got {tau!r}")


def check_kind(kind, name: str = "kind") -> None:
    """``kind`` must be one of :data:`MASK_KINDS`."""
    if kind not in MASK_KINDS:
        raise ValueError(f"{name} must be one of {list(MASK_KINDS)}; got {kind!r}")


def spectral_mask(
    height: int,
    width: int,
    tau: float,
    *,
    kind: str = "radial",
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Mask (height, width) over DCT frequencies (u, v), DC at (0, 0), for a cutoff ``tau`` in (0, 1].

    - ``"radial"`` (the paper): ``max(0, (τ − r)/τ)`` with ``r = sqrt((u/H)² + (v/W)²)``;
    - ``"hard"``: 1 where r < τ, else 0;
    - ``"square"``: 1 where u/H < τ and v/W < τ, else 0 (the square DCT cut of public implementations);
    - ``"flat_top"`` (a project variant, not the paper's): ``clip((c − r)/w, 0, 1)`` with ramp width
      w = :data:`FLAT_TOP_RAMP` and cutoff c = w + τ·√2 — flat at 1 up to r = τ·√2, so at τ = 1 it passes
      every coefficient unchanged and a curriculum ending there has no jump when it switches off.
    """
    check_positive_int(height, "height")
    check_positive_int(width, "width")
    check_tau(tau)
    check_kind(kind)
    u = torch.arange(height, dtype=torch.float64, device=device).unsqueeze(1) / height
    v = torch.arange(width, dtype=torch.float64, device=device).unsqueeze(0) / width
    if kind == "square":
        mask = ((u < tau) & (v < tau)).double()
    else:
        r = torch.sqrt(u**2 + v**2)
        if kind == "radial":
            mask = ((tau - r) / tau).clamp_min(0)
        elif kind == "hard":
            mask = (r < tau).double()
        else:
            cutoff = FLAT_TOP_RAMP + tau * math.sqrt(2.0)
            mask = ((cutoff - r) / FLAT_TOP_RAMP).clamp(0, 1)
    return mask.to(dtype)


def truncate(images: torch.Tensor, tau: float, *, kind: str = "radial") -> torch.Tensor:
    """Low-pass ``images`` (B, C, H, W) by :func:`spectral_mask` on each channel's whole-image DCT.

    Returns (B, C, H, W), same dtype; not clamped (ringing may leave [0, 1] slightly). Differentiable.
    """
    check_tensor(images, "images", shape="(B, C, H, W)")
    mask = spectral_mask(*images.shape[-2:], tau, kind=kind, dtype=images.dtype, device=images.device)
    return idct_2d(dct_2d(images) * mask)


class SpectralTruncation(L.Callback):
    """The phase-1 curriculum as a Lightning callback: τ rises linearly from ``tau_init`` to ``tau_final``
    over a window of ``epochs`` epochs (τ(t) = τ0 + (τ1 − τ0)·t/T for t = 0..T−1), then truncation is off.

    ``steps``, when given, counts the window in optimiser steps instead of epochs (a deviation for
    step-budgeted runs; ``epochs`` is then ignored). Before each training batch the callback sets
    ``pl_module.batch_transform`` to ``images → (inputs, targets)``: by default the truncated batch is
    both the encoder input and the distortion target (what the paper's sample replacement implies);
    ``input_only=True`` keeps the clean target (an ablation; interpretation, unverified). Truncated
    images are clamped to [0, 1]. Validation and test always see clean images. τ is logged as
    ``train/spectral_tau`` (NaN once truncation is off).

    ``penalty``: an object with a boolean ``active`` (the phase-2 :class:`~.interscale.CrossScalePenalty`;
    default: the module's ``cross_scale`` attribute when it has one), held off during the window and
    switched on after it — phase 2 starts where phase 1 ends. A window covering the whole run is warned
    about. State is a function of the trainer's step/epoch only, so a resumed run continues the schedule
    exactly.
    """

    def __init__(
        self,
        tau_init: float = 0.05,
        tau_final: float = 1.0,
        epochs: int = 100,
        *,
        steps: int | None = None,
        kind: str = "radial",
        input_only: bool = False,
        penalty=None,
    ):
        check_tau(tau_init, "tau_init")
        check_tau(tau_final, "tau_final")
        if tau_final < tau_init:
            raise ValueError(f"tau_final must be >= tau_init ({tau_init}); got {tau_final!r}")
        if steps is None:
            check_positive_int(epochs, "epochs")
        else:
            check_positive_int(steps, "steps")
        check_kind(kind)
        if penalty is not None and not hasattr(penalty, "active"):
            raise TypeError(f"penalty must have a boolean 'active' attribute; got {type(penalty).__name__}")
        self.tau_init, self.tau_final = float(tau_init), float(tau_final)
        self.window, self.unit = (epochs, "epoch") if steps is None else (steps, "step")
        self.kind, self.input_only, self.penalty = kind, bool(input_only), penalty

    def tau(self, t: int) -> float | None:
        """τ at epoch (or step) ``t`` counted from 0; ``None`` once the window is over (truncation off)."""
        check_nonnegative_int(t, "t")
        if t >= self.window:
            return None
        return self.tau_init + (self.tau_final - self.tau_init) * t / self.window

    def transform(self, tau: float) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """``images → (inputs, targets)`` for a training batch at cutoff ``tau``."""

        def apply(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            truncated = truncate(images, tau, kind=self.kind).clamp(0, 1)
            return truncated, images if self.input_only else truncated

        return apply

    def _penalty(self, pl_module):
        # the given penalty, else the module's own phase-2 penalty (AutoencoderModule.cross_scale)
        return self.penalty if self.penalty is not None else getattr(pl_module, "cross_scale", None)

    def on_train_start(self, trainer, pl_module) -> None:
        per_epoch = trainer.num_training_batches
        window = self.window if self.unit == "step" else self.window * per_epoch
        if 0 < trainer.max_steps <= window:
            warnings.warn(
                f"the spectral truncation window ({self.window} {self.unit}s ≈ {window} steps) covers the "
                f"whole run (max_steps {trainer.max_steps}): the model never sees clean images and phase 2 "
                f"never starts; shorten spectral.epochs / spectral.steps",
                stacklevel=2,
            )

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        tau = self.tau(trainer.global_step if self.unit == "step" else trainer.current_epoch)
        pl_module.batch_transform = None if tau is None else self.transform(tau)
        penalty = self._penalty(pl_module)
        if penalty is not None:
            penalty.active = tau is None
        # logged every step (NaN once off): Lightning repeats a step value that is not logged again
        logged = float("nan") if tau is None else tau
        pl_module.log("train/spectral_tau", logged, on_step=True, on_epoch=False, batch_size=1)

    def on_train_end(self, trainer, pl_module) -> None:
        self._switch_off(pl_module)

    def on_exception(self, trainer, pl_module, exception) -> None:
        self._switch_off(pl_module)

    def _switch_off(self, pl_module) -> None:
        # leave the module as after the window: clean batches, phase 2 (if any) on
        pl_module.batch_transform = None
        penalty = self._penalty(pl_module)
        if penalty is not None:
            penalty.active = True

    def __repr__(self) -> str:
        return (
            f"SpectralTruncation(tau {self.tau_init:g}→{self.tau_final:g} over {self.window} {self.unit}s, "
            f"kind={self.kind!r}, input_only={self.input_only})"
        )


def passband_fraction(height: int, width: int, tau: float, *, kind: str = "radial") -> float:
    """Fraction of the (height × width) DCT coefficients the mask keeps (M > 0)."""
    return float((spectral_mask(height, width, tau, kind=kind) > 0).double().mean())
