"""``python -m laserlab.bench sparse``: sparse coders and K-SVD sweeps against their anchors, in one run.

Coders (µs per signal, median [min–max] over interleaved rounds) at three sizes, on synthetic and real data:
  A  65,536 RGB pixels         M = 3    K = 16   S = 3
  B  16,384 8×8 grey patches   M = 64   K = 512  S = 8
  C   4,096 8×8 RGB patches    M = 192  K = 256  S = 16
Synthetic: unit-norm Gaussian dictionary, S-sparse N(0, 1) codes, noise 0.01. Real: patches of the bundled
sample photographs (``laserlab.data.load_source``) with a unit-norm Gaussian dictionary. Candidates: our
``omp`` (numba CPU kernel; the vectorised torch path that CUDA runs; float64), ``matching_pursuit``, VQ
nearest codeword (addmm + argmin over the same K rows), scikit-learn's ``orthogonal_mp_gram`` (the float64
oracle, timed on a subset without building G and DᵀX, scaled per signal) and ``spams.omp`` when importable
(it is ORMP, a different algorithm: a speed anchor only).

K-SVD: one sweep of 10,000 × 64 signals, K = 256, S = 8, exact vs approximate (coding excluded), and the
40-iteration recovery experiment on a planted dictionary (``--no-recovery`` skips it).
"""

from __future__ import annotations

import argparse
import contextlib
import time
import warnings

import numpy as np
import torch

from ..report import table
from . import interleaved, machine_header, threads

SIZES = {"A": (65_536, 3, 16, 3), "B": (16_384, 64, 512, 8), "C": (4_096, 192, 256, 16)}
SKLEARN_SUBSET = {"A": 2048, "B": 512, "C": 256}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m laserlab.bench sparse", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (default 1)")
    parser.add_argument("--clock", choices=("cpu", "wall"), help="default: cpu with 1 thread, else wall")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per candidate (default 5)")
    parser.add_argument("--sizes", default="ABC", help="which coder sizes to run (default ABC)")
    parser.add_argument("--no-recovery", action="store_true", help="skip the 40-iteration K-SVD experiment")
    args = parser.parse_args(argv)
    clock = args.clock or ("cpu" if args.threads == 1 else "wall")
    with threads(args.threads), _blas_threads(args.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scikit-learn's "premature stop" on S > M
        print(machine_header(clock, args.threads))
        print(_first_call_cost())
        for size in args.sizes:
            for data in ("synthetic", "real"):
                _bench_coders(size, data, clock=clock, rounds=args.rounds, n_threads=args.threads)
        _bench_ksvd_sweep(clock=clock, rounds=args.rounds)
        if not args.no_recovery:
            _bench_recovery(clock=clock)
    return 0


@contextlib.contextmanager
def _blas_threads(n: int):
    """Also pin numpy/scipy's BLAS (scikit-learn, SPAMS) to ``n`` threads when threadpoolctl is there."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(n):
        yield


def _first_call_cost() -> str:
    """Time of the first coder call in this process: numba import plus cache load (or compile, if cold)."""
    from laserlab.sparse import omp

    x = torch.randn(64, 16)
    start = time.perf_counter()
    omp(x, torch.nn.functional.normalize(torch.randn(32, 16), dim=1), sparsity=4)
    seconds = time.perf_counter() - start
    return f"# first omp call in this process (numba import + cached kernels, or a compile): {seconds:.2f} s"


# ----------------------------------------------------------------------------------------------- data


def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    return x / torch.linalg.vector_norm(x, dim=1, keepdim=True)


def _planted(n: int, dim: int, num_atoms: int, sparsity: int, *, seed: int, noise: float = 0.01):
    generator = torch.Generator().manual_seed(seed)
    dictionary = _unit_rows(torch.randn(num_atoms, dim, generator=generator, dtype=torch.float64))
    support = torch.rand(n, num_atoms, generator=generator).argsort(dim=1)[:, :sparsity]
    values = torch.randn(n, sparsity, generator=generator, dtype=torch.float64)
    signals = torch.einsum("ns,nsm->nm", values, dictionary[support])
    signals += noise * torch.randn(n, dim, generator=generator, dtype=torch.float64)
    return signals, dictionary


def _real_signals(size: str, n: int) -> torch.Tensor:
    """Pixels (A) or 8×8 grey (B) / RGB (C) patches of the training photographs, float64, first n."""
    from laserlab.bottlenecks import to_tokens
    from laserlab.data import load_source, source_names

    chunks, total = [], 0
    for name in source_names("train"):
        photo = load_source(name, short_side=512)[None]
        if size == "B":
            tokens = to_tokens(photo.mean(dim=1, keepdim=True), 8)
        else:
            tokens = to_tokens(photo, 1 if size == "A" else 8)
        chunks.append(tokens)
        total += len(tokens)
        if total >= n:
            break
    return torch.cat(chunks)[:n].double()


def _data(size: str, data: str):
    n, dim, num_atoms, sparsity = SIZES[size]
    if data == "synthetic":
        return _planted(n, dim, num_atoms, min(sparsity, dim), seed=1)
    generator = torch.Generator().manual_seed(2)
    return _real_signals(size, n), _unit_rows(
        torch.randn(num_atoms, dim, generator=generator, dtype=torch.float64)
    )


# --------------------------------------------------------------------------------------------- coders


def _bench_coders(size: str, data: str, *, clock: str, rounds: int, n_threads: int) -> None:
    from sklearn.linear_model import orthogonal_mp_gram

    from laserlab.sparse import matching_pursuit, omp

    n, dim, num_atoms, sparsity = SIZES[size]
    signals64, dictionary64 = _data(size, data)
    signals, dictionary = signals64.float(), dictionary64.float()
    subset = SKLEARN_SUBSET[size]
    x_sub = signals64[:subset].numpy()
    d64 = dictionary64.numpy()
    gram, xy = d64 @ d64.T, d64 @ x_sub.T
    sq_codebook = (dictionary * dictionary).sum(1)

    def vq():
        return dictionary[torch.addmm(sq_codebook, signals, dictionary.T, alpha=-2).argmin(dim=1)]

    candidates = {
        "OMP (ours, numba CPU kernel, f32)": lambda: omp(signals, dictionary, sparsity=sparsity),
        "OMP (ours, torch path, f32)": lambda: omp(signals, dictionary, sparsity=sparsity, backend="torch"),
        "OMP (ours, numba, f64)": lambda: omp(signals64, dictionary64, sparsity=sparsity),
        "MP (ours, numba, f32)": lambda: matching_pursuit(signals, dictionary, sparsity=sparsity),
        "VQ addmm + argmin (f32)": vq,
        f"sklearn orthogonal_mp_gram (f64, {subset} signals)": lambda: orthogonal_mp_gram(
            gram, xy, n_nonzero_coefs=sparsity, copy_Gram=False
        ),
    }
    items = {label: n for label in candidates}
    items[next(k for k in candidates if k.startswith("sklearn"))] = subset
    spams = _spams()
    if spams is not None:
        x_f, d_f = np.asfortranarray(signals64.numpy().T), np.asfortranarray(d64.T)
        label = "SPAMS omp = ORMP (C++, f64)"
        candidates[label] = lambda: spams.omp(x_f, d_f, L=sparsity, numThreads=n_threads)
        items[label] = n
    timings = interleaved(candidates, rounds=rounds, warmup=1, clock=clock, items=items)

    energy = float((signals64**2).sum())
    relative = {
        "OMP (ours, numba CPU kernel, f32)": _relative(omp(signals, dictionary, sparsity=sparsity), energy),
        "OMP (ours, torch path, f32)": _relative(
            omp(signals, dictionary, sparsity=sparsity, backend="torch"), energy
        ),
        "OMP (ours, numba, f64)": _relative(omp(signals64, dictionary64, sparsity=sparsity), energy),
        "MP (ours, numba, f32)": _relative(matching_pursuit(signals, dictionary, sparsity=sparsity), energy),
        "VQ addmm + argmin (f32)": float(((signals - vq()) ** 2).sum()) / energy,
    }
    if spams is not None:
        sparse = spams.omp(x_f, d_f, L=sparsity, numThreads=n_threads)
        relative["SPAMS omp = ORMP (C++, f64)"] = float(((x_f - d_f @ sparse) ** 2).sum()) / energy
    ours = timings["OMP (ours, numba CPU kernel, f32)"].per_item()
    rows = []
    for label, timing in timings.items():
        low, high = (s / timing.items * 1e6 for s in timing.spread)
        error = relative.get(label)
        rows.append(
            [
                label,
                f"{timing.per_item():.3f}",
                f"[{low:.3f}–{high:.3f}]",
                f"{timing.per_item() / ours:.2f}",
                "–" if error is None else f"{error:.3g}",
            ]
        )
    print(f"\n## size {size} ({n} × {dim}, K = {num_atoms}, S = {sparsity}), {data} data")
    print(table(rows, ["coder", "µs/signal", "[min–max]", "× our OMP f32", "‖X − DΓ‖²/‖X‖²"]))

    # Correctness on the sklearn subset: our float64 OMP must reproduce the oracle.
    reference = orthogonal_mp_gram(gram, xy, n_nonzero_coefs=sparsity, copy_Gram=False).T
    dense = omp(signals64[:subset], dictionary64, sparsity=sparsity).to_dense(num_atoms).numpy()
    same = int(((dense != 0) == (reference != 0)).all(axis=1).sum())
    sklearn = timings[next(k for k in timings if k.startswith("sklearn"))].per_item()
    print(
        f"summary {size}/{data}: OMP f32 is {sklearn / ours:.1f}× faster than sklearn "
        f"per signal; OMP/VQ = {ours / timings['VQ addmm + argmin (f32)'].per_item():.2f} (S = {sparsity}); "
        f"OMP/MP = {ours / timings['MP (ours, numba, f32)'].per_item():.2f}"
        + (
            f"; SPAMS/OMP = {timings['SPAMS omp = ORMP (C++, f64)'].per_item() / ours:.2f}"
            if spams is not None
            else "; SPAMS not installed"
        )
        + f"; f64 supports identical to sklearn on {same}/{subset}, "
        f"max |Δcoef| {np.abs(dense - reference).max():.1e}"
    )


def _spams():
    try:
        import spams
    except ImportError:
        return None
    return spams


def _relative(code, energy: float) -> float:
    return float((code.residual_norm.double() ** 2).sum()) / energy


# ---------------------------------------------------------------------------------------------- K-SVD


def _ksvd_data(kind: str):
    """10,000 signals of dimension 64 with a K = 256 starting dictionary (and the truth, if planted)."""
    if kind == "synthetic":
        signals, truth = _planted(10_000, 64, 256, 8, seed=3)
    else:
        signals = _real_signals("B", 10_000)
        signals = signals - signals.mean(dim=1, keepdim=True)  # DC removed, as in classic patch K-SVD
        truth = None
    generator = torch.Generator().manual_seed(4)
    nonzero = torch.linalg.vector_norm(signals, dim=1) > 1e-6  # flat patches vanish with their DC
    start = _unit_rows(signals[nonzero][torch.randperm(int(nonzero.sum()), generator=generator)[:256]])
    return signals.float(), start.float(), None if truth is None else truth.float()


def _bench_ksvd_sweep(*, clock: str, rounds: int) -> None:
    from laserlab.sparse import ksvd_update, omp

    rows = []
    for kind in ("synthetic", "real"):
        signals, dictionary, _ = _ksvd_data(kind)
        code = omp(signals, dictionary, sparsity=8)
        candidates = {
            "exact": lambda s=signals, d=dictionary, c=code: ksvd_update(s, d, c),
            "approximate": lambda s=signals, d=dictionary, c=code: ksvd_update(s, d, c, approximate=True),
            "OMP coding (for scale)": lambda s=signals, d=dictionary: omp(s, d, sparsity=8),
        }
        timings = interleaved(candidates, rounds=rounds, warmup=1, clock=clock)
        energy = float((signals.double() ** 2).sum())
        errors = {
            "exact": _relative(ksvd_update(signals, dictionary, code).code, energy),
            "approximate": _relative(ksvd_update(signals, dictionary, code, approximate=True).code, energy),
            "OMP coding (for scale)": _relative(code, energy),
        }
        for label, timing in timings.items():
            low, high = timing.spread
            ratio = timings["exact"].median / timing.median
            rows.append(
                [
                    f"{kind}: {label}",
                    f"{timing.median * 1e3:.1f}",
                    f"[{low * 1e3:.1f}–{high * 1e3:.1f}]",
                    f"{ratio:.2f}",
                    f"{errors[label]:.4f}",
                ]
            )
    print("\n## K-SVD sweep (10,000 × 64, K = 256, S = 8, all atoms once, coding excluded; f32)")
    print(table(rows, ["", "ms/sweep", "[min–max]", "exact / this", "rel. error after"]))


def _bench_recovery(*, clock: str, iterations: int = 40) -> None:
    from laserlab.sparse import ksvd_update, omp, replace_unused_atoms

    signals, start, truth = _ksvd_data("synthetic")
    energy = float((signals.double() ** 2).sum())
    now = time.process_time if clock == "cpu" else time.perf_counter
    rows = []
    for approximate in (False, True):
        dictionary = start
        coding = updating = 0.0
        for _ in range(iterations):
            t0 = now()
            code = omp(signals, dictionary, sparsity=8)
            t1 = now()
            update = ksvd_update(signals, dictionary, code, approximate=approximate)
            dictionary = replace_unused_atoms(
                update.dictionary, signals, update.code.residual_norm, ~update.used
            )
            t2 = now()
            coding, updating = coding + t1 - t0, updating + t2 - t1
        error = _relative(omp(signals, dictionary, sparsity=8), energy)
        recovered = float(((truth @ dictionary.T).abs().amax(dim=1) > 0.99).float().mean())
        rows.append(
            [
                "approximate" if approximate else "exact",
                f"{coding + updating:.2f}",
                f"{coding:.2f}",
                f"{updating:.2f}",
                f"{error:.4f}",
                f"{100 * recovered:.1f}",
            ]
        )
    print(
        f"\n## K-SVD recovery: {iterations} iterations of OMP + sweep on a planted 64 × 256 dictionary "
        "(10,000 signals, S = 8, noise 0.01, start = random signals)"
    )
    print(
        table(
            rows,
            ["update", "total s", "coding s", "updates s", "rel. error (re-coded)", "% atoms |cos| > 0.99"],
        )
    )
    initial = _relative(omp(signals, start, sparsity=8), energy)
    print(f"initial relative error {initial:.4f}")
