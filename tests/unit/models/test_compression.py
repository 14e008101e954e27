"""Learned codec models: CompressAI's factorized prior and mean-scale hyperprior behind laserlab's interface.

Oracles: CompressAI's own ``forward`` (same weights, same noise), the closed form of the bit estimate,
and the model's ``decompress`` (which must equal the eval-mode reconstruction: both decode the same
rounded latents)."""

import math

import pytest
import torch

from laserlab.models import (
    MODELS,
    CodecOutput,
    CompressedImages,
    FactorizedPrior,
    LearnedCodecModel,
    MeanScaleHyperprior,
    build_model,
)

SMALL = {"N": 8, "M": 12}
KINDS = [
    ("factorized_prior", FactorizedPrior, 16, ("y",)),
    ("mean_scale_hyperprior", MeanScaleHyperprior, 64, ("y", "z")),
]


def images(batch: int = 2, size: int = 64) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(("name", "cls", "multiple", "streams"), KINDS)
def test_registered_with_their_size_multiple_and_streams(name, cls, multiple, streams):
    model = build_model(name, **SMALL)
    assert MODELS[name] is cls and isinstance(model, LearnedCodecModel)
    assert model.size_multiple == multiple and model.streams == streams and model.latent_channels == [12]
    assert type(model.net).__module__.startswith("compressai")


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(("name", "cls", "multiple", "streams"), KINDS)
def test_forward_is_compressais_forward_with_laserlab_fields(name, cls, multiple, streams, training):
    model = build_model(name, **SMALL).train(training)
    x = images()
    torch.manual_seed(1)  # the same uniform noise for both calls in training mode
    out = model(x)
    torch.manual_seed(1)
    reference = model.net(x)
    assert isinstance(out, CodecOutput)
    assert torch.equal(out.synthesis, reference["x_hat"])
    assert torch.equal(out.reconstruction, reference["x_hat"].clamp(0, 1))
    assert list(out.likelihoods) == list(streams)
    for key in streams:
        assert torch.equal(out.likelihoods[key], reference["likelihoods"][key])
    # the estimate in closed form: −Σ log2 likelihood / (H·W), per image
    expected = sum(-torch.log2(lik).flatten(1).sum(1) for lik in reference["likelihoods"].values()) / 64**2
    assert torch.allclose(out.bits_per_pixel, expected, rtol=1e-5)
    per_stream = out.stream_bits_per_pixel()
    assert torch.allclose(sum(per_stream.values()), out.bits_per_pixel)
    assert [latent.shape for latent in out.latents] == [(2, 12, 4, 4)]  # y at 1/16, before quantisation
    assert not torch.equal(out.latents[0], out.latents[0].round())
    if name == "mean_scale_hyperprior":
        assert out.likelihoods["z"].shape == (2, 8, 1, 1)


@pytest.mark.parametrize(("name", "cls", "multiple", "streams"), KINDS)
def test_decompress_of_compress_is_the_eval_reconstruction(name, cls, multiple, streams):
    model = build_model(name, **SMALL).eval()
    x = images(size=128)
    assert model.update(force=True)
    with torch.no_grad():
        compressed = model.compress(x)
        decoded = model.decompress(compressed)
        reference = model(x).reconstruction
    assert isinstance(compressed, CompressedImages)
    assert len(compressed.strings) == len(streams) and all(len(s) == 2 for s in compressed.strings)
    assert compressed.shape == (128 // multiple, 128 // multiple)
    assert torch.allclose(decoded, reference, atol=1e-6)


@pytest.mark.parametrize(("name", "cls", "multiple", "streams"), KINDS)
def test_an_updated_model_reloads_into_a_fresh_one(name, cls, multiple, streams):
    model = build_model(name, **SMALL).eval()
    model.update(force=True)
    fresh = build_model(name, **SMALL).eval()
    fresh.load_state_dict(model.state_dict())  # table buffers of other sizes than a fresh model's
    x = images()
    with torch.no_grad():
        compressed = model.compress(x)
        assert torch.equal(fresh.decompress(compressed), model.decompress(compressed))


def test_aux_loss_trains_only_the_quantiles_and_the_rate_never_does():
    """Why one backward of (rate–distortion + aux) serves two optimisers: each parameter set gets
    exactly its own loss's gradient."""
    model = MeanScaleHyperprior(**SMALL).train()
    aux = model.aux_parameters()
    assert [p is model.net.entropy_bottleneck.quantiles for p in aux] == [True]
    main = model.main_parameters()
    assert len(main) + len(aux) == len(list(model.parameters()))
    torch.manual_seed(0)
    out = model(images())
    rate_distortion = out.bits_per_pixel.mean() + (out.synthesis - images()).square().mean()
    grads = torch.autograd.grad(rate_distortion, aux + main, allow_unused=True)
    assert grads[0] is None and all(g is not None for g in grads[1:])
    grads = torch.autograd.grad(model.aux_loss(), aux + main, allow_unused=True)
    assert grads[0] is not None and all(g is None for g in grads[1:])


def test_bad_inputs_are_clear_errors():
    model = MeanScaleHyperprior(**SMALL)
    with pytest.raises(ValueError, match=r"multiples of 64 for MeanScaleHyperprior.*got \(48, 64\)"):
        model(torch.rand(1, 3, 48, 64))
    with pytest.raises(ValueError, match=r"multiples of 16 for FactorizedPrior"):
        FactorizedPrior(**SMALL)(torch.rand(1, 3, 24, 16))
    with pytest.raises(ValueError, match=r"images must have values in \[0, 1\]"):
        model(torch.rand(1, 3, 64, 64) * 2)
    with pytest.raises(ValueError, match=r"images must have 3 channels"):
        model(torch.rand(1, 4, 64, 64))
    with pytest.raises(TypeError, match=r"images must be a torch\.Tensor"):
        model.compress([[0.5]])
    with pytest.raises(ValueError, match=r"N must be an int >= 8; got 4"):
        MeanScaleHyperprior(N=4, M=16)
    with pytest.raises(TypeError, match=r"M must be an int"):
        FactorizedPrior(N=8, M=12.0)
    with pytest.raises(ValueError, match=r"model 'factorized_prior' has no option\(s\) \['lmbda'\]"):
        build_model("factorized_prior", lmbda=0.01)
    model.eval().update(force=True)
    compressed = model.compress(images())
    with pytest.raises(ValueError, match=r"must hold 2 stream\(s\) \['y', 'z'\]; got 1"):
        model.decompress(CompressedImages(compressed.strings[:1], compressed.shape))
    with pytest.raises(ValueError, match="one string per image"):
        model.decompress(
            CompressedImages([compressed.strings[0], compressed.strings[1][:1]], compressed.shape)
        )


def test_float64_model_estimates_the_same_rate():
    model = FactorizedPrior(**SMALL).eval()
    x = images()
    with torch.no_grad():
        single = model(x).bits_per_pixel
        double = model.double()(x.double()).bits_per_pixel
    assert double.dtype == torch.float64 and torch.allclose(single.double(), double, rtol=1e-4)
    assert math.isfinite(float(double.sum()))


class TwoScaleCodec(LearnedCodecModel):
    """A toy two-scale learned codec (latents at 1/4 and 1/8), to check that any LearnedCodecModel plugs
    into the rate–distortion loss, the cross-scale regulariser and the codec."""

    streams = ("z1", "z2")

    def __init__(self):
        super().__init__()
        from laserlab.models.compression import compressai_modules

        _, entropy_models = compressai_modules()
        self.down1, self.down2 = torch.nn.Conv2d(3, 8, 4, stride=4), torch.nn.Conv2d(8, 8, 2, stride=2)
        self.up2, self.up1 = (
            torch.nn.ConvTranspose2d(8, 8, 2, stride=2),
            torch.nn.ConvTranspose2d(16, 3, 4, stride=4),
        )
        self.fine, self.coarse = entropy_models.EntropyBottleneck(8), entropy_models.EntropyBottleneck(8)

    size_multiple = 8

    @property
    def latent_channels(self):
        return [8, 8]

    def _synthesis(self, z1, z2):
        return self.up1(torch.cat([z1, self.up2(z2)], 1))

    def forward(self, images):
        self.check_input(images)
        z1 = self.down1(images)
        z2 = self.down2(z1)
        (z1_hat, l1), (z2_hat, l2) = self.fine(z1), self.coarse(z2)
        return self._output(self._synthesis(z1_hat, z2_hat), {"z1": l1, "z2": l2}, [z1, z2])

    def compress(self, images):
        z1 = self.down1(images)
        z2 = self.down2(z1)
        return CompressedImages([self.fine.compress(z1), self.coarse.compress(z2)], tuple(z2.shape[-2:]))

    def decompress(self, compressed):
        h, w = compressed.shape
        z2 = self.coarse.decompress(compressed.strings[1], (h, w))
        z1 = self.fine.decompress(compressed.strings[0], (2 * h, 2 * w))
        return self._synthesis(z1, z2).clamp(0, 1)


def test_any_learned_codec_model_plugs_into_loss_regulariser_and_codec():
    from laserlab.codecs import LearnedCodec
    from laserlab.train import REGULARIZERS, Objective

    model = TwoScaleCodec()
    assert len(model.aux_parameters()) == 2
    x = images(size=32)
    objective = Objective(
        {"rate_distortion": 1.0}, regularizers={"cross_scale": REGULARIZERS.build("cross_scale", model=model)}
    )
    terms = objective(model(x), x).terms
    assert set(terms) == {"rate_distortion", "cross_scale"} and all(torch.isfinite(t) for t in terms.values())
    codec = LearnedCodec(model)
    image = x[0, :, :30, :27]
    data = codec.encode(image)
    with torch.no_grad():
        own = codec.model.decompress(codec.model.compress(codec._padded(image)))[0, :, :30, :27]
    assert torch.equal(codec.decode(data), own)
    assert set(codec.estimated_bits(image)) == {"z1", "z2"}
