"""Codebook explorer: a codebook or dictionary as a point cloud, by PCA, t-SNE or UMAP, coloured by usage,
by each codeword's mean colour or by index."""

from __future__ import annotations

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from ..checks import check_choice, check_float_tensor
from ..sparse.analysis import EMBEDDING_METHODS, Embedding, embed, mean_colors
from ..viz.embeddings import METHOD_NAMES, codebook_embedding
from .png import png_bytes

COLORINGS = ("usage", "mean colour", "index")


def _check(codebook: torch.Tensor, usage: torch.Tensor | None) -> None:
    check_float_tensor(codebook, "codebook")
    if codebook.dim() != 2 or codebook.shape[0] < 3:
        raise ValueError(f"codebook must have shape (K, M) with K >= 3; got {tuple(codebook.shape)}")
    if usage is None:
        return
    if not isinstance(usage, torch.Tensor):
        raise TypeError(
            f"usage must be a torch.Tensor (K,) of counts or frequencies; got {type(usage).__name__}"
        )
    if usage.shape != (codebook.shape[0],):
        raise ValueError(f"usage must have shape (K,) = ({codebook.shape[0]},); got {tuple(usage.shape)}")


def _draw(codebook, embedding: Embedding, coloring: str, usage, title: str | None) -> Figure:
    check_choice(coloring, "coloring", COLORINGS)
    if coloring == "usage":
        if usage is None:
            raise ValueError("coloring 'usage' needs usage (K,) counts or frequencies")
        shares = usage.detach().cpu().double()
        shares = (shares / shares.sum().clamp(min=1e-300)).numpy()
        return codebook_embedding(embedding, values=shares, value_label="usage share", title=title)
    if coloring == "mean colour":
        if codebook.shape[1] % 3:
            raise ValueError("coloring 'mean colour' needs pixel-patch codewords (K, 3·p²)")
        return codebook_embedding(embedding, colors=mean_colors(codebook.detach()), title=title)
    return codebook_embedding(embedding, title=title)


def codebook_explorer_figure(
    codebook: torch.Tensor,
    *,
    method: str = "pca",
    coloring: str = "index",
    usage: torch.Tensor | None = None,
    title: str | None = None,
    seed: int = 0,
) -> Figure:
    """The explorer's figure: the rows of ``codebook`` (K, M) embedded in 2-D by ``method`` ("pca",
    "tsne", "umap"; :func:`laserlab.sparse.analysis.embed`) and coloured by ``coloring``: "usage" (needs
    ``usage`` (K,)), "mean colour" (pixel-patch codewords (K, 3·p²)) or "index"."""
    _check(codebook, usage)
    return _draw(codebook, embed(codebook, method=method, seed=seed), coloring, usage, title)


def codebook_explorer(
    codebook: torch.Tensor,
    *,
    method: str = "pca",
    coloring: str | None = None,
    usage: torch.Tensor | None = None,
    methods: tuple[str, ...] = EMBEDDING_METHODS,
    title: str | None = None,
    seed: int = 0,
    dpi: int = 72,
) -> widgets.VBox:
    """Interactive :func:`codebook_explorer_figure`: a method toggle (among ``methods``; each embedding is
    computed once, on first use — UMAP's first call compiles for ~50 s) and a colouring toggle (usage when
    ``usage`` is given, mean colour for pixel-patch codewords, index). ``coloring`` defaults to "usage"
    when usage is given, else "index".

    The returned box exposes ``controls`` (dict: "method", "coloring"), ``picture`` (Image) and
    ``embeddings`` (dict of the computed :class:`~laserlab.sparse.analysis.Embedding` by method).
    """
    _check(codebook, usage)
    unknown = [m for m in methods if m not in EMBEDDING_METHODS]
    if not methods or unknown:
        raise ValueError(f"methods must be a non-empty subset of {EMBEDDING_METHODS}; got {methods!r}")
    check_choice(method, "method", methods)
    colorings = [c for c in COLORINGS if (c != "usage" or usage is not None)]
    colorings = [c for c in colorings if (c != "mean colour" or codebook.shape[1] % 3 == 0)]
    coloring = ("usage" if usage is not None else "index") if coloring is None else coloring
    check_choice(coloring, "coloring", colorings)
    controls = {
        "method": widgets.ToggleButtons(
            options=[(METHOD_NAMES[m], m) for m in methods], value=method, description="embedding"
        ),
        "coloring": widgets.ToggleButtons(options=colorings, value=coloring, description="colour by"),
    }
    picture = widgets.Image(format="png")
    embeddings: dict[str, Embedding] = {}

    def redraw(_change=None) -> None:
        chosen = controls["method"].value
        if chosen not in embeddings:
            embeddings[chosen] = embed(codebook, method=chosen, seed=seed)
        fig = _draw(codebook, embeddings[chosen], controls["coloring"].value, usage, title)
        picture.value = png_bytes(fig, dpi=dpi)

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([controls["method"], controls["coloring"], picture])
    box.controls, box.picture, box.embeddings = controls, picture, embeddings
    return box
