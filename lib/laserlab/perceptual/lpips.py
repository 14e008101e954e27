"""LPIPS (Zhang et al., CVPR 2018), computed exactly as the reference ``lpips`` package does.

d(x, x0) = Σ_l 1/(H_l W_l) Σ_{h,w} Σ_c w_{l,c} (f̂_l(x) − f̂_l(x0))²_{c,h,w}, with f_l the l-th tap of an
ImageNet backbone (AlexNet, VGG-16 or SqueezeNet 1.1, see :mod:`laserlab.perceptual.backbones`),
f̂ = f / (‖f‖_channels + 1e-10) (the epsilon outside the square root, as upstream) and w_l ≥ 0 the
"lin" heads calibrated on BAPPS 2AFC judgements. The paper writes ‖w ⊙ (ŷ − ŷ0)‖²; its w² is our w.

Input convention: images in **[0, 1]** (B, 3, H, W), as everywhere in laserlab. LPIPS itself works on
[−1, 1]: the module maps x ↦ 2x − 1 inside (upstream's ``normalize=True``), then, in version 0.1 only, the
ScalingLayer (x − shift) / scale with shift = (−0.030, −0.088, −0.188), scale = (0.458, 0.448, 0.450)
(ImageNet mean and std carried into [−1, 1]). Version 0.0 (the original release) feeds the raw [−1, 1]
image to the backbone; nothing else differs between versions.

Linear heads (``lin=``):

- ``"lpips"`` — the published heads, read from the installed ``lpips`` package's
  ``lpips/weights/v{version}/{net}.pth`` (keys ``lin{k}.model.1.weight``, mapped explicitly);
- ``None`` — random (PyTorch's default 1×1 convolution initialiser), the starting point of
  :func:`laserlab.perceptual.lpips_training.train_lpips`; recorded as a substitution;
- ``"uniform"`` — every weight 1: upstream's ``lpips=False`` baseline (plain sum of squared normalised
  feature differences over channels);
- a path — a file in the same format, e.g. written from :meth:`LPIPS.lin_state_dict` after training.

Outputs: ``forward(reconstruction, target)`` is the distance (B,), the contract every laserlab distortion
module shares; :meth:`LPIPS.compare` returns an :class:`LPIPSOutput` with the per-layer terms and, for a
module built with ``spatial=True``, the per-layer maps bilinearly upsampled (align_corners=False) to the
input size. :meth:`LPIPS.load_lpips_state_dict` loads checkpoints of the ``lpips`` package.

As a loss: ``forward(reconstruction, target)`` returns (B,) and gradients flow to the images, while the
module stays frozen (no parameter requires grad) and in eval mode even when a parent calls ``.train()``
— otherwise the lin heads' dropout would switch on and make the loss noisy. :meth:`LPIPS.unfreeze`
hands it to a training loop; :meth:`LPIPS.freeze` takes it back.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import usage
from ..checks import check_images, check_same_shape
from .backbones import WeightsUnavailableError, backbone

NETS: dict[str, str] = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}
VERSIONS = ("0.1", "0.0")
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10


def unit_normalize(features: torch.Tensor, *, eps: float = EPS) -> torch.Tensor:
    """features / (sqrt(Σ_c features²) + eps) across the channel axis of (B, C, H, W)."""
    norm = torch.sqrt(torch.sum(features**2, dim=1, keepdim=True))
    return features / (norm + eps)


def lin_weights_file(net: str, version: str) -> Path:
    """The installed ``lpips`` package's file of published heads for ``net`` and ``version``."""
    _check_net_version(net, version)
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailableError(
            f"the LPIPS heads for net={net!r}, version={version!r} come from the `lpips` package "
            f"(file lpips/weights/v{version}/{net}.pth), which is not installed: pip install lpips==0.1.4, "
            "or pass lin=<path to such a file>"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / f"v{version}" / f"{net}.pth"
    if not path.is_file():
        raise WeightsUnavailableError(f"the installed lpips package has no {path}; reinstall lpips==0.1.4")
    return path


def read_lin_weights(path: str | Path, channels: tuple[int, ...]) -> list[torch.Tensor]:
    """Heads from a file holding exactly ``lin{k}.model.1.weight`` of shape (1, C_k, 1, 1), k = 0…L−1.

    Keys are matched one by one (upstream's ``strict=False`` silently keeps random heads when they do
    not match); a missing, extra or misshapen key raises ``ValueError``.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsUnavailableError(
            f"lin must be 'lpips', 'uniform', None or an existing file; {path} does not exist"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    expected = [f"lin{k}.model.1.weight" for k in range(len(channels))]
    if not isinstance(state, dict) or sorted(state) != sorted(expected):
        found = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"lin file {path} must hold exactly the keys {expected}; found {found}")
    weights = []
    for key, c in zip(expected, channels, strict=True):
        w = state[key]
        if tuple(w.shape) != (1, c, 1, 1):
            raise ValueError(f"lin file {path}: {key} must have shape (1, {c}, 1, 1); got {tuple(w.shape)}")
        weights.append(w.float())
    return weights


def _check_net_version(net: str, version: str) -> None:
    if net not in NETS:
        raise ValueError(f"net must be one of {sorted(NETS)}; got {net!r}")
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {list(VERSIONS)} (a string); got {version!r}")


@dataclass
class LPIPSOutput:
    """Everything one LPIPS comparison computes.

    ``distance`` (B,) is the LPIPS distance; ``layers`` (B, L) its per-layer terms (their left-to-right
    sum is ``distance``), named by ``layer_names``; ``maps`` (B, L, H, W) the per-layer distance maps
    bilinearly upsampled to the input size (only with ``spatial=True``, else None).
    """

    distance: torch.Tensor
    layers: torch.Tensor
    layer_names: tuple[str, ...]
    maps: torch.Tensor | None = None

    @property
    def spatial_map(self) -> torch.Tensor:
        """(B, H, W): the sum of the per-layer maps; its mean approximates ``distance`` (≈1e-5)."""
        if self.maps is None:
            raise ValueError("spatial maps were not computed; build LPIPS(..., spatial=True)")
        return self.maps.sum(dim=1)


class LPIPS(nn.Module):
    """LPIPS distance between image batches in [0, 1]; see the module docstring.

    ``net``: "alex" (AlexNet), "vgg" (VGG-16) or "squeeze" (SqueezeNet 1.1). ``version``: "0.1" (default)
    or "0.0". ``weights``: the backbone's weights as in :func:`~laserlab.perceptual.backbones.backbone`
    ("imagenet", None for random, or a torchvision state-dict path). ``lin``: the heads ("lpips",
    None, "uniform" or a path). ``spatial``: whether :meth:`compare` also returns per-layer maps at the
    input size (``forward`` is always (B,)). ``dropout``: probability of the dropout before each head
    while training (upstream's ``use_dropout``), inactive otherwise.
    """

    def __init__(
        self,
        net: str = "alex",
        *,
        version: str = "0.1",
        weights: str | Path | None = "imagenet",
        lin: str | Path | None = "lpips",
        spatial: bool = False,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        _check_net_version(net, version)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1); got {dropout!r}")
        self.net = net
        self.version = version
        self.spatial = spatial
        self.backbone = backbone(NETS[net], weights=weights)
        self.backbone_pretrained = weights is not None
        channels = self.backbone.channels
        self.heads = nn.ParameterList(self._initial_heads(lin, channels))
        self.dropout = nn.Dropout(dropout)
        # Constants, not state: kept out of the state dict (upstream stores them; nothing is learned).
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)
        self.freeze()

    def _initial_heads(self, lin, channels: tuple[int, ...]) -> list[torch.Tensor]:
        name = f"LPIPS-{self.net} v{self.version} linear heads"
        if lin is None:
            usage.record(
                "weights",
                name,
                "random init (lin=None requested)",
                substituted=True,
                reason="uncalibrated heads; the distance is not LPIPS until they are trained",
            )
            return [nn.Conv2d(c, 1, 1, bias=False).weight.detach() for c in channels]
        if lin == "uniform":
            usage.record("weights", name, "uniform heads (all ones): upstream's lpips=False baseline")
            return [torch.ones(1, c, 1, 1) for c in channels]
        path = lin_weights_file(self.net, self.version) if lin == "lpips" else Path(lin)
        heads = read_lin_weights(path, channels)
        usage.record("weights", name, str(path))
        return heads

    @property
    def layer_names(self) -> tuple[str, ...]:
        return self.backbone.tap_names

    @property
    def min_size(self) -> int:
        """Smallest image side the backbone accepts."""
        return self.backbone.min_size

    # ---------------------------------------------------------------------------------------------
    # Training state

    def freeze(self) -> LPIPS:
        """No parameter requires grad and the module stays in eval mode whatever ``.train()`` says."""
        self._trainable = False
        self.requires_grad_(False)
        return super().train(False)

    def unfreeze(self, *, backbone: bool = False) -> LPIPS:
        """Let the heads (and, with ``backbone=True``, the backbone) train; ``.train()`` works again."""
        self._trainable = True
        for head in self.heads:
            head.requires_grad_(True)
        self.backbone.requires_grad_(backbone)
        return self

    def train(self, mode: bool = True) -> LPIPS:
        return super().train(mode and self._trainable)

    @torch.no_grad()
    def clamp_heads_(self) -> None:
        """Project the heads onto w ≥ 0 (after every optimiser step while training)."""
        for head in self.heads:
            head.clamp_(min=0)

    def load_lpips_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load a state dict of the ``lpips`` package's ``LPIPS`` (e.g. a tune/scratch checkpoint).

        Keys are mapped one by one: ``net.slice{k}.{i}.{param}`` → ``backbone.features.{i}.{param}``
        (i is torchvision's index), ``lin{k}.model.1.weight`` (``model.0`` when saved without dropout) →
        head k; ``scaling_layer.*`` (constants) and the ``lins.*`` aliases are skipped. Every backbone
        parameter and head must be present and nothing else may be, or ``ValueError`` says which.
        """
        backbone, heads, unknown = {}, {}, []
        for key, value in state.items():
            if match := re.fullmatch(r"net\.slice\d+\.(\d+\..+)", key):
                backbone[f"features.{match.group(1)}"] = value
            elif match := re.fullmatch(r"lin(\d+)\.model\.[01]\.weight", key):
                heads.setdefault(int(match.group(1)), []).append(value)
            elif not key.startswith(("scaling_layer.", "lins.")):
                unknown.append(key)
        expected = set(self.backbone.state_dict())
        missing = sorted(expected - set(backbone)) + [
            f"lin{k}" for k in range(len(self.heads)) if k not in heads
        ]
        unknown += sorted(set(backbone) - expected) + [f"lin{k}" for k in heads if k >= len(self.heads)]
        duplicated = [f"lin{k}" for k, values in heads.items() if len(values) > 1]
        if missing or unknown or duplicated:
            raise ValueError(
                f"state is not an lpips LPIPS-{self.net} state dict: missing {missing}, "
                f"unexpected {unknown}, heads given twice {duplicated}"
            )
        for k, head in enumerate(self.heads):
            if heads[k][0].shape != head.shape:
                raise ValueError(
                    f"lin{k} must have shape {tuple(head.shape)}; got {tuple(heads[k][0].shape)}"
                )
        self.backbone.load_state_dict(backbone)
        with torch.no_grad():
            for k, head in enumerate(self.heads):
                head.copy_(heads[k][0])

    def lin_state_dict(self) -> dict[str, torch.Tensor]:
        """The heads under upstream's keys ``lin{k}.model.1.weight`` (a file ``lin=`` and lpips accept)."""
        return {f"lin{k}.model.1.weight": h.detach().cpu().float().clone() for k, h in enumerate(self.heads)}

    # ---------------------------------------------------------------------------------------------
    # Distance

    def _check_inputs(self, reconstruction: torch.Tensor, target: torch.Tensor) -> None:
        check_images(reconstruction, "reconstruction")
        check_images(target, "target")
        check_same_shape(reconstruction, target, "reconstruction", "target")
        reference = self.heads[0]
        for name, x in (("reconstruction", reconstruction), ("target", target)):
            if x.dtype != reference.dtype or x.device != reference.device:
                raise TypeError(
                    f"{name} is {x.dtype} on {x.device} but this LPIPS module is {reference.dtype} on "
                    f"{reference.device}; move one of them (e.g. lpips.to(images))"
                )
        if min(target.shape[-2:]) < self.min_size:
            raise ValueError(
                f"reconstruction and target must be at least {self.min_size}×{self.min_size} pixels for "
                f"LPIPS-{self.net} ({self.backbone.name}); got {tuple(target.shape[-2:])}"
            )

    def _features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised taps of images (B, 3, H, W) in [0, 1]."""
        x = images * 2 - 1
        if self.version == "0.1":
            x = (x - self.shift) / self.scale
        return [unit_normalize(f) for f in self.backbone(x)]

    def _layer_maps(self, reconstruction: torch.Tensor, target: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer head outputs (B, 1, H_l, W_l) at each tap's resolution."""
        if torch.is_grad_enabled() and reconstruction.requires_grad != target.requires_grad:
            # A loss: one pass per side, so the backward pass runs through the backbone for one side only.
            pairs = zip(self._features(reconstruction), self._features(target), strict=True)
        else:
            # A metric: one pass over both batches, the same arithmetic in fewer and larger kernels.
            pairs = (f.chunk(2) for f in self._features(torch.cat([reconstruction, target])))
        return [
            F.conv2d(self.dropout((f0 - f1) ** 2), head)
            for (f0, f1), head in zip(pairs, self.heads, strict=True)
        ]

    def forward(self, reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """LPIPS distance per image pair, (B,), for images (B, 3, H, W) in [0, 1]."""
        self._check_inputs(reconstruction, target)
        total = 0
        for layer_map in self._layer_maps(reconstruction, target):
            total = total + layer_map.mean([2, 3])
        return total.reshape(-1)

    def compare(self, reconstruction: torch.Tensor, target: torch.Tensor) -> LPIPSOutput:
        """Distance, per-layer terms and (with ``spatial=True``) per-layer maps at the input size."""
        self._check_inputs(reconstruction, target)
        layer_maps = self._layer_maps(reconstruction, target)
        terms = [m.mean([2, 3]).reshape(-1) for m in layer_maps]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        maps = None
        if self.spatial:
            size = tuple(target.shape[-2:])
            maps = torch.cat(
                [F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m in layer_maps], dim=1
            )
        return LPIPSOutput(total, torch.stack(terms, dim=1), self.layer_names, maps)

    def extra_repr(self) -> str:
        return (
            f"net={self.net!r}, version={self.version!r}, backbone={self.backbone.weights_source!r}, "
            f"spatial={self.spatial}"
        )
