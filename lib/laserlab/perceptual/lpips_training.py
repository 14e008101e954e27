"""Training LPIPS on 2AFC judgements, following the reference recipe (``lpips`` 0.1.4 ``Trainer``).

Variants (``variant=``), as in the paper:

=========  ===========================================  ==========================================
variant    model to pass                                what trains
=========  ===========================================  ==========================================
lin        ``LPIPS(net, lin=None)`` (ImageNet backbone)   heads + G; the backbone stays frozen
tune       ``LPIPS(net, lin=None)`` (ImageNet backbone)   backbone + heads + G
scratch    ``LPIPS(net, weights=None, lin=None)``         backbone + heads + G, from random weights
=========  ===========================================  ==========================================

Upstream starts the heads from PyTorch's default 1×1-conv initialiser (``lin=None``; the first clamp zeroes
the negative entries); any starting heads work here (e.g. the published ones, to fine-tune).

- **Ranking network G** (:class:`RankingNetwork`, upstream ``Dist2LogitLayer``): input the five channels
  (d0, d1, d0 − d1, d0/(d1 + 0.1), d1/(d0 + 0.1)), 1×1 conv 5→32, LeakyReLU(0.2), 32→32, LeakyReLU(0.2),
  32→1, sigmoid: the predicted fraction of raters preferring p1. 1,281 parameters; not used at test time.
- **Loss**: binary cross-entropy between G(d0, d1) and the judge fraction, with d0 = LPIPS(p0, ref),
  d1 = LPIPS(p1, ref) (LPIPS is symmetric), dropout p = 0.5 before each head while training.
- **Optimiser**: Adam, lr 1e-4, betas (0.5, 0.999), batch 50, over G and whatever the variant trains.
- **Schedule** (:func:`learning_rate`): upstream runs ``nepoch`` + ``nepoch_decay`` = 5 + 5 epochs and,
  after each epoch e > nepoch, lowers the lr by lr0/nepoch_decay — so epochs 1–6 run at lr0 and epochs
  7–10 at 0.8, 0.6, 0.4, 0.2 × lr0. For E epochs we take nepoch = ⌊E/2⌋ and nepoch_decay = E − ⌊E/2⌋,
  the same rule: lr(e) = lr0 · (1 − max(0, e − nepoch − 1) / nepoch_decay), e = 1…E (E = 10 reproduces
  the reference exactly).
- **Projection**: after every optimiser step the heads are clamped to w ≥ 0. Only the heads: upstream
  clamps every module with a 1×1 kernel, which also hits SqueezeNet's own Fire ``squeeze`` and
  ``expand1x1`` convolutions (even frozen ones in the lin variant, where it silently changes the
  ImageNet backbone). We leave SqueezeNet's convolutions alone; AlexNet and VGG-16 have none, so they are
  unaffected. G is not clamped.
- Logged training accuracy is upstream's: (d1 < d0)·judge + (d1 ≥ d0)·(1 − judge) (ties count for p0).

Deterministic for ``seed`` (initialisation of G, shuffling, dropout) on a given device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..checks import check_choice, check_int, check_number, check_positive_int
from .evaluation import evaluate_2afc
from .lpips import LPIPS

VARIANTS = ("lin", "tune", "scratch")


class RankingNetwork(nn.Module):
    """G: (d0, d1) ↦ predicted fraction of raters preferring p1, in (0, 1); see the module docstring."""

    def __init__(self, *, hidden: int = 32, eps: float = 0.1) -> None:
        super().__init__()
        self.eps = eps
        self.layers = nn.Sequential(
            nn.Conv2d(5, hidden, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(hidden, hidden, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(hidden, 1, 1),
            nn.Sigmoid(),
        )

    def forward(self, d0: torch.Tensor, d1: torch.Tensor) -> torch.Tensor:
        """d0, d1 (B,) → (B,)."""
        d0, d1 = d0.reshape(-1, 1, 1, 1), d1.reshape(-1, 1, 1, 1)
        x = torch.cat([d0, d1, d0 - d1, d0 / (d1 + self.eps), d1 / (d0 + self.eps)], dim=1)
        return self.layers(x).reshape(-1)


def learning_rate(epoch: int, *, epochs: int, lr: float = 1e-4) -> float:
    """Learning rate of epoch ``epoch`` (1-based) out of ``epochs`` under the reference schedule."""
    check_positive_int(epochs, "epochs")
    check_int(epoch, "epoch", minimum=1, maximum=epochs)
    flat, decay = epochs // 2, epochs - epochs // 2
    return lr * (1.0 - max(0, epoch - flat - 1) / decay)


@dataclass
class EpochLog:
    """One epoch: its ``lr``, mean BCE ``loss`` and training ``accuracy`` over its triplets, and the
    2AFC ``validation_score`` afterwards (None without validation data)."""

    epoch: int
    lr: float
    loss: float
    accuracy: float
    validation_score: float | None = None


@dataclass
class TrainingResult:
    """``epochs`` (one :class:`EpochLog` each), ``step_losses`` (BCE per optimiser step), the trained
    ranking network ``ranking``, the ``variant`` and the 2AFC validation score before training. The LPIPS
    model itself is trained in place."""

    variant: str
    epochs: list[EpochLog]
    step_losses: list[float]
    ranking: RankingNetwork
    initial_validation_score: float | None = None


def _check_variant(model: LPIPS, variant: str) -> None:
    if not isinstance(model, LPIPS):
        raise TypeError(f"model must be a laserlab LPIPS module; got {type(model).__name__}")
    check_choice(variant, "variant", VARIANTS)
    if variant == "scratch" and model.backbone_pretrained:
        raise ValueError(
            "variant 'scratch' trains from a random backbone: build the model with weights=None "
            f"(this one has {model.backbone.weights_source}); use 'tune' to fine-tune pretrained weights"
        )


def train_lpips(
    model: LPIPS,
    triplets: Dataset,
    *,
    variant: str = "lin",
    epochs: int = 10,
    batch_size: int = 50,
    lr: float = 1e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    validation: Dataset | None = None,
    seed: int = 0,
    ranking: RankingNetwork | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> TrainingResult:
    """Train ``model`` in place on 2AFC ``triplets`` (items ``Triplet(ref, p0, p1, judge)``).

    ``validation``: 2AFC triplets scored before training and after every epoch. ``ranking``: a ranking
    network to continue training (default: a fresh one, seeded). ``on_epoch`` is called with each
    :class:`EpochLog` (e.g. to print progress). The model is frozen again (eval mode) when this returns,
    also after an error. See the module docstring for the recipe.
    """
    _check_variant(model, variant)
    check_number(lr, "lr", minimum=0, exclusive=True)
    learning_rate(1, epochs=epochs, lr=lr)  # validates epochs
    check_positive_int(batch_size, "batch_size")
    if len(triplets) == 0:
        raise ValueError("triplets must hold at least one item")
    reference = model.heads[0]
    device, dtype = reference.device, reference.dtype
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        ranking = (RankingNetwork() if ranking is None else ranking).to(device=device, dtype=dtype)
        model.unfreeze(backbone=variant != "lin")
        try:
            trained = [
                *model.heads,
                *(model.backbone.parameters() if variant != "lin" else []),
                *ranking.parameters(),
            ]
            optimizer = torch.optim.Adam(trained, lr=lr, betas=betas)
            loader = DataLoader(
                triplets, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed)
            )
            initial = _validate(model, validation)
            logs, step_losses = [], []
            for epoch in range(1, epochs + 1):
                epoch_lr = learning_rate(epoch, epochs=epochs, lr=lr)
                for group in optimizer.param_groups:
                    group["lr"] = epoch_lr
                model.train()
                ranking.train()
                loss_sum = correct = count = 0.0
                for ref, p0, p1, judge in loader:
                    ref, p0, p1 = (x.to(device=device, dtype=dtype) for x in (ref, p0, p1))
                    judge = judge.to(device=device, dtype=dtype).reshape(-1)
                    d0, d1 = model(torch.cat([p0, p1]), torch.cat([ref, ref])).chunk(2)
                    loss = F.binary_cross_entropy(ranking(d0, d1), judge)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    model.clamp_heads_()
                    n, value = judge.numel(), loss.item()
                    step_losses.append(value)
                    loss_sum += value * n
                    closer1 = (d1 < d0).to(dtype)
                    correct += float((closer1 * judge + (1 - closer1) * (1 - judge)).sum())
                    count += n
                log = EpochLog(
                    epoch, epoch_lr, loss_sum / count, correct / count, _validate(model, validation)
                )
                logs.append(log)
                if on_epoch is not None:
                    on_epoch(log)
        finally:
            model.freeze()
            ranking.eval()
    return TrainingResult(variant, logs, step_losses, ranking, initial)


def _validate(model: LPIPS, validation: Dataset | None) -> float | None:
    if validation is None:
        return None
    was_training = model.training
    model.eval()
    try:
        return evaluate_2afc(model, validation).score
    finally:
        model.train(was_training)
