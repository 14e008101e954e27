"""Patch tokens: exact round trips for any patch size, the fixed layout, and heatmaps for p > 1."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from laserlab.bottlenecks import from_tokens, to_tokens, token_grid, token_map


@pytest.mark.parametrize("patch_size", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("size", [(16, 24), (13, 7), (5, 5)])
def test_round_trip_is_exact_for_any_size(patch_size, size):
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    tokens = to_tokens(x, patch_size)
    batch, rows, cols = token_grid(x.shape, patch_size)
    assert (rows, cols) == (-(-size[0] // patch_size), -(-size[1] // patch_size)) and batch == 2
    assert tokens.shape == (2 * rows * cols, 3 * patch_size**2)
    assert torch.equal(from_tokens(tokens, patch_size, x.shape), x)


@pytest.mark.parametrize("patch_size", [1, 2, 4])
def test_layout_is_unfold_order_batch_major(patch_size):
    x = torch.randn(2, 3, 8, 12)
    tokens = to_tokens(x, patch_size)
    unfolded = F.unfold(x, patch_size, stride=patch_size)  # (B, C·p², L), channel-major (c, i, j)
    assert torch.equal(tokens, unfolded.transpose(1, 2).reshape(-1, 3 * patch_size**2))
    # Token n = b·(h·w) + r·w + q holds channel c, pixel (r·p + i, q·p + j) at c·p² + i·p + j.
    rows, cols = 8 // patch_size, 12 // patch_size
    b, r, q, c, i, j = 1, rows - 1, 1 % cols, 2, patch_size - 1, 0
    n = b * rows * cols + r * cols + q
    assert (
        tokens[n, c * patch_size**2 + i * patch_size + j] == x[b, c, r * patch_size + i, q * patch_size + j]
    )


def test_padding_replicates_the_edge():
    x = torch.arange(2 * 5 * 5, dtype=torch.float32).view(1, 2, 5, 5)
    tokens = to_tokens(x, 4)  # padded to 8×8
    padded = from_tokens(tokens, 4, (1, 2, 8, 8))
    assert torch.equal(padded[:, :, :5, :5], x)
    assert torch.equal(padded[:, :, 5:, :5], x[:, :, 4:5, :].expand(1, 2, 3, 5))
    assert torch.equal(padded[:, :, :, 5:], padded[:, :, :, 4:5].expand(1, 2, 8, 3))


@pytest.mark.parametrize("patch_size", [1, 2, 4, 8])
def test_token_map_paints_each_patch_with_its_token_value(patch_size):
    shape = (2, 3, 16, 24)
    batch, rows, cols = token_grid(shape, patch_size)
    values = torch.arange(batch * rows * cols)  # categorical, e.g. codeword indices
    heat = token_map(values, patch_size, shape)
    assert heat.shape == (2, 16, 24) and heat.dtype == values.dtype
    for b, y, x in [(0, 0, 0), (1, 15, 23), (1, 7, 9), (0, 8, 16)]:
        assert heat[b, y, x] == b * rows * cols + (y // patch_size) * cols + x // patch_size
    torch.testing.assert_close(token_map(values.view(batch, rows, cols), patch_size, shape), heat)
    # Round trip with the tokens: a per-token statistic lands on the pixels its token came from.
    image = torch.rand(shape)
    energy = to_tokens(image, patch_size).square().sum(1)
    painted = token_map(energy, patch_size, shape)
    patch_energy = F.avg_pool2d(image.square().sum(1, keepdim=True), patch_size) * patch_size**2
    torch.testing.assert_close(painted[:, ::patch_size, ::patch_size], patch_energy[:, 0])


def test_token_map_crops_padding():
    heat = token_map(torch.tensor([1.0, 2.0, 3.0, 4.0]), 4, (1, 1, 5, 7))
    assert heat.shape == (1, 5, 7)
    assert heat[0, 4, 6] == 4.0 and heat[0, 0, 4] == 2.0 and heat[0, 4, 0] == 3.0


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: to_tokens(torch.randn(1, 3, 8, 8), 0), ValueError, "patch_size"),
        (lambda: to_tokens(torch.randn(1, 3, 8, 8), 2.0), TypeError, "patch_size"),
        (lambda: to_tokens(torch.randn(3, 8, 8), 2), ValueError, "x must be a tensor of shape"),
        (lambda: to_tokens([[1.0]], 2), TypeError, "x must be a torch.Tensor"),
        (lambda: from_tokens([[1.0]], 2, (1, 3, 8, 8)), TypeError, "tokens must be a torch.Tensor"),
        (lambda: token_map([1.0], 4, (1, 3, 8, 8)), TypeError, "values must be a torch.Tensor"),
        (lambda: from_tokens(torch.randn(16, 10), 2, (1, 3, 8, 8)), ValueError, "tokens must have shape"),
        (lambda: from_tokens(torch.randn(16, 12), 0, (1, 3, 8, 8)), ValueError, "patch_size"),
        (lambda: token_map(torch.randn(5), 4, (1, 3, 8, 8)), ValueError, "values must have shape"),
        (lambda: token_map(torch.randn(1, 1, 4), 4, (1, 3, 8, 8)), ValueError, "values must have shape"),
        (lambda: token_grid((3, 8, 8), 2), ValueError, "shape"),
    ],
)
def test_bad_input_names_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()
