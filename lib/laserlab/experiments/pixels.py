"""The pixel experiment done honestly: VQ vs matching pursuit vs exact OMP on RGB pixels and RGB patches.

No encoder, no training: each image is cut into p×p RGB tokens (``bottlenecks.patches.to_tokens``; p = 1 gives
the pixels themselves, M = 3) and every token is coded with K codewords or atoms:

- **VQ**: the nearest of K k-means centroids (k-means++ seeding + Lloyd steps), log2 K bits per token;
- **MP** / **OMP**: S-sparse codes over K unit-norm atoms, log2 C(K, S) bits for the support plus S·b bits for
  the coefficients under a b-bit uniform quantiser whose range is fixed on the fitting data. MP and OMP code
  over the **same** dictionary, so the comparison isolates the coder.

The dictionary is learned by K-SVD (``ksvd_iterations`` sweeps, each after re-coding with OMP at the
sparsity S it will be evaluated at, unused atoms replaced by the worst-represented tokens) from the k-means
centroids, normalised; ``ksvd_iterations=0`` keeps the normalised centroids. Both the codebook and the
dictionary are fitted on the fitting images (the train split for held-out evaluation; the evaluated images
themselves for the in-sample figure of the flawed original experiment).

Errors are per value: MSE = mean over images, pixels and channels of (x − x̂)² for images in [0, 1]
(reconstructions not clamped), PSNR = 10·log10(1 / MSE) of that mean.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from .. import sparse
from ..bottlenecks.patches import from_tokens, to_tokens
from ..checks import check_choice, check_images, check_nonnegative_int, check_positive_int
from ..sparse import SOLVERS, SparseCode, kmeans, ksvd_update, nearest_codeword, omp, replace_unused_atoms
from ..sparse.rate import bits_per_pixel, quantize_values, sparse_bits_per_token, vq_bits_per_token

#: the coders compared: VQ and the sparse solvers of :func:`laserlab.sparse.code`
METHODS = ("vq", *SOLVERS)


@dataclass
class Fitted:
    """Codebook and dictionaries fitted on one set of tokens.

    ``codebooks``: size K' → (K', M) k-means centroids; ``dictionaries``: sparsity S → (K, M) unit-norm atoms;
    ``max_abs``: sparsity S → the largest |coefficient| of the fitting tokens' OMP codes (the quantiser
    range).
    """

    codebooks: dict[int, torch.Tensor]
    dictionaries: dict[int, torch.Tensor]
    max_abs: dict[int, float]


@dataclass
class Row:
    """One line of the comparison table."""

    method: str
    num_atoms: int  # K: codewords (VQ) or atoms
    sparsity: int  # 1 for VQ
    patch_size: int
    fitted_on: str
    mse: float  # with quantised coefficients (what is transmitted)
    mse_unquantized: float  # with float coefficients (VQ: same as mse)
    psnr_db: float
    bits_per_token: float
    bits_per_pixel: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Comparison:
    """What :func:`compare` returns: the table rows and the fitted codebooks/dictionaries per fit set."""

    rows: list[Row]
    fitted: dict[str, Fitted]


def sample_tokens(tokens: torch.Tensor, count: int | None, *, seed: int) -> torch.Tensor:
    """At most ``count`` rows of ``tokens`` drawn without replacement (all of them when ``count`` is None)."""
    if count is None or tokens.shape[0] <= count:
        return tokens
    generator = torch.Generator().manual_seed(seed)
    return tokens[torch.randperm(tokens.shape[0], generator=generator)[:count]]


def fit_codebook(
    tokens: torch.Tensor, num_codes: int, *, iterations: int = 10, seed: int = 0
) -> torch.Tensor:
    """k-means centroids (num_codes, M) of ``tokens`` (N, M): k-means++ seeds, ``iterations`` Lloyd steps."""
    generator = torch.Generator(device=tokens.device).manual_seed(seed)
    return kmeans(tokens, num_codes, iterations=iterations, start="kmeans++", generator=generator).centroids


def fit_dictionary(
    tokens: torch.Tensor, initial: torch.Tensor, *, sparsity: int, iterations: int = 10
) -> torch.Tensor:
    """K-SVD dictionary (K, M), unit-norm rows, from ``initial`` atoms (normalised) on ``tokens`` (N, M).

    Each iteration codes the tokens with OMP at ``sparsity``, runs one exact K-SVD sweep and replaces atoms
    that no token used by the worst-represented tokens.
    """
    check_nonnegative_int(iterations, "iterations")
    norms = torch.linalg.vector_norm(initial, dim=1, keepdim=True)
    dictionary = initial / norms.clamp(min=torch.finfo(initial.dtype).tiny)
    for _ in range(iterations):
        update = ksvd_update(tokens, dictionary, omp(tokens, dictionary, sparsity=sparsity))
        dictionary = replace_unused_atoms(update.dictionary, tokens, update.code.residual_norm, ~update.used)
    return dictionary


def fit(
    images: torch.Tensor,
    *,
    patch_size: int,
    num_atoms: int,
    sparsities: list[int],
    vq_sizes: list[int] | None = None,
    kmeans_iterations: int = 10,
    ksvd_iterations: int = 10,
    max_tokens: int | None = 50_000,
    seed: int = 0,
) -> Fitted:
    """Fit VQ codebooks and one dictionary per sparsity on the p×p tokens of ``images`` (B, 3, H, W).

    Codebooks of ``num_atoms`` codewords and of each size in ``vq_sizes`` (larger codebooks compare VQ at
    the rate of the sparse codes); the dictionaries start from the ``num_atoms``-codeword codebook. At most
    ``max_tokens`` tokens (drawn with ``seed``) are used for fitting.
    """
    check_images(images, "images")
    tokens = sample_tokens(to_tokens(images, patch_size), max_tokens, seed=seed)
    sizes = sorted({num_atoms, *(vq_sizes or ())})
    codebooks = {k: fit_codebook(tokens, k, iterations=kmeans_iterations, seed=seed) for k in sizes}
    codebook = codebooks[num_atoms]
    dictionaries, max_abs = {}, {}
    for sparsity in sparsities:
        dictionary = fit_dictionary(tokens, codebook, sparsity=sparsity, iterations=ksvd_iterations)
        dictionaries[sparsity] = dictionary
        max_abs[sparsity] = float(omp(tokens, dictionary, sparsity=sparsity).values.abs().max())
    return Fitted(codebooks=codebooks, dictionaries=dictionaries, max_abs=max_abs)


def code_tokens(tokens: torch.Tensor, atoms: torch.Tensor, *, method: str, sparsity: int = 1) -> SparseCode:
    """The code of ``tokens`` (N, M): VQ as a 1-sparse code with value 1, or the code of the sparse solver
    ``method`` ("mp" or "omp", :func:`laserlab.sparse.code`)."""
    check_choice(method, "method", METHODS)
    if method == "vq":
        indices = nearest_codeword(tokens, atoms).unsqueeze(1)
        return SparseCode(indices, torch.ones(indices.shape, dtype=tokens.dtype, device=tokens.device))
    return sparse.code(tokens, atoms, sparsity=sparsity, solver=method)


def evaluate(
    images: torch.Tensor,
    fitted: Fitted,
    *,
    patch_size: int,
    method: str,
    sparsity: int = 1,
    num_codes: int | None = None,
    value_bits: int = 8,
    fitted_on: str = "train",
) -> tuple[Row, torch.Tensor]:
    """Code ``images`` (B, 3, H, W) with ``fitted``; returns the table row and the reconstruction.

    The reconstruction uses the quantised coefficients (``value_bits`` bits in the fitted range) for MP and
    OMP; VQ transmits only the index. ``num_codes`` picks the VQ codebook (default: the dictionaries' K).
    """
    check_images(images, "images")
    check_positive_int(value_bits, "value_bits")
    tokens = to_tokens(images, patch_size)
    num_atoms = next(iter(fitted.dictionaries.values())).shape[0]
    if method == "vq":
        atoms = fitted.codebooks[num_atoms if num_codes is None else num_codes]
    else:
        atoms = fitted.dictionaries[sparsity]
    code = code_tokens(tokens, atoms, method=method, sparsity=sparsity)
    exact = code.reconstruct(atoms)
    if method == "vq":
        decoded, bits = exact, vq_bits_per_token(atoms.shape[0])
    else:
        decoded = quantize_values(code, value_bits, max_abs=fitted.max_abs[sparsity]).reconstruct(atoms)
        bits = sparse_bits_per_token(atoms.shape[0], sparsity, value_bits=value_bits)
    mse = float((decoded - tokens).square().mean())
    row = Row(
        method=method,
        num_atoms=atoms.shape[0],
        sparsity=sparsity if method != "vq" else 1,
        patch_size=patch_size,
        fitted_on=fitted_on,
        mse=mse,
        mse_unquantized=float((exact - tokens).square().mean()),
        psnr_db=10 * math.log10(1 / mse) if mse > 0 else math.inf,
        bits_per_token=bits,
        bits_per_pixel=bits_per_pixel(bits, (1, 1), (patch_size, patch_size)),
    )
    return row, from_tokens(decoded, patch_size, images.shape)


def compare(
    fit_images: dict[str, torch.Tensor],
    test_images: torch.Tensor,
    *,
    patch_size: int,
    num_atoms: int = 16,
    sparsities: tuple[int, ...] | list[int] = (1, 2, 3, 4),
    vq_sizes: tuple[int, ...] | list[int] = (),
    value_bits: int = 8,
    kmeans_iterations: int = 10,
    ksvd_iterations: int = 10,
    max_tokens: int | None = 50_000,
    seed: int = 0,
) -> Comparison:
    """VQ, MP and OMP on the p×p tokens of ``test_images``, fitted on each entry of ``fit_images``.

    ``fit_images`` maps a label (e.g. "train", "test (in-sample)") to the images the codebook and the
    dictionaries are fitted on. The rows: one per (fit set, method, sparsity), VQ with ``num_atoms``
    codewords and with each size in ``vq_sizes``.
    """
    sparsities = list(sparsities)
    rows, fits = [], {}
    for label, images in fit_images.items():
        fitted = fit(
            images, patch_size=patch_size, num_atoms=num_atoms, sparsities=sparsities,
            vq_sizes=list(vq_sizes), kmeans_iterations=kmeans_iterations, ksvd_iterations=ksvd_iterations,
            max_tokens=max_tokens, seed=seed,
        )  # fmt: skip
        fits[label] = fitted
        options = dict(patch_size=patch_size, value_bits=value_bits, fitted_on=label)
        for size in sorted(fitted.codebooks):
            rows.append(evaluate(test_images, fitted, method="vq", num_codes=size, **options)[0])
        for method in ("mp", "omp"):
            for sparsity in sparsities:
                rows.append(evaluate(test_images, fitted, method=method, sparsity=sparsity, **options)[0])
    return Comparison(rows=rows, fitted=fits)
