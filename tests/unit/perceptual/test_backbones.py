import hashlib
import urllib.error

import pytest
import torch
import torchvision

from laserlab import usage
from laserlab.perceptual import backbones
from laserlab.perceptual.backbones import SPECS, WeightsUnavailableError, backbone


@pytest.fixture(autouse=True)
def isolated_weight_folders(tmp_path, monkeypatch):
    monkeypatch.delenv("LASERLAB_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    usage.clear()


def _offline(*args, **kwargs):
    raise urllib.error.URLError("[Errno -2] Name or service not known")


@pytest.mark.parametrize("name", sorted(SPECS))
def test_taps_have_the_documented_channels_and_sizes(name):
    net = backbone(name, weights=None)
    with torch.no_grad():
        taps = net(torch.rand(2, 3, 64, 64))
    assert [t.shape[1] for t in taps] == list(SPECS[name].channels)
    assert len(net.tap_names) == len(taps)
    expected = {
        "vgg16": [64, 32, 16, 8, 4],
        "alexnet": [15, 7, 3, 3, 3],
        "squeezenet1_1": [31, 15, 7, 3, 3, 3, 3],
    }
    assert [t.shape[-1] for t in taps] == expected[name]
    assert not net.training


@pytest.mark.parametrize("name", sorted(SPECS))
def test_minimum_input_size_is_exact(name):
    net = backbone(name, weights=None)
    with torch.no_grad():
        net(torch.rand(1, 3, net.min_size, net.min_size + 5))
        with pytest.raises(ValueError, match=f"at least {net.min_size}"):
            net(torch.rand(1, 3, net.min_size - 1, 64))
        x = torch.rand(1, 3, net.min_size - 1, net.min_size - 1)
        with pytest.raises(RuntimeError):  # one pixel less really fails inside torch
            for module in net.features:
                x = module(x)


def test_taps_equal_torchvision_features_with_the_same_weights(tmp_path):
    reference = torchvision.models.alexnet(weights=None).eval()
    path = tmp_path / "alexnet-mine.pth"
    torch.save(reference.state_dict(), path)
    net = backbone("alexnet", weights=path)
    x = torch.rand(2, 3, 67, 80)
    with torch.no_grad():
        taps = net(x)
        expected = reference.features[:5](x)  # relu2 is index 4
    assert torch.equal(taps[1], expected)
    assert usage.records()[-1].source == str(path) and not usage.records()[-1].substituted


def test_vgg_average_pooling_replaces_every_max_pool():
    net = backbone("vgg16", weights=None, pooling="avg")
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in net.features)
    assert sum(isinstance(m, torch.nn.AvgPool2d) for m in net.features) == 4
    with pytest.raises(ValueError, match="vgg16 only"):
        backbone("alexnet", weights=None, pooling="avg")


def test_random_weights_are_recorded_as_substituted():
    with pytest.warns(usage.SubstitutionWarning, match="SUBSTITUTED weights for vgg16 backbone"):
        backbone("vgg16", weights=None)
    assert usage.records()[-1].substituted


def test_offline_imagenet_error_names_file_and_folders(monkeypatch, tmp_path):
    monkeypatch.setenv("LASERLAB_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _offline)
    with pytest.raises(WeightsUnavailableError) as info:
        backbone("squeezenet1_1")
    message = str(info.value)
    assert "squeezenet1_1-b8a52dc0.pth" in message
    assert str(tmp_path / "weights") in message and str(tmp_path / "hub" / "checkpoints") in message
    assert "weights=None" in message


def test_weights_dir_comes_first_and_is_hash_checked(monkeypatch, tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setenv("LASERLAB_WEIGHTS_DIR", str(folder))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _offline)
    state = torchvision.models.squeezenet1_1(weights=None).state_dict()
    torch.save(state, folder / SPECS["squeezenet1_1"].file)
    with pytest.raises(WeightsUnavailableError, match="does not start with b8a52dc0"):
        backbone("squeezenet1_1")  # our file is not torchvision's release
    monkeypatch.setattr(backbones, "_check_hash", lambda path: None)
    net = backbone("squeezenet1_1")
    assert torch.equal(net.features[0].weight, state["features.0.weight"])
    assert net.weights_source == str(folder / SPECS["squeezenet1_1"].file)


def test_hash_check_accepts_the_matching_prefix(tmp_path):
    payload = b"weights"
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    good = tmp_path / f"net-{prefix}.pth"
    good.write_bytes(payload)
    backbones._check_hash(good)
    bad = tmp_path / "net-00000000.pth"
    bad.write_bytes(payload)
    with pytest.raises(WeightsUnavailableError):
        backbones._check_hash(bad)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="backbone name must be one of"):
        backbone("resnet50", weights=None)
    with pytest.raises(ValueError, match="pooling must be"):
        backbone("vgg16", weights=None, pooling="min")
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        backbone("vgg16", weights=tmp_path / "missing.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), wrong)
    with pytest.raises(ValueError, match="not a torchvision vgg16 state dict"):
        backbone("vgg16", weights=wrong)
    with pytest.raises(ValueError, match=r"shape \(B, 3, H, W\)"):
        backbone("alexnet", weights=None)(torch.rand(1, 1, 64, 64))
