"""Learned codecs from checkpoints: real rANS files in the laserlab container, decodable from the
checkpoint alone, with rates close to the likelihood estimate and clear errors for bad files."""

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from laserlab import codecs
from laserlab.codecs import CHECKPOINT_CODECS, CheckpointFamily, LearnedCodec, container, from_checkpoint
from laserlab.codecs.checkpoint import load_trained_model
from laserlab.data.samples import load_source
from laserlab.models import FactorizedPrior, HierarchicalVAE, MeanScaleHyperprior

LIB = str(Path(__file__).parents[3] / "lib")


@pytest.fixture(scope="module")
def codec(hyperprior_checkpoint):
    return from_checkpoint(hyperprior_checkpoint)


@pytest.fixture(scope="module")
def photo():
    """A held-out photograph whose sides (100 × 150) are not multiples of 64."""
    return load_source("chelsea", short_side=100)


def own_reconstruction(codec, image):
    """The model's own decompress(compress(x)) of the padded image, cropped: what a file must decode to."""
    with torch.no_grad():
        decoded = codec.model.decompress(codec.model.compress(codec._padded(image)))
    return decoded[0, :, : image.shape[1], : image.shape[2]]


def test_from_checkpoint_builds_the_trained_model(codec, hyperprior_checkpoint):
    assert isinstance(codec, LearnedCodec) and isinstance(codec.model, MeanScaleHyperprior)
    assert codec.settings == {"checkpoint": str(hyperprior_checkpoint)}
    assert codec.label == f"learned(checkpoint={str(hyperprior_checkpoint)!r})"
    assert codec.size_multiple == 64 and not codec.model.training
    trained = load_trained_model(hyperprior_checkpoint)
    state = torch.load(hyperprior_checkpoint, weights_only=True)["state_dict"]
    weights = trained.model.state_dict()
    assert all(torch.equal(weights[key], state[f"model.{key}"]) for key in weights if "quantiles" in key)
    assert trained.config["model"] == {"name": "mean_scale_hyperprior", "N": 16, "M": 16}


@pytest.mark.parametrize("size", [(100, 150), (64, 64), (1, 1), (65, 3)])
def test_any_size_round_trips_with_the_exact_rate(codec, size):
    image = load_source("coffee", short_side=max(size))[:, : size[0], : size[1]]
    data = codec.encode(image)
    decoded = codec.decode(data)
    assert decoded.shape == image.shape and decoded.dtype == torch.float32
    assert float(decoded.min()) >= 0 and float(decoded.max()) <= 1
    assert torch.allclose(decoded, own_reconstruction(codec, image), atol=1e-6)
    point = codecs.evaluate(codec, [image], metrics=["psnr"])
    assert point.bpp == 8 * len(data) / (size[0] * size[1])  # the original pixels, not the padded ones
    assert data[:2] == container.MAGIC and data[3] == container.KINDS["learned"]


@pytest.mark.parametrize("name", ["hyperprior", "factorized", "hierarchical"])
def test_the_file_is_within_2_percent_and_64_bytes_of_the_estimate(name, request):
    codec = from_checkpoint(request.getfixturevalue(f"{name}_checkpoint"))
    for source in ("chelsea", "coffee", "flower"):
        image = load_source(source, short_side=128)
        data = codec.encode(image)
        estimate = codec.estimated_bits(image)
        assert list(estimate) == list(codec.model.streams)
        total = sum(estimate.values())
        assert abs(8 * len(data) - total) <= 0.02 * total + 8 * 64, (source, 8 * len(data), estimate)


@pytest.mark.parametrize("size", [(100, 150), (1, 1), (65, 3)])
def test_a_hierarchical_vae_checkpoint_round_trips_any_size(hierarchical_checkpoint, size):
    codec = from_checkpoint(hierarchical_checkpoint)
    assert isinstance(codec.model, HierarchicalVAE) and codec.size_multiple == 16
    image = load_source("coffee", short_side=max(size))[:, : size[0], : size[1]]
    data = codec.encode(image)
    decoded = codec.decode(data)
    assert decoded.shape == image.shape
    assert torch.allclose(decoded, own_reconstruction(codec, image), atol=1e-6)
    _, payload = container.unpack(data, kind="learned", model=codec.model_id, decoder="test")
    with torch.no_grad():
        streams = [stream[0] for stream in codec.model.compress(codec._padded(image)).strings]
    assert len(streams) == 3  # s0 (finest), s1, s2 (coarsest), after the lengths of the first two
    assert payload == b"".join([*(struct.pack("<I", len(s)) for s in streams[:2]), *streams])


def test_the_estimate_is_the_eval_forward_rate_of_the_padded_image(codec, photo):
    estimate = codec.estimated_bits(photo)
    with torch.no_grad():
        output = codec.model(codec._padded(photo))
    assert sum(estimate.values()) == pytest.approx(float(output.bits_per_pixel[0]) * 128 * 192, rel=1e-5)


def test_the_payload_is_the_models_streams(codec, photo):
    data = codec.encode(photo)
    _, payload = container.unpack(data, kind="learned", model=codec.model_id, decoder="test")
    with torch.no_grad():
        y, z = (stream[0] for stream in codec.model.compress(codec._padded(photo)).strings)
    assert payload == struct.pack("<I", len(y)) + y + z


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[:-5], "truncated laserlab file"),
        (lambda data: data[:10], "truncated laserlab file"),
        (lambda data: b"", r"empty file \(0 bytes\)"),
        (lambda data: data[:30] + bytes([data[30] ^ 4]) + data[31:], "CRC32 mismatch"),
        (lambda data: data[:-1] + bytes([data[-1] ^ 1]), "CRC32 mismatch"),
    ],
    ids=["truncated", "header-only", "empty", "bit-flip-in-stream", "bit-flip-in-crc"],
)
def test_damaged_files_are_clear_errors(codec, photo, damage, message):
    with pytest.raises(ValueError, match=message):
        codec.decode(damage(codec.encode(photo)))


def test_files_of_other_models_and_codecs_are_refused(codec, photo, factorized_checkpoint):
    other = LearnedCodec(MeanScaleHyperprior(N=16, M=16))  # same architecture, other weights
    assert other.model_id != codec.model_id
    with pytest.raises(ValueError, match="written by another model or with other settings"):
        codec.decode(other.encode(photo))
    with pytest.raises(ValueError, match="written by another model"):
        codec.decode(from_checkpoint(factorized_checkpoint).encode(photo))
    with pytest.raises(ValueError, match="this is a 'thumbnail' file; decoder learned"):
        codec.decode(codecs.build("thumbnail").encode(photo))
    with pytest.raises(ValueError, match="not a laserlab codec file"):
        codec.decode(codecs.build("jpeg").encode(photo))
    with pytest.raises(TypeError, match="data must be bytes"):
        codec.decode("LL")


@pytest.mark.parametrize(
    ("image", "error", "message"),
    [
        (torch.rand(3, 16), ValueError, r"one RGB image of shape \(3, H, W\)"),
        (torch.rand(4, 16, 16), ValueError, r"one RGB image of shape \(3, H, W\)"),
        (torch.rand(1, 3, 16, 16), ValueError, r"one RGB image of shape \(3, H, W\)"),
        (torch.rand(3, 16, 16) + 0.5, ValueError, r"values in \[0, 1\]"),
        (torch.full((3, 16, 16), float("nan")), ValueError, "NaN"),
        (torch.zeros(3, 16, 16, dtype=torch.uint8), TypeError, "floating-point"),
    ],
)
def test_bad_images_are_clear_errors(codec, image, error, message):
    with pytest.raises(error, match=message):
        codec.encode(image)
    with pytest.raises(error, match=message):
        codec.estimated_bits(image)


def test_a_codec_keeps_its_own_copy_of_the_model():
    model = FactorizedPrior(N=8, M=8)
    codec = LearnedCodec(model)
    assert codec.settings == {"model": "FactorizedPrior", "model_id": f"{codec.model_id:#010x}"}
    image = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    data = codec.encode(image)
    before = codec.decode(data)
    with torch.no_grad():
        model.net.g_s[0].weight.mul_(2)  # training the original further
    assert torch.equal(codec.decode(data), before)
    assert LearnedCodec(model).model_id != codec.model_id
    assert model.training  # the caller's model is left in its mode
    with pytest.raises(TypeError, match="model must be a laserlab LearnedCodecModel"):
        LearnedCodec(torch.nn.Conv2d(3, 3, 1))


def test_checkpoint_errors_name_the_file(tmp_path, hyperprior_checkpoint, monkeypatch):
    with pytest.raises(ValueError, match=r"checkpoint '.*missing\.ckpt' does not exist"):
        from_checkpoint(tmp_path / "missing.ckpt")
    data = Path(hyperprior_checkpoint).read_bytes()
    damaged = {
        "truncated": data[: len(data) // 2],
        "bit-flip": data[:-4000] + bytes([data[-4000] ^ 1]) + data[-3999:],
        "not-a-checkpoint": b"hello",
    }
    for name, content in damaged.items():
        path = tmp_path / f"{name}.ckpt"
        path.write_bytes(content)
        with pytest.raises(ValueError, match=rf"checkpoint '.*{name}\.ckpt' is truncated or corrupt"):
            from_checkpoint(path)
    checkpoint = torch.load(hyperprior_checkpoint, weights_only=True)
    no_config = tmp_path / "no-config.ckpt"
    torch.save({"state_dict": checkpoint["state_dict"]}, no_config)
    with pytest.raises(ValueError, match="holds no laserlab training config"):
        from_checkpoint(no_config)
    wrong = tmp_path / "wrong.ckpt"
    config = {**checkpoint["hyper_parameters"]["config"]}
    config["model"] = {**config["model"], "M": 24}
    torch.save({**checkpoint, "hyper_parameters": {"config": config}}, wrong)
    with pytest.raises(ValueError, match=r"weights do not fit the model its config describes"):
        from_checkpoint(wrong)
    monkeypatch.setattr("laserlab.codecs.checkpoint.CHECKPOINT_CODECS", type(CHECKPOINT_CODECS)("family"))
    with pytest.raises(ValueError, match=r"holds a 'mean_scale_hyperprior' model .* which no codec family"):
        from_checkpoint(hyperprior_checkpoint)


def test_a_family_is_one_registration(hyperprior_checkpoint, monkeypatch):
    families = type(CHECKPOINT_CODECS)("family")
    monkeypatch.setattr("laserlab.codecs.checkpoint.CHECKPOINT_CODECS", families)
    seen = []

    def codec(trained):
        seen.append(trained)
        return codecs.build("mean_colour")

    families.register("colour", CheckpointFamily((MeanScaleHyperprior,), codec))
    assert from_checkpoint(hyperprior_checkpoint).name == "mean_colour"
    assert seen[0].path == Path(hyperprior_checkpoint) and "state_dict" in seen[0].checkpoint
    assert "learned" in CHECKPOINT_CODECS


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hyperprior", "hierarchical"])
def test_a_file_decodes_in_a_new_process_from_the_checkpoint_alone(name, photo, tmp_path, request):
    checkpoint = request.getfixturevalue(f"{name}_checkpoint")
    codec = from_checkpoint(checkpoint)
    data = codec.encode(photo)
    (tmp_path / "photo.ll").write_bytes(data)
    script = (
        "import sys, torch\n"
        "from laserlab.codecs import from_checkpoint\n"
        "codec = from_checkpoint(sys.argv[1])\n"
        "torch.save(codec.decode(open(sys.argv[2], 'rb').read()), sys.argv[3])\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([LIB, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(checkpoint),
            str(tmp_path / "photo.ll"),
            str(tmp_path / "out.pt"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    decoded = torch.load(tmp_path / "out.pt")
    assert decoded.shape == photo.shape
    assert float((decoded - own_reconstruction(codec, photo)).abs().max()) <= 1e-6
    assert json.dumps(codec.settings)  # settings stay JSON-ready for metrics.json
