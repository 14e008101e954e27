"""Sigma explorer: move log2 σ (a constant map) or a fovea (fixation and radius) and watch Wasserstein
Distortion's per-level maps, level weights and value change."""

from __future__ import annotations

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from ..checks import check_choice
from ..perceptual import sigma as sigma_maps
from ..perceptual.wasserstein import wasserstein_distortion
from ..perceptual.wasserstein.validation import check_image_pair
from ..viz.sigma import wasserstein_levels
from .png import png_bytes

MODES = ("constant", "foveated")  # the sigma-map kinds (laserlab.perceptual.sigma.build) the explorer offers


def _check_pair(image_a, image_b) -> None:
    if check_image_pair(image_a, image_b):
        raise ValueError(f"image_a must be one image (3, H, W) in [0, 1]; got {tuple(image_a.shape)}")


def _sigma(image: torch.Tensor, mode: str, log2_sigma: float, fixation, radius: float, num_levels: int):
    check_choice(mode, "mode", MODES)
    options = {"value": log2_sigma} if mode == "constant" else {"fixation": fixation, "radius": radius}
    return sigma_maps.build(
        mode,
        size=tuple(image.shape[-2:]),
        num_levels=num_levels,
        dtype=image.dtype,
        device=image.device,
        **options,
    )


def _draw(image_a, image_b, mode, log2_sigma, fixation, radius, num_levels) -> tuple[float, Figure]:
    log2_map = _sigma(image_a, mode, log2_sigma, fixation, radius, num_levels)
    with torch.no_grad():
        distortion, intermediates = wasserstein_distortion(
            image_a, image_b, log2_map, num_levels=num_levels, return_intermediates=True
        )
    figure = wasserstein_levels(
        intermediates, image_a=image_a, image_b=image_b, log2_sigma=log2_map, distortion=float(distortion)
    )
    return float(distortion), figure


def sigma_explorer_figure(
    image_a: torch.Tensor,
    image_b: torch.Tensor,
    *,
    mode: str = "constant",
    log2_sigma: float = 2.0,
    fixation: tuple[float, float] | None = None,
    radius: float = 8.0,
    num_levels: int = 5,
) -> Figure:
    """The explorer's figure at given values: pixel-feature Wasserstein Distortion between two images
    (3, H, W) in [0, 1] under a constant map (``log2_sigma``) or a foveated one (``fixation`` (row,
    column), ``radius`` in pixels), drawn by :func:`laserlab.viz.sigma.wasserstein_levels`."""
    _check_pair(image_a, image_b)
    return _draw(image_a, image_b, mode, log2_sigma, fixation, radius, num_levels)[1]


def sigma_explorer(
    image_a: torch.Tensor,
    image_b: torch.Tensor,
    *,
    mode: str = "constant",
    log2_sigma: float = 2.0,
    fixation: tuple[int, int] | None = None,
    radius: float = 8.0,
    num_levels: int = 5,
    dpi: int = 72,
) -> widgets.VBox:
    """Interactive :func:`sigma_explorer_figure`: a toggle for the map kind, a log2 σ slider (constant
    map) and fixation-row, fixation-column and radius sliders (foveated map). Every change redraws the
    figure (a PNG in an ``Image`` widget, so it also works without a live kernel view) and the value.

    The returned box exposes ``controls`` (dict: "mode", "log2_sigma", "row", "column", "radius"),
    ``readout`` (HTML) and ``picture`` (Image) for scripted use.
    """
    _check_pair(image_a, image_b)
    check_choice(mode, "mode", MODES)
    height, width = image_a.shape[-2:]
    row, column = fixation if fixation is not None else (height // 2, width // 2)
    style = {"description_width": "initial"}
    controls = {
        "mode": widgets.ToggleButtons(options=MODES, value=mode, description="σ map"),
        "log2_sigma": widgets.FloatSlider(
            value=log2_sigma, min=0.0, max=float(num_levels), step=0.25, description="log2 σ",
            continuous_update=False, style=style,
        ),
        "row": widgets.IntSlider(
            value=row, min=0, max=height - 1, description="fixation row", continuous_update=False, style=style
        ),
        "column": widgets.IntSlider(
            value=column, min=0, max=width - 1, description="fixation column", continuous_update=False,
            style=style,
        ),
        "radius": widgets.FloatSlider(
            value=radius, min=1.0, max=float(max(height, width)), step=0.5, description="radius",
            continuous_update=False, style=style,
        ),
    }  # fmt: skip
    value = widgets.HTML()
    picture = widgets.Image(format="png")

    def redraw(_change=None) -> None:
        foveated = controls["mode"].value == "foveated"
        controls["log2_sigma"].disabled = foveated
        for key in ("row", "column", "radius"):
            controls[key].disabled = not foveated
        distortion, fig = _draw(
            image_a,
            image_b,
            controls["mode"].value,
            controls["log2_sigma"].value,
            (controls["row"].value, controls["column"].value),
            controls["radius"].value,
            num_levels,
        )
        value.value = f"<b>Wasserstein Distortion</b> (pixels) = {distortion:.6g}"
        picture.value = png_bytes(fig, dpi=dpi)

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    box = widgets.VBox(
        [
            widgets.HBox([controls["mode"], controls["log2_sigma"]]),
            widgets.HBox([controls["row"], controls["column"], controls["radius"]]),
            value,
            picture,
        ]
    )
    box.controls, box.readout, box.picture = controls, value, picture
    return box
