"""Sparsity explorer: move the number of atoms S and the solver (OMP or matching pursuit) and watch the
reconstruction, its error, the code-strength map and the rate in bits per pixel change."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from ..bottlenecks.pixels import CodedImages, sparse_code_images
from ..checks import check_choice, check_float_tensor, check_images, check_int, check_positive_int
from ..perceptual.quality import psnr
from ..sparse import SOLVERS
from ..sparse.analysis import code_strength
from ..viz.codes import code_strength_map
from .png import png_bytes

SOLVER_NAMES = {"omp": "OMP", "mp": "matching pursuit"}


def _check(image: torch.Tensor, dictionary: torch.Tensor, patch_size: int) -> None:
    check_float_tensor(image, "image")
    if image.dim() != 3:
        raise ValueError(f"image must be one image (3, H, W) in [0, 1]; got {tuple(image.shape)}")
    check_images(image.unsqueeze(0), "image")
    check_positive_int(patch_size, "patch_size")
    width = 3 * patch_size**2
    check_float_tensor(dictionary, "dictionary")
    if dictionary.dim() != 2 or dictionary.shape[1] != width:
        raise ValueError(
            f"dictionary must have shape (K, 3·p²) = (K, {width}); got {tuple(dictionary.shape)}"
        )


def _code(image, dictionary, patch_size, sparsity, solver, value_bits) -> tuple[CodedImages, float]:
    coded = sparse_code_images(
        image.unsqueeze(0).to(dictionary.dtype),
        dictionary,
        patch_size=patch_size,
        sparsity=sparsity,
        solver=solver,
        value_bits=value_bits,
    )
    quality = float(psnr(coded.reconstruction.clamp(0, 1), image.unsqueeze(0).to(dictionary.dtype))[0])
    return coded, quality


def _summary(coded: CodedImages, quality: float, sparsity: int, solver: str) -> str:
    return (
        f"S = {sparsity}, {SOLVER_NAMES[solver]}: {coded.bits_per_pixel:.3f} bits per pixel "
        f"({coded.bits_per_token:.1f} bits per token), PSNR {quality:.2f} dB"
    )


def _draw(image, coded: CodedImages, quality: float, sparsity: int, solver: str) -> Figure:
    reconstruction = coded.reconstruction[0].clamp(0, 1).to(image.dtype)
    error = (reconstruction - image).abs().mean(0)
    fig, axes = plt.subplots(1, 4, figsize=(11.0, 3.0))
    panels = (
        (image.permute(1, 2, 0), "original", {}),
        (reconstruction.permute(1, 2, 0), f"S = {sparsity} ({SOLVER_NAMES[solver]})", {}),
        (error, f"|error|, mean over RGB (max {float(error.max()):.3f})", {"cmap": "magma", "vmin": 0}),
    )
    for ax, (picture, title, style) in zip(axes, panels, strict=False):
        ax.imshow(picture.detach().cpu().numpy(), interpolation="nearest", **style)
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    p = coded.code.patch_size
    code_strength_map(
        code_strength(coded.code.sparse),
        patch_size=p,
        image_size=tuple(image.shape[-2:]),
        title=f"code strength Σ|γ| per {p}×{p} patch",
        ax=axes[3],
    )
    fig.suptitle(_summary(coded, quality, sparsity, solver), fontsize=9)
    fig.tight_layout()
    return fig


def sparsity_explorer_figure(
    image: torch.Tensor,
    dictionary: torch.Tensor,
    *,
    patch_size: int,
    sparsity: int = 4,
    solver: str = "omp",
    value_bits: int = 8,
) -> Figure:
    """The explorer's figure at given values: one image (3, H, W) in [0, 1] coded patch by patch
    (:func:`laserlab.bottlenecks.pixels.sparse_code_images`) over ``dictionary`` (K, 3·p²) with
    ``sparsity`` atoms by ``solver`` ("omp" or "mp") and ``value_bits``-bit coefficients: original,
    reconstruction, |error| (mean over channels, scaled to its maximum) and the code-strength map, titled
    with bits per pixel and PSNR."""
    _check(image, dictionary, patch_size)
    coded, quality = _code(image, dictionary, patch_size, sparsity, solver, value_bits)
    return _draw(image, coded, quality, sparsity, solver)


def sparsity_explorer(
    image: torch.Tensor,
    dictionary: torch.Tensor,
    *,
    patch_size: int,
    sparsity: int = 4,
    solver: str = "omp",
    value_bits: int = 8,
    max_sparsity: int | None = None,
    dpi: int = 72,
) -> widgets.VBox:
    """Interactive :func:`sparsity_explorer_figure`: a sparsity slider S (1 … ``max_sparsity``, default
    min(K, 3·p², 32)) and a solver toggle. Every change re-codes the image and redraws the figure (a PNG in
    an ``Image`` widget, so it also works from saved widget state) and the rate/PSNR line.

    The returned box exposes ``controls`` (dict: "sparsity", "solver"), ``readout`` (HTML) and ``picture``
    (Image) for scripted use.
    """
    _check(image, dictionary, patch_size)
    check_choice(solver, "solver", SOLVERS)
    limit = min(dictionary.shape[0], 3 * patch_size**2, 32) if max_sparsity is None else max_sparsity
    check_positive_int(limit, "max_sparsity")
    check_int(sparsity, "sparsity", minimum=1, maximum=limit)
    controls = {
        "sparsity": widgets.IntSlider(
            value=sparsity, min=1, max=limit, description="sparsity S", continuous_update=False,
            style={"description_width": "initial"},
        ),
        "solver": widgets.ToggleButtons(
            options=[(SOLVER_NAMES[name], name) for name in SOLVERS], value=solver, description="solver"
        ),
    }  # fmt: skip
    readout = widgets.HTML()
    picture = widgets.Image(format="png")

    def redraw(_change=None) -> None:
        chosen, method = controls["sparsity"].value, controls["solver"].value
        coded, quality = _code(image, dictionary, patch_size, chosen, method, value_bits)
        readout.value = f"<b>{_summary(coded, quality, chosen, method)}</b>"
        picture.value = png_bytes(_draw(image, coded, quality, chosen, method), dpi=dpi)

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([widgets.HBox([controls["sparsity"], controls["solver"]]), readout, picture])
    box.controls, box.readout, box.picture = controls, readout, picture
    return box
