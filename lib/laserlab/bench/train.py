"""``python -m laserlab.bench train``: seconds per training step of VQ-VAE, DL-VAE and K-SVD-VAE.

All models share the encoder/decoder and the latent grid (``--image-size`` / ``--downsample``, latent
``--dim`` channels); they differ only in the bottleneck: VQ (EMA codebook of ``--codes`` codewords) and a
dictionary of ``--codes`` atoms with ``--sparsity`` non-zeros per token, trained by gradients (DL-VAE),
by online dictionary learning, or by K-SVD after each step (K-SVD-VAE). One step = forward, loss
(MSE + bottleneck), backward, Adam step and the bottleneck's post-step update — what
:class:`laserlab.train.AutoencoderModule` runs, without Lightning's bookkeeping. The anchor is VQ-VAE.
"""

from __future__ import annotations

import argparse

import torch

from ..report import table
from . import interleaved, machine_header, threads


def _candidates(args) -> dict[str, dict]:
    from ..bottlenecks import BOTTLENECKS

    vq = {"name": "vq", "num_codes": args.codes, "ema_decay": 0.99}
    dictionary = {"name": "dictionary", "num_atoms": args.codes, "sparsity": args.sparsity}
    candidates = {"VQ-VAE (EMA)": vq}
    if "dictionary" in BOTTLENECKS:
        candidates["DL-VAE (gradient)"] = {**dictionary, "update_rule": "gradient"}
        candidates["DL-VAE (online)"] = {**dictionary, "update_rule": "online"}
        candidates["K-SVD-VAE (approx)"] = {**dictionary, "update_rule": "approx_ksvd"}
        candidates["K-SVD-VAE (exact)"] = {**dictionary, "update_rule": "ksvd"}
    return candidates


def _step_function(bottleneck: dict, args, images: torch.Tensor):
    from ..bottlenecks import update_bottlenecks
    from ..models import build_model

    torch.manual_seed(0)
    model = build_model(
        "autoencoder",
        bottleneck=bottleneck,
        latent_dim=args.dim,
        width=args.width,
        downsample=args.downsample,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)

    def step() -> None:
        output = model(images)
        loss = (output.reconstruction - images).square().mean() + output.bottleneck_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        update_bottlenecks(model, optimizer=optimizer)

    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m laserlab.bench train", description=__doc__)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--downsample", type=int, default=4)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--codes", type=int, default=256)
    parser.add_argument("--sparsity", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    images = torch.rand(
        args.batch_size, 3, args.image_size, args.image_size, generator=torch.Generator().manual_seed(0)
    )
    grid = args.image_size // args.downsample
    with threads(args.threads):
        steps = {label: _step_function(spec, args, images) for label, spec in _candidates(args).items()}
        timings = interleaved(steps, rounds=args.rounds, warmup=2, clock="cpu")
    print(machine_header("cpu", args.threads))
    print(
        f"# batch {args.batch_size}×3×{args.image_size}², latent grid {grid}×{grid}×{args.dim}, "
        f"{args.codes} codes/atoms, sparsity {args.sparsity}, width {args.width}"
    )
    anchor = timings["VQ-VAE (EMA)"].median
    rows = []
    for label, timing in timings.items():
        low, high = timing.spread
        rows.append(
            [
                label,
                f"{timing.median * 1e3:.1f}",
                f"{low * 1e3:.1f}–{high * 1e3:.1f}",
                f"{timing.median / anchor:.2f}x",
            ]
        )
    print(table(rows, ["model", "ms/step", "min–max", "vs VQ-VAE"]))
    return 0
