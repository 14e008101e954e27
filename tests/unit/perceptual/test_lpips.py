"""LPIPS against the reference `lpips` package (offline: random backbones copied into ours)."""

import re
import urllib.error
import warnings
from functools import cache

import pytest
import torch
from torch import nn

from laserlab import usage
from laserlab.perceptual import LPIPS, LPIPSOutput
from laserlab.perceptual.backbones import WeightsUnavailableError
from laserlab.perceptual.lpips import lin_weights_file, unit_normalize

lpips = pytest.importorskip("lpips")

# Small images keep VGG-16 cheap on CPU; the non-square batch checks H ≠ W everywhere (taps, upsampling).
INPUTS = {"alex": [(4, 3, 64, 64), (2, 3, 67, 96)], "squeeze": [(4, 3, 64, 64), (2, 3, 67, 96)]}
INPUTS["vgg"] = [(3, 3, 32, 32), (2, 3, 24, 40)]


def copy_backbone(reference: nn.Module, ours: LPIPS) -> None:
    """lpips keys ``net.slice{k}.{i}.{param}`` → ours ``features.{i}.{param}`` (i: torchvision's index)."""
    mapped = {}
    for key, value in reference.state_dict().items():
        match = re.fullmatch(r"net\.slice\d+\.(\d+\.\w+(?:\.\w+)?)", key)
        if match:
            mapped[f"features.{match.group(1)}"] = value
        else:
            assert key.startswith(("scaling_layer.", "lin", "lins.")), key
    ours.backbone.load_state_dict(mapped, strict=True)


@cache
def models(net: str, version: str, spatial: bool = False, baseline: bool = False):
    """(reference lpips.LPIPS, our LPIPS) with the same random backbone; built once per test session."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's `pretrained=` deprecation, our substitution warning
        reference = lpips.LPIPS(
            net=net, version=version, pnet_rand=True, spatial=spatial, lpips=not baseline, verbose=False
        ).eval()
        ours = LPIPS(
            net, version=version, weights=None, spatial=spatial, lin="uniform" if baseline else "lpips"
        )
    copy_backbone(reference, ours)
    return reference, ours


def pair(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g), torch.rand(shape, generator=g)


# VGG-16 takes a few seconds to build twice (ours and the reference) on a 2-core CPU.
NETS = ["alex", pytest.param("vgg", marks=pytest.mark.slow), "squeeze"]


@pytest.mark.parametrize("version", ["0.1", "0.0"])
@pytest.mark.parametrize("net", NETS)
def test_totals_and_every_layer_match_the_lpips_package(net, version):
    reference, ours = models(net, version)
    for seed, shape in enumerate(INPUTS[net]):
        a, b = pair(shape, seed)
        with torch.no_grad():
            expected, expected_layers = reference(
                2 * a - 1, 2 * b - 1, retPerLayer=True
            )  # lpips wants [-1, 1]
            got = ours.compare(a, b)
            total = ours(a, b)
        assert got.layers.shape == (shape[0], len(expected_layers))
        assert torch.allclose(got.distance, expected.reshape(-1), rtol=0, atol=1e-6)
        assert torch.allclose(total, expected.reshape(-1), rtol=0, atol=1e-6)
        for k, layer in enumerate(expected_layers):
            assert torch.allclose(got.layers[:, k], layer.reshape(-1), rtol=0, atol=1e-6), (net, version, k)
        assert (got.distance > 0).all()


@pytest.mark.parametrize("net", ["alex", "squeeze"])
def test_gradients_to_the_reconstruction_match_the_package(net):
    reference, ours = models(net, "0.1")
    a, b = pair((2, 3, 64, 72), 11)
    x, y = a.clone().requires_grad_(True), a.clone().requires_grad_(True)
    reference(x, b, normalize=True).sum().backward()  # lpips' own [0, 1] path
    ours(y, b).sum().backward()
    assert torch.allclose(y.grad, x.grad, rtol=0, atol=1e-7)
    assert x.grad.abs().max() > 1e-4


@pytest.mark.parametrize("net", ["alex", "squeeze"])
def test_float64_matches_the_package_in_float64(net):
    reference, ours = models(net, "0.1")
    reference, ours = reference.double(), ours.double()
    try:
        a, b = (x.double() for x in pair((2, 3, 64, 80), 7))
        with torch.no_grad():
            expected, layers = reference(2 * a - 1, 2 * b - 1, retPerLayer=True)
            got = ours.compare(a, b)
        assert got.distance.dtype == torch.float64
        assert torch.allclose(got.distance, expected.reshape(-1), rtol=0, atol=1e-12)
        assert torch.allclose(got.layers, torch.cat(layers, 1).reshape(2, -1), rtol=0, atol=1e-12)
    finally:
        reference.float(), ours.float()


@pytest.mark.parametrize("net", ["alex", "squeeze"])
def test_spatial_maps_match_the_package(net):
    reference, ours = models(net, "0.1", spatial=True)
    a, b = pair((2, 3, 64, 80), 3)
    with torch.no_grad():
        expected, expected_layers = reference(2 * a - 1, 2 * b - 1, retPerLayer=True)
        got = ours.compare(a, b)
    assert got.maps.shape == (2, len(expected_layers), 64, 80)
    assert torch.allclose(got.maps, torch.cat(expected_layers, 1), rtol=0, atol=1e-6)
    assert torch.allclose(got.spatial_map, expected[:, 0], rtol=0, atol=1e-6)
    # The map's mean is the distance up to the upsampling's small bias.
    assert torch.allclose(got.spatial_map.mean((1, 2)), got.distance, rtol=1e-3, atol=0)


def test_uniform_heads_are_the_lpips_false_baseline():
    reference, ours = models("alex", "0.1", baseline=True)
    a, b = pair((2, 3, 64, 64), 4)
    with torch.no_grad():
        expected, layers = reference(2 * a - 1, 2 * b - 1, retPerLayer=True)
        got = ours.compare(a, b)
    assert torch.allclose(got.distance, expected.reshape(-1), rtol=1e-6, atol=1e-6)
    assert torch.allclose(got.layers, torch.cat(layers, 1).reshape(2, -1), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("version", ["0.1", "0.0"])
@pytest.mark.parametrize("net", ["alex", "squeeze"])
def test_heads_are_the_installed_packages_files(net, version):
    path = lin_weights_file(net, version)
    assert path.parts[-4:] == ("lpips", "weights", f"v{version}", f"{net}.pth")
    state = torch.load(path, map_location="cpu", weights_only=True)
    _, ours = models(net, version)
    for k, head in enumerate(ours.heads):
        assert torch.equal(head.detach(), state[f"lin{k}.model.1.weight"])
        assert (head >= 0).all()


def test_unit_normalize_puts_the_epsilon_outside_the_square_root():
    x = torch.zeros(1, 4, 1, 1)
    x[0, 0] = 3e-10
    # eps inside the sqrt would give 3e-10 / sqrt(9e-20 + 1e-10) ≈ 3e-5; outside it gives 3e-10 / 4e-10.
    assert torch.allclose(unit_normalize(x)[0, 0], torch.tensor(0.75), rtol=1e-6)
    y = torch.randn(3, 8, 5, 6)
    assert torch.allclose(unit_normalize(y).pow(2).sum(1), torch.ones(3, 5, 6), atol=1e-6)


def test_identical_images_are_at_distance_zero_and_the_distance_is_symmetric():
    _, ours = models("alex", "0.1")
    a, b = pair((3, 3, 64, 64), 5)
    with torch.no_grad():
        assert torch.equal(ours(a, a), torch.zeros(3))
        assert torch.equal(ours(a, b), ours(b, a))


def test_output_is_a_dataclass_with_named_layers():
    _, ours = models("squeeze", "0.1")
    a, b = pair((2, 3, 64, 64), 6)
    with torch.no_grad():
        out = ours.compare(a, b)
    assert isinstance(out, LPIPSOutput)
    assert out.layer_names == ("relu1", "fire3", "fire5", "fire6", "fire7", "fire8", "fire9")
    assert out.maps is None
    assert torch.allclose(out.layers.sum(1), out.distance, rtol=1e-6)
    with pytest.raises(ValueError, match="spatial=True"):
        out.spatial_map  # noqa: B018


def test_stays_frozen_and_in_eval_mode_inside_a_training_parent():
    _, metric = models("alex", "0.1")

    class Autoencoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.decoder = nn.Conv2d(3, 3, 3, padding=1)
            self.perceptual = metric

        def forward(self, x):
            reconstruction = torch.sigmoid(self.decoder(x))
            return self.perceptual(reconstruction, x).mean()

    model = Autoencoder().train()
    assert model.training and model.decoder.training
    assert not metric.training and not metric.dropout.training
    x = pair((2, 3, 64, 64), 8)[0]
    first, second = model(x), model(x)
    assert torch.equal(first, second)  # no dropout noise
    first.backward()
    assert model.decoder.weight.grad is not None and model.decoder.weight.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in metric.parameters())


def test_unfreeze_hands_the_heads_to_training_and_freeze_takes_them_back():
    model = LPIPS("alex", weights=None, lin=None)
    model.unfreeze()
    assert all(h.requires_grad for h in model.heads)
    assert not any(p.requires_grad for p in model.backbone.parameters())
    model.train()
    assert model.training and model.dropout.training
    a, b = pair((2, 3, 64, 64), 9)
    torch.manual_seed(0)
    noisy = model(a, b)
    assert not torch.equal(noisy, model(a, b))  # dropout is on
    model.unfreeze(backbone=True)
    assert all(p.requires_grad for p in model.backbone.parameters())
    model.freeze()
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    model.train()
    assert not model.training


def test_lin_state_dict_round_trips_through_a_file_and_the_lpips_package(tmp_path):
    model = LPIPS("squeeze", weights=None, lin=None)
    model.clamp_heads_()
    assert all((h >= 0).all() for h in model.heads)
    path = tmp_path / "heads.pth"
    torch.save(model.lin_state_dict(), path)
    again = LPIPS("squeeze", weights=None, lin=path)
    assert all(torch.equal(a, b) for a, b in zip(model.heads, again.heads, strict=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        upstream = lpips.LPIPS(net="squeeze", pnet_rand=True, model_path=str(path), verbose=False)
    for k, head in enumerate(model.heads):
        assert torch.equal(upstream.state_dict()[f"lin{k}.model.1.weight"], head.detach())


def test_lpips_checkpoints_load_with_an_explicit_key_mapping():
    reference, ours = models("squeeze", "0.1")
    state = {k: v.clone() for k, v in reference.state_dict().items()}
    state["lin2.model.1.weight"] = torch.rand_like(state["lin2.model.1.weight"])  # as after training
    model = LPIPS("squeeze", weights=None, lin="uniform")
    model.load_lpips_state_dict(state)
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            model.backbone.state_dict().values(), ours.backbone.state_dict().values(), strict=True
        )
    )
    assert torch.equal(model.heads[2].detach(), state["lin2.model.1.weight"])
    assert torch.equal(model.heads[0].detach(), ours.heads[0].detach())
    # Saved without dropout the heads sit at model.0: mapped too.
    state = {k.replace("model.1", "model.0"): v for k, v in state.items() if not k.startswith("lins.")}
    model.load_lpips_state_dict(state)
    del state["net.slice3.6.expand3x3.bias"]
    state["net.slice9.99.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"missing \['features.6.expand3x3.bias'\].*'features.99.weight'"):
        model.load_lpips_state_dict(state)


def test_a_head_file_with_the_dropout_free_keys_is_rejected_not_silently_ignored(tmp_path):
    # lpips built with use_dropout=False names its convs lin{k}.model.0.weight; upstream's strict=False
    # load then leaves the heads random. We refuse.
    path = tmp_path / "wrong.pth"
    torch.save(
        {f"lin{k}.model.0.weight": torch.ones(1, c, 1, 1) for k, c in enumerate((64, 192, 384, 256, 256))},
        path,
    )
    with pytest.raises(ValueError, match=r"exactly the keys \['lin0.model.1.weight'"):
        LPIPS("alex", weights=None, lin=path)
    torch.save({f"lin{k}.model.1.weight": torch.ones(1, 3, 1, 1) for k in range(5)}, path)
    with pytest.raises(ValueError, match=r"lin0.model.1.weight must have shape \(1, 64, 1, 1\)"):
        LPIPS("alex", weights=None, lin=path)


def test_usage_records_say_what_the_heads_are():
    usage.clear()
    LPIPS("alex", weights=None, lin=None)
    heads = [r for r in usage.records() if "linear heads" in r.name]
    assert heads[-1].substituted and "random" in heads[-1].source
    LPIPS("alex", weights=None)
    heads = [r for r in usage.records() if "linear heads" in r.name]
    assert not heads[-1].substituted and heads[-1].source.endswith("v0.1/alex.pth")


# ------------------------------------------------------------------------------------------------
# Bad input


@pytest.fixture
def metric():
    return models("alex", "0.1")[1]


def test_wrong_channel_count(metric):
    with pytest.raises(ValueError, match=r"reconstruction must have 3 channels"):
        metric(torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64))


def test_mismatched_shapes(metric):
    with pytest.raises(ValueError, match=r"same shape; got \(1, 3, 64, 64\) and \(1, 3, 64, 72\)"):
        metric(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 72))


def test_too_small_for_the_backbone(metric):
    size = metric.min_size
    metric(torch.rand(1, 3, size, size), torch.rand(1, 3, size, size))
    with pytest.raises(ValueError, match=rf"at least {size}×{size} pixels for LPIPS-alex"):
        metric(torch.rand(1, 3, size - 1, 64), torch.rand(1, 3, size - 1, 64))


def test_values_outside_zero_one_name_the_convention(metric):
    signed = torch.rand(1, 3, 64, 64) * 2 - 1  # the lpips package's [-1, 1] convention
    with pytest.raises(ValueError, match=r"target must have values in \[0, 1\] .*floats in \[0, 1\]"):
        metric(torch.rand(1, 3, 64, 64), signed)


def test_wrong_types(metric):
    with pytest.raises(TypeError, match="reconstruction must have a floating-point dtype"):
        metric(torch.zeros(1, 3, 64, 64, dtype=torch.uint8), torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(TypeError, match=r"float64 on cpu but this LPIPS module is torch\.float32"):
        metric(torch.rand(1, 3, 64, 64, dtype=torch.float64), torch.rand(1, 3, 64, 64, dtype=torch.float64))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"net": "resnet"}, r"net must be one of \['alex', 'squeeze', 'vgg'\]; got 'resnet'"),
        ({"net": "alex", "version": "0.2"}, r"version must be one of \['0.1', '0.0'\]"),
        ({"net": "alex", "version": 0.1}, r"version must be one of .*got 0.1"),
        ({"net": "alex", "dropout": 1.0}, r"dropout must be a probability"),
    ],
)
def test_unknown_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LPIPS(**kwargs, weights=None)


def test_missing_weights_offline_name_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("LASERLAB_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsUnavailableError, match=r"alexnet-owt-7be5be79\.pth.*weights=None"):
        LPIPS("alex")
    with pytest.raises(WeightsUnavailableError, match=r"lin must be .*does not exist"):
        LPIPS("alex", weights=None, lin=tmp_path / "missing.pth")


def test_heads_without_the_lpips_package_say_how_to_get_them(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(WeightsUnavailableError, match=r"lpips/weights/v0.1/alex.pth.*pip install lpips"):
        LPIPS("alex", weights=None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    _, ours = models("alex", "0.1")
    a, b = pair((2, 3, 64, 64), 10)
    with torch.no_grad():
        expected = ours(a, b)
        got = ours.to("cuda")(a.cuda(), b.cuda()).cpu()
    ours.to("cpu")
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-6)
