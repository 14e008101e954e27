"""Keeping non-gradient state identical across ``torch.distributed`` ranks.

DDP all-reduces gradients only. Anything a bottleneck changes itself — EMA codebooks, online or K-SVD
dictionaries, usage counters, k-means initialisation, dead-entry replacement — drifts apart per rank unless
it is synchronised (and DDP's ``broadcast_buffers`` would silently keep only rank 0's version). The rules:

- sufficient statistics (counts, sums, Gram-like accumulators) are summed over ranks with
  :func:`all_reduce_sum_` *before* they are used, so every rank applies the same update to the same state;
- data-driven choices (k-means init, replacement candidates) are made from :func:`all_gather_rows` of every
  rank's rows, with a :func:`shared_generator` whose seed comes from rank 0, so every rank draws the same;
- a result whose arithmetic may differ by rounding between ranks (scatter-adds with atomics on a GPU) is
  copied from rank 0 with :func:`broadcast_`.

Every helper is a no-op (or the identity) when ``torch.distributed`` is not initialised, so single-process
code calls them unconditionally. All ranks must call them in the same order with tensors of the same shape
and dtype (rows of :func:`all_gather_rows` may differ in number).
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True when ``torch.distributed`` is available and a default process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def _coalesced(tensors: tuple[torch.Tensor, ...], collective) -> None:
    """Run ``collective`` on one flat buffer per (dtype, device) group and copy the results back in place."""
    groups: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.dtype, t.device), []).append(t)
    for group in groups.values():
        flat = torch.cat([t.reshape(-1) for t in group])
        collective(flat)
        offset = 0
        for t in group:
            t.copy_(flat[offset : offset + t.numel()].view_as(t))
            offset += t.numel()


def all_reduce_sum_(*tensors: torch.Tensor) -> None:
    """Replace each tensor, in place, by its sum over all ranks (one collective per dtype and device)."""
    if is_distributed() and world_size() > 1 and tensors:
        _coalesced(tensors, lambda flat: dist.all_reduce(flat, op=dist.ReduceOp.SUM))


def all_reduce_mean_(*tensors: torch.Tensor) -> None:
    """Replace each floating-point tensor, in place, by its mean over all ranks."""
    for t in tensors:
        if not t.is_floating_point():
            raise TypeError(f"all_reduce_mean_ needs floating-point tensors; got {t.dtype}")
    all_reduce_sum_(*tensors)
    if world_size() > 1:
        for t in tensors:
            t.div_(world_size())


def broadcast_(*tensors: torch.Tensor, src: int = 0) -> None:
    """Overwrite each tensor, in place, with rank ``src``'s values."""
    if is_distributed() and world_size() > 1 and tensors:
        _coalesced(tensors, lambda flat: dist.broadcast(flat, src=src))


def all_gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's ``x`` (N_r, ...) along dim 0 in rank order; N_r may differ between ranks.

    Returns ``x`` itself when not distributed. The trailing shape and dtype must agree across ranks.
    """
    if not is_distributed() or world_size() == 1:
        return x
    n = world_size()
    sizes = torch.zeros(n, dtype=torch.long, device=x.device)
    sizes[rank()] = x.shape[0]
    all_reduce_sum_(sizes)
    counts = sizes.tolist()
    padded = x.new_zeros((max(counts), *x.shape[1:]))
    padded[: x.shape[0]] = x
    gathered = x.new_empty((n * padded.shape[0], *x.shape[1:]))
    dist.all_gather_into_tensor(gathered, padded)
    gathered = gathered.view(n, *padded.shape)
    return torch.cat([gathered[r, : counts[r]] for r in range(n)])


def shared_generator(seed: int, *, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator seeded identically on every rank, with rank 0's ``seed`` (so ranks cannot disagree)."""
    value = torch.tensor([seed], dtype=torch.long)
    if is_distributed() and world_size() > 1:
        # the seed travels on the backend's device (NCCL needs CUDA tensors)
        carrier = value.to(_collective_device())
        broadcast_(carrier)
        value = carrier.cpu()
    generator = torch.Generator(device=device)
    generator.manual_seed(int(value.item()))
    return generator


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
