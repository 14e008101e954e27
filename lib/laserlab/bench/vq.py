"""``python -m laserlab.bench vq``: nearest-codeword search, ``addmm`` + argmin against ``torch.cdist``.

Sizes are those of ``python -m laserlab.bench sparse`` (A: 65,536 RGB pixels, K = 16; B: N = 16,384,
M = 64, K = 512; C: N = 4,096, M = 192, K = 256), Gaussian data and codebook, float32. Candidates,
interleaved in one run:

- ``nearest_codeword`` — the library's search: argmin(‖e‖² − 2x·e), one ``addmm`` per block of rows;
- ``addmm, one block`` — the same arithmetic on the whole N×K score matrix at once;
- ``cdist + argmin`` — the anchor, ``torch.cdist(x, codebook).argmin(1)``;
- ``VectorQuantizer forward`` — the whole module in eval mode (layout, search, gather, losses, stats).

Prints µs per vector, each candidate's speed-up over ``cdist`` and the fraction of choices that differ
from ``cdist`` (float32 near-ties only).
"""

from __future__ import annotations

import argparse

import torch

from ..report import table
from . import interleaved, machine_header, threads

SIZES = {"A": (65536, 3, 16), "B": (16384, 64, 512), "C": (4096, 192, 256)}


def main(argv: list[str] | None = None) -> int:
    from ..bottlenecks import VectorQuantizer
    from ..sparse import nearest_codeword

    parser = argparse.ArgumentParser(prog="python -m laserlab.bench vq", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="ABC", help="which of A, B, C to run (default ABC)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = parser.parse_args(argv)
    unknown = set(args.sizes) - set(SIZES)
    if unknown:
        parser.error(f"--sizes takes letters from {''.join(SIZES)}; got {args.sizes!r}")

    print(machine_header(args.clock, args.threads))
    rows = []
    with threads(args.threads):
        for size in args.sizes:
            n, m, k = SIZES[size]
            g = torch.Generator().manual_seed(0)
            x, codebook = torch.randn(n, m, generator=g), torch.randn(k, m, generator=g)
            quantizer = VectorQuantizer(k, m).eval()
            with torch.no_grad():
                quantizer.codebook.copy_(codebook)
            latent = x.T.reshape(1, m, 1, n)  # tokens in the same order as x
            reference = torch.cdist(x, codebook).argmin(1)
            candidates = {
                "nearest_codeword": lambda x=x, c=codebook: nearest_codeword(x, c),
                "addmm, one block": lambda x=x, c=codebook: torch.addmm(
                    c.square().sum(1).unsqueeze(0), x, c.T, alpha=-2
                ).argmin(1),
                "cdist + argmin": lambda x=x, c=codebook: torch.cdist(x, c).argmin(1),
                "VectorQuantizer forward": lambda q=quantizer, z=latent: q(z),
            }
            with torch.no_grad():
                timings = interleaved(candidates, rounds=args.rounds, clock=args.clock, items=n)
                anchor = timings["cdist + argmin"].per_item()
                for label, timing in timings.items():
                    result = candidates[label]()
                    chosen = result.codes.flatten() if label == "VectorQuantizer forward" else result
                    low, high = (s / n * 1e6 for s in timing.spread)
                    differs = (chosen != reference).float().mean().item()
                    rows.append([
                        f"{size} N={n} M={m} K={k}", label, f"{timing.per_item():.3f}",
                        f"{low:.3f}-{high:.3f}", f"{anchor / timing.per_item():.2f}x", f"{differs:.1e}",
                    ])  # fmt: skip
    print(table(rows, ["size", "candidate", "us/vector", "min-max", "vs cdist", "differs"]))
    return 0
