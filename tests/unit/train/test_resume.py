"""Kill-and-resume: a run SIGKILLed mid-way and resumed from last.ckpt equals an uninterrupted run, bit for
bit on CPU (same data order from (seed, epoch), random states in the checkpoint, deterministic kernels)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from laserlab.train import read_history

SCRIPT = Path(__file__).with_name("run_fit.py")

# 7 training photographs x 4 crops = 28 images, batches of 8 (last dropped): 3 steps per epoch
CONFIG = {
    "model": {
        "name": "autoencoder",
        "latent_dim": 8,
        "width": 16,
        "downsample": 2,
        "num_residual_blocks": 1,
        "bottleneck": {
            "name": "vq",
            "num_codes": 16,
            "ema_decay": 0.9,
            "kmeans_init": True,
            "dead_threshold": 1e-3,  # about 0.5 of the 512 tokens a step sees
        },
    },
    "data": {"name": "samples", "image_size": 16, "batch_size": 8, "options": {"crops_per_image": 4}},
    "loss": {"mse": 1.0, "dct": 0.1, "gradient": 0.1},
    "trainer": {"max_steps": 9, "progress_bar": False, "log_every_n_steps": 1},
    "seed": 3,
}
# A two-level model with both spectral phases; the phase-1 window (5 steps) ends after the kill point's
# checkpoint (step 3), so the resumed run must pick up the schedule and then switch phase 2 on.
SPECTRAL = {
    **CONFIG,
    "model": {**CONFIG["model"], "name": "hierarchical", "coarse_dim": 8},
    "spectral": {"phase1": True, "phase2": True, "steps": 5, "tau_init": 0.1, "delta": 0.01},
}
# A learned codec (64² crops): the main AdamW, the auxiliary Adam on the quantiles and the uniform-noise
# draws must all resume exactly; gradient clipping acts on the main optimiser only.
CODEC = {
    **CONFIG,
    "model": {"name": "mean_scale_hyperprior", "N": 8, "M": 8},
    "data": {**CONFIG["data"], "image_size": 64},
    "loss": {"rate_distortion": 1.0},
    "loss_options": {"rate_distortion": {"lmbda": 0.05}},
    "optimizer": {"lr": 1e-3, "aux_lr": 1e-2},
    "trainer": {**CONFIG["trainer"], "gradient_clip_val": 1.0},
}

# The hierarchical VAE codec (three latent scales, 32² crops) with both spectral phases: the resumed run
# must pick up the phase-1 schedule, then switch the cross-scale penalty on its latents on, while the
# auxiliary optimiser, the predictors and the uniform-noise draws all resume exactly.
HIERARCHICAL_CODEC = {
    **CODEC,
    "model": {"name": "hierarchical_vae", "scales": 3, "N": 8, "M": 8},
    "data": {**CONFIG["data"], "image_size": 32},
    "spectral": SPECTRAL["spectral"],
}


def assert_same_optimiser_states(a: Path, b: Path) -> None:
    """The optimiser states (Lightning's and laserlab's auxiliary one) of two checkpoints are equal."""

    def same(x, y, where: str) -> None:
        if isinstance(x, torch.Tensor):
            assert torch.equal(x, y), where
        elif isinstance(x, dict):
            assert x.keys() == y.keys(), where
            for key in x:
                same(x[key], y[key], f"{where}.{key}")
        elif isinstance(x, list | tuple):
            assert len(x) == len(y), where
            for i, (u, v) in enumerate(zip(x, y, strict=True)):
                same(u, v, f"{where}[{i}]")
        else:
            assert x == y, where

    first, second = (torch.load(path, weights_only=False) for path in (a, b))
    for key in ("optimizer_states", "laserlab_aux_optimizer"):
        assert (key in first) == (key in second), key
        if key in first:
            same(first[key], second[key], key)


def run(config: dict, tmp: Path, name: str, *extra: str) -> subprocess.CompletedProcess:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(config))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parents[3] / "lib"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(path), str(tmp / name), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "config",
    [CONFIG, SPECTRAL, CODEC, HIERARCHICAL_CODEC],
    ids=["vq", "spectral", "codec", "hierarchical-codec-spectral"],
)
def test_killed_run_resumes_to_identical_weights_and_metrics(tmp_path, config):
    whole = run({**config, "output_dir": str(tmp_path / "whole")}, tmp_path, "whole")
    assert whole.returncode == 0, whole.stderr[-3000:]

    interrupted = {**config, "output_dir": str(tmp_path / "interrupted")}
    killed = run(interrupted, tmp_path, "killed", "5")  # mid-epoch 2; last.ckpt holds step 3
    assert killed.returncode == -9, killed.stderr[-3000:]
    last = tmp_path / "interrupted" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["global_step"] == 3
    assert not list(last.parent.glob(".*.tmp"))  # no temporary file left behind by the atomic writer

    resumed = run(interrupted, tmp_path, "resumed")
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    a = torch.load(tmp_path / "whole" / "state-rank0.pt")
    b = torch.load(tmp_path / "resumed" / "state-rank0.pt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    metrics_a = json.loads((tmp_path / "whole" / "metrics-rank0.json").read_text())
    metrics_b = json.loads((tmp_path / "resumed" / "metrics-rank0.json").read_text())
    assert metrics_a["step"] == 9 and metrics_a == metrics_b
    # the merged CSV logs of killed + resumed runs read like the uninterrupted run's
    history_a, history_b = (
        read_history(tmp_path / "whole" / "logs"),
        read_history(tmp_path / "interrupted" / "logs"),
    )
    assert history_a["train/loss_step"] == history_b["train/loss_step"]
    assert [step for step, _ in history_a["train/loss_step"]] == list(range(9))
    checkpoints = [tmp_path / folder / "checkpoints" / "last.ckpt" for folder in ("whole", "interrupted")]
    assert_same_optimiser_states(*checkpoints)
    if "rate_distortion" in config["loss"]:
        assert "laserlab_aux_optimizer" in torch.load(checkpoints[0], weights_only=False)
        assert history_a["train/aux_loss_step"] == history_b["train/aux_loss_step"]
    if "spectral" in config:
        assert any(key.startswith("objective.") for key in a)  # the phase-2 predictors were compared too
        taus = [tau for _, tau in history_b["train/spectral_tau"]]
        assert taus[:5] == pytest.approx([0.1, 0.28, 0.46, 0.64, 0.82]) and all(t != t for t in taus[5:])


# A DL-VAE whose dictionary learns by the online rule (non-gradient state: dictionary, A and B buffers).
DICTIONARY = {
    **CONFIG,
    "model": {
        **CONFIG["model"],
        "bottleneck": {
            "name": "dictionary",
            "num_atoms": 16,
            "sparsity": 2,
            "update_rule": "online",
            "value_bits": 6,  # codable: the run ends by storing entropy-coding priors in last.ckpt
        },
    },
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("config", "first", "total"),
    [(CONFIG, 7, 11), (DICTIONARY, 8, 13), (CODEC, 7, 11)],
    ids=["vq-stop-7-of-11", "dictionary-stop-8-of-13", "codec-stop-7-of-11"],
)
def test_continuing_a_finished_run_equals_an_uninterrupted_run(tmp_path, config, first, total):
    """A run that finished at ``first`` steps (mid-epoch: 3 steps per epoch), continued in the same folder
    to ``total`` steps, ends bit-identical to a run that trained ``total`` steps in one go."""

    def with_steps(steps: int, folder: str) -> dict:
        return {
            **config,
            "output_dir": str(tmp_path / folder),
            "trainer": {**config["trainer"], "max_steps": steps},
        }

    whole = run(with_steps(total, "whole"), tmp_path, "whole")
    assert whole.returncode == 0, whole.stderr[-3000:]
    short = run(with_steps(first, "continued"), tmp_path, "short")
    assert short.returncode == 0, short.stderr[-3000:]
    continued = run(with_steps(total, "continued"), tmp_path, "continued")
    assert continued.returncode == 0, continued.stderr[-3000:]

    a = torch.load(tmp_path / "whole" / "state-rank0.pt")
    b = torch.load(tmp_path / "continued" / "state-rank0.pt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    metrics_a = json.loads((tmp_path / "whole" / "metrics-rank0.json").read_text())
    metrics_b = json.loads((tmp_path / "continued" / "metrics-rank0.json").read_text())
    assert metrics_a["step"] == total and metrics_a == metrics_b
    history_a = read_history(tmp_path / "whole" / "logs")
    history_b = read_history(tmp_path / "continued" / "logs")
    assert history_a["train/loss_step"] == history_b["train/loss_step"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],
        lambda data: b"",
        lambda data: data[:-4000] + bytes([data[-4000] ^ 1]) + data[-3999:],  # one bit in the weights
    ],
    ids=["truncated", "empty", "bit-flip"],
)
def test_a_damaged_last_checkpoint_is_a_clear_error(tmp_path, damage):
    from laserlab.train import fit

    config = {**CONFIG, "output_dir": str(tmp_path / "run"), "trainer": {**CONFIG["trainer"], "max_steps": 1}}
    fit(config)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    last.write_bytes(damage(last.read_bytes()))
    with pytest.raises(
        ValueError, match=r"cannot resume from '.*last\.ckpt'.*truncated or corrupt.*resume: false"
    ):
        fit(config)
