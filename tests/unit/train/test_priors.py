"""fit() ends by fitting the tokenizer codec's priors on the training split and storing them in last.ckpt;
its final metrics carry the closed-form, estimated and coded rates; a continued run refits the priors."""

import pytest
import torch

from laserlab import codecs, data
from laserlab.codecs import tokenizers
from laserlab.train import fit

CONFIG = {
    "model": {
        "name": "autoencoder",
        "latent_dim": 8,
        "width": 16,
        "downsample": 2,
        "num_residual_blocks": 1,
        "bottleneck": {
            "name": "dictionary",
            "num_atoms": 16,
            "sparsity": 2,
            "patch_size": 2,
            "value_bits": 4,
        },
    },
    "data": {"name": "samples", "image_size": 16, "batch_size": 8, "options": {"crops_per_image": 4}},
    "trainer": {"max_steps": 3, "progress_bar": False, "log_every_n_steps": 1},
    "seed": 1,
}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see tests/conftest.py


def _split(split: str):
    return data.dataset("samples", split=split, image_size=16, seed=1, crops_per_image=4)


def _stored(path) -> tokenizers.TokenizerPriors:
    state = torch.load(path, map_location="cpu", weights_only=True)[tokenizers.PRIORS_KEY]
    return tokenizers.TokenizerPriors.from_state_dict(state)


def _probabilities(priors: tokenizers.TokenizerPriors) -> list[torch.Tensor]:
    return [p.probabilities for level in priors.levels for _, p in sorted(level.priors.items())]


def test_fit_stores_training_set_priors_and_reports_the_three_rates(tmp_path):
    result = fit({**CONFIG, "output_dir": str(tmp_path / "run")})
    last = result.checkpoints["last"]
    stored = _stored(last)
    train_set = _split("train")
    expected = codecs.fit_priors(result.model.cpu(), train_set)
    assert stored.images == len(train_set)
    assert all(
        torch.equal(a, b) for a, b in zip(_probabilities(stored), _probabilities(expected), strict=True)
    )

    accounting = codecs.rate_accounting(codecs.from_checkpoint(last), _split("test"))
    assert result.metrics["val/bpp_entropy"] == accounting.entropy_bpp
    assert result.metrics["val/bpp_coded"] == accounting.coded_bpp
    assert result.metrics["val/bpp"] == pytest.approx(accounting.closed_form_bpp)
    # the rewritten checkpoint is still a complete Lightning checkpoint
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == 3 and "optimizer_states" in checkpoint and "loops" in checkpoint
    assert not list(last.parent.glob(".*.tmp"))


def test_a_continued_run_refits_the_priors_for_its_final_weights(tmp_path):
    folder = str(tmp_path / "run")
    first = fit({**CONFIG, "output_dir": folder})
    before = _stored(first.checkpoints["last"])
    continued = fit({**CONFIG, "output_dir": folder, "trainer": {**CONFIG["trainer"], "max_steps": 7}})
    assert continued.global_step == 7
    after = _stored(continued.checkpoints["last"])
    expected = codecs.fit_priors(continued.model.cpu(), _split("train"))
    assert all(
        torch.equal(a, b) for a, b in zip(_probabilities(after), _probabilities(expected), strict=True)
    )
    assert not all(
        torch.equal(a, b) for a, b in zip(_probabilities(after), _probabilities(before), strict=True)
    )
    codec = codecs.from_checkpoint(continued.checkpoints["last"])
    image = _split("test")[0]
    with torch.no_grad():
        reference = codec.model(image[None]).reconstruction[0]
    torch.testing.assert_close(codec.decode(codec.encode(image)), reference, rtol=0, atol=1e-6)


def test_fit_checkpoint_priors_defaults_to_the_training_split_of_the_config(tmp_path):
    result = fit({**CONFIG, "output_dir": str(tmp_path / "run")})
    last = result.checkpoints["last"]
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    del checkpoint[tokenizers.PRIORS_KEY]
    torch.save(checkpoint, last)
    with pytest.raises(ValueError, match="holds no entropy-coding priors"):
        codecs.from_checkpoint(last)
    refitted = codecs.fit_checkpoint_priors(last)
    assert refitted.images == len(_split("train"))
    assert all(
        torch.equal(a, b)
        for a, b in zip(_probabilities(_stored(last)), _probabilities(refitted), strict=True)
    )
    few = codecs.fit_checkpoint_priors(last, images=[_split("train")[0]], smoothing=1.0)
    assert _stored(last).images == 1 and _stored(last).smoothing == few.smoothing == 1.0
