"""``python -m laserlab.bench spectral``: the spectral regularisers against their anchors, in one run.

(a) :func:`~laserlab.spectral.truncate` (whole-image DCT as two matrix products with cached matrices, the
    mask rebuilt per call) against a scipy reference on the same batch: ``scipy.fft.dctn`` → mask →
    ``idctn``, including the torch → numpy → torch conversion a training loop would pay (its mask is
    precomputed, which favours it). Batch 16 × 3 channels at 64² and 256², float32, τ = 0.5.
(b) :func:`~laserlab.spectral.haar_dwt` (strided slices and sums) against a depthwise stride-2
    ``conv2d`` with the four fixed 2×2 Haar filters, forward and forward + backward, on latent shapes.
(c) :class:`~laserlab.spectral.CrossScalePenalty` forward + backward (RMS normalisation, Haar DWT, 1×1
    predictor, MSE, gradient reversal to the latents) against the same penalty written with the conv Haar.

Each section first checks that the candidates agree, then prints medians over interleaved rounds and the
ratio of each anchor's median to laserlab's (> 1: laserlab is faster).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from ..report import table
from ..spectral import CrossScalePenalty, haar_dwt, reverse_gradient, spectral_mask, truncate
from ..spectral.interscale import rms_normalized  # the penalty's own normalisation, for the same value
from . import interleaved, machine_header, threads

_HAAR = 0.5 * torch.tensor([[[1, 1], [1, 1]], [[1, -1], [1, -1]], [[1, 1], [-1, -1]], [[1, -1], [-1, 1]]])


def haar_conv(x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Haar DWT as a depthwise stride-2 convolution: (B, C, H, W) → (B, 4C, H/2, W/2), channel 4c + k."""
    channels = x.shape[1]
    if weight is None:
        weight = haar_filters(channels, dtype=x.dtype, device=x.device)
    return F.conv2d(x, weight, stride=2, groups=channels)


def haar_filters(channels: int, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The four 2×2 Haar filters repeated per channel, (4C, 1, 2, 2)."""
    return _HAAR.to(dtype=dtype, device=device).repeat(channels, 1, 1)[:, None].contiguous()


def _shape(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


def _rows(timings, ours: str) -> list[list[str]]:
    base = timings[ours].median
    return [
        [label, _ms(t.median), _ms(min(t.seconds)), f"{t.median / base:.2f}"] for label, t in timings.items()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m laserlab.bench spectral", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--batch", default="16,3", help="B,C of the image batch (default 16,3)")
    parser.add_argument("--sizes", default="64,256", help="image sides for truncate (default 64,256)")
    parser.add_argument("--tau", type=float, default=0.5)
    parser.add_argument(
        "--dwt-latents",
        nargs="+",
        default=["16,64,32,32", "16,192,16,16"],
        help="B,C,H,W latent shapes for the Haar DWT (default 16,64,32,32 16,192,16,16)",
    )
    parser.add_argument(
        "--penalty-latent",
        default="16,64,16,16",
        help="B,C,H,W of the finer latent for the penalty; the coarser one has C channels at H/2×W/2",
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--clock", choices=("cpu", "wall"), help="default: cpu with 1 thread on CPU, else wall"
    )
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    clock = args.clock or ("cpu" if args.threads == 1 and device.type == "cpu" else "wall")

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    print(machine_header(clock, args.threads))
    with threads(args.threads):
        _bench_truncate(args, device, clock, sync)
        _bench_dwt(args, device, clock, sync)
        _bench_penalty(args, device, clock, sync)
    return 0


def _bench_truncate(args, device: torch.device, clock: str, sync) -> None:
    import scipy.fft

    batch, channels = _shape(args.batch)
    generator = torch.Generator().manual_seed(0)
    rows, speedups = [], []
    for size in _shape(args.sizes):
        images = torch.rand(batch, channels, size, size, generator=generator).to(device)
        mask = spectral_mask(size, size, args.tau, dtype=torch.float64).numpy().astype(np.float32)

        def ours(images=images):
            with torch.no_grad():
                out = truncate(images, args.tau)
            sync()
            return out

        def reference(images=images, mask=mask):
            spectrum = scipy.fft.dctn(
                images.cpu().numpy(), type=2, norm="ortho", axes=(-2, -1), workers=args.threads
            )
            out = scipy.fft.idctn(spectrum * mask, type=2, norm="ortho", axes=(-2, -1), workers=args.threads)
            out = torch.from_numpy(out).to(device)
            sync()
            return out

        difference = float((ours() - reference()).abs().max())
        timings = interleaved(
            {"laserlab truncate": ours, "scipy dctn/idctn (+ torch↔numpy)": reference},
            rounds=args.rounds,
            clock=clock,
        )
        for row in _rows(timings, "laserlab truncate"):
            rows.append([f"{size}×{size}  {row[0]}", *row[1:], f"{difference:.1e}"])
        speedups.append(
            (size, timings["scipy dctn/idctn (+ torch↔numpy)"].median / timings["laserlab truncate"].median)
        )
    print()
    print(f"# (a) truncate, batch {batch}×{channels}, τ = {args.tau:g}, float32, {device}")
    print(table(rows, ["candidate", "median ms", "min ms", "× laserlab", "max |diff|"]))
    for size, ratio in speedups:
        print(f"speed-up of truncate over the scipy reference at {size}×{size}: {ratio:.2f}×")


def _bench_dwt(args, device: torch.device, clock: str, sync) -> None:
    generator = torch.Generator().manual_seed(1)
    rows = []
    for text in args.dwt_latents:
        shape = _shape(text)
        x = torch.randn(shape, generator=generator).to(device)
        weight = haar_filters(shape[1], dtype=x.dtype, device=device)
        grad_out = torch.randn(shape[0], 4 * shape[1], shape[2] // 2, shape[3] // 2, generator=generator).to(
            device
        )

        def forward(function, x=x):
            def run():
                with torch.no_grad():
                    out = function(x)
                sync()
                return out

            return run

        def forward_backward(function, x=x, grad_out=grad_out):
            def run():
                leaf = x.detach().requires_grad_(True)
                function(leaf).backward(grad_out)
                sync()
                return leaf.grad

            return run

        def conv(z, weight=weight):
            return haar_conv(z, weight)

        difference = max(
            float((forward(haar_dwt)() - forward(conv)()).abs().max()),
            float((forward_backward(haar_dwt)() - forward_backward(conv)()).abs().max()),
        )
        timings = interleaved(
            {
                "laserlab haar_dwt forward": forward(haar_dwt),
                "depthwise conv forward": forward(conv),
                "laserlab haar_dwt forward+backward": forward_backward(haar_dwt),
                "depthwise conv forward+backward": forward_backward(conv),
            },
            rounds=args.rounds,
            clock=clock,
        )
        label = "×".join(str(n) for n in shape)
        for what in ("forward", "forward+backward"):
            pair = {name: timings[name] for name in (f"laserlab haar_dwt {what}", f"depthwise conv {what}")}
            for row in _rows(pair, f"laserlab haar_dwt {what}"):
                rows.append([f"{label}  {row[0]}", *row[1:], f"{difference:.1e}"])
    print()
    print(
        f"# (b) Haar DWT on latents (B, C, H, W), float32, {device}; anchor: four fixed 2×2 stride-2 filters"
    )
    print(table(rows, ["candidate", "median ms", "min ms", "× laserlab", "max |diff|"]))


def _conv_penalty(penalty: CrossScalePenalty, latents, weights) -> torch.Tensor:
    """The same penalty (same predictors, gradient reversal, normalisation) with the conv Haar."""
    total = latents[0].new_zeros(())
    pairs = zip(penalty.predictors, latents[:-1], latents[1:], weights, strict=True)
    for predictor, fine, coarse, weight in pairs:
        fine, coarse = (reverse_gradient(z, penalty.delta) for z in (fine, coarse))
        if penalty.normalize:
            fine, coarse = rms_normalized(fine), rms_normalized(coarse)
        total = total + F.mse_loss(predictor(haar_conv(fine, weight)), coarse)
    return total


def _bench_penalty(args, device: torch.device, clock: str, sync) -> None:
    batch, channels, height, width = _shape(args.penalty_latent)
    generator = torch.Generator().manual_seed(2)
    fine = torch.randn(batch, channels, height, width, generator=generator).to(device)
    coarse = torch.randn(batch, channels, height // 2, width // 2, generator=generator).to(device)
    torch.manual_seed(0)
    penalty = CrossScalePenalty([channels, channels]).to(device)
    weights = [haar_filters(channels, dtype=fine.dtype, device=device)]

    def forward_backward(function):
        def run():
            latents = [z.detach().requires_grad_(True) for z in (fine, coarse)]
            penalty.zero_grad(set_to_none=True)
            value = function(latents)
            value.backward()
            sync()
            return value.detach()

        return run

    ours = forward_backward(penalty)
    reference = forward_backward(lambda latents: _conv_penalty(penalty, latents, weights))
    difference = abs(float(ours()) - float(reference()))
    timings = interleaved(
        {"laserlab CrossScalePenalty": ours, "same with the conv Haar": reference},
        rounds=args.rounds,
        clock=clock,
    )
    print()
    print(
        f"# (c) CrossScalePenalty forward+backward, latents {batch}×{channels}×{height}×{width} + "
        f"{batch}×{channels}×{height // 2}×{width // 2}, normalize=True, float32, {device}"
    )
    rows = [[*row, f"{difference:.1e}"] for row in _rows(timings, "laserlab CrossScalePenalty")]
    print(table(rows, ["candidate", "median ms", "min ms", "× laserlab", "|value diff|"]))
