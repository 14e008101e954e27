"""``python -m laserlab.bench lpips``: LPIPS forward time against the ``lpips`` package, same weights.

For each net, the reference ``lpips.LPIPS(net, pnet_rand=True)`` and ours share one random backbone (copied
with :meth:`~laserlab.perceptual.lpips.LPIPS.load_lpips_state_dict`) and the published heads; both get the
same batch in [0, 1] (the reference with ``normalize=True``, its own [0, 1] path). Reports the median
time per call, the ratio ours / reference (goal ≤ 1.1) and the largest difference of the distances.
``--backward`` times forward + backward to the input images instead (the training-loss use) and compares
the input gradients.
"""

from __future__ import annotations

import argparse
import warnings
from importlib import metadata

import torch

from ..report import table
from . import interleaved, machine_header, threads

NETS = ("alex", "vgg", "squeeze")


def _candidates(net: str, *, batch: int, size: int, device: torch.device, backward: bool):
    import lpips

    from ..perceptual.lpips import LPIPS

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's `pretrained=` deprecation; our substitution notice
        reference = lpips.LPIPS(net=net, pnet_rand=True, verbose=False).eval().to(device)
        ours = LPIPS(net, weights=None).to(device)
    ours.load_lpips_state_dict(reference.state_dict())
    g = torch.Generator().manual_seed(1)
    a = torch.rand(batch, 3, size, size, generator=g).to(device)
    b = torch.rand(batch, 3, size, size, generator=g).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def timed(call):
        if not backward:

            def forward():
                with torch.no_grad():
                    out = call(a, b)
                sync()
                return out

            return forward

        def forward_backward():
            x = a.detach().requires_grad_(True)
            call(x, b).sum().backward()
            sync()
            return x.grad

        return forward_backward

    candidates = {
        f"lpips {metadata.version('lpips')}": timed(lambda x, y: reference(x, y, normalize=True).reshape(-1)),
        "laserlab": timed(ours),
    }
    outputs = [fn() for fn in candidates.values()]
    difference = float((outputs[0] - outputs[1]).abs().max())
    return candidates, difference


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m laserlab.bench lpips", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--nets", nargs="+", choices=NETS, default=list(NETS))
    parser.add_argument("--batch", type=int, default=8, help="image pairs per call (default 8)")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (default 64, BAPPS)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--clock", choices=("cpu", "wall"), default=None, help="default: cpu, wall on CUDA")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--backward", action="store_true", help="time forward + backward to the input")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    clock = args.clock or ("wall" if device.type == "cuda" else "cpu")
    mode = "forward + backward" if args.backward else "forward"
    print(machine_header(clock, args.threads))
    print(f"# LPIPS v0.1 {mode}, {args.batch} pairs of {args.size}×{args.size} on {device}")
    rows = []
    with threads(args.threads):
        for net in args.nets:
            candidates, difference = _candidates(
                net, batch=args.batch, size=args.size, device=device, backward=args.backward
            )
            timings = interleaved(candidates, rounds=args.rounds, clock=clock, items=args.batch)
            reference, ours = (timings[label] for label in candidates)
            rows.append(
                [
                    net,
                    f"{reference.median * 1e3:.2f}",
                    f"{ours.median * 1e3:.2f}",
                    f"{ours.median / reference.median:.3f}",
                    f"{ours.spread[0] * 1e3:.2f}–{ours.spread[1] * 1e3:.2f}",
                    f"{difference:.1e}",
                ]
            )
    reference_label = next(iter(candidates))
    print(
        table(
            rows,
            ["net", f"{reference_label} ms", "laserlab ms", "ratio", "laserlab min–max ms", "max |Δ|"],
        )
    )
    compared = "input gradients" if args.backward else "distances"
    print(f"# ratio = laserlab / lpips median (goal ≤ 1.1); max |Δ| = largest difference of the {compared}")
    return 0
