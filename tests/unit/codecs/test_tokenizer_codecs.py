"""Tokenizer codecs from training checkpoints: exact round trips, sizes against the estimate, priors from
the training set, damaged files."""

import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from laserlab import codecs, data
from laserlab.codecs import container, tokenizers
from laserlab.codecs.entropy import CategoricalPrior
from laserlab.train import fit

LIB = str(Path(__file__).parents[3] / "lib")
SMALL = {"latent_dim": 8, "width": 16, "downsample": 2, "num_residual_blocks": 1, "residual_width": 8}
VQ = {"name": "vq", "num_codes": 32, "kmeans_init": True}
DICTIONARY = {"name": "dictionary", "num_atoms": 24, "sparsity": 3, "patch_size": 2, "value_bits": 5}
MODELS = {
    "vq_vae": {"name": "autoencoder", **SMALL, "bottleneck": VQ},
    "dl_vae": {"name": "autoencoder", **SMALL, "bottleneck": DICTIONARY},
    "ksvd_vae": {
        "name": "autoencoder",
        **SMALL,
        "bottleneck": {**DICTIONARY, "update_rule": "approx_ksvd", "sparsity": 2, "value_bits": 4},
    },
    "hierarchical": {
        "name": "hierarchical",
        **SMALL,
        "bottleneck": DICTIONARY,
        "coarse_bottleneck": {**DICTIONARY, "num_atoms": 12, "sparsity": 1, "patch_size": 1, "value_bits": 3},
    },
    "hierarchical_vq": {"name": "hierarchical", **SMALL, "bottleneck": DICTIONARY, "coarse_bottleneck": VQ},
}
DATA = {"name": "samples", "image_size": 16, "batch_size": 8, "options": {"crops_per_image": 4}}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see tests/conftest.py


def train(folder: Path, model: dict) -> Path:
    config = {
        "model": model,
        "output_dir": str(folder),
        "data": DATA,
        "trainer": {"max_steps": 3, "progress_bar": False, "accelerator": "cpu", "log_every_n_steps": 1},
        "resume": False,
    }
    return fit(config).checkpoints["last"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("tokenizers")
    return {kind: train(root / kind, model) for kind, model in MODELS.items()}


@pytest.fixture(scope="module")
def test_images():
    test = data.dataset("samples", split="test", image_size=16, seed=0, crops_per_image=4)
    return [test[i] for i in range(len(test))]


@pytest.fixture(scope="module")
def photo():
    return data.samples.load_source("coffee", short_side=64)[:, :40, :52].contiguous()


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_decode_of_encode_is_the_models_own_reconstruction(kind, checkpoints, test_images):
    codec = codecs.from_checkpoint(checkpoints[kind])
    assert isinstance(codec, codecs.TokenizerCodec) and codec.settings == {
        "checkpoint": str(checkpoints[kind])
    }
    for image in test_images:
        data_ = codec.encode(image)
        assert data_ == codec.encode(image)  # deterministic
        decoded = codec.decode(data_)
        assert decoded.dtype == torch.float32 and decoded.shape == image.shape
        with torch.no_grad():
            expected = codec.model.eval()(image[None]).reconstruction[0]
        torch.testing.assert_close(decoded, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ["vq_vae", "hierarchical"])
def test_any_image_size_round_trips_through_padding(kind, checkpoints, photo):
    codec = codecs.from_checkpoint(checkpoints[kind])
    for height, width in [(1, 1), (7, 5), (40, 52), (33, 17)]:
        image = photo[:, :height, :width]
        decoded = codec.decode(codec.encode(image))
        assert decoded.shape == image.shape and float(decoded.min()) >= 0 and float(decoded.max()) <= 1
    # whole-multiple sizes need no padding: the model's reconstruction of the full image
    with torch.no_grad():
        expected = codec.model(photo[None]).reconstruction[0]
    torch.testing.assert_close(codec.decode(codec.encode(photo)), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_file_size_is_within_2_percent_plus_64_bytes_of_the_estimate(kind, checkpoints, test_images, photo):
    codec = codecs.from_checkpoint(checkpoints[kind])
    for image in [*test_images, photo]:
        rates = codec.rates(image)
        assert rates.coded == 8 * len(rates.data) and rates.data == codec.encode(image)
        assert abs(rates.coded - rates.estimate) <= 0.02 * rates.estimate + 8 * 64
        assert 8 * 15 <= rates.container <= 8 * 19  # the container header and CRC


def _oracle_bits(codec: tokenizers.TokenizerCodec, image: torch.Tensor) -> float:
    """−Σ log2 p of an image's symbols, written out per token from the stored priors."""
    bits = 0.0
    with torch.no_grad():
        codes = codec.model.encode(image[None])
    for level, level_codes in zip(codec.priors.levels, codes, strict=True):
        p = {name: prior.probabilities for name, prior in level.priors.items()}
        if level.kind == "vq":
            bits -= sum(math.log2(p["codes"][int(k)]) for k in level_codes.reshape(-1))
            continue
        atoms = p["atoms"]
        rank_of = {int(a): r for r, a in enumerate(torch.sort(atoms, descending=True, stable=True).indices)}
        ranked = sorted(atoms.tolist(), reverse=True)
        code = level_codes.sparse
        for indices, symbols in zip(code.indices.tolist(), code.symbols.tolist(), strict=True):
            support = [(rank_of[a], s) for a, s in zip(indices, symbols, strict=True) if a >= 0]
            bits -= math.log2(p["count"][len(support)])
            lowest = 0
            for rank, symbol in sorted(support):
                bits -= math.log2(ranked[rank] / math.fsum(ranked[lowest:]))
                bits -= math.log2(p["values"][symbol])
                lowest = rank + 1
    return bits


@pytest.mark.parametrize("kind", ["vq_vae", "dl_vae", "hierarchical"])
def test_estimate_is_minus_log2_likelihood_of_the_canonical_streams(kind, checkpoints, test_images):
    codec = codecs.from_checkpoint(checkpoints[kind])
    for image in test_images[:4]:
        assert codec.rates(image).estimate == pytest.approx(_oracle_bits(codec, image), rel=1e-9)


def test_canonical_support_never_costs_more_than_selection_order(checkpoints, test_images):
    codec = codecs.from_checkpoint(checkpoints["dl_vae"])
    priors = codec.priors.levels[0].priors
    for image in test_images:
        with torch.no_grad():
            code = codec.model.encode(image[None])[0].sparse
        valid = code.indices >= 0
        # the same symbols with each atom coded under the whole atoms prior, in any order
        unordered = -(
            torch.log2(priors["count"].probabilities[valid.sum(1)]).sum()
            + torch.log2(priors["atoms"].probabilities[code.indices[valid]]).sum()
            + torch.log2(priors["values"].probabilities[code.symbols[valid]]).sum()
        )
        assert codec.rates(image).estimate <= float(unordered) + 1e-9


@pytest.mark.parametrize("kind", ["vq_vae", "hierarchical"])
def test_priors_are_the_training_set_symbol_counts_stored_in_the_checkpoint(kind, checkpoints):
    path = checkpoints[kind]
    stored = torch.load(path, map_location="cpu", weights_only=True)[tokenizers.PRIORS_KEY]
    priors = tokenizers.TokenizerPriors.from_state_dict(stored)
    codec = codecs.from_checkpoint(path)
    train_set = data.dataset("samples", split="train", image_size=16, seed=0, crops_per_image=4)
    assert priors.images == len(train_set) and priors.smoothing == tokenizers.DEFAULT_SMOOTHING
    counts: list[dict[str, torch.Tensor]] = []
    with torch.no_grad():
        for i in range(len(train_set)):
            for level, codes in enumerate(codec.model.encode(train_set[i][None])):
                if level == len(counts):
                    counts.append({})
                if isinstance(codes, torch.Tensor):
                    found = {"codes": codes.reshape(-1)}
                else:
                    valid = codes.sparse.indices >= 0
                    found = {
                        "count": valid.sum(1),
                        "atoms": codes.sparse.indices[valid],
                        "values": codes.sparse.symbols[valid],
                    }
                for name, symbols in found.items():
                    counts[level].setdefault(name, []).append(symbols)
    for level, level_counts in zip(priors.levels, counts, strict=True):
        for name, prior in level.priors.items():
            tally = torch.bincount(torch.cat(level_counts[name]), minlength=prior.alphabet_size)
            expected = CategoricalPrior.from_counts(tally, smoothing=0.5)
            assert torch.equal(prior.probabilities, expected.probabilities), (level.kind, name)
    # refitting the same weights stores the same priors, and the file decodes as before
    before = codec.encode(train_set[0])
    again = codecs.fit_checkpoint_priors(path)
    assert again.state_dict()["levels"][0]["kind"] == stored["levels"][0]["kind"]
    for level_a, level_b in zip(again.levels, priors.levels, strict=True):
        for name in level_a.priors:
            assert torch.equal(level_a.priors[name].probabilities, level_b.priors[name].probabilities)
    assert codecs.from_checkpoint(path).decode(before).shape == (3, 16, 16)


def test_a_dictionary_without_value_bits_is_refused_naming_the_option(tmp_path):
    model = {"name": "autoencoder", **SMALL, "bottleneck": {**DICTIONARY, "value_bits": None}}
    result = fit(
        {
            "model": model,
            "output_dir": str(tmp_path / "float"),
            "data": DATA,
            "trainer": {"max_steps": 1, "progress_bar": False, "log_every_n_steps": 1},
        }
    )
    assert "val/bpp_coded" not in result.metrics and "val/bpp" in result.metrics
    last = result.checkpoints["last"]
    assert tokenizers.PRIORS_KEY not in torch.load(last, weights_only=True)
    with pytest.raises(ValueError, match=r"dictionary without value_bits.*bottleneck option value_bits"):
        codecs.from_checkpoint(last)
    with pytest.raises(ValueError, match="without value_bits"):
        codecs.fit_checkpoint_priors(last)


def _rewrite(source: Path, target: Path, change) -> Path:
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    change(checkpoint)
    torch.save(checkpoint, target)
    return target


def test_checkpoints_without_or_with_foreign_priors_and_non_checkpoints(checkpoints, tmp_path):
    source = checkpoints["dl_vae"]
    bare = _rewrite(source, tmp_path / "bare.ckpt", lambda c: c.pop(tokenizers.PRIORS_KEY))
    with pytest.raises(ValueError, match=r"holds no entropy-coding priors.*fit_checkpoint_priors"):
        codecs.from_checkpoint(bare)
    broken = _rewrite(source, tmp_path / "broken.ckpt", lambda c: c[tokenizers.PRIORS_KEY].pop("levels"))
    with pytest.raises(ValueError, match="must hold exactly the keys"):
        codecs.from_checkpoint(broken)
    old = _rewrite(source, tmp_path / "old.ckpt", lambda c: c[tokenizers.PRIORS_KEY].update(format=0))
    with pytest.raises(ValueError, match="priors of format 0"):
        codecs.from_checkpoint(old)
    foreign = torch.load(checkpoints["vq_vae"], weights_only=True)[tokenizers.PRIORS_KEY]
    mixed = _rewrite(source, tmp_path / "mixed.ckpt", lambda c: c.update({tokenizers.PRIORS_KEY: foreign}))
    with pytest.raises(ValueError, match="do not fit its model"):
        codecs.from_checkpoint(mixed)
    with pytest.raises(ValueError, match="does not exist"):
        codecs.from_checkpoint(tmp_path / "missing.ckpt")
    (tmp_path / "text.ckpt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="is truncated or corrupt"):
        codecs.from_checkpoint(tmp_path / "text.ckpt")
    half = tmp_path / "half.ckpt"
    half.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(ValueError, match="is truncated or corrupt"):
        codecs.from_checkpoint(half)
    other = _rewrite(
        source, tmp_path / "other.ckpt", lambda c: c["hyper_parameters"]["config"]["model"].update(name="x")
    )
    with pytest.raises(ValueError, match="its model section cannot be built"):
        codecs.from_checkpoint(other)


def test_model_id_depends_on_weights_and_priors(checkpoints, tmp_path, test_images):
    source = checkpoints["vq_vae"]
    codec = codecs.from_checkpoint(source)
    file = codec.encode(test_images[0])

    def nudge_weights(c):
        key = next(k for k in c["state_dict"] if k.endswith("weight"))
        c["state_dict"][key] = c["state_dict"][key] + 1e-3

    def nudge_priors(c):
        probabilities = c[tokenizers.PRIORS_KEY]["levels"][0]["priors"]["codes"]["probabilities"]
        # swap the most and least probable codes: a change unless the prior is uniform
        high, low = int(probabilities.argmax()), int(probabilities.argmin())
        assert probabilities[high] > probabilities[low]
        probabilities[high], probabilities[low] = probabilities[low].clone(), probabilities[high].clone()

    for name, change in (("weights", nudge_weights), ("priors", nudge_priors)):
        other = codecs.from_checkpoint(_rewrite(source, tmp_path / f"{name}.ckpt", change))
        with pytest.raises(ValueError, match="written by another model"):
            other.decode(file)


def test_a_float64_checkpoint_codes_in_float64(checkpoints, tmp_path, test_images):
    def to_double(checkpoint):
        state = checkpoint["state_dict"]
        checkpoint["state_dict"] = {k: v.double() if v.is_floating_point() else v for k, v in state.items()}

    path = _rewrite(checkpoints["hierarchical"], tmp_path / "double.ckpt", to_double)
    codecs.fit_checkpoint_priors(path)
    codec = codecs.from_checkpoint(path)
    assert next(codec.model.parameters()).dtype == torch.float64
    image = test_images[0]
    file = codec.encode(image)
    _, payload = container.unpack(file, kind="tokenizer", model=codec._model, decoder="test")
    with torch.no_grad():
        expected = codec.model(image[None].double()).reconstruction[0].float()
        fine, coarse = codec.model.encode(image[None].double())
    # each dictionary level's coefficient range travels as a float64
    assert struct.unpack("<2d", payload[:16]) == (float(fine.sparse.max_abs), float(coarse.sparse.max_abs))
    torch.testing.assert_close(codec.decode(file), expected, rtol=0, atol=1e-6)


def test_damaged_files_raise_value_errors(checkpoints, test_images):
    codec = codecs.from_checkpoint(checkpoints["hierarchical"])
    file = codec.encode(test_images[1])
    with pytest.raises(ValueError, match="empty file"):
        codec.decode(b"")
    for cut in (1, 5, 12, len(file) // 2, len(file) - 1):
        with pytest.raises(ValueError, match="truncated"):
            codec.decode(file[:cut])
    for position in range(0, len(file), 3):
        damaged = bytearray(file)
        damaged[position] ^= 0x10
        with pytest.raises(ValueError):
            codec.decode(bytes(damaged))
    thumbnail = codecs.build("thumbnail").encode(test_images[1])
    with pytest.raises(ValueError, match="this is a 'thumbnail' file"):
        codec.decode(thumbnail)
    with pytest.raises(ValueError, match="another model"):
        codecs.from_checkpoint(checkpoints["dl_vae"]).decode(file)


def test_payloads_that_pass_the_crc_but_are_wrong_raise_or_decode_to_an_image(checkpoints, test_images):
    """A file written with the right header around a wrong payload (no CRC error): short payloads, a bad
    coefficient range and random streams raise ValueError or decode to a valid image, never crash."""
    codec = codecs.from_checkpoint(checkpoints["hierarchical"])
    header, payload = container.unpack(
        codec.encode(test_images[2]), kind="tokenizer", model=codec._model, decoder="test"
    )

    def wrapped(body: bytes) -> bytes:
        return container.pack(header, body)

    with pytest.raises(ValueError, match="coefficient ranges"):
        codec.decode(wrapped(payload[:5]))
    for bad in (float("nan"), -1.0, 0.0):
        body = bytearray(payload)
        body[:4] = torch.tensor([bad], dtype=torch.float32).numpy().tobytes()
        with pytest.raises(ValueError, match="coefficient range"):
            codec.decode(wrapped(bytes(body)))
    generator = torch.Generator().manual_seed(0)
    for length in (0, 3, 8, 12, len(payload) - 8, len(payload), 4 * len(payload)):
        body = payload[:8] + bytes(torch.randint(0, 256, (length,), generator=generator).tolist())
        try:
            image = codec.decode(wrapped(body))
        except ValueError:
            continue
        assert image.shape == (3, 16, 16) and bool(torch.isfinite(image).all())


def test_rate_accounting_puts_the_three_rates_side_by_side(checkpoints, test_images):
    codec = codecs.from_checkpoint(checkpoints["dl_vae"])
    accounting = codecs.rate_accounting(codec, test_images)
    assert accounting.num_images == len(test_images)
    pixels = 16 * 16
    files = [codec.encode(image) for image in test_images]
    assert accounting.per_image["bytes"] == [float(len(f)) for f in files]
    assert accounting.coded_bpp == pytest.approx(sum(8 * len(f) / pixels for f in files) / len(files))
    with torch.no_grad():
        closed = codec.model(test_images[0][None]).bits_per_pixel
    assert accounting.closed_form_bpp == pytest.approx(closed)
    expected_entropy = sum(codec.rates(image).estimate for image in test_images) / len(test_images) / pixels
    assert accounting.entropy_bpp == pytest.approx(expected_entropy)
    assert accounting.container_bpp == pytest.approx(8 * 15 / pixels)  # sides and payloads below 128
    assert set(accounting.as_dict()) == {
        "closed_form_bpp",
        "entropy_bpp",
        "coded_bpp",
        "container_bpp",
        "images",
    }
    batch = codecs.rate_accounting(codec, torch.stack(test_images[:2]))
    assert batch.per_image["bytes"] == accounting.per_image["bytes"][:2]
    with pytest.raises(TypeError, match="TokenizerCodec"):
        codecs.rate_accounting(codecs.build("thumbnail"), test_images)
    with pytest.raises(ValueError, match="at least one image"):
        codecs.rate_accounting(codec, [])
    with pytest.raises(ValueError, match=r"images\[0\] must have values in \[0, 1\]"):
        codecs.rate_accounting(codec, [test_images[0] * 2])


def test_fit_priors_checks_its_arguments(checkpoints, test_images):
    model = codecs.from_checkpoint(checkpoints["vq_vae"]).model
    with pytest.raises(ValueError, match="smoothing"):
        codecs.fit_priors(model, test_images, smoothing=0.0)
    with pytest.raises(TypeError, match="sequence of"):
        codecs.fit_priors(model, 3)
    with pytest.raises(ValueError, match="at least one image"):
        codecs.fit_priors(model, [])
    with pytest.raises(ValueError, match=r"not a laserlab\.models tokenizer"):
        codecs.fit_priors(torch.nn.Linear(2, 2), test_images)
    model.train()
    codecs.fit_priors(model, test_images[:2])
    assert model.training  # its mode is restored


@pytest.mark.slow
def test_a_new_process_decodes_the_same_image_bit_for_bit(checkpoints, test_images, tmp_path):
    path = checkpoints["hierarchical"]
    codec = codecs.from_checkpoint(path)
    file = tmp_path / "image.llt"
    file.write_bytes(codec.encode(test_images[3]))
    script = (
        "import sys, torch; from laserlab import codecs; "
        "image = codecs.from_checkpoint(sys.argv[1]).decode(open(sys.argv[2], 'rb').read()); "
        "torch.save(image, sys.argv[3])"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([LIB, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", script, str(path), str(file), str(tmp_path / "decoded.pt")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert torch.equal(torch.load(tmp_path / "decoded.pt"), codec.decode(file.read_bytes()))
