"""DDP on 2 CPU processes (gloo): all ranks end with equal weights and codebook or dictionary."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).with_name("run_fit.py")

MODEL = {"name": "autoencoder", "latent_dim": 8, "width": 16, "downsample": 2, "num_residual_blocks": 1}
BOTTLENECKS = {
    "vq": {"name": "vq", "num_codes": 16, "ema_decay": 0.9, "kmeans_init": True, "dead_code_threshold": 0.5},
    "dl_gradient": {"name": "dictionary", "num_atoms": 16, "sparsity": 2},
    "dl_online": {"name": "dictionary", "num_atoms": 16, "sparsity": 2, "update": "online"},
    "ksvd": {"name": "dictionary", "num_atoms": 16, "sparsity": 2, "update": "ksvd", "patch_size": 2},
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(BOTTLENECKS))
def test_ddp_ranks_end_identical(tmp_path, kind):
    config = {
        "model": {**MODEL, "bottleneck": BOTTLENECKS[kind]},
        "output_dir": str(tmp_path / "run"),
        "data": {"name": "samples", "image_size": 16, "batch_size": 4, "options": {"crops_per_image": 4}},
        "trainer": {
            "max_steps": 4,
            "accelerator": "cpu",
            "devices": 2,
            "strategy": "ddp",
            "progress_bar": False,
            "log_every_n_steps": 1,
        },
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    lib = str(Path(__file__).parents[3] / "lib")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([lib, os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(path), str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    states = [torch.load(tmp_path / "out" / f"state-rank{r}.pt") for r in (0, 1)]
    metrics = [json.loads((tmp_path / "out" / f"metrics-rank{r}.json").read_text()) for r in (0, 1)]
    assert metrics[0]["step"] == metrics[1]["step"] == 4
    for key, value in states[0].items():
        assert torch.equal(value, states[1][key]), key
    codebook = "bottleneck.codebook" if kind == "vq" else "bottleneck.dictionary"
    assert codebook in states[0]
    assert int(states[0]["bottleneck.update_steps"]) == 4  # the post-step update ran once per step
