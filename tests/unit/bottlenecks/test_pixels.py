import math

import pytest
import torch

from laserlab.bottlenecks import VectorQuantizer
from laserlab.bottlenecks.patches import to_tokens
from laserlab.bottlenecks.pixels import from_patch_latent, patch_latent, sparse_code_images
from laserlab.sparse import matching_pursuit, omp


@pytest.mark.parametrize("patch_size", [1, 2, 3, 4])
def test_patch_latent_round_trip_and_token_layout(patch_size):
    images = torch.rand(2, 3, 10, 7, generator=torch.Generator().manual_seed(0))
    latent = patch_latent(images, patch_size)
    rows, cols = math.ceil(10 / patch_size), math.ceil(7 / patch_size)
    assert latent.shape == (2, 3 * patch_size**2, rows, cols)
    torch.testing.assert_close(
        latent.permute(0, 2, 3, 1).reshape(-1, latent.shape[1]), to_tokens(images, patch_size)
    )
    torch.testing.assert_close(from_patch_latent(latent, patch_size, images.shape), images, rtol=0, atol=0)


def test_a_vector_quantizer_on_the_patch_latent_codes_patches():
    images = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    vq = VectorQuantizer(5, 12)
    indices = vq.encode(patch_latent(images, 2))
    assert indices.shape == (1, 4, 4)
    decoded = from_patch_latent(vq.decode(indices), 2, images.shape)
    torch.testing.assert_close(to_tokens(decoded, 2), vq.codebook[indices.flatten()])


@pytest.mark.parametrize("solver", ["omp", "mp"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sparse_code_images_matches_the_coders(solver, dtype):
    g = torch.Generator().manual_seed(2)
    images = torch.rand(2, 3, 6, 5, generator=g, dtype=dtype)
    dictionary = torch.nn.functional.normalize(torch.randn(16, 12, generator=g, dtype=dtype), dim=1)
    coded = sparse_code_images(images, dictionary, patch_size=2, sparsity=3, solver=solver, value_bits=24)
    code = {"omp": omp, "mp": matching_pursuit}[solver](to_tokens(images, 2), dictionary, sparsity=3)
    assert coded.code.shape == images.shape and coded.code.patch_size == 2 and coded.code.grid == (2, 3, 3)
    torch.testing.assert_close(coded.code.sparse.indices, code.indices)
    tokens = to_tokens(coded.reconstruction, 2)
    assert coded.reconstruction.shape == images.shape
    # padded patches are cropped: compare the tokens fully inside the image
    inside = torch.ones(2, 3, 3, dtype=torch.bool)
    inside[:, :, 2] = False
    atol = 1e-5 if dtype == torch.float32 else 1e-6
    torch.testing.assert_close(
        tokens[inside.flatten()], code.reconstruct(dictionary)[inside.flatten()], atol=atol, rtol=0
    )
    rate = math.log2(math.comb(16, 3)) + 3 * 24
    assert coded.bits_per_token == pytest.approx(rate)
    assert coded.bits_per_pixel == pytest.approx(rate * 9 / 30)


def test_sparse_code_images_validation():
    images = torch.rand(1, 3, 4, 4)
    dictionary = torch.nn.functional.normalize(torch.randn(8, 12), dim=1)
    with pytest.raises(ValueError, match=r"dictionary must have shape \(K, C·p²\) = \(K, 48\)"):
        sparse_code_images(images, dictionary, patch_size=4, sparsity=2)
    with pytest.raises(ValueError, match="solver must be one of"):
        sparse_code_images(images, dictionary, patch_size=2, sparsity=2, solver="lasso")
    with pytest.raises(ValueError, match="sparsity must be at most the number of atoms K = 8"):
        sparse_code_images(images, dictionary, patch_size=2, sparsity=9)
    with pytest.raises(ValueError, match=r"value_bits must be an int in \[1, 24\]"):
        sparse_code_images(images, dictionary, patch_size=2, sparsity=2, value_bits=0)
