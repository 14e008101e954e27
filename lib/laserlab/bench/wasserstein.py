"""``python -m laserlab.bench wasserstein``: Wasserstein Distortion forward and forward+backward.

Times :func:`laserlab.perceptual.wasserstein.wasserstein_distortion` (one depthwise convolution per level
blurs a, b, a² and b² together) against a reference-style port in the same run: the CoDeX layout, where
``lowpass`` blurs each channel as its own single-channel image (``conv(x[:, None], kernel (1, 1, 3, 3))``)
and a, b, a², b² are blurred separately. Both use the same custom gradients; the run first checks that
they agree. The JAX reference's own timings are printed as anchors: CoDeX's ``wasserstein_distortion`` on
C = 64, 256×256, L = 5, float32, a 0…5 sigma ramp passed as a jit argument, jax 0.4.38 on a 2-core x86_64
machine (AMD EPYC) shared with other load (load average 3.3–5.9, so upper bounds), wall clock: medians of
15 timed calls after 4 warm-up calls, in three separate runs.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from ..perceptual.wasserstein import lower_limit, lowpass, safe_sqrt, wasserstein_distortion
from ..perceptual.wasserstein.pyramid import binomial_kernel
from ..report import table
from . import interleaved, machine_header, threads

# JAX reference on C=64, 256×256, L=5, jit, float32: the medians (s) of three runs (see the docstring).
JAX_FORWARD = (1.85, 2.94, 3.09)
JAX_VALUE_AND_GRAD = (3.12, 3.25, 4.77)


def _reference_lowpass(x: torch.Tensor, stride: int) -> torch.Tensor:
    """CoDeX's lowpass on (N, H, W): every plane a single-channel image, XLA 'SAME' zero padding."""
    taps = torch.tensor([0.25, 0.5, 0.25], dtype=x.dtype, device=x.device)
    kernel = torch.outer(taps, taps)[None, None]
    pads = []
    for n in (x.shape[-1], x.shape[-2]):
        total = max((-(-n // stride) - 1) * stride + 3 - n, 0)
        pads += [total // 2, total - total // 2]
    return F.conv2d(F.pad(x[:, None], pads), kernel, stride=stride)[:, 0]


def reference_style_distortion(
    features_a: torch.Tensor, features_b: torch.Tensor, log2_sigma: torch.Tensor, *, num_levels: int = 5
) -> torch.Tensor:
    """Line-by-line CoDeX structure for (C, H, W) features: separate statistics pyramids for a and b."""

    def stats(features):
        squared, means, variances = features.square(), [], []
        for _ in range(num_levels):
            m, p = _reference_lowpass(features, 1), _reference_lowpass(squared, 1)
            means.append(m)
            variances.append(p - m.square())
            features, squared = m[..., ::2, ::2], p[..., ::2, ::2]
        return means, variances

    means_a, variances_a = stats(features_a)
    means_b, variances_b = stats(features_b)
    wd_maps = [(features_a - features_b).square()]
    for ma, mb, va, vb in zip(means_a, means_b, variances_a, variances_b, strict=True):
        sa = safe_sqrt(lower_limit(va, 0.0), 1e6)
        sb = safe_sqrt(lower_limit(vb, 0.0), 1e6)
        wd_maps.append((ma - mb).square() + (sa - sb).square())
    dist = features_a.new_zeros(())
    for i, wd_map in enumerate(wd_maps):
        weight = torch.relu(1 - (log2_sigma - i).abs())
        dist = dist + (weight * wd_map).mean()
        if i > 0:
            log2_sigma = _reference_lowpass(log2_sigma[None], 2)[0]
    return dist


def _seconds(values: tuple[float, ...]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m laserlab.bench wasserstein", description=__doc__)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, default=256, help="height and width")
    parser.add_argument("--levels", type=int, default=5)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    dtype, device = getattr(torch, args.dtype), torch.device(args.device)
    clock = "wall" if device.type == "cuda" else args.clock

    generator = torch.Generator().manual_seed(0)
    shape = (args.channels, args.size, args.size)
    features_a = torch.randn(shape, generator=generator, dtype=dtype).to(device)
    features_b = torch.randn(shape, generator=generator, dtype=dtype).to(device)
    ramp = torch.linspace(0, args.levels, args.size, dtype=dtype, device=device)
    log2_sigma = ramp.expand(args.size, args.size).contiguous()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def forward(function):
        def run():
            with torch.no_grad():
                function(features_a, features_b, log2_sigma, num_levels=args.levels)
            sync()

        return run

    def forward_backward(function):
        def run():
            b = features_b.detach().requires_grad_(True)
            function(features_a, b, log2_sigma, num_levels=args.levels).backward()
            sync()

        return run

    kernel = binomial_kernel(args.channels, dtype=dtype, device=device)
    planes = features_a[None]
    planes_last = planes.contiguous(memory_format=torch.channels_last)

    def blur(function):
        def run():
            with torch.no_grad():
                function()
            sync()

        return run

    with threads(args.threads):
        blurs = interleaved(
            {
                "single-channel convs": blur(lambda: _reference_lowpass(features_a, 1)),
                "depthwise": blur(lambda: F.conv2d(planes, kernel, padding=1, groups=args.channels)),
                "depthwise, channels-last": blur(
                    lambda: F.conv2d(planes_last, kernel, padding=1, groups=args.channels)
                ),
                "laserlab lowpass": blur(lambda: lowpass(features_a, 1)),
            },
            rounds=args.rounds,
            clock=clock,
        )
        ours = wasserstein_distortion(features_a, features_b, log2_sigma, num_levels=args.levels)
        reference = reference_style_distortion(features_a, features_b, log2_sigma, num_levels=args.levels)
        agreement = abs(ours.item() - reference.item()) / abs(reference.item())
        timings = interleaved(
            {
                "laserlab forward": forward(wasserstein_distortion),
                "reference-style forward": forward(reference_style_distortion),
                "laserlab forward+backward": forward_backward(wasserstein_distortion),
                "reference-style forward+backward": forward_backward(reference_style_distortion),
            },
            rounds=args.rounds,
            clock=clock,
        )

    print(machine_header(clock, args.threads))
    print(
        f"# wasserstein_distortion, C={args.channels}, {args.size}×{args.size}, L={args.levels}, "
        f"{args.dtype}, {device}, log2_sigma a 0…{args.levels} ramp, gradient w.r.t. features_b"
    )
    print(f"# agreement with the reference-style port: relative difference {agreement:.1e}")
    anchor_config = (args.channels, args.size, args.levels, args.dtype) == (64, 256, 5, "float32")
    rows = []
    for what, anchor in (("forward", JAX_FORWARD), ("forward+backward", JAX_VALUE_AND_GRAD)):
        ours_t, ref_t = timings[f"laserlab {what}"], timings[f"reference-style {what}"]
        rows.append([f"laserlab {what}", f"{ours_t.median:.3f}", f"{min(ours_t.seconds):.3f}", "1.00", "—"])
        rows.append(
            [
                f"reference-style {what}",
                f"{ref_t.median:.3f}",
                f"{min(ref_t.seconds):.3f}",
                f"{ref_t.median / ours_t.median:.2f}",
                "—",
            ]
        )
        if not anchor_config:
            continue
        jax_median = sorted(anchor)[1]
        rows.append(
            [
                f"JAX reference {what} (anchor)",
                _seconds(anchor),
                "—",
                f"{jax_median / ours_t.median:.2f}",
                "2 cores, wall, loaded",
            ]
        )
    print(table(rows, ["candidate", "median s", "min s", "× laserlab", "note"]))
    print()
    print(f"# one 3×3 blur of a {args.channels}×{args.size}×{args.size} tensor (the part the layout decides)")
    fastest = blurs["depthwise, channels-last"].median
    print(
        table(
            [
                [label, f"{t.median * 1e3:.1f}", f"{min(t.seconds) * 1e3:.1f}", f"{t.median / fastest:.1f}"]
                for label, t in blurs.items()
            ],
            ["blur", "median ms", "min ms", "× channels-last"],
        )
    )
    if dtype == torch.float32 and device.type == "cpu":
        print("(laserlab lowpass on a (C, H, W) tensor converts it to channels-last first; inside the")
        print(" distortion the features are converted once and every level stays channels-last.)")
    print()
    for what in ("forward", "forward+backward"):
        ratio = timings[f"reference-style {what}"].median / timings[f"laserlab {what}"].median
        print(f"speed-up over the reference-style port, {what}: {ratio:.1f}× (goal ≥ 5×)")
    if anchor_config:
        print("JAX anchor rows: the ratio uses the middle of the three anchor medians; for a like-for-like")
        print("comparison with the anchor's 2-core wall-clock figures, run with --threads 2 --clock wall.")
    return 0
