"""``python -m laserlab.bench bottlenecks``: one training step of each bottleneck, per token.

A step is what a training loop pays per batch: training-mode forward, backward of the bottleneck's loss
plus a stand-in decoder term, optimiser step (gradient-trained dictionaries and codebooks) and ``update()``.
Latent (B, dim, H, W) Gaussian, float32; by default size B of ``python -m laserlab.bench sparse``
(M = 64, K = 512, S = 8) as tokens: 8 × 64 × 16 × 16 → 2,048 tokens. Candidates, interleaved in one run:

- ``omp on the tokens`` — the anchor: :func:`laserlab.sparse.omp` alone on the same token matrix;
- ``VectorQuantizer (EMA)`` — VQ with K codewords, EMA codebook;
- ``DictionaryBottleneck <rule>`` — for each update rule ("gradient", "online", "ksvd", "approx_ksvd"),
  OMP coding with sparsity S.

Prints µs per token and each candidate's cost relative to the anchor (coding alone).
"""

from __future__ import annotations

import argparse

import torch

from ..report import table
from . import interleaved, machine_header, threads


def _stepper(bottleneck, latent):
    params = list(bottleneck.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-3) if params else None
    upstream = torch.randn(latent.shape, generator=torch.Generator().manual_seed(1))

    def step():
        z = latent.detach().requires_grad_(True)
        out = bottleneck(z)
        (out.loss + (out.quantized * upstream).mean()).backward()
        if optimizer is not None:
            optimizer.step()
            optimizer.zero_grad()
        bottleneck.update(optimizer=optimizer)

    return step


def main(argv: list[str] | None = None) -> int:
    from ..bottlenecks import UPDATE_RULES, DictionaryBottleneck, VectorQuantizer, to_tokens
    from ..sparse import omp

    parser = argparse.ArgumentParser(
        prog="python -m laserlab.bench bottlenecks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--latent", default="8,64,16,16", help="B,dim,H,W of the latent (default 8,64,16,16)")
    parser.add_argument("--atoms", type=int, default=512)
    parser.add_argument("--sparsity", type=int, default=8)
    parser.add_argument("--patch-size", type=int, default=1)
    parser.add_argument("--rules", default=",".join(UPDATE_RULES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = parser.parse_args(argv)
    shape = tuple(int(v) for v in args.latent.split(","))
    if len(shape) != 4:
        parser.error(f"--latent takes B,dim,H,W; got {args.latent!r}")
    rules = [r for r in args.rules.split(",") if r]
    unknown = set(rules) - set(UPDATE_RULES)
    if unknown:
        parser.error(f"--rules takes names from {UPDATE_RULES}; got {sorted(unknown)}")

    print(machine_header(args.clock, args.threads))
    with threads(args.threads):
        latent = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        tokens = to_tokens(latent, args.patch_size).contiguous()
        n, m = tokens.shape
        options = dict(sparsity=args.sparsity, patch_size=args.patch_size)
        dictionaries = {
            rule: DictionaryBottleneck(args.atoms, shape[1], update_rule=rule, **options) for rule in rules
        }
        g = torch.Generator().manual_seed(2)
        atoms = torch.nn.functional.normalize(torch.randn(args.atoms, m, generator=g), dim=1)
        candidates = {"omp on the tokens": lambda: omp(tokens, atoms, sparsity=args.sparsity)}
        if args.patch_size == 1:
            vq = VectorQuantizer(args.atoms, shape[1], ema_decay=0.99)
            candidates["VectorQuantizer (EMA)"] = _stepper(vq, latent)
        for rule, bottleneck in dictionaries.items():
            candidates[f"DictionaryBottleneck {rule}"] = _stepper(bottleneck, latent)
        timings = interleaved(candidates, rounds=args.rounds, clock=args.clock, items=n)
    anchor = timings["omp on the tokens"].per_item()
    rows = []
    for label, timing in timings.items():
        low, high = (s / n * 1e6 for s in timing.spread)
        rows.append(
            [label, f"{timing.per_item():.3f}", f"{low:.3f}-{high:.3f}", f"{timing.per_item() / anchor:.2f}x"]
        )
    print(f"# {n} tokens of M = {m}, K = {args.atoms}, S = {args.sparsity}, patch size {args.patch_size}")
    print(table(rows, ["candidate (training step)", "us/token", "min-max", "vs omp alone"]))
    return 0
