import math

import pytest
import torch

from laserlab.bottlenecks import VectorQuantizer
from laserlab.models import Autoencoder, HierarchicalAutoencoder, build_model

VQ = {"name": "vq", "num_codes": 16}
SMALL = dict(latent_dim=8, width=16, num_residual_blocks=1, residual_width=8)


@pytest.mark.parametrize("downsample", [1, 2, 4])
def test_autoencoder_shapes_range_and_rate(downsample):
    model = build_model("autoencoder", bottleneck=VQ, downsample=downsample, **SMALL)
    images = torch.rand(2, 3, 16, 16)
    out = model(images)
    assert out.reconstruction.shape == images.shape
    assert float(out.reconstruction.detach().min()) >= 0 and float(out.reconstruction.detach().max()) <= 1
    assert out.latent.shape == (2, 8, 16 // downsample, 16 // downsample)
    # log2(16) = 4 bits per latent position
    assert out.bits_per_pixel == pytest.approx(4 * (16 // downsample) ** 2 / 256)
    out.reconstruction.sum().backward()
    assert model.encoder.layers[0].weight.grad is not None  # straight-through reaches the encoder


def test_hierarchical_latents_differ_by_exactly_two_and_both_levels_get_gradients():
    model = HierarchicalAutoencoder(VQ, downsample=2, **SMALL)
    out = model(torch.rand(2, 3, 32, 32))
    fine, coarse = out.latents
    assert fine.shape == (2, 8, 16, 16) and coarse.shape == (2, 8, 8, 8)
    assert [q.shape for q in out.quantized] == [fine.shape, coarse.shape]
    assert out.bits_per_pixel == pytest.approx(4 * (16 * 16 + 8 * 8) / (32 * 32))
    (out.reconstruction.mean() + out.bottleneck_loss).backward()
    assert model.coarse_encoder.layers[0].weight.grad.abs().sum() > 0
    assert model.fine_projection.weight.grad.abs().sum() > 0


def test_float64_model():
    model = Autoencoder(VQ, downsample=2, **SMALL).double()
    out = model(torch.rand(1, 3, 8, 8, dtype=torch.float64))
    assert out.reconstruction.dtype == torch.float64


def test_bad_input_names_the_argument():
    model = Autoencoder(VQ, downsample=4, **SMALL)
    with pytest.raises(ValueError, match=r"images must have values in \[0, 1\]"):
        model(torch.rand(1, 3, 16, 16) * 2)
    with pytest.raises(ValueError, match="multiples of 4"):
        model(torch.rand(1, 3, 18, 16))
    with pytest.raises(ValueError, match="power of two"):
        Autoencoder(VQ, downsample=3)
    with pytest.raises(ValueError, match=r"bottleneck\.dim must equal the latent channels 8"):
        Autoencoder(VectorQuantizer(16, 4), **SMALL)


def test_build_model_errors_list_valid_names():
    with pytest.raises(
        ValueError,
        match=r"model name must be one of \['autoencoder', 'factorized_prior', 'hierarchical', "
        r"'hierarchical_vae', 'mean_scale_hyperprior'\]; got 'vae'",
    ):
        build_model("vae", bottleneck=VQ)
    with pytest.raises(
        ValueError, match=r"model 'autoencoder' has no option\(s\) \['depth'\]; valid options: \['bottleneck'"
    ):
        build_model("autoencoder", bottleneck=VQ, depth=3)
    with pytest.raises(ValueError, match=r"model 'autoencoder' needs option\(s\) \['bottleneck'\]"):
        build_model("autoencoder")
    with pytest.raises(ValueError, match="bottleneck name must be one of"):
        build_model("autoencoder", bottleneck={"name": "nope"})


def test_a_model_is_registered_in_one_line():
    from laserlab.models import MODELS

    assert MODELS["hierarchical"] is HierarchicalAutoencoder and "autoencoder" in MODELS
    assert MODELS.names() == [
        "autoencoder",
        "factorized_prior",
        "hierarchical",
        "hierarchical_vae",
        "mean_scale_hyperprior",
    ]


def test_dictionary_bottleneck_rate_counts_patch_tokens():
    spec = {"name": "dictionary", "num_atoms": 16, "sparsity": 2, "patch_size": 2, "value_bits": 4}
    model = build_model("autoencoder", bottleneck=spec, downsample=2, **SMALL)
    out = model(torch.rand(2, 3, 16, 16))
    assert out.latent.shape == (2, 8, 8, 8)
    # 4×4 patch tokens per image, each log2 C(16, 2) support bits + 2 coefficients of 4 bits
    bits = math.log2(math.comb(16, 2)) + 2 * 4
    assert out.bits_per_pixel == pytest.approx(bits * 16 / 256)
    with pytest.raises(ValueError, match="multiples of 4"):
        model(torch.rand(1, 3, 18, 18))


DICTIONARY = {"name": "dictionary", "num_atoms": 16, "sparsity": 2, "patch_size": 2, "value_bits": 5}


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("autoencoder", {"bottleneck": VQ}),
        ("autoencoder", {"bottleneck": DICTIONARY}),
        ("hierarchical", {"bottleneck": DICTIONARY, "coarse_bottleneck": VQ}),
    ],
    ids=["vq", "dictionary", "hierarchical"],
)
def test_decode_of_encode_is_the_eval_forward(name, options):
    model = build_model(name, downsample=2, **options, **SMALL).eval()
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    codes = model.encode(images)
    assert len(codes) == len(model.bottleneck_modules)
    torch.testing.assert_close(model.decode(codes), model(images).reconstruction, rtol=0, atol=1e-6)
    shapes = model.latent_shapes(16, 16)
    assert [tuple(latent.shape[1:]) for latent in model(images).latents] == shapes
    with pytest.raises(ValueError, match=f"codes must hold {len(codes)} level"):
        model.decode(codes + codes)
    with pytest.raises(TypeError, match="codes must be a list"):
        model.decode(codes[0])
