"""The top-down hierarchical VAE codec (``hierarchical_vae``).

Oracles: the Gaussian-conditional likelihood written out from the normal CDF (Φ((ŷ−μ+½)/σ) −
Φ((ŷ−μ−½)/σ), σ bounded below by 0.11, likelihood by 1e-9) on the means and scales the prior networks
produce; rounding around the mean; the closed form of the bit estimate; the model's ``decompress``, which
must equal the eval-mode reconstruction; and the latent pyramid the cross-scale penalty requires."""

import math

import pytest
import torch

from laserlab.models import (
    MODELS,
    CodecOutput,
    CompressedImages,
    HierarchicalVAE,
    LearnedCodecModel,
    build_model,
)
from laserlab.spectral import cross_scale_redundancy
from laserlab.spectral.interscale import check_latent_pyramid

SMALL = {"N": 16, "M": 8}
# CompressAI's lower bound on the scales, 0.11, stored in a float32 buffer before any .double()
SCALE_BOUND = float(torch.tensor(0.11, dtype=torch.float32))


def images(batch: int = 2, size: int = 32, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0), dtype=dtype)


def model(seed: int = 0, **options) -> HierarchicalVAE:
    """A fresh model whose posterior outputs are scaled up 100×: at initialisation the latents lie within
    ±½ of the prior's mean and would all round to it; a trained model's span several integers."""
    torch.manual_seed(seed)
    net = build_model("hierarchical_vae", **{**SMALL, **options})
    with torch.no_grad():
        for posterior in net.posteriors:
            posterior[-1].weight.mul_(100)
    return net


class Taps:
    """Forward hooks recording, per level, the prior's (scales, means) and the quantised latent ŷ
    injected into the decoder state."""

    def __init__(self, net: HierarchicalVAE):
        self.priors: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.quantized: dict[int, torch.Tensor] = {}
        self.handles = []
        for level, prior in enumerate(net.priors):
            self.handles.append(prior.register_forward_hook(self._prior(level)))
        for level, inject in enumerate(net.injects):
            self.handles.append(inject.register_forward_pre_hook(self._quantized(level)))

    def _prior(self, level):
        def hook(module, inputs, output):
            self.priors[level] = output.chunk(2, dim=1)  # (scales, means), as the model splits them

        return hook

    def _quantized(self, level):
        def hook(module, inputs):
            self.quantized[level] = inputs[0]

        return hook


@pytest.mark.parametrize(("scales", "multiple"), [(2, 8), (3, 16), (4, 32)])
def test_registered_with_scales_streams_and_size_multiple(scales, multiple):
    net = model(scales=scales)
    assert MODELS["hierarchical_vae"] is HierarchicalVAE and isinstance(net, LearnedCodecModel)
    assert net.size_multiple == multiple
    assert net.streams == tuple(f"s{level}" for level in range(scales))
    assert net.latent_channels == [8] * scales
    assert model(M=[8, 12, 16]).latent_channels == [8, 12, 16]


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("scales", [2, 3])
def test_forward_shapes_streams_and_the_bit_estimate(scales, training):
    net = model(scales=scales, M=[8, 12, 16][:scales]).train(training)
    x = images()
    out = net(x)
    assert isinstance(out, CodecOutput)
    assert out.reconstruction.shape == out.synthesis.shape == x.shape
    reconstruction = out.reconstruction.detach()
    assert float(reconstruction.min()) >= 0 and float(reconstruction.max()) <= 1
    # latents fine → coarse at 1/4, 1/8, ..., each half the previous one: what the cross-scale penalty takes
    expected = [(2, [8, 12, 16][level], 32 // 4 >> level, 32 // 4 >> level) for level in range(scales)]
    assert [tuple(z.shape) for z in out.latents] == expected
    check_latent_pyramid(out.latents, channels=net.latent_channels)
    assert list(out.likelihoods) == [f"s{level}" for level in range(scales)]
    assert [tuple(lik.shape) for lik in out.likelihoods.values()] == expected
    assert all(
        float(lik.detach().min()) > 0 and float(lik.detach().max()) <= 1 for lik in out.likelihoods.values()
    )
    bits = sum(-torch.log2(lik).flatten(1).sum(1) for lik in out.likelihoods.values())
    assert torch.allclose(out.bits_per_pixel, bits / 32**2, rtol=1e-5)
    per_stream = out.stream_bits_per_pixel()
    assert torch.allclose(sum(per_stream.values()), out.bits_per_pixel)
    assert not torch.equal(out.latents[0], out.latents[0].round())  # before quantisation


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_gaussian_likelihoods_are_the_normal_cdf_formula(training):
    """Every scale below the top: ŷ = round(y − μ) + μ in eval (y + noise in (−½, ½) in training), and its
    likelihood Φ((ŷ−μ+½)/σ) − Φ((ŷ−μ−½)/σ) with σ = max(scale, 0.11 in float32), bounded below by 1e-9 —
    written out here, in float64, from the means and scales the prior networks produce."""
    net = model(scales=3).double().train(training)
    taps = Taps(net)
    x = images(dtype=torch.float64)
    torch.manual_seed(1)
    with torch.no_grad():
        out = net(x)
    assert sorted(taps.priors) == [0, 1] and sorted(taps.quantized) == [0, 1, 2]
    for level in (0, 1):
        scales, means = taps.priors[level]
        y, y_hat = out.latents[level], taps.quantized[level]
        if training:
            assert float((y_hat - y).abs().max()) <= 0.5 and not torch.equal(y_hat, y)
        else:
            assert torch.equal(y_hat, torch.round(y - means) + means)
        sigma = scales.clamp_min(SCALE_BOUND)
        normal = torch.distributions.Normal(torch.zeros_like(sigma), sigma)
        expected = normal.cdf(y_hat - means + 0.5) - normal.cdf(y_hat - means - 0.5)
        expected = expected.clamp_min(1e-9)
        assert torch.allclose(out.likelihoods[f"s{level}"], expected, rtol=1e-9, atol=1e-12), level
        # the likelihood was computed at scales that depend on the coarser scales' ŷ, not a constant prior
        assert float(scales.std()) > 0 and float(means.std()) > 0
    if not training:  # the top scale rounds around the factorized density's medians
        medians = net.entropy_bottleneck.quantiles[:, 0, 1].view(1, -1, 1, 1)
        assert torch.equal(taps.quantized[2], torch.round(out.latents[2] - medians) + medians)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scales", [2, 3])
def test_decompress_of_compress_is_the_eval_reconstruction(scales, dtype):
    net = model(scales=scales).to(dtype).eval()
    x = images(size=64, dtype=dtype)
    assert net.update(force=True)
    with torch.no_grad():
        compressed = net.compress(x)
        decoded = net.decompress(compressed)
        reference = net(x)
    assert all(float(z.abs().max()) > 2 for z in reference.latents)  # symbols other than the mean
    reference = reference.reconstruction
    assert isinstance(compressed, CompressedImages)
    assert len(compressed.strings) == scales and all(len(stream) == 2 for stream in compressed.strings)
    assert all(isinstance(s, bytes) and len(s) > 0 for stream in compressed.strings for s in stream)
    assert compressed.shape == (64 // net.size_multiple, 64 // net.size_multiple)
    assert decoded.dtype == dtype and decoded.shape == x.shape
    assert float((decoded - reference).abs().max()) <= 1e-6


def test_the_streams_decode_only_together():
    """The finer scales are coded under means and scales predicted from the coarser ones: a stream decoded
    after another image's coarse stream gives another reconstruction (the streams are not independent)."""
    net = model().eval()
    net.update(force=True)
    x = torch.cat([images(1, 64), images(1, 64).flip(-1)])
    with torch.no_grad():
        compressed = net.compress(x)
        mixed = [[stream[0]] for stream in compressed.strings]
        mixed[-1] = [compressed.strings[-1][1]]  # the other image's top scale
        own = net.decompress(CompressedImages([[s[0]] for s in compressed.strings], compressed.shape))
        swapped = net.decompress(CompressedImages(mixed, compressed.shape))
    assert not torch.allclose(own, swapped, atol=1e-3)


@pytest.mark.parametrize("level", [0, 1, 2])
def test_every_scale_contributes_to_the_reconstruction(level):
    """Zeroing one scale's quantised latent (before it is injected into the decoder state) changes the
    eval reconstruction."""
    net = model(scales=3).eval()
    x = images()
    with torch.no_grad():
        reference = net(x).reconstruction
        handle = net.injects[level].register_forward_pre_hook(
            lambda module, inputs: (torch.zeros_like(inputs[0]),)
        )
        try:
            zeroed = net(x).reconstruction
        finally:
            handle.remove()
    assert float((zeroed - reference).abs().max()) > 1e-3


def test_an_updated_model_reloads_into_a_fresh_one():
    net = model().eval()
    net.update(force=True)
    fresh = model(seed=5).eval()
    fresh.load_state_dict(net.state_dict())  # table buffers of other sizes than a fresh model's
    x = images()
    with torch.no_grad():
        compressed = net.compress(x)
        assert torch.equal(fresh.decompress(compressed), net.decompress(compressed))


def test_aux_loss_trains_only_the_top_quantiles():
    net = model().train()
    aux = net.aux_parameters()
    assert [p is net.entropy_bottleneck.quantiles for p in aux] == [True]
    main = net.main_parameters()
    assert len(main) + 1 == len(list(net.parameters()))
    out = net(images())
    loss = out.bits_per_pixel.mean() + (out.synthesis - images()).square().mean()
    grads = torch.autograd.grad(loss, aux + main, allow_unused=True)
    assert grads[0] is None and all(g is not None for g in grads[1:])  # every main parameter is used


def test_float64_model_estimates_the_same_rate():
    net = model().eval()
    x = images()
    with torch.no_grad():
        single = net(x).bits_per_pixel
        double = net.double()(x.double()).bits_per_pixel
    assert double.dtype == torch.float64 and torch.allclose(single.double(), double, rtol=1e-4)
    assert math.isfinite(float(double.sum()))


def test_the_cross_scale_regulariser_applies_to_its_latents():
    from laserlab.train import REGULARIZERS, Objective

    net = model(scales=3, M=[8, 12, 16]).train()
    objective = Objective(
        {"rate_distortion": 1.0}, regularizers={"cross_scale": REGULARIZERS.build("cross_scale", model=net)}
    )
    x = images(4)
    terms = objective(net(x), x).terms
    assert set(terms) == {"rate_distortion", "cross_scale"} and all(torch.isfinite(t) for t in terms.values())
    penalty = objective.regularizers["cross_scale"].penalty
    assert [p.in_channels for p in penalty.predictors] == [4 * 8, 4 * 12]  # fine → coarse pairs
    # the penalty's gradient reaches the encoder (through gradient reversal)
    grads = torch.autograd.grad(terms["cross_scale"], list(net.stem.parameters()))
    assert any(float(g.abs().sum()) > 0 for g in grads)
    with torch.no_grad():
        scores = cross_scale_redundancy(net.eval()(images(8, 64)).latents)
    assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)


def test_phase1_truncated_images_train_it():
    from laserlab.spectral import truncate

    net = model().train()
    x = truncate(images(2, 32), 0.1)
    out = net(x.clamp(0, 1))
    (out.bits_per_pixel.mean() + (out.synthesis - x).square().mean()).backward()
    assert all(p.grad is not None for p in net.main_parameters())


def test_bad_inputs_are_clear_errors():
    net = model()
    with pytest.raises(ValueError, match=r"multiples of 16 for HierarchicalVAE.*got \(24, 32\)"):
        net(torch.rand(1, 3, 24, 32))
    with pytest.raises(ValueError, match=r"multiples of 8 for HierarchicalVAE"):
        model(scales=2).compress(torch.rand(1, 3, 12, 16))
    with pytest.raises(ValueError, match=r"images must have values in \[0, 1\]"):
        net(torch.rand(1, 3, 32, 32) * 2)
    with pytest.raises(ValueError, match=r"images must have 3 channels"):
        net(torch.rand(1, 4, 32, 32))
    with pytest.raises(TypeError, match=r"images must be a torch\.Tensor"):
        net.compress([[0.5]])
    with pytest.raises(ValueError, match=r"scales must be an int in \[2, 4\]; got 1"):
        HierarchicalVAE(scales=1)
    with pytest.raises(ValueError, match=r"scales must be an int in \[2, 4\]; got 5"):
        HierarchicalVAE(scales=5)
    with pytest.raises(TypeError, match=r"scales must be an int"):
        HierarchicalVAE(scales=3.0)
    with pytest.raises(ValueError, match=r"N must be an int >= 8; got 4"):
        HierarchicalVAE(N=4)
    with pytest.raises(ValueError, match=r"M must be an int >= 8; got 7"):
        HierarchicalVAE(M=7)
    with pytest.raises(
        ValueError, match=r"M must be an int or a list of 3 ints .*fine → coarse.*got \[8, 8\]"
    ):
        HierarchicalVAE(M=[8, 8])
    with pytest.raises(ValueError, match=r"M\[i\] must be an int >= 8; got 4"):
        HierarchicalVAE(scales=2, M=[8, 4])
    with pytest.raises(ValueError, match=r"model 'hierarchical_vae' has no option\(s\) \['levels'\]"):
        build_model("hierarchical_vae", levels=3)
    net.eval().update(force=True)
    compressed = net.compress(images())
    with pytest.raises(ValueError, match=r"must hold 3 stream\(s\) \['s0', 's1', 's2'\]; got 2"):
        net.decompress(CompressedImages(compressed.strings[:2], compressed.shape))
    with pytest.raises(ValueError, match="one string per image"):
        net.decompress(
            CompressedImages([*compressed.strings[:2], compressed.strings[2][:1]], compressed.shape)
        )
