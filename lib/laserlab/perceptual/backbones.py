"""ImageNet backbones as feature taps: VGG-16, AlexNet and SqueezeNet 1.1 from torchvision.

``backbone(name, weights=...)`` returns a :class:`Backbone` whose forward gives the list of tap
activations LPIPS uses (for VGG-16 also the relu1_2 … relu5_3 taps of Wasserstein Distortion's front end,
optionally with average pooling). The module runs on whatever tensor it is given: callers normalise
(LPIPS: its scaling layer on [-1, 1]; Wasserstein: ImageNet mean/std on [0, 1]).

Weights (``weights=``):

- ``"imagenet"`` — torchvision's ImageNet weights, looked up as ``$LASERLAB_WEIGHTS_DIR/<file>``, then in
  torchvision's cache ``$TORCH_HOME/hub/checkpoints/<file>``, else downloaded into that cache. Files:
  ``alexnet-owt-7be5be79.pth``, ``vgg16-397923af.pth``, ``squeezenet1_1-b8a52dc0.pth`` (the 8 hex digits
  are the SHA-256 prefix, checked). When none can be had, :class:`WeightsUnavailableError` names the file
  and the folders to put it in.
- a path — a torchvision state-dict file of the whole model, as torchvision saves or downloads it.
- ``None`` — random initialisation (torchvision's initialisers). Only when asked for; it is recorded as a
  substitution so reports say so in a banner.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .. import usage
from ..checks import check_choice
from ..registry import Registry


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be found or downloaded; the message says where to put the file."""


@dataclass(frozen=True)
class BackboneSpec:
    constructor: str  # torchvision.models function
    weights_enum: str  # torchvision weights enum holding the download URL
    file: str  # file name of the ImageNet state dict (torchvision's cache name)
    taps: tuple[int, ...]  # indices into model.features whose outputs are returned
    tap_names: tuple[str, ...]
    channels: tuple[int, ...]


SPECS: Registry[BackboneSpec] = Registry(
    "backbone",
    {
        "vgg16": BackboneSpec(
            "vgg16", "VGG16_Weights", "vgg16-397923af.pth", (3, 8, 15, 22, 29),
            ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"), (64, 128, 256, 512, 512),
        ),
        "alexnet": BackboneSpec(
            "alexnet", "AlexNet_Weights", "alexnet-owt-7be5be79.pth", (1, 4, 7, 9, 11),
            ("relu1", "relu2", "relu3", "relu4", "relu5"), (64, 192, 384, 256, 256),
        ),
        "squeezenet1_1": BackboneSpec(
            "squeezenet1_1", "SqueezeNet1_1_Weights", "squeezenet1_1-b8a52dc0.pth", (1, 4, 7, 9, 10, 11, 12),
            ("relu1", "fire3", "fire5", "fire6", "fire7", "fire8", "fire9"),
            (64, 128, 256, 384, 384, 512, 512),
        ),
    },
)  # fmt: skip


def weight_search_path(name: str) -> list[Path]:
    """Where ``weights="imagenet"`` looks for ``name``'s file, in order."""
    file = SPECS[name].file
    folders = []
    if os.environ.get("LASERLAB_WEIGHTS_DIR"):
        folders.append(Path(os.environ["LASERLAB_WEIGHTS_DIR"]).expanduser())
    folders.append(Path(torch.hub.get_dir()) / "checkpoints")
    return [folder / file for folder in folders]


def _check_hash(path: Path) -> None:
    """torchvision names its files ``<name>-<sha256 prefix>.pth``; a local copy must match that prefix."""
    prefix = path.stem.rsplit("-", 1)[-1]
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if not digest.hexdigest().startswith(prefix):
        raise WeightsUnavailableError(
            f"weights file {path} is corrupt or not the torchvision release: its SHA-256 does not start with "
            f"{prefix}; delete it and download it again"
        )


def resolve_imagenet_weights(name: str) -> Path:
    """Path of ``name``'s ImageNet state dict: a local copy, else a download into torchvision's cache."""
    for candidate in weight_search_path(name):
        if candidate.is_file():
            _check_hash(candidate)
            return candidate
    import torchvision.models

    spec = SPECS[name]
    url = getattr(torchvision.models, spec.weights_enum).IMAGENET1K_V1.url
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    try:
        torch.hub.load_state_dict_from_url(url, model_dir=str(cache), check_hash=True, progress=False)
    except Exception as error:  # URLError offline, HTTPError, or a hash mismatch
        places = " or ".join(str(p.parent) for p in weight_search_path(name))
        raise WeightsUnavailableError(
            f"ImageNet weights for {name} are not available: {spec.file} is in none of the searched "
            f"folders and downloading {url} failed ({type(error).__name__}: {error}). Copy {spec.file} into "
            f"{places} (set LASERLAB_WEIGHTS_DIR to use another folder), or pass weights=None for an "
            "explicitly random backbone."
        ) from error
    return cache / spec.file


def _spatial_size_after(module: nn.Module, n: int) -> int:
    """Output length along one axis of a conv/pool layer for input length ``n`` (other layers keep it)."""
    if not isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        return n
    pair = lambda v: v[0] if isinstance(v, tuple) else v  # noqa: E731
    k, s, p = pair(module.kernel_size), pair(module.stride), pair(module.padding)
    d = pair(getattr(module, "dilation", 1))
    ceil_mode = getattr(module, "ceil_mode", False)
    # PyTorch's pooling_output_shape: floor division rounds towards -inf; in ceil mode the last window
    # must start inside the (left-padded) input.
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return max(out, 0)


class Backbone(nn.Module):
    """``model.features`` of a torchvision network, truncated after its last tap.

    ``forward(x)`` with x (B, 3, H, W) returns the list of tap activations (B, C_l, H_l, W_l), in the
    order of ``tap_names``. The child indices of ``features`` are torchvision's, so state-dict keys are
    ``features.<i>.<param>``. In eval mode by default.
    """

    def __init__(self, name: str, features: nn.Sequential, *, weights_source: str) -> None:
        super().__init__()
        spec = SPECS[name]
        self.name = name
        self.features = features
        self.taps = spec.taps
        self.tap_names = spec.tap_names
        self.channels = spec.channels
        self.weights_source = weights_source
        self.min_size = self._minimum_input_size()
        self.eval()

    def _minimum_input_size(self) -> int:
        """Smallest side length for which every tap has at least one pixel."""
        for n in range(1, 1025):
            size, ok = n, True
            for module in self.features:
                size = _spatial_size_after(module, size)
                if size < 1:
                    ok = False
                    break
            if ok:
                return n
        raise AssertionError(f"{self.name}: no input size up to 1024 reaches the last tap")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"input must have shape (B, 3, H, W); got {tuple(x.shape)}")
        if min(x.shape[-2:]) < self.min_size:
            raise ValueError(
                f"images must be at least {self.min_size}×{self.min_size} pixels for {self.name}; "
                f"got {tuple(x.shape[-2:])}"
            )
        outputs = []
        taps = set(self.taps)
        for index, module in enumerate(self.features):
            x = module(x)
            if index in taps:
                outputs.append(x)
        return outputs


def _torchvision_feature_init(name: str, features: nn.Sequential) -> None:
    """Initialise the feature convolutions as torchvision's constructors do (the feature layers only)."""
    for module in features.modules():
        if not isinstance(module, nn.Conv2d):
            continue
        if name == "vgg16":
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)
        elif name == "squeezenet1_1":
            nn.init.kaiming_uniform_(module.weight)
            nn.init.zeros_(module.bias)
        else:  # AlexNet keeps PyTorch's default initialisation
            module.reset_parameters()


def backbone(name: str, *, weights: str | Path | None = "imagenet", pooling: str = "max") -> Backbone:
    """Build ``name`` ("vgg16", "alexnet" or "squeezenet1_1") with ``weights`` (see module docstring).

    ``pooling="avg"`` (VGG-16 only) replaces each 2×2 max pool by a 2×2 average pool, as in the VGG front
    end of Wasserstein Distortion.
    """
    import torchvision.models

    SPECS.check(name)
    check_choice(pooling, "pooling", ("max", "avg"))
    if pooling == "avg" and name != "vgg16":
        raise ValueError(f"pooling='avg' is defined for vgg16 only; got it for {name!r}")
    spec = SPECS[name]
    # Built on the meta device: the classifier (100 M parameters for VGG-16) is never materialised, which
    # saves ~1.7 s per VGG-16; only the feature layers up to the last tap get real storage.
    with torch.device("meta"):
        model = getattr(torchvision.models, spec.constructor)(weights=None)
    if weights is None:
        source = "random init (weights=None requested)"
        usage.record(
            "weights",
            f"{name} backbone",
            source,
            substituted=True,
            reason="features are not ImageNet features; metric values are not the published ones",
        )
    else:
        path = resolve_imagenet_weights(name) if weights == "imagenet" else Path(weights).expanduser()
        if not path.is_file():
            raise WeightsUnavailableError(
                f"weights must be 'imagenet', None or an existing file; {path} does not exist"
            )
        state = torch.load(path, map_location="cpu", weights_only=True)
        try:
            model.load_state_dict(state, assign=True)  # checks every key and shape of the whole model
        except RuntimeError as error:
            raise ValueError(
                f"weights file {path} is not a torchvision {spec.constructor} state dict ({error})"
            ) from error
        source = str(path)
        usage.record("weights", f"{name} backbone", source)
    last = max(spec.taps)
    features = nn.Sequential(*list(model.features.children())[: last + 1])
    if weights is None:
        features.to_empty(device="cpu")
        _torchvision_feature_init(name, features)
    if pooling == "avg":
        for index, module in enumerate(features):
            if isinstance(module, nn.MaxPool2d):
                features[index] = nn.AvgPool2d(kernel_size=2, stride=2)
    return Backbone(name, features, weights_source=source)
