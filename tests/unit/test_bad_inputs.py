"""A sweep of bad inputs across the public API: every one must end in a clear ``TypeError`` / ``ValueError``
whose message names the argument (and, for a value, the expected form).

Each case is (class, id, callable, expected exception, regex). The classes: wrong type, wrong shape,
NaN/Inf, empty, out of range, bad enum/bool, index out of range, scale (magnitudes whose result cannot be
represented in the dtype). ``python tests/unit/test_bad_inputs.py`` prints the count per class.
"""

from __future__ import annotations

import collections
import re

import pytest
import torch
import torch.nn.functional as F

from laserlab import bottlenecks
from laserlab.bottlenecks import (
    DictionaryBottleneck,
    PatchCode,
    VectorQuantizer,
    from_tokens,
    to_tokens,
    token_grid,
    token_map,
)
from laserlab.bottlenecks.pixels import from_patch_latent, patch_latent, sparse_code_images
from laserlab.perceptual.wasserstein import (
    WassersteinDistortion,
    lower_limit,
    lowpass,
    multi_wasserstein_distortion,
    multiscale_stats,
    resize_log2_sigma,
    safe_sqrt,
    wasserstein_distortion,
)
from laserlab.sparse import (
    OnlineState,
    SparseCode,
    analysis,
    code,
    coherent_atoms,
    kmeans,
    ksvd_update,
    matching_pursuit,
    nearest_codeword,
    omp,
    online_init,
    online_update,
    rate,
    replace_unused_atoms,
)
from laserlab.spectral import dct_2d, haar_dwt, haar_idwt, idct_2d, spectral_mask, truncate
from laserlab.train import TrainConfig

WRONG_TYPE, WRONG_SHAPE, NAN_INF = "wrong type", "wrong shape", "NaN/Inf"
EMPTY, OUT_OF_RANGE, BAD_ENUM = "empty", "out of range", "bad enum/bool"
INDEX, SCALE = "index out of range", "scale"
CLASSES = (WRONG_TYPE, WRONG_SHAPE, NAN_INF, EMPTY, OUT_OF_RANGE, BAD_ENUM, INDEX, SCALE)

g = torch.Generator().manual_seed(0)
X = torch.randn(10, 8, generator=g)
D = F.normalize(torch.randn(16, 8, generator=g), dim=1)
CODE = omp(X, D, sparsity=3)
NAN, INF = float("nan"), float("inf")

CASES: list[tuple[str, str, object, type, str]] = []


def add(kind: str, case_id: str, call, error: type, match: str) -> None:
    assert kind in CLASSES
    CASES.append((kind, case_id, call, error, match))


def with_nan(x: torch.Tensor, value: float = NAN) -> torch.Tensor:
    x = x.clone()
    x.view(-1)[x.numel() // 2] = value
    return x


def changed(code: SparseCode, **fields) -> SparseCode:
    parts = dict(indices=code.indices.clone(), values=code.values.clone(), residual_norm=code.residual_norm)
    parts.update(fields)
    return SparseCode(**parts)


# ------------------------------------------------------------------ sparse coders: omp, mp, code
for coder_name, coder in (("omp", omp), ("mp", matching_pursuit)):

    def call(coder=coder, **change):
        return lambda: coder(**(dict(signals=X, dictionary=D, sparsity=3) | change))

    c = coder_name
    add(
        WRONG_TYPE, f"{c}-signals-list", call(signals=X.tolist()), TypeError, "signals must be a torch.Tensor"
    )
    add(
        WRONG_TYPE, f"{c}-signals-numpy", call(signals=X.numpy()), TypeError, "signals must be a torch.Tensor"
    )
    add(WRONG_TYPE, f"{c}-signals-int", call(signals=X.long()), TypeError, "signals must have a floating")
    add(
        WRONG_TYPE,
        f"{c}-signals-half",
        call(signals=X.half()),
        TypeError,
        "signals must be float32 or float64",
    )
    add(
        WRONG_TYPE, f"{c}-dictionary-int", call(dictionary=D.int()), TypeError, "dictionary must have a float"
    )
    add(
        WRONG_TYPE,
        f"{c}-dictionary-f64",
        call(dictionary=D.double()),
        TypeError,
        "dictionary must have the dtype",
    )
    add(WRONG_TYPE, f"{c}-sparsity-float", call(sparsity=3.0), TypeError, "sparsity must be an int")
    add(WRONG_TYPE, f"{c}-sparsity-bool", call(sparsity=True), TypeError, "sparsity must be an int")
    add(WRONG_TYPE, f"{c}-sparsity-str", call(sparsity="3"), TypeError, "sparsity must be an int")
    add(WRONG_SHAPE, f"{c}-signals-1d", call(signals=X[0]), ValueError, r"signals must have shape \(N, M\)")
    add(
        WRONG_SHAPE, f"{c}-signals-3d", call(signals=X[None]), ValueError, r"signals must have shape \(N, M\)"
    )
    add(WRONG_SHAPE, f"{c}-signals-width", call(signals=X[:, :5]), ValueError, "M = signals.shape")
    add(WRONG_SHAPE, f"{c}-dictionary-3d", call(dictionary=D[None]), ValueError, "dictionary must have shape")
    add(NAN_INF, f"{c}-signals-nan", call(signals=with_nan(X)), ValueError, "signals must be finite")
    add(NAN_INF, f"{c}-signals-inf", call(signals=with_nan(X, INF)), ValueError, "signals must be finite")
    add(NAN_INF, f"{c}-signals-neginf", call(signals=with_nan(X, -INF)), ValueError, "signals must be finite")
    add(NAN_INF, f"{c}-dictionary-nan", call(dictionary=with_nan(D)), ValueError, "dictionary must be finite")
    add(
        NAN_INF,
        f"{c}-dictionary-inf",
        call(dictionary=with_nan(D, INF)),
        ValueError,
        "dictionary must be finite",
    )
    add(
        EMPTY,
        f"{c}-dictionary-no-atoms",
        call(dictionary=D[:0], sparsity=1),
        ValueError,
        "dictionary must have",
    )
    add(
        EMPTY,
        f"{c}-zero-dim",
        call(signals=X[:, :0], dictionary=D[:, :0]),
        ValueError,
        "dictionary must have at least one atom of dimension >= 1",
    )
    add(
        EMPTY,
        f"{c}-zero-atom",
        call(dictionary=torch.cat([D[:15], 0 * D[:1]])),
        ValueError,
        "zero-norm atoms",
    )
    add(OUT_OF_RANGE, f"{c}-sparsity-0", call(sparsity=0), ValueError, "sparsity must be an int >= 1")
    add(OUT_OF_RANGE, f"{c}-sparsity-neg", call(sparsity=-2), ValueError, "sparsity must be an int >= 1")
    add(OUT_OF_RANGE, f"{c}-sparsity-above-K", call(sparsity=17), ValueError, "sparsity must be at most")
    add(BAD_ENUM, f"{c}-backend-cuda", call(backend="cuda"), ValueError, "backend must be one of")
    add(BAD_ENUM, f"{c}-backend-int", call(backend=1), ValueError, "backend must be one of")
    add(
        SCALE,
        f"{c}-coefficient-overflow",
        call(signals=X * 1e30, dictionary=D * 1e-30),
        ValueError,
        "cannot be represented in torch.float32",
    )


def omp_call(**change):
    return lambda: omp(**(dict(signals=X, dictionary=D, sparsity=3) | change))


add(WRONG_TYPE, "omp-tol-str", omp_call(tol="0.1"), TypeError, "tol must be a finite number")
add(OUT_OF_RANGE, "omp-tol-neg", omp_call(tol=-1.0), ValueError, "tol must be a finite number in")
add(NAN_INF, "omp-tol-nan", omp_call(tol=NAN), ValueError, "tol must be a finite number")
add(NAN_INF, "omp-tol-inf", omp_call(tol=INF), ValueError, "tol must be a finite number")
add(WRONG_TYPE, "omp-gram-list", omp_call(gram=(D @ D.T).tolist()), TypeError, "gram must be a torch.Tensor")
add(WRONG_TYPE, "omp-gram-f64", omp_call(gram=(D @ D.T).double()), TypeError, "gram must have the dtype")
add(
    WRONG_SHAPE,
    "omp-gram-shape",
    omp_call(gram=torch.eye(15)),
    ValueError,
    r"gram must be .* of shape \(K, K\)",
)
add(NAN_INF, "omp-gram-nan", omp_call(gram=with_nan(D @ D.T)), ValueError, "gram must be finite")
add(
    OUT_OF_RANGE,
    "omp-gram-identity",
    omp_call(gram=torch.eye(16)),
    ValueError,
    "gram must be dictionary @ dictionary.T",
)
add(
    OUT_OF_RANGE,
    "omp-gram-other-dictionary",
    omp_call(gram=(D.flip(0) @ D.flip(0).T)),
    ValueError,
    "not the Gram matrix",
)
add(
    BAD_ENUM,
    "code-solver",
    lambda: code(X, D, sparsity=2, solver="lasso"),
    ValueError,
    "solver must be one of",
)
add(
    BAD_ENUM,
    "code-solver-none",
    lambda: code(X, D, sparsity=2, solver=None),
    ValueError,
    "solver must be one of",
)
add(
    OUT_OF_RANGE,
    "code-tol-mp",
    lambda: code(X, D, sparsity=2, solver="mp", tol=0.1),
    ValueError,
    "tol applies to solver 'omp'",
)

# ------------------------------------------------------------------ SparseCode and check_code
add(
    INDEX,
    "reconstruct-few-atoms",
    lambda: CODE.reconstruct(D[:2]),
    ValueError,
    r"code.indices must lie in \[-1, K\) with K = 2",
)
add(
    INDEX,
    "to-dense-few-atoms",
    lambda: CODE.to_dense(2),
    ValueError,
    r"code.indices must lie in \[-1, K\) with K = 2",
)
add(OUT_OF_RANGE, "to-dense-zero", lambda: CODE.to_dense(0), ValueError, "num_atoms must be an int >= 1")
add(WRONG_TYPE, "to-dense-float", lambda: CODE.to_dense(16.0), TypeError, "num_atoms must be an int")
add(
    WRONG_TYPE,
    "reconstruct-int-dictionary",
    lambda: CODE.reconstruct(D.long()),
    TypeError,
    "dictionary must have a float",
)
add(
    WRONG_SHAPE,
    "reconstruct-1d-dictionary",
    lambda: CODE.reconstruct(D[0]),
    ValueError,
    r"dictionary must have shape \(K, M\)",
)
add(
    NAN_INF,
    "reconstruct-nan-dictionary",
    lambda: CODE.reconstruct(with_nan(D)),
    ValueError,
    "dictionary must be finite",
)
add(
    INDEX,
    "reconstruct-index-below-minus-one",
    lambda: changed(CODE, indices=CODE.indices - 5).reconstruct(D),
    ValueError,
    r"code.indices must lie in \[-1, K\)",
)
add(
    WRONG_TYPE,
    "reconstruct-float-indices",
    lambda: changed(CODE, indices=CODE.indices.float()).reconstruct(D),
    TypeError,
    "code.indices must be a torch.long",
)
add(
    WRONG_TYPE,
    "reconstruct-int-values",
    lambda: changed(CODE, values=CODE.values.long()).reconstruct(D),
    TypeError,
    "code.values must be a floating",
)
add(
    WRONG_SHAPE,
    "reconstruct-values-shape",
    lambda: changed(CODE, values=CODE.values[:, :2]).reconstruct(D),
    ValueError,
    "code.values must have the shape",
)
add(
    NAN_INF,
    "reconstruct-nan-values",
    lambda: changed(CODE, values=with_nan(CODE.values)).reconstruct(D),
    ValueError,
    "code.values must be finite",
)
add(
    OUT_OF_RANGE,
    "reconstruct-stray-empty-value",
    lambda: changed(CODE, indices=torch.where(torch.arange(3) == 2, -1, CODE.indices)).reconstruct(D),
    ValueError,
    "code.values must be 0 in empty slots",
)

# ------------------------------------------------------------------ K-SVD


def ksvd_call(**change):
    return lambda: ksvd_update(**(dict(signals=X, dictionary=D, code=CODE) | change))


add(WRONG_TYPE, "ksvd-signals-int", ksvd_call(signals=X.long()), TypeError, "signals must have a float")
add(WRONG_TYPE, "ksvd-code-str", ksvd_call(code="codes"), TypeError, "code must be a SparseCode")
add(
    WRONG_TYPE,
    "ksvd-dictionary-f64",
    ksvd_call(dictionary=D.double()),
    TypeError,
    "dictionary must have the dtype",
)
add(
    WRONG_TYPE,
    "ksvd-values-f64",
    ksvd_call(code=changed(CODE, values=CODE.values.double())),
    TypeError,
    "code.values must be torch.float32",
)
add(WRONG_SHAPE, "ksvd-signals-width", ksvd_call(signals=X[:, :4]), ValueError, "M = signals.shape")
add(WRONG_SHAPE, "ksvd-code-rows", ksvd_call(signals=X[:5]), ValueError, "code must have one row per signal")
add(
    WRONG_SHAPE,
    "ksvd-residual-shape",
    ksvd_call(code=changed(CODE, residual_norm=CODE.residual_norm[:3])),
    ValueError,
    r"code.residual_norm must have shape \(N,\)",
)
add(NAN_INF, "ksvd-signals-nan", ksvd_call(signals=with_nan(X)), ValueError, "signals must be finite")
add(
    NAN_INF,
    "ksvd-dictionary-inf",
    ksvd_call(dictionary=with_nan(D, INF)),
    ValueError,
    "dictionary must be finite",
)
add(
    NAN_INF,
    "ksvd-values-nan",
    ksvd_call(code=changed(CODE, values=with_nan(CODE.values))),
    ValueError,
    "code.values must be finite",
)
add(
    NAN_INF,
    "ksvd-residual-nan",
    ksvd_call(code=changed(CODE, residual_norm=with_nan(CODE.residual_norm))),
    ValueError,
    "code.residual_norm must be finite",
)
add(
    OUT_OF_RANGE,
    "ksvd-residual-negative",
    ksvd_call(code=changed(CODE, residual_norm=-CODE.residual_norm - 1)),
    ValueError,
    "code.residual_norm must be >= 0",
)
add(
    INDEX,
    "ksvd-index-oor",
    ksvd_call(code=changed(CODE, indices=CODE.indices + 16)),
    ValueError,
    r"code.indices must lie in \[-1, K\) with K = 16",
)
add(
    EMPTY,
    "ksvd-zero-atom",
    ksvd_call(dictionary=torch.cat([D[:15], 0 * D[:1]])),
    ValueError,
    "zero-norm atoms",
)
add(
    EMPTY,
    "ksvd-no-atoms",
    ksvd_call(dictionary=D[:0]),
    ValueError,
    r"dictionary must have shape \(K, M\) with K >= 1",
)
add(BAD_ENUM, "ksvd-approximate-str", ksvd_call(approximate="no"), TypeError, "approximate must be a bool")
add(BAD_ENUM, "ksvd-approximate-int", ksvd_call(approximate=1), TypeError, "approximate must be a bool")
add(BAD_ENUM, "ksvd-approximate-none", ksvd_call(approximate=None), TypeError, "approximate must be a bool")
add(BAD_ENUM, "ksvd-backend", ksvd_call(backend="gpu"), ValueError, "backend must be one of")
add(
    SCALE,
    "ksvd-values-times-norms-overflow",
    ksvd_call(dictionary=D * 1e35, code=changed(CODE, values=CODE.values * 1e35)),
    ValueError,
    "exceed the range of torch.float32",
)

# ------------------------------------------------------------------ online dictionary learning
STATE = online_init(D)


def online_call(**change):
    return lambda: online_update(**(dict(state=STATE, signals=X, code=CODE) | change))


def state_with(**fields):
    return OnlineState(
        **(dict(dictionary=STATE.dictionary, A=STATE.A, B=STATE.B, usage=STATE.usage) | fields)
    )


add(
    WRONG_TYPE,
    "online-state-dict",
    online_call(state={"dictionary": D}),
    TypeError,
    "state must be an OnlineState",
)
add(
    WRONG_TYPE,
    "online-code-tuple",
    online_call(code=(CODE.indices, CODE.values)),
    TypeError,
    "code must be a SparseCode",
)
add(
    WRONG_TYPE,
    "online-signals-f64",
    online_call(signals=X.double()),
    TypeError,
    "signals must have the dtype",
)
add(WRONG_TYPE, "online-forgetting-str", online_call(forgetting="0.9"), TypeError, "forgetting must be")
add(WRONG_TYPE, "online-sweeps-float", online_call(sweeps=1.5), TypeError, "sweeps must be an int")
add(
    WRONG_TYPE,
    "online-state-A-int",
    online_call(state=state_with(A=STATE.A.long())),
    TypeError,
    "state.A must have a float",
)
add(
    WRONG_TYPE,
    "online-state-steps-float",
    online_call(state=OnlineState(D, STATE.A, STATE.B, STATE.usage, 1.5)),
    TypeError,
    "state.steps must be an int",
)
add(
    WRONG_SHAPE,
    "online-signals-width",
    online_call(signals=X[:, :3]),
    ValueError,
    r"signals must have shape \(N, M\) with M = 8",
)
add(
    WRONG_SHAPE,
    "online-code-rows",
    online_call(signals=X[:4]),
    ValueError,
    "code must have one row per signal",
)
add(
    WRONG_SHAPE,
    "online-state-A-shape",
    online_call(state=state_with(A=STATE.A[:3])),
    ValueError,
    r"state.A must have shape \(16, 16\)",
)
add(
    WRONG_SHAPE,
    "online-state-usage-shape",
    online_call(state=state_with(usage=STATE.usage[:3])),
    ValueError,
    r"state.usage must have shape \(16,\)",
)
add(NAN_INF, "online-signals-nan", online_call(signals=with_nan(X)), ValueError, "signals must be finite")
add(
    NAN_INF,
    "online-values-nan",
    online_call(code=changed(CODE, values=with_nan(CODE.values))),
    ValueError,
    "code.values must be finite",
)
add(
    NAN_INF,
    "online-residual-nan",
    online_call(code=changed(CODE, residual_norm=with_nan(CODE.residual_norm))),
    ValueError,
    "code.residual_norm must be finite",
)
add(
    NAN_INF,
    "online-state-B-inf",
    online_call(state=state_with(B=with_nan(STATE.B, INF))),
    ValueError,
    "state.B must be finite",
)
add(
    INDEX,
    "online-index-oor",
    online_call(code=changed(CODE, indices=CODE.indices + 50)),
    ValueError,
    r"code.indices must lie in \[-1, K\) with K = 16",
)
add(
    OUT_OF_RANGE,
    "online-forgetting-0",
    online_call(forgetting=0.0),
    ValueError,
    r"forgetting must be a finite number in \(0, 1\]",
)
add(
    OUT_OF_RANGE,
    "online-forgetting-above-1",
    online_call(forgetting=1.5),
    ValueError,
    "forgetting must be a finite number",
)
add(
    NAN_INF,
    "online-forgetting-nan",
    online_call(forgetting=NAN),
    ValueError,
    "forgetting must be a finite number",
)
add(OUT_OF_RANGE, "online-sweeps-0", online_call(sweeps=0), ValueError, "sweeps must be an int >= 1")
add(
    OUT_OF_RANGE,
    "online-min-usage",
    online_call(min_usage=2.0),
    ValueError,
    "min_usage must be a finite number",
)
add(
    OUT_OF_RANGE,
    "online-max-coherence-1",
    online_call(max_coherence=1.0),
    ValueError,
    "max_coherence must be a finite number",
)
add(
    OUT_OF_RANGE,
    "online-state-steps-neg",
    online_call(state=OnlineState(D, STATE.A, STATE.B, STATE.usage, -1)),
    ValueError,
    "state.steps must be an int >= 0",
)
add(
    BAD_ENUM,
    "online-replace-unused-str",
    online_call(replace_unused="yes"),
    TypeError,
    "replace_unused must be a bool",
)
add(
    OUT_OF_RANGE,
    "online-no-residual",
    online_call(code=changed(CODE, residual_norm=None)),
    ValueError,
    "code.residual_norm is needed",
)
add(
    SCALE,
    "online-tiny-values",
    online_call(
        signals=X * 1e-20,
        code=changed(CODE, values=CODE.values * 1e-20, residual_norm=CODE.residual_norm * 1e-20),
    ),
    ValueError,
    "code.values are too small",
)
add(
    SCALE,
    "online-overflow",
    online_call(
        signals=X * 1e25,
        code=changed(CODE, values=CODE.values * 1e25, residual_norm=CODE.residual_norm * 1e25),
    ),
    ValueError,
    "the online statistics A, B overflow",
)
add(WRONG_TYPE, "online-init-int", lambda: online_init(D.long()), TypeError, "dictionary must have a float")
add(
    WRONG_SHAPE,
    "online-init-1d",
    lambda: online_init(D[0]),
    ValueError,
    r"dictionary must have shape \(K, M\)",
)
add(
    EMPTY,
    "online-init-empty",
    lambda: online_init(D[:0]),
    ValueError,
    r"dictionary must have shape \(K, M\) with K, M >= 1",
)
add(EMPTY, "online-init-zero-atom", lambda: online_init(torch.zeros(4, 8)), ValueError, "zero-norm atoms")
add(NAN_INF, "online-init-nan", lambda: online_init(with_nan(D)), ValueError, "dictionary must be finite")

# ------------------------------------------------------------------ k-means, nearest codeword, atom hygiene
add(WRONG_TYPE, "kmeans-list", lambda: kmeans(X.tolist(), 2), TypeError, "signals must be a torch.Tensor")
add(WRONG_TYPE, "kmeans-int", lambda: kmeans(X.long(), 2), TypeError, "signals must have a floating")
add(WRONG_TYPE, "kmeans-clusters-float", lambda: kmeans(X, 2.0), TypeError, "num_clusters must be an int")
add(WRONG_TYPE, "kmeans-clusters-bool", lambda: kmeans(X, True), TypeError, "num_clusters must be an int")
add(
    WRONG_TYPE,
    "kmeans-generator",
    lambda: kmeans(X, 2, generator=0),
    TypeError,
    "generator must be a torch.Generator",
)
add(WRONG_SHAPE, "kmeans-1d", lambda: kmeans(X[0], 2), ValueError, r"signals must have shape \(N, M\)")
add(
    EMPTY,
    "kmeans-no-rows",
    lambda: kmeans(X[:0], 2),
    ValueError,
    r"signals must have shape \(N, M\) with N, M >= 1",
)
add(
    EMPTY,
    "kmeans-no-columns",
    lambda: kmeans(X[:, :0], 2),
    ValueError,
    r"signals must have shape \(N, M\) with N, M >= 1",
)
add(NAN_INF, "kmeans-nan", lambda: kmeans(with_nan(X), 2), ValueError, "signals must be finite")
add(NAN_INF, "kmeans-inf", lambda: kmeans(with_nan(X, INF), 2), ValueError, "signals must be finite")
add(OUT_OF_RANGE, "kmeans-clusters-0", lambda: kmeans(X, 0), ValueError, "num_clusters must be an int >= 1")
add(
    OUT_OF_RANGE,
    "kmeans-iterations-neg",
    lambda: kmeans(X, 2, iterations=-1),
    ValueError,
    "iterations must be an int >= 0",
)
add(
    OUT_OF_RANGE,
    "kmeans-plus-plus-too-many",
    lambda: kmeans(X, 11),
    ValueError,
    "num_clusters must be at most the number of signals",
)
add(BAD_ENUM, "kmeans-start", lambda: kmeans(X, 2, start="kmeans"), ValueError, "start must be one of")
add(
    BAD_ENUM,
    "kmeans-spherical-str",
    lambda: kmeans(X, 2, spherical="yes"),
    TypeError,
    "spherical must be a bool",
)
add(
    BAD_ENUM, "kmeans-normalize-int", lambda: kmeans(X, 2, normalize=1), TypeError, "normalize must be a bool"
)
add(
    WRONG_TYPE,
    "nearest-list",
    lambda: nearest_codeword(X.tolist(), D),
    TypeError,
    "vectors must be a torch.Tensor",
)
add(
    WRONG_TYPE,
    "nearest-int-codebook",
    lambda: nearest_codeword(X, D.long()),
    TypeError,
    "codebook must have a float",
)
add(
    WRONG_TYPE,
    "nearest-dtype",
    lambda: nearest_codeword(X, D.double()),
    TypeError,
    "codebook must have the dtype",
)
add(
    WRONG_SHAPE,
    "nearest-width",
    lambda: nearest_codeword(X[:, :3], D),
    ValueError,
    r"vectors must have shape \(N, D\) with D = codebook",
)
add(
    WRONG_SHAPE,
    "nearest-1d-codebook",
    lambda: nearest_codeword(X, D[0]),
    ValueError,
    r"codebook must have shape \(K, D\)",
)
add(
    EMPTY,
    "nearest-empty-codebook",
    lambda: nearest_codeword(X, D[:0]),
    ValueError,
    r"codebook must have shape \(K, D\) with K, D >= 1",
)
add(
    NAN_INF,
    "nearest-nan-vectors",
    lambda: nearest_codeword(with_nan(X), D),
    ValueError,
    "vectors must be finite",
)
add(
    NAN_INF,
    "nearest-inf-codebook",
    lambda: nearest_codeword(X, with_nan(D, INF)),
    ValueError,
    "codebook must be finite",
)
UNUSED = torch.zeros(16, dtype=torch.bool)
add(
    WRONG_TYPE,
    "replace-unused-long",
    lambda: replace_unused_atoms(D, X, CODE.residual_norm, UNUSED.long()),
    TypeError,
    "unused must be a bool tensor",
)
add(
    WRONG_TYPE,
    "replace-residual-list",
    lambda: replace_unused_atoms(D, X, CODE.residual_norm.tolist(), UNUSED),
    TypeError,
    "residual_norm must be a torch.Tensor",
)
add(
    WRONG_SHAPE,
    "replace-unused-shape",
    lambda: replace_unused_atoms(D, X, CODE.residual_norm, UNUSED[:3]),
    ValueError,
    r"unused must be a bool mask of shape \(K,\)",
)
add(
    WRONG_SHAPE,
    "replace-residual-shape",
    lambda: replace_unused_atoms(D, X, CODE.residual_norm[:3], UNUSED),
    ValueError,
    r"residual_norm must have shape \(N,\)",
)
add(
    WRONG_SHAPE,
    "replace-width",
    lambda: replace_unused_atoms(D, X[:, :3], CODE.residual_norm, UNUSED),
    ValueError,
    "must share M",
)
add(
    NAN_INF,
    "replace-signals-nan",
    lambda: replace_unused_atoms(D, with_nan(X), CODE.residual_norm, UNUSED),
    ValueError,
    "signals must be finite",
)
add(
    NAN_INF,
    "replace-residual-nan",
    lambda: replace_unused_atoms(D, X, with_nan(CODE.residual_norm), UNUSED),
    ValueError,
    "residual_norm must be finite",
)
add(
    NAN_INF,
    "replace-dictionary-nan",
    lambda: replace_unused_atoms(with_nan(D), X, CODE.residual_norm, UNUSED),
    ValueError,
    "dictionary must be finite",
)
add(
    OUT_OF_RANGE,
    "coherent-max-1",
    lambda: coherent_atoms(D, torch.ones(16), max_coherence=1.0),
    ValueError,
    "max_coherence must be a finite number",
)
add(
    NAN_INF,
    "coherent-max-nan",
    lambda: coherent_atoms(D, torch.ones(16), max_coherence=NAN),
    ValueError,
    "max_coherence must be a finite number",
)
add(
    WRONG_SHAPE,
    "coherent-usage-shape",
    lambda: coherent_atoms(D, torch.ones(3), max_coherence=0.5),
    ValueError,
    r"usage must have shape \(K,\)",
)
add(
    WRONG_TYPE,
    "coherent-usage-bool",
    lambda: coherent_atoms(D, torch.ones(16, dtype=torch.bool), max_coherence=0.5),
    TypeError,
    "usage must be a real tensor",
)
add(
    NAN_INF,
    "coherent-dictionary-nan",
    lambda: coherent_atoms(with_nan(D), torch.ones(16), max_coherence=0.5),
    ValueError,
    "dictionary must be finite",
)
add(
    NAN_INF,
    "coherent-usage-nan",
    lambda: coherent_atoms(D, with_nan(torch.ones(16)), max_coherence=0.5),
    ValueError,
    "usage must be finite",
)

# ------------------------------------------------------------------ rates
QUANTIZED = rate.quantize_values(CODE, 4)
add(OUT_OF_RANGE, "vq-bits-0", lambda: rate.vq_bits_per_token(0), ValueError, "num_codes must be an int >= 1")
add(WRONG_TYPE, "vq-bits-float", lambda: rate.vq_bits_per_token(8.0), TypeError, "num_codes must be an int")
add(
    OUT_OF_RANGE,
    "support-bits-s-above-k",
    lambda: rate.support_bits(4, 5),
    ValueError,
    "sparsity must be at most num_atoms",
)
add(
    OUT_OF_RANGE,
    "sparse-bits-value-bits-0",
    lambda: rate.sparse_bits_per_token(16, 2, value_bits=0),
    ValueError,
    r"value_bits must be an int in \[1, 24\]",
)
add(
    OUT_OF_RANGE,
    "sparse-bits-value-bits-25",
    lambda: rate.sparse_bits_per_token(16, 2, value_bits=25),
    ValueError,
    r"value_bits must be an int in \[1, 24\]",
)
add(
    WRONG_TYPE,
    "sparse-bits-value-bits-float",
    lambda: rate.sparse_bits_per_token(16, 2, value_bits=8.0),
    TypeError,
    "value_bits must be an int",
)
add(
    WRONG_TYPE,
    "quantize-code-tensor",
    lambda: rate.quantize_values(CODE.values, 4),
    TypeError,
    "code must be a SparseCode",
)
add(
    OUT_OF_RANGE,
    "quantize-bits-0",
    lambda: rate.quantize_values(CODE, 0),
    ValueError,
    r"bits must be an int in \[1, 24\]",
)
add(
    WRONG_TYPE, "quantize-bits-str", lambda: rate.quantize_values(CODE, "8"), TypeError, "bits must be an int"
)
add(
    OUT_OF_RANGE,
    "quantize-max-abs-0",
    lambda: rate.quantize_values(CODE, 4, max_abs=0.0),
    ValueError,
    "max_abs must be a finite number",
)
add(
    NAN_INF,
    "quantize-max-abs-nan",
    lambda: rate.quantize_values(CODE, 4, max_abs=NAN),
    ValueError,
    "max_abs must be a finite number",
)
add(
    NAN_INF,
    "quantize-values-nan",
    lambda: rate.quantize_values(changed(CODE, values=with_nan(CODE.values)), 4),
    ValueError,
    "code.values must be finite",
)
add(
    NAN_INF,
    "quantize-values-inf",
    lambda: rate.quantize_values(changed(CODE, values=with_nan(CODE.values, INF)), 4),
    ValueError,
    "code.values must be finite",
)
add(
    WRONG_TYPE,
    "dequantize-float-indices",
    lambda: rate.dequantize(CODE.indices.float(), QUANTIZED.symbols, max_abs=1.0, bits=4),
    TypeError,
    "indices must be a torch.long",
)
add(
    WRONG_SHAPE,
    "dequantize-shapes",
    lambda: rate.dequantize(CODE.indices, QUANTIZED.symbols[:, :2], max_abs=1.0, bits=4),
    ValueError,
    "indices and symbols must have the same shape",
)
add(
    INDEX,
    "dequantize-symbol-oor",
    lambda: rate.dequantize(CODE.indices, QUANTIZED.symbols + 16, max_abs=1.0, bits=4),
    ValueError,
    r"symbols must lie in \[0, 2\^bits\)",
)
add(
    OUT_OF_RANGE,
    "dequantize-max-abs-neg",
    lambda: rate.dequantize(CODE.indices, QUANTIZED.symbols, max_abs=-1.0, bits=4),
    ValueError,
    "max_abs must be a finite number",
)
add(
    WRONG_SHAPE,
    "dequantize-max-abs-1d",
    lambda: rate.dequantize(CODE.indices, QUANTIZED.symbols, max_abs=torch.ones(2), bits=4),
    ValueError,
    "max_abs must be a scalar",
)
add(
    WRONG_TYPE,
    "entropy-float-symbols",
    lambda: rate.entropy_bits(torch.tensor([0.0, 1.0]), 4),
    TypeError,
    "symbols must be an integer tensor",
)
add(
    WRONG_TYPE,
    "entropy-list-symbols",
    lambda: rate.entropy_bits([0, 1], 4),
    TypeError,
    "symbols must be an integer tensor",
)
add(
    INDEX,
    "entropy-symbol-above",
    lambda: rate.entropy_bits(torch.tensor([0, 5, 9]), 4),
    ValueError,
    r"symbols must lie in \[0, 4\)",
)
add(
    INDEX,
    "entropy-symbol-below",
    lambda: rate.entropy_bits(torch.tensor([0, -2]), 4),
    ValueError,
    r"symbols must lie in \[0, 4\)",
)
add(
    OUT_OF_RANGE,
    "entropy-num-symbols-0",
    lambda: rate.entropy_bits(torch.tensor([0]), 0),
    ValueError,
    "num_symbols must be an int >= 1",
)
add(
    INDEX,
    "vq-empirical-above",
    lambda: rate.vq_empirical_bits_per_token(torch.tensor([0, 5, 9]), 4),
    ValueError,
    r"indices must lie in \[0, 4\)",
)
add(
    INDEX,
    "vq-empirical-negative",
    lambda: rate.vq_empirical_bits_per_token(torch.tensor([0, -1]), 4),
    ValueError,
    r"indices must lie in \[0, 4\)",
)
add(
    WRONG_TYPE,
    "vq-empirical-float",
    lambda: rate.vq_empirical_bits_per_token(torch.tensor([0.0]), 4),
    TypeError,
    "indices must be an integer tensor",
)
add(
    INDEX,
    "sparse-empirical-few-atoms",
    lambda: rate.sparse_empirical_bits_per_token(CODE, 4),
    ValueError,
    r"code.indices must lie in \[-1, K\) with K = 4",
)
add(
    OUT_OF_RANGE,
    "sparse-empirical-0-atoms",
    lambda: rate.sparse_empirical_bits_per_token(CODE, 0),
    ValueError,
    "num_atoms must be an int >= 1",
)
add(
    WRONG_TYPE,
    "sparse-empirical-code",
    lambda: rate.sparse_empirical_bits_per_token(CODE.indices, 16),
    TypeError,
    "code must be a SparseCode",
)
add(
    NAN_INF,
    "bpp-nan",
    lambda: rate.bits_per_pixel(NAN, (2, 2), (8, 8)),
    ValueError,
    "bits_per_token must be a finite number",
)
add(
    NAN_INF,
    "bpp-inf",
    lambda: rate.bits_per_pixel(INF, (2, 2), (8, 8)),
    ValueError,
    "bits_per_token must be a finite number",
)
add(
    OUT_OF_RANGE,
    "bpp-negative",
    lambda: rate.bits_per_pixel(-1.0, (2, 2), (8, 8)),
    ValueError,
    r"bits_per_token must be a finite number in \[0, inf\]",
)
add(
    WRONG_TYPE,
    "bpp-str",
    lambda: rate.bits_per_pixel("8", (2, 2), (8, 8)),
    TypeError,
    "bits_per_token must be a finite number",
)
add(
    NAN_INF,
    "bpp-tensor-nan",
    lambda: rate.bits_per_pixel(torch.tensor([1.0, NAN]), (2, 2), (8, 8)),
    ValueError,
    "bits_per_token must be finite",
)
add(
    OUT_OF_RANGE,
    "bpp-tensor-negative",
    lambda: rate.bits_per_pixel(torch.tensor([-1.0]), (2, 2), (8, 8)),
    ValueError,
    "bits_per_token must be >= 0",
)
add(
    OUT_OF_RANGE,
    "bpp-grid-zero",
    lambda: rate.bits_per_pixel(1.0, (0, 2), (8, 8)),
    ValueError,
    "token_grid must be an int >= 1",
)
add(
    WRONG_SHAPE,
    "bpp-grid-one",
    lambda: rate.bits_per_pixel(1.0, (2,), (8, 8)),
    ValueError,
    r"token_grid must be a pair \(height, width\)",
)
add(
    WRONG_TYPE,
    "bpp-grid-str",
    lambda: rate.bits_per_pixel(1.0, "22", (8, 8)),
    TypeError,
    r"token_grid must be a pair \(height, width\)",
)
add(
    WRONG_TYPE,
    "bpp-image-float",
    lambda: rate.bits_per_pixel(1.0, (2, 2), (8.0, 8)),
    TypeError,
    "image_size must be an int",
)

# ------------------------------------------------------------------ analysis
add(
    NAN_INF, "coherence-nan", lambda: analysis.coherence(with_nan(D)), ValueError, "dictionary must be finite"
)
add(
    WRONG_SHAPE,
    "coherence-1d",
    lambda: analysis.coherence(D[0]),
    ValueError,
    r"dictionary must have shape \(K, M\)",
)
add(
    WRONG_TYPE,
    "coherence-int",
    lambda: analysis.coherence(D.long()),
    TypeError,
    "dictionary must have a float",
)
add(
    OUT_OF_RANGE,
    "pairwise-one-row",
    lambda: analysis.pairwise_distances(D[:1]),
    ValueError,
    r"codebook must have shape \(K, M\) with K >= 2",
)
add(
    WRONG_TYPE,
    "usage-counts-float",
    lambda: analysis.usage_counts(torch.tensor([0.0]), 4),
    TypeError,
    "indices must be an integer tensor",
)
add(
    INDEX,
    "usage-counts-above",
    lambda: analysis.usage_counts(torch.tensor([0, 4]), 4),
    ValueError,
    r"indices must lie in \[0, num_codes\)",
)
add(
    OUT_OF_RANGE,
    "usage-counts-num-0",
    lambda: analysis.usage_counts(torch.tensor([0]), 0),
    ValueError,
    "num_codes must be an int >= 1",
)
add(
    WRONG_TYPE,
    "perplexity-int",
    lambda: analysis.perplexity(torch.tensor([1, 2])),
    TypeError,
    "counts must have a float",
)
add(
    NAN_INF,
    "perplexity-nan",
    lambda: analysis.perplexity(torch.tensor([1.0, NAN])),
    ValueError,
    "counts must be finite",
)
add(
    OUT_OF_RANGE,
    "perplexity-negative",
    lambda: analysis.perplexity(torch.tensor([1.0, -1.0])),
    ValueError,
    "counts must be >= 0",
)
add(
    WRONG_SHAPE,
    "perplexity-2d",
    lambda: analysis.perplexity(torch.ones(2, 2)),
    ValueError,
    r"counts must have shape \(K,\)",
)
add(
    EMPTY,
    "perplexity-empty",
    lambda: analysis.perplexity(torch.ones(0)),
    ValueError,
    r"counts must have shape \(K,\) with K >= 1",
)
add(
    NAN_INF,
    "used-fraction-inf",
    lambda: analysis.used_fraction(torch.tensor([INF])),
    ValueError,
    "counts must be finite",
)
add(
    WRONG_TYPE,
    "code-strength-tensor",
    lambda: analysis.code_strength(CODE.values),
    TypeError,
    "code must be a SparseCode",
)
add(
    NAN_INF,
    "code-strength-nan",
    lambda: analysis.code_strength(changed(CODE, values=with_nan(CODE.values))),
    ValueError,
    "code.values must be finite",
)
add(
    INDEX,
    "dominant-atom-bad-index",
    lambda: analysis.dominant_atom(changed(CODE, indices=CODE.indices - 9)),
    ValueError,
    "code.indices must lie in",
)
add(
    OUT_OF_RANGE,
    "mean-colors-channels-0",
    lambda: analysis.mean_colors(D, channels=0),
    ValueError,
    "channels must be an int >= 1",
)
add(
    WRONG_SHAPE,
    "mean-colors-width",
    lambda: analysis.mean_colors(D, channels=3),
    ValueError,
    "tokens must have C·p² columns",
)
add(BAD_ENUM, "embed-method", lambda: analysis.embed(D, method="tsne2"), ValueError, "method must be one of")
add(
    OUT_OF_RANGE,
    "embed-two-rows",
    lambda: analysis.embed(D[:2]),
    ValueError,
    r"codebook must have shape \(K, M\) with K >= 3",
)

# ------------------------------------------------------------------ bottleneck constructors
for case_id, options, error, match in [
    ("vq-num-codes-0", dict(num_codes=0), ValueError, "num_codes must be an int >= 1"),
    ("vq-num-codes-neg", dict(num_codes=-1), ValueError, "num_codes must be an int >= 1"),
    ("vq-num-codes-float", dict(num_codes=2.5), TypeError, "num_codes must be an int"),
    ("vq-dim-0", dict(dim=0), ValueError, "dim must be an int >= 1"),
    ("vq-commitment-neg", dict(commitment=-1.0), ValueError, "commitment must be a finite number"),
    ("vq-commitment-nan", dict(commitment=NAN), ValueError, "commitment must be a finite number"),
    ("vq-ema-1", dict(ema_decay=1.0), ValueError, r"ema_decay must be a finite number in \(0, 1\)"),
    ("vq-ema-0", dict(ema_decay=0.0), ValueError, r"ema_decay must be a finite number in \(0, 1\)"),
    ("vq-code-dim-0", dict(code_dim=0), ValueError, "code_dim must be an int >= 1"),
    ("vq-laplace-0", dict(laplace_epsilon=0.0), ValueError, "laplace_epsilon must be a finite number"),
    (
        "vq-dead-2",
        dict(dead_threshold=2.0),
        ValueError,
        r"dead_threshold must be a finite number in \[0, 1\]",
    ),
    ("vq-usage-decay-1", dict(usage_decay=1.0), ValueError, "usage_decay must be a finite number"),
    ("vq-kmeans-iters-neg", dict(kmeans_iters=-1), ValueError, "kmeans_iters must be an int >= 0"),
    ("vq-seed-neg", dict(seed=-1), ValueError, "seed must be an int >= 0"),
    ("vq-cosine-str", dict(cosine="yes"), TypeError, "cosine must be a bool"),
    ("vq-rotation-int", dict(rotation_trick=1), TypeError, "rotation_trick must be a bool"),
    ("vq-kmeans-init-str", dict(kmeans_init="no"), TypeError, "kmeans_init must be a bool"),
]:
    kind = (
        BAD_ENUM
        if "must be a bool" in match
        else WRONG_TYPE
        if error is TypeError
        else (NAN_INF if "nan" in case_id else OUT_OF_RANGE)
    )
    add(
        kind,
        case_id,
        lambda options=options: VectorQuantizer(**(dict(num_codes=8, dim=4) | options)),
        error,
        match,
    )

for case_id, options, error, match in [
    ("dict-num-atoms-0", dict(num_atoms=0), ValueError, "num_atoms must be an int >= 1"),
    ("dict-sparsity-0", dict(sparsity=0), ValueError, "sparsity must be an int >= 1"),
    ("dict-sparsity-above", dict(sparsity=9), ValueError, "sparsity must be at most num_atoms = 8"),
    ("dict-sparsity-float", dict(sparsity=2.0), TypeError, "sparsity must be an int"),
    ("dict-solver", dict(solver="lasso"), ValueError, "solver must be one of"),
    ("dict-update-rule", dict(update_rule="sgd"), ValueError, "update_rule must be one of"),
    ("dict-update-rule-bool", dict(update_rule=True), ValueError, "update_rule must be one of"),
    ("dict-commitment-neg", dict(commitment=-0.1), ValueError, "commitment must be a finite number"),
    ("dict-weight-nan", dict(dictionary_weight=NAN), ValueError, "dictionary_weight must be a finite number"),
    ("dict-value-bits-0", dict(value_bits=0), ValueError, r"value_bits must be an int in \[1, 24\]"),
    ("dict-value-bits-30", dict(value_bits=30), ValueError, r"value_bits must be an int in \[1, 24\]"),
    ("dict-forgetting-0", dict(forgetting=0.0), ValueError, "forgetting must be a finite number"),
    ("dict-online-sweeps-0", dict(online_sweeps=0), ValueError, "online_sweeps must be an int >= 1"),
    ("dict-patch-0", dict(patch_size=0), ValueError, "patch_size must be an int >= 1"),
    ("dict-dead-neg", dict(dead_threshold=-0.1), ValueError, "dead_threshold must be a finite number"),
    ("dict-kmeans-iters-float", dict(kmeans_iters=1.5), TypeError, "kmeans_iters must be an int"),
    ("dict-kmeans-init-int", dict(kmeans_init=0), TypeError, "kmeans_init must be a bool"),
]:
    kind = (
        BAD_ENUM
        if ("must be a bool" in match or "must be one of" in match)
        else (WRONG_TYPE if error is TypeError else NAN_INF if "nan" in case_id else OUT_OF_RANGE)
    )
    add(
        kind,
        case_id,
        lambda options=options: DictionaryBottleneck(**(dict(num_atoms=8, dim=4, sparsity=2) | options)),
        error,
        match,
    )

add(
    BAD_ENUM,
    "build-unknown",
    lambda: bottlenecks.build("fsq", dim=4),
    ValueError,
    "bottleneck name must be one of",
)
add(
    OUT_OF_RANGE,
    "build-unknown-option",
    lambda: bottlenecks.build("vq", dim=4, num_codes=8, num_code=3),
    ValueError,
    r"has no option\(s\) \['num_code'\]",
)

# ------------------------------------------------------------------ bottleneck forward / encode / decode
VQ = VectorQuantizer(8, 4).eval()
DL = DictionaryBottleneck(8, 4, sparsity=2).eval()
DL_QUANTIZED = DictionaryBottleneck(8, 4, sparsity=2, value_bits=6).eval()
LATENT = torch.randn(2, 4, 3, 3, generator=g)

for label, module in (("vq", VQ), ("dict", DL)):
    for verb in ("forward", "encode"):
        run = module if verb == "forward" else module.encode
        p = f"{label}-{verb}"
        add(
            WRONG_TYPE,
            f"{p}-list",
            lambda run=run: run(LATENT.tolist()),
            TypeError,
            "latent must be a torch.Tensor",
        )
        add(
            WRONG_TYPE,
            f"{p}-int",
            lambda run=run: run(LATENT.long()),
            TypeError,
            "latent must have a floating",
        )
        add(
            WRONG_TYPE,
            f"{p}-f64",
            lambda run=run: run(LATENT.double()),
            TypeError,
            "latent is torch.float64 but",
        )
        add(
            WRONG_SHAPE,
            f"{p}-3d",
            lambda run=run: run(LATENT[0]),
            ValueError,
            r"latent must have shape \(B, dim, H, W\)",
        )
        add(
            WRONG_SHAPE,
            f"{p}-channels",
            lambda run=run: run(LATENT[:, :3]),
            ValueError,
            r"latent must have shape \(B, dim, H, W\) = \(B, 4, H, W\)",
        )
        add(
            EMPTY,
            f"{p}-batch-0",
            lambda run=run: run(LATENT[:0]),
            ValueError,
            "latent must have at least one position",
        )
        add(
            EMPTY,
            f"{p}-height-0",
            lambda run=run: run(LATENT[:, :, :0]),
            ValueError,
            "latent must have at least one position",
        )
        add(NAN_INF, f"{p}-nan", lambda run=run: run(with_nan(LATENT)), ValueError, "latent must be finite")
        add(
            NAN_INF,
            f"{p}-inf",
            lambda run=run: run(with_nan(LATENT, -INF)),
            ValueError,
            "latent must be finite",
        )
    add(
        SCALE,
        f"{label}-forward-1e20",
        lambda module=module: module(LATENT * 1e20),
        ValueError,
        "loss cannot be represented in torch.float32",
    )

add(SCALE, "vq-forward-1e30", lambda: VQ(LATENT * 1e30), ValueError, "loss cannot be represented")
add(
    WRONG_TYPE,
    "vq-decode-float",
    lambda: VQ.decode(torch.zeros(1, 2, 2)),
    TypeError,
    "codes must be a torch.long tensor",
)
add(WRONG_TYPE, "vq-decode-list", lambda: VQ.decode([[0]]), TypeError, "codes must be a torch.long tensor")
add(
    WRONG_SHAPE,
    "vq-decode-2d",
    lambda: VQ.decode(torch.zeros(2, 2, dtype=torch.long)),
    ValueError,
    r"codes must have shape \(B, H, W\)",
)
add(
    EMPTY,
    "vq-decode-empty",
    lambda: VQ.decode(torch.zeros(0, 2, 2, dtype=torch.long)),
    ValueError,
    r"codes must have shape \(B, H, W\) with B, H, W >= 1",
)
add(
    INDEX,
    "vq-decode-above",
    lambda: VQ.decode(torch.full((1, 2, 2), 8)),
    ValueError,
    r"codes must lie in \[0, num_codes\)",
)
add(
    INDEX,
    "vq-decode-negative",
    lambda: VQ.decode(torch.full((1, 2, 2), -1)),
    ValueError,
    r"codes must lie in \[0, num_codes\)",
)
DL_CODES = DL.encode(LATENT)
DLQ_CODES = DL_QUANTIZED.encode(LATENT)


def patch_code(sparse_code: SparseCode, *, shape=None, patch_size: int = 1) -> PatchCode:
    return PatchCode(sparse_code, shape or DL_CODES.shape, patch_size)


add(
    WRONG_TYPE,
    "dict-decode-sparse-code",
    lambda: DL.decode(DL_CODES.sparse),
    TypeError,
    "codes must be a PatchCode",
)
add(
    WRONG_SHAPE,
    "dict-decode-patch-size",
    lambda: DL.decode(patch_code(DL_CODES.sparse, patch_size=2)),
    ValueError,
    "codes must code a latent",
)
add(
    WRONG_SHAPE,
    "dict-decode-channels",
    lambda: DL.decode(patch_code(DL_CODES.sparse, shape=(2, 3, 3, 3))),
    ValueError,
    r"codes must code a latent \(B, dim = 4",
)
add(
    WRONG_SHAPE,
    "dict-decode-rows",
    lambda: DL.decode(
        patch_code(
            changed(
                DL_CODES.sparse,
                indices=DL_CODES.sparse.indices[:5],
                values=DL_CODES.sparse.values[:5],
                residual_norm=None,
            )
        )
    ),
    ValueError,
    r"codes.sparse.indices and values must have shape",
)
add(
    INDEX,
    "dict-decode-index",
    lambda: DL.decode(patch_code(changed(DL_CODES.sparse, indices=DL_CODES.sparse.indices + 8))),
    ValueError,
    r"codes.sparse.indices must lie in \[-1, num_atoms\)",
)
add(
    NAN_INF,
    "dict-decode-nan",
    lambda: DL.decode(patch_code(changed(DL_CODES.sparse, values=with_nan(DL_CODES.sparse.values)))),
    ValueError,
    "codes.sparse.values must be finite",
)
add(
    WRONG_TYPE,
    "dict-decode-unquantised-for-quantised",
    lambda: DL_QUANTIZED.decode(patch_code(DL_CODES.sparse)),
    TypeError,
    "codes.sparse must be a QuantizedCode of 6 bits",
)
add(
    WRONG_TYPE,
    "dict-decode-quantised-for-plain",
    lambda: DL.decode(DLQ_CODES),
    TypeError,
    "codes.sparse must be an unquantised SparseCode",
)
add(
    WRONG_TYPE,
    "dict-decode-sparse-str",
    lambda: DL.decode(PatchCode("code", DL_CODES.shape, 1)),
    TypeError,
    "codes.sparse must be a SparseCode",
)

# ------------------------------------------------------------------ patches and pixel coding
IMAGES = torch.rand(2, 3, 8, 8, generator=g)
add(
    WRONG_TYPE, "to-tokens-list", lambda: to_tokens(IMAGES.tolist(), 2), TypeError, "x must be a torch.Tensor"
)
add(
    WRONG_TYPE,
    "to-tokens-patch-float",
    lambda: to_tokens(IMAGES, 2.0),
    TypeError,
    "patch_size must be an int",
)
add(
    WRONG_SHAPE,
    "to-tokens-3d",
    lambda: to_tokens(IMAGES[0], 2),
    ValueError,
    r"x must be a tensor of shape \(B, C, H, W\)",
)
add(
    EMPTY,
    "to-tokens-0x0",
    lambda: to_tokens(torch.zeros(1, 3, 0, 0), 2),
    ValueError,
    r"x must be a tensor of shape \(B, C, H, W\) with B, C, H, W >= 1",
)
add(
    EMPTY,
    "to-tokens-batch-0",
    lambda: to_tokens(torch.zeros(0, 3, 4, 4), 2),
    ValueError,
    "with B, C, H, W >= 1",
)
add(
    EMPTY,
    "to-tokens-channels-0",
    lambda: to_tokens(torch.zeros(1, 0, 4, 4), 2),
    ValueError,
    "with B, C, H, W >= 1",
)
add(NAN_INF, "to-tokens-nan", lambda: to_tokens(with_nan(IMAGES), 2), ValueError, "x must be finite")
add(
    OUT_OF_RANGE,
    "to-tokens-patch-0",
    lambda: to_tokens(IMAGES, 0),
    ValueError,
    "patch_size must be an int >= 1",
)
TOKENS = to_tokens(IMAGES, 2)
add(
    WRONG_SHAPE,
    "from-tokens-rows",
    lambda: from_tokens(TOKENS[:5], 2, IMAGES.shape),
    ValueError,
    r"tokens must have shape \(B·h·w, C·p²\)",
)
add(
    WRONG_SHAPE,
    "from-tokens-shape-3",
    lambda: from_tokens(TOKENS, 2, (2, 3, 8)),
    ValueError,
    r"shape must be \(B, C, H, W\)",
)
add(
    EMPTY,
    "from-tokens-shape-zero",
    lambda: from_tokens(TOKENS, 2, (2, 3, 0, 8)),
    ValueError,
    r"shape must be \(B, C, H, W\) with B, C, H, W >= 1",
)
add(
    WRONG_TYPE,
    "from-tokens-shape-float",
    lambda: from_tokens(TOKENS, 2, (2, 3, 8.0, 8)),
    TypeError,
    "shape must be a tuple",
)
add(
    WRONG_TYPE,
    "from-tokens-shape-str",
    lambda: from_tokens(TOKENS, 2, "2,3,8,8"),
    TypeError,
    "shape must be a tuple",
)
add(
    WRONG_TYPE,
    "from-tokens-list",
    lambda: from_tokens(TOKENS.tolist(), 2, IMAGES.shape),
    TypeError,
    "tokens must be a torch.Tensor",
)
add(
    NAN_INF,
    "from-tokens-nan",
    lambda: from_tokens(with_nan(TOKENS), 2, IMAGES.shape),
    ValueError,
    "tokens must be finite",
)
add(
    OUT_OF_RANGE,
    "token-grid-patch-neg",
    lambda: token_grid(IMAGES.shape, -1),
    ValueError,
    "patch_size must be an int >= 1",
)
add(
    WRONG_SHAPE,
    "token-map-size",
    lambda: token_map(torch.zeros(5), 2, IMAGES.shape),
    ValueError,
    r"values must have shape \(B·h·w,\)",
)
add(
    WRONG_TYPE,
    "token-map-list",
    lambda: token_map([0.0] * 32, 2, IMAGES.shape),
    TypeError,
    "values must be a torch.Tensor",
)
add(
    WRONG_TYPE,
    "patch-latent-list",
    lambda: patch_latent(IMAGES.tolist(), 2),
    TypeError,
    "images must be a torch.Tensor",
)
add(
    WRONG_TYPE,
    "from-patch-latent-int",
    lambda: from_patch_latent(torch.zeros(2, 12, 4, 4, dtype=torch.long), 2, IMAGES.shape),
    TypeError,
    "latent must have a floating",
)
add(
    WRONG_TYPE,
    "code-images-int",
    lambda: sparse_code_images(IMAGES.long(), torch.randn(16, 12), patch_size=2, sparsity=2),
    TypeError,
    "images must have a floating",
)
add(
    WRONG_SHAPE,
    "code-images-width",
    lambda: sparse_code_images(IMAGES, torch.randn(16, 10), patch_size=2, sparsity=2),
    ValueError,
    r"dictionary must have shape \(K, C·p²\)",
)
add(
    OUT_OF_RANGE,
    "code-images-value-bits",
    lambda: sparse_code_images(IMAGES, torch.randn(16, 12), patch_size=2, sparsity=2, value_bits=30),
    ValueError,
    r"value_bits must be an int in \[1, 24\]",
)
add(
    BAD_ENUM,
    "code-images-solver",
    lambda: sparse_code_images(IMAGES, torch.randn(16, 12), patch_size=2, sparsity=2, solver="x"),
    ValueError,
    "solver must be one of",
)
add(
    NAN_INF,
    "code-images-nan",
    lambda: sparse_code_images(with_nan(IMAGES), torch.randn(16, 12), patch_size=2, sparsity=2),
    ValueError,
    "x must be finite|signals must be finite",
)

# ------------------------------------------------------------------ Wasserstein Distortion
FA, FB = torch.randn(3, 12, 12, generator=g), torch.randn(3, 12, 12, generator=g)
SIGMA = torch.full((12, 12), 2.0)


def wd_call(**change):
    return lambda: wasserstein_distortion(**(dict(features_a=FA, features_b=FB, log2_sigma=SIGMA) | change))


add(WRONG_TYPE, "wd-a-list", wd_call(features_a=FA.tolist()), TypeError, "features_a must be a torch.Tensor")
add(WRONG_TYPE, "wd-b-int", wd_call(features_b=FB.long()), TypeError, "features_b must have a floating")
add(
    WRONG_TYPE,
    "wd-dtypes",
    wd_call(features_b=FB.double()),
    TypeError,
    "features_a and features_b must have the same dtype",
)
add(
    WRONG_TYPE,
    "wd-sigma-numpy",
    wd_call(log2_sigma=SIGMA.numpy()),
    TypeError,
    "log2_sigma must be a torch.Tensor",
)
add(WRONG_TYPE, "wd-levels-float", wd_call(num_levels=5.0), TypeError, "num_levels must be an int")
add(WRONG_TYPE, "wd-limit-str", wd_call(sqrt_grad_limit="1e6"), TypeError, "sqrt_grad_limit must be a number")
add(
    BAD_ENUM,
    "wd-intermediates-int",
    wd_call(return_intermediates=1),
    TypeError,
    "return_intermediates must be a bool",
)
add(
    WRONG_SHAPE,
    "wd-2d",
    wd_call(features_a=FA[0], features_b=FB[0]),
    ValueError,
    r"features_a must have shape \(C, H, W\) or \(B, C, H, W\)",
)
add(
    WRONG_SHAPE,
    "wd-5d",
    wd_call(features_a=FA[None, None], features_b=FB[None, None]),
    ValueError,
    r"features_a must have shape \(C, H, W\)",
)
add(
    WRONG_SHAPE,
    "wd-mismatch",
    wd_call(features_b=FB[:2]),
    ValueError,
    "features_a and features_b must have the same shape",
)
add(
    WRONG_SHAPE,
    "wd-sigma-shape",
    wd_call(log2_sigma=SIGMA[:6]),
    ValueError,
    "log2_sigma must have the features' spatial shape",
)
add(
    WRONG_SHAPE,
    "wd-sigma-3d-unbatched",
    wd_call(log2_sigma=SIGMA[None]),
    ValueError,
    r"log2_sigma must have shape \(H, W\)",
)
add(
    WRONG_SHAPE,
    "wd-sigma-batch",
    wd_call(
        features_a=FA[None].expand(2, -1, -1, -1),
        features_b=FB[None].expand(2, -1, -1, -1),
        log2_sigma=SIGMA.expand(3, -1, -1),
    ),
    ValueError,
    "features' batch size B = 2",
)
add(
    EMPTY,
    "wd-channels-0",
    wd_call(features_a=FA[:0], features_b=FB[:0]),
    ValueError,
    "features_a must have at least one channel",
)
add(
    EMPTY,
    "wd-height-0",
    wd_call(features_a=FA[:, :0], features_b=FB[:, :0], log2_sigma=SIGMA[:0]),
    ValueError,
    "features_a must have at least one channel, one row",
)
add(NAN_INF, "wd-a-nan", wd_call(features_a=with_nan(FA)), ValueError, "features_a must be finite")
add(NAN_INF, "wd-b-inf", wd_call(features_b=with_nan(FB, INF)), ValueError, "features_b must be finite")
add(NAN_INF, "wd-sigma-nan", wd_call(log2_sigma=with_nan(SIGMA)), ValueError, "log2_sigma must be finite")
add(NAN_INF, "wd-limit-nan", wd_call(sqrt_grad_limit=NAN), ValueError, "sqrt_grad_limit must be a number > 0")
add(
    OUT_OF_RANGE,
    "wd-sigma-negative",
    wd_call(log2_sigma=SIGMA - 5),
    ValueError,
    r"log2_sigma must have values in \[0, num_levels\]",
)
add(
    OUT_OF_RANGE,
    "wd-sigma-minus-3",
    wd_call(log2_sigma=torch.full((12, 12), -3.0)),
    ValueError,
    r"log2_sigma must have values in \[0, num_levels\]",
)
add(OUT_OF_RANGE, "wd-sigma-above", wd_call(log2_sigma=SIGMA + 4), ValueError, "with num_levels = 5")
add(OUT_OF_RANGE, "wd-levels-neg", wd_call(num_levels=-1), ValueError, "num_levels must be an int >= 0")
add(
    OUT_OF_RANGE,
    "wd-limit-0",
    wd_call(sqrt_grad_limit=0.0),
    ValueError,
    "sqrt_grad_limit must be a number > 0",
)
add(
    SCALE,
    "wd-1e20",
    wd_call(features_a=FA * 1e20, features_b=FB * 1e20),
    ValueError,
    "the Wasserstein distortion cannot be represented in torch.float32",
)
add(
    SCALE,
    "wd-1e30-batched",
    wd_call(features_a=FA[None] * 1e30, features_b=FB[None] * 1e30),
    ValueError,
    "cannot be represented",
)


def mwd_call(**change):
    return lambda: multi_wasserstein_distortion(
        **(dict(features_a=[FA], features_b=[FB], log2_sigma=SIGMA) | change)
    )


add(WRONG_TYPE, "mwd-tensor", mwd_call(features_a=FA), TypeError, "features_a must be a list or tuple")
add(
    WRONG_SHAPE,
    "mwd-lengths",
    mwd_call(features_b=[FB, FB]),
    ValueError,
    "features_a and features_b must have the same length",
)
add(
    WRONG_SHAPE,
    "mwd-pair-shape",
    mwd_call(features_b=[FB[:, :6]]),
    ValueError,
    r"features_a\[0\] and features_b\[0\] must have the same shape",
)
add(
    WRONG_SHAPE,
    "mwd-mixed-batch",
    mwd_call(features_a=[FA, FA[None]], features_b=[FB, FB[None]]),
    ValueError,
    "feature arrays must all be",
)
add(
    NAN_INF,
    "mwd-nan",
    mwd_call(features_a=[FA, with_nan(FA)], features_b=[FB, FB]),
    ValueError,
    r"features_a\[1\] must be finite",
)
add(
    OUT_OF_RANGE,
    "mwd-sigma-negative",
    mwd_call(log2_sigma=-SIGMA),
    ValueError,
    "log2_sigma must have values >= 0",
)
add(
    OUT_OF_RANGE,
    "mwd-resized-above",
    mwd_call(
        features_a=[torch.randn(2, 48, 48)],
        features_b=[torch.randn(2, 48, 48)],
        log2_sigma=torch.full((12, 12), 4.0),
    ),
    ValueError,
    r"log2_sigma resized for features_a\[0\]",
)
add(
    SCALE,
    "mwd-1e20",
    mwd_call(features_a=[FA * 1e20], features_b=[FB * 1e20]),
    ValueError,
    "cannot be represented",
)
add(WRONG_SHAPE, "lowpass-1d", lambda: lowpass(torch.ones(5)), ValueError, r"x must have shape \(..., H, W\)")
add(
    WRONG_TYPE,
    "lowpass-int",
    lambda: lowpass(torch.ones(4, 4, dtype=torch.long)),
    TypeError,
    "x must have a floating",
)
add(EMPTY, "lowpass-empty", lambda: lowpass(torch.ones(0, 4)), ValueError, "x must not be empty")
add(NAN_INF, "lowpass-nan", lambda: lowpass(with_nan(torch.ones(4, 4))), ValueError, "x must be finite")
add(
    OUT_OF_RANGE,
    "lowpass-stride-0",
    lambda: lowpass(torch.ones(4, 4), 0),
    ValueError,
    "stride must be an int >= 1",
)
add(
    WRONG_TYPE,
    "lowpass-stride-float",
    lambda: lowpass(torch.ones(4, 4), 1.5),
    TypeError,
    "stride must be an int",
)
add(
    WRONG_SHAPE,
    "stats-2d",
    lambda: multiscale_stats(torch.ones(4, 4)),
    ValueError,
    r"features must have shape \(C, H, W\)",
)
add(EMPTY, "stats-empty", lambda: multiscale_stats(torch.ones(0, 4, 4)), ValueError, "with every size >= 1")
add(NAN_INF, "stats-nan", lambda: multiscale_stats(with_nan(FA)), ValueError, "features must be finite")
add(
    OUT_OF_RANGE,
    "stats-levels-neg",
    lambda: multiscale_stats(FA, -1),
    ValueError,
    "num_levels must be an int >= 0",
)
add(
    SCALE,
    "stats-variance-overflow",
    lambda: multiscale_stats(FA * 1e30),
    ValueError,
    "the variances of features",
)
add(NAN_INF, "lower-limit-nan", lambda: lower_limit(with_nan(FA)), ValueError, "x must be finite")
add(
    NAN_INF,
    "lower-limit-limit-nan",
    lambda: lower_limit(FA, NAN),
    ValueError,
    "limit must be a finite number",
)
add(
    WRONG_TYPE,
    "lower-limit-limit-str",
    lambda: lower_limit(FA, "0"),
    TypeError,
    "limit must be a finite number",
)
add(
    OUT_OF_RANGE,
    "safe-sqrt-negative",
    lambda: safe_sqrt(-FA.abs() - 1),
    ValueError,
    r"x must be >= 0 \(a square root\)",
)
add(NAN_INF, "safe-sqrt-nan", lambda: safe_sqrt(with_nan(FA.abs())), ValueError, "x must be finite")
add(
    OUT_OF_RANGE,
    "safe-sqrt-limit-0",
    lambda: safe_sqrt(FA.abs(), 0.0),
    ValueError,
    "sqrt_grad_limit must be a number > 0",
)
add(
    NAN_INF,
    "resize-sigma-nan",
    lambda: resize_log2_sigma(with_nan(SIGMA), (6, 6)),
    ValueError,
    "log2_sigma must be finite",
)
add(
    OUT_OF_RANGE,
    "resize-size-0",
    lambda: resize_log2_sigma(SIGMA, (0, 6)),
    ValueError,
    "size must be an int >= 1",
)
add(
    WRONG_TYPE,
    "resize-size-str",
    lambda: resize_log2_sigma(SIGMA, "66"),
    TypeError,
    r"size must be a pair \(h, w\)",
)
add(
    WRONG_SHAPE,
    "resize-size-one",
    lambda: resize_log2_sigma(SIGMA, (6,)),
    ValueError,
    r"size must be a pair \(h, w\)",
)
add(
    WRONG_SHAPE,
    "resize-sigma-1d",
    lambda: resize_log2_sigma(SIGMA[0], (6, 6)),
    ValueError,
    r"log2_sigma must have shape \(H, W\) or \(B, H, W\)",
)
add(
    BAD_ENUM,
    "wd-module-features",
    lambda: WassersteinDistortion(SIGMA, features="lpips"),
    ValueError,
    "features must be one of",
)
add(
    OUT_OF_RANGE,
    "wd-module-sigma-negative",
    lambda: WassersteinDistortion(-SIGMA),
    ValueError,
    r"log2_sigma must have values in \[0, num_levels\]",
)
add(
    OUT_OF_RANGE,
    "wd-module-sigma-above",
    lambda: WassersteinDistortion(SIGMA, num_levels=1),
    ValueError,
    "with num_levels = 1",
)
add(
    WRONG_SHAPE,
    "wd-module-sigma-3d",
    lambda: WassersteinDistortion(SIGMA[None]),
    ValueError,
    r"log2_sigma must have shape \(H, W\)",
)
add(
    OUT_OF_RANGE,
    "wd-module-scales-0",
    lambda: WassersteinDistortion(SIGMA, num_scales=0),
    ValueError,
    "num_scales must be an int >= 1",
)
WD_LOSS = WassersteinDistortion(SIGMA)
RECON = torch.rand(2, 3, 12, 12, generator=g)
add(
    OUT_OF_RANGE,
    "wd-module-range",
    lambda: WD_LOSS(RECON * 2, RECON),
    ValueError,
    r"reconstruction must have values in \[0, 1\]",
)
add(NAN_INF, "wd-module-nan", lambda: WD_LOSS(RECON, with_nan(RECON)), ValueError, "target must be finite")
add(
    WRONG_SHAPE,
    "wd-module-mismatch",
    lambda: WD_LOSS(RECON, RECON[:1]),
    ValueError,
    "reconstruction and target must have the same shape",
)

# ------------------------------------------------------------------ spectral
add(NAN_INF, "dct-nan", lambda: dct_2d(with_nan(IMAGES)), ValueError, "x must be finite")
add(WRONG_SHAPE, "dct-3d", lambda: dct_2d(IMAGES[0]), ValueError, r"x must have shape \(B, C, H, W\)")
add(EMPTY, "dct-empty", lambda: dct_2d(IMAGES[:0]), ValueError, "x must not be empty")
add(WRONG_TYPE, "dct-int", lambda: dct_2d(IMAGES.long()), TypeError, "x must have a floating")
add(NAN_INF, "idct-inf", lambda: idct_2d(with_nan(IMAGES, INF)), ValueError, "spectrum must be finite")
add(
    WRONG_SHAPE,
    "haar-odd",
    lambda: haar_dwt(IMAGES[..., :7]),
    ValueError,
    "x must have even height and width",
)
add(EMPTY, "haar-empty", lambda: haar_dwt(IMAGES[:, :0]), ValueError, "x must not be empty")
add(
    WRONG_SHAPE,
    "haar-inverse-channels",
    lambda: haar_idwt(torch.ones(1, 3, 2, 2)),
    ValueError,
    "bands must have 4C channels",
)
add(
    OUT_OF_RANGE,
    "truncate-tau-0",
    lambda: truncate(IMAGES, 0.0),
    ValueError,
    r"tau must be a finite number in \(0, 1\]",
)
add(
    OUT_OF_RANGE,
    "truncate-tau-above",
    lambda: truncate(IMAGES, 1.5),
    ValueError,
    "tau must be a finite number",
)
add(
    BAD_ENUM, "truncate-kind", lambda: truncate(IMAGES, 0.5, kind="circle"), ValueError, "kind must be one of"
)
add(NAN_INF, "truncate-nan", lambda: truncate(with_nan(IMAGES), 0.5), ValueError, "images must be finite")
add(OUT_OF_RANGE, "mask-height-0", lambda: spectral_mask(0, 4, 0.5), ValueError, "height must be an int >= 1")

# ------------------------------------------------------------------ training configuration
MODEL = {
    "name": "autoencoder",
    "latent_dim": 8,
    "width": 16,
    "downsample": 2,
    "bottleneck": {"name": "vq", "num_codes": 16},
}


def config_call(**changes):
    values = {"model": MODEL, "output_dir": "unused"}
    for key, value in changes.items():
        current = values.get(key)
        values[key] = {**current, **value} if isinstance(current, dict) and isinstance(value, dict) else value
    return lambda: TrainConfig.from_dict(values)


for kind, case_id, changes, error, match in [
    (
        OUT_OF_RANGE,
        "loss-negative",
        dict(loss={"mse": -1.0}),
        ValueError,
        r"loss.mse must be a finite number in \[0, inf\]",
    ),
    (NAN_INF, "loss-nan", dict(loss={"mse": NAN}), ValueError, "loss.mse must be a finite number"),
    (WRONG_TYPE, "loss-str", dict(loss={"mse": "1"}), TypeError, "loss.mse must be a finite number"),
    (
        OUT_OF_RANGE,
        "bottleneck-weight-neg",
        dict(bottleneck_weight=-1),
        ValueError,
        "bottleneck_weight must be a finite number",
    ),
    (
        BAD_ENUM,
        "precision",
        dict(trainer={"precision": "33-true"}),
        ValueError,
        r"trainer.precision must be one of \['transformer-engine",
    ),
    (
        BAD_ENUM,
        "precision-bool",
        dict(trainer={"precision": True}),
        ValueError,
        "trainer.precision must be one of",
    ),
    (
        BAD_ENUM,
        "accelerator",
        dict(trainer={"accelerator": "tpu-ish"}),
        ValueError,
        r"trainer.accelerator must be one of \['auto', 'gpu', 'cpu'",
    ),
    (
        WRONG_TYPE,
        "accelerator-int",
        dict(trainer={"accelerator": 1}),
        TypeError,
        "trainer.accelerator must be one of",
    ),
    (
        BAD_ENUM,
        "strategy",
        dict(trainer={"strategy": "ddpx"}),
        ValueError,
        r"trainer.strategy must be one of \['auto', 'ddp'",
    ),
    (
        OUT_OF_RANGE,
        "devices-0",
        dict(trainer={"devices": 0}),
        ValueError,
        "trainer.devices must be an int >= 1",
    ),
    (OUT_OF_RANGE, "devices-neg", dict(trainer={"devices": -3}), ValueError, "trainer.devices must be"),
    (BAD_ENUM, "devices-str", dict(trainer={"devices": "many"}), ValueError, "trainer.devices must be"),
    (WRONG_TYPE, "devices-float", dict(trainer={"devices": 1.5}), TypeError, "trainer.devices must be"),
    (
        INDEX,
        "devices-repeated",
        dict(trainer={"devices": [0, 0]}),
        ValueError,
        "trainer.devices must list each device once",
    ),
    (
        OUT_OF_RANGE,
        "limit-val-neg",
        dict(trainer={"limit_val_batches": -1}),
        ValueError,
        "trainer.limit_val_batches must be an int >= 0",
    ),
    (
        OUT_OF_RANGE,
        "limit-val-fraction",
        dict(trainer={"limit_val_batches": 1.5}),
        ValueError,
        "trainer.limit_val_batches must be",
    ),
    (
        NAN_INF,
        "limit-val-nan",
        dict(trainer={"limit_val_batches": NAN}),
        ValueError,
        "trainer.limit_val_batches must be",
    ),
    (
        WRONG_TYPE,
        "limit-val-str",
        dict(trainer={"limit_val_batches": "all"}),
        TypeError,
        "trainer.limit_val_batches must be",
    ),
    (
        OUT_OF_RANGE,
        "clip-neg",
        dict(trainer={"gradient_clip_val": -1}),
        ValueError,
        r"trainer.gradient_clip_val must be a finite number in \[0, inf\]",
    ),
    (
        NAN_INF,
        "clip-inf",
        dict(trainer={"gradient_clip_val": INF}),
        ValueError,
        "trainer.gradient_clip_val must be a finite number",
    ),
    (
        OUT_OF_RANGE,
        "betas-one",
        dict(optimizer={"betas": [0.9, 1.0]}),
        ValueError,
        r"optimizer.betas\[1\] must be a number in \[0, 1\)",
    ),
    (
        OUT_OF_RANGE,
        "betas-negative",
        dict(optimizer={"betas": [-0.1, 0.9]}),
        ValueError,
        r"optimizer.betas\[0\] must be a finite number",
    ),
    (
        WRONG_TYPE,
        "betas-float",
        dict(optimizer={"betas": 0.9}),
        TypeError,
        r"optimizer.betas must be a pair \[beta1, beta2\]",
    ),
    (
        WRONG_SHAPE,
        "betas-three",
        dict(optimizer={"betas": [0.9, 0.99, 0.999]}),
        ValueError,
        "optimizer.betas must be a pair",
    ),
    (
        OUT_OF_RANGE,
        "lr-zero",
        dict(optimizer={"lr": 0.0}),
        ValueError,
        r"optimizer.lr must be a finite number in \(0, inf\)",
    ),
    (
        OUT_OF_RANGE,
        "num-codes",
        dict(model={**MODEL, "bottleneck": {"name": "vq", "num_codes": -1}}),
        ValueError,
        "model 'autoencoder': num_codes must be an int >= 1",
    ),
    (
        WRONG_TYPE,
        "num-codes-float",
        dict(model={**MODEL, "bottleneck": {"name": "vq", "num_codes": 8.5}}),
        TypeError,
        "model 'autoencoder': num_codes must be an int",
    ),
    (
        OUT_OF_RANGE,
        "latent-dim",
        dict(model={**MODEL, "latent_dim": -8}),
        ValueError,
        "model 'autoencoder': latent_dim must be an int >= 1",
    ),
    (
        OUT_OF_RANGE,
        "sparsity-above-atoms",
        dict(model={**MODEL, "bottleneck": {"name": "dictionary", "num_atoms": 8, "sparsity": 9}}),
        ValueError,
        "sparsity must be at most num_atoms = 8",
    ),
    (
        BAD_ENUM,
        "update-rule",
        dict(
            model={
                **MODEL,
                "bottleneck": {"name": "dictionary", "num_atoms": 8, "sparsity": 2, "update_rule": "sgd"},
            }
        ),
        ValueError,
        "update_rule must be one of",
    ),
    (
        BAD_ENUM,
        "deterministic",
        dict(trainer={"deterministic": "yes"}),
        ValueError,
        "trainer.deterministic must be",
    ),
    (
        BAD_ENUM,
        "progress-bar",
        dict(trainer={"progress_bar": "no"}),
        TypeError,
        "trainer.progress_bar must be a bool",
    ),
    (
        OUT_OF_RANGE,
        "max-steps-0",
        dict(trainer={"max_steps": 0}),
        ValueError,
        "trainer.max_steps must be an int >= 1",
    ),
    (OUT_OF_RANGE, "seed-neg", dict(seed=-1), ValueError, "seed must be an int >= 0"),
    (EMPTY, "output-dir-empty", dict(output_dir=""), ValueError, "output_dir must be a directory path"),
    (EMPTY, "loss-empty", dict(loss={}), ValueError, "loss must weight at least one term"),
    (
        OUT_OF_RANGE,
        "image-size-0",
        dict(data={"image_size": 0}),
        ValueError,
        "data.image_size must be an int >= 1",
    ),
    (
        OUT_OF_RANGE,
        "workers-neg",
        dict(data={"num_workers": -1}),
        ValueError,
        "data.num_workers must be an int >= 0",
    ),
    (
        OUT_OF_RANGE,
        "tau-final-below",
        dict(spectral={"tau_init": 0.5, "tau_final": 0.2}),
        ValueError,
        "spectral.tau_final must be >= spectral.tau_init",
    ),
]:
    add(kind, f"config-{case_id}", config_call(**changes), error, match)


# ------------------------------------------------------------------ command line: laserlab train
GOOD_YAML = "output_dir: out\nmodel: {name: autoencoder, bottleneck: {name: vq, num_codes: 8}}\n"
CLI_CASES = [
    # (class, id, YAML text or None for no file, extra argv, regex of the one-line error)
    (
        WRONG_SHAPE,
        "malformed-yaml",
        GOOD_YAML + "trainer: {max_steps: 3\n",
        [],
        r"is not valid YAML at line \d+",
    ),
    (WRONG_SHAPE, "yaml-tab", "output_dir: out\n\tmodel: x\n", [], "is not valid YAML"),
    (WRONG_TYPE, "yaml-list", "- output_dir\n- model\n", [], "config must be a mapping of sections"),
    (EMPTY, "yaml-empty", "", [], r"config is missing required key\(s\) \['model', 'output_dir'\]"),
    (OUT_OF_RANGE, "max-steps-0", GOOD_YAML, ["--max-steps", "0"], "--max-steps must be an int >= 1; got 0"),
    (
        OUT_OF_RANGE,
        "max-steps-neg",
        GOOD_YAML,
        ["--max-steps", "-5"],
        "--max-steps must be an int >= 1; got -5",
    ),
    (
        EMPTY,
        "output-dir-empty",
        GOOD_YAML,
        ["--output-dir", ""],
        "--output-dir must be a directory path; got ''",
    ),
    (EMPTY, "output-dir-blank", GOOD_YAML, ["--output-dir", "  "], "--output-dir must be a directory path"),
    (EMPTY, "config-missing", None, [], "does not exist"),
    (
        BAD_ENUM,
        "precision",
        GOOD_YAML + "trainer: {precision: 33-true}\n",
        [],
        "trainer.precision must be one of",
    ),
    (
        OUT_OF_RANGE,
        "num-codes",
        GOOD_YAML.replace("num_codes: 8", "num_codes: -1"),
        [],
        "num_codes must be an int >= 1",
    ),
]


@pytest.mark.parametrize(
    ("kind", "case_id", "text", "argv", "match"), CLI_CASES, ids=[c[1] for c in CLI_CASES]
)
def test_cli_train_reports_every_config_problem_in_one_line(
    tmp_path, capsys, kind, case_id, text, argv, match
):
    from laserlab.cli import main

    path = tmp_path / "run.yaml"
    if text is not None:
        path.write_text(text)
    assert main(["train", "--config", str(path), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("laserlab train: error: "), err
    assert re.search(match, err), err


def test_there_are_at_least_300_cases_in_every_class():
    counts = collections.Counter(kind for kind, *_ in CASES + CLI_CASES)
    assert len(CASES) >= 300, len(CASES)
    assert set(counts) == set(CLASSES), counts
    assert len({case_id for _, case_id, *_ in CASES}) == len(CASES), "case ids must be unique"


@pytest.mark.parametrize(("kind", "case_id", "call", "error", "match"), CASES, ids=[c[1] for c in CASES])
def test_bad_input_raises_a_clear_error_naming_the_argument(kind, case_id, call, error, match):
    with pytest.raises(error, match=match) as raised:
        call()
    assert type(raised.value) in (TypeError, ValueError)  # not a subclass such as IndexError or KeyError
    message = str(raised.value)
    assert "\n" not in message.strip() and len(message) < 1000, message


def counts() -> dict[str, int]:
    return dict(collections.Counter(kind for kind, *_ in CASES + CLI_CASES))


if __name__ == "__main__":
    for kind in CLASSES:
        print(f"{kind:20s} {counts().get(kind, 0):4d}")
    print(f"{'total':20s} {len(CASES) + len(CLI_CASES):4d}")
