"""``python -m laserlab.bench codecs``: encode/decode speed of every codec, and rANS entropy-coder throughput.

Images: the bundled sample photographs (default astronaut, chelsea and coffee at their original sizes,
0.64 megapixels in all). Each available codec is built at a typical setting (``--quality`` for the Pillow
codecs, ``--factor`` for the thumbnail); one call encodes (or decodes) every image once, and the table
gives the median milliseconds per megapixel over rounds, with the rate (bpp, mean over images) and PSNR of
that setting for context. Codecs this install lacks are listed with the reason.

Learned codec: a mean-scale hyperprior (``--learned-channels`` N M, default 64 96) trained for
``--learned-steps`` Adam steps (default 100; 0 keeps the random initialisation) on 64² crops of the
training photographs (λ = 0.013, batch 8, lr 1e-3, gradient norm clipped at 1), coded by
:class:`laserlab.codecs.LearnedCodec` (padding to multiples of 64, CompressAI's rANS). Its rate and PSNR
are those of a barely trained model; the timings are what the table is for (transforms and entropy coding
on one thread).

Entropy coder (:mod:`laserlab.codecs.entropy`): ``--symbols`` symbols drawn from a Zipf prior
(p_k ∝ (k + 1)^−1.3) and a uniform prior over each alphabet of ``--alphabets``; one call encodes (or
decodes) the whole stream. Throughput in millions of symbols per second and in MB/s of raw symbols
(log2 K bits each), and the coded size against the model's estimate −Σ log2 p (the rANS gap).

CPU time by default: multi-threaded encoders (libavif) are charged for every thread they use.
"""

from __future__ import annotations

import argparse
import math

import torch

from ..report import table
from . import interleaved, machine_header, threads


def _images(sources: list[str], short_side: int | None) -> list[torch.Tensor]:
    from ..data.samples import load_source

    return [load_source(name, short_side=short_side) for name in sources]


def _codec_settings(name: str, *, quality: int, factor: int) -> dict[str, object]:
    from ..codecs import options

    known = options(name)
    settings: dict[str, object] = {}
    if "quality" in known:
        settings["quality"] = quality
    if "factor" in known:
        settings["factor"] = factor
    return settings


def _learned_codec(channels: list[int], steps: int):
    """A mean-scale hyperprior trained ``steps`` steps (see the module docstring) as a LearnedCodec."""
    from ..codecs import LearnedCodec
    from ..data import dataset
    from ..models import MeanScaleHyperprior
    from ..train import RateDistortionLoss

    torch.manual_seed(0)
    model = MeanScaleHyperprior(N=channels[0], M=channels[1])
    if steps:
        crops = torch.stack(list(dataset("samples", split="train", image_size=64, crops_per_image=8)))
        loss = RateDistortionLoss(lmbda=0.013)
        main = torch.optim.Adam(model.main_parameters(), lr=1e-3)
        aux = torch.optim.Adam(model.aux_parameters(), lr=1e-3)
        generator = torch.Generator().manual_seed(0)
        for _ in range(steps):
            batch = crops[torch.randint(len(crops), (8,), generator=generator)]
            total = loss(model(batch), batch).mean() + model.aux_loss()
            main.zero_grad()
            aux.zero_grad()
            total.backward()
            torch.nn.utils.clip_grad_norm_(model.main_parameters(), 1.0)  # CompressAI's clipping
            main.step()
            aux.step()
    return LearnedCodec(model)


def _codec_rows(
    images, *, quality: int, factor: int, learned: tuple[list[int], int], rounds: int, clock: str
) -> list[list[str]]:
    from .. import codecs
    from ..perceptual import psnr

    megapixels = sum(image.shape[1] * image.shape[2] for image in images) / 1e6
    built, unavailable, files = {}, {}, {}
    for status in codecs.available():
        if not status.available:
            unavailable[status.name] = status.reason
            continue
        built[status.name] = codecs.build(
            status.name, **_codec_settings(status.name, quality=quality, factor=factor)
        )
    channels, steps = learned
    label = f"mean_scale_hyperprior(N={channels[0]}, M={channels[1]}, {steps} steps)"
    built[label] = _learned_codec(channels, steps)
    for name, codec in built.items():
        files[name] = [codec.encode(image) for image in images]

    candidates = {}
    for name, codec in built.items():
        candidates[f"{name} encode"] = lambda codec=codec: [codec.encode(image) for image in images]
        candidates[f"{name} decode"] = lambda codec=codec, data=files[name]: [codec.decode(d) for d in data]
    timings = interleaved(candidates, rounds=rounds, clock=clock)

    rows = []
    for name, codec in built.items():
        bpp = sum(8 * len(d) / (i.shape[1] * i.shape[2]) for d, i in zip(files[name], images, strict=True))
        quality_db = [
            float(psnr(codec.decode(d)[None], i[None])[0]) for d, i in zip(files[name], images, strict=True)
        ]
        encode, decode = timings[f"{name} encode"], timings[f"{name} decode"]
        rows.append(
            [
                name if name == label else codec.label,
                f"{bpp / len(images):.3f}",
                f"{sum(quality_db) / len(quality_db):.2f}",
                f"{encode.median * 1e3 / megapixels:.1f}",
                f"{decode.median * 1e3 / megapixels:.1f}",
                f"{encode.spread[0] * 1e3 / megapixels:.1f}–{encode.spread[1] * 1e3 / megapixels:.1f}",
            ]
        )
    rows += [[name, "unavailable", reason, "", "", ""] for name, reason in unavailable.items()]
    return rows


def _entropy_rows(alphabets: list[int], count: int, *, rounds: int, clock: str) -> list[list[str]]:
    from ..codecs import entropy
    from ..codecs.entropy import CategoricalPrior

    rows = []
    generator = torch.Generator().manual_seed(0)
    for size in alphabets:
        zipf = 1.0 / torch.arange(1, size + 1, dtype=torch.float64) ** 1.3
        priors = {
            "zipf": CategoricalPrior(zipf / zipf.sum()),
            "uniform": CategoricalPrior(torch.full((size,), 1.0 / size, dtype=torch.float64)),
        }
        for kind, prior in priors.items():
            symbols = torch.multinomial(prior.probabilities, count, replacement=True, generator=generator)
            data = entropy.encode(symbols, prior)
            if not torch.equal(entropy.decode(data, prior, count), symbols):
                raise AssertionError(f"rANS round trip failed for K={size} ({kind})")
            timings = interleaved(
                {
                    "encode": lambda symbols=symbols, prior=prior: entropy.encode(symbols, prior),
                    "decode": lambda data=data, prior=prior: entropy.decode(data, prior, count),
                },
                rounds=rounds,
                clock=clock,
            )
            estimate = entropy.estimate_bits(symbols, prior)
            raw_megabytes = count * math.log2(size) / 8 / 1e6 if size > 1 else 0.0
            actual = 8 * len(data)
            rows.append(
                [
                    f"K={size} {kind}",
                    f"{estimate / count:.3f}",
                    f"{actual / count:.3f}",
                    f"{actual - estimate:+.0f} ({(actual - estimate) / max(estimate, 1) * 100:+.3f} %)",
                    f"{count / timings['encode'].median / 1e6:.2f}",
                    f"{count / timings['decode'].median / 1e6:.2f}",
                    f"{raw_megabytes / timings['encode'].median:.2f}",
                    f"{raw_megabytes / timings['decode'].median:.2f}",
                ]
            )
    return rows


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int; got {text}")
    return value


def _nonnegative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative int; got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m laserlab.bench codecs", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--sources", nargs="+", default=["astronaut", "chelsea", "coffee"])
    parser.add_argument(
        "--short-side", type=_positive, default=None, help="resize photographs (default: original size)"
    )
    parser.add_argument("--quality", type=int, default=75, help="Pillow codecs' quality (default 75)")
    parser.add_argument("--factor", type=_positive, default=8, help="thumbnail factor (default 8)")
    parser.add_argument(
        "--learned-channels",
        type=_positive,
        nargs=2,
        default=[64, 96],
        metavar=("N", "M"),
        help="mean-scale hyperprior channels (default 64 96)",
    )
    parser.add_argument(
        "--learned-steps", type=_nonnegative, default=100, help="its training steps (default 100; 0: random)"
    )
    parser.add_argument("--symbols", type=_positive, default=100_000, help="symbols per stream (default 1e5)")
    parser.add_argument("--alphabets", type=_positive, nargs="+", default=[16, 256, 4096])
    parser.add_argument("--rounds", type=_positive, default=5)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = parser.parse_args(argv)

    print(machine_header(args.clock, 1))
    with threads(1):
        images = _images(args.sources, args.short_side)
        sizes = ", ".join(
            f"{name} {i.shape[1]}×{i.shape[2]}" for name, i in zip(args.sources, images, strict=True)
        )
        print(f"# image codecs on {sizes}; ms per megapixel, one call codes every image once")
        rows = _codec_rows(
            images,
            quality=args.quality,
            factor=args.factor,
            learned=(args.learned_channels, args.learned_steps),
            rounds=args.rounds,
            clock=args.clock,
        )
        print(table(rows, ["codec", "bpp", "PSNR dB", "encode ms/MP", "decode ms/MP", "encode min–max"]))
        print(f"# rANS (compressai) on {args.symbols} symbols per stream; gap = coded bits − estimate")
        rows = _entropy_rows(args.alphabets, args.symbols, rounds=args.rounds, clock=args.clock)
        header = ["prior", "estimate b/sym", "coded b/sym", "gap bits", "enc Msym/s", "dec Msym/s",
                  "enc MB/s", "dec MB/s"]  # fmt: skip
        print(table(rows, header))
    print("# MB/s counts raw symbols at log2 K bits each")
    return 0
