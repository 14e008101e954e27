"""DDP on 2 CPU processes (gloo): all ranks end with equal weights and codebook, dictionary or (learned
codec) entropy-bottleneck quantiles — and, with spectral regularisation, equal cross-scale predictors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).with_name("run_fit.py")

MODEL = {"name": "autoencoder", "latent_dim": 8, "width": 16, "downsample": 2, "num_residual_blocks": 1}
DICTIONARY = {"name": "dictionary", "num_atoms": 16, "sparsity": 2}
MODELS = {
    "vq_vae": {
        **MODEL,
        "bottleneck": {
            "name": "vq",
            "num_codes": 16,
            "ema_decay": 0.9,
            "kmeans_init": True,
            "dead_threshold": 1e-3,  # about 0.5 of the 512 tokens a step sees
        },
    },
    "dl_vae": {**MODEL, "bottleneck": DICTIONARY},
    # the two non-gradient dictionary rules in one run: K-SVD on the fine level, online on the coarse one
    "ksvd_and_online": {
        **MODEL,
        "name": "hierarchical",
        "bottleneck": {**DICTIONARY, "update_rule": "ksvd", "patch_size": 2},
        "coarse_bottleneck": {**DICTIONARY, "update_rule": "online"},
    },
    # a learned codec: rate–distortion loss (the default for codecs) and the auxiliary optimiser
    "factorized_prior": {"name": "factorized_prior", "N": 8, "M": 8},
    # a hierarchical learned codec, trained with both spectral phases (SPECTRAL)
    "hierarchical_vae": {"name": "hierarchical_vae", "scales": 3, "N": 8, "M": 8},
}
# phase 1 for the first 2 of the 4 steps, then the cross-scale penalty (its predictors are compared too)
SPECTRAL = {"hierarchical_vae": {"phase1": True, "phase2": True, "steps": 2, "tau_init": 0.1}}
STATES = {
    "vq_vae": "bottleneck.codebook",
    "factorized_prior": "net.entropy_bottleneck.quantiles",
    "hierarchical_vae": "entropy_bottleneck.quantiles",
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_ddp_ranks_end_identical(tmp_path, kind):
    config = {
        "model": MODELS[kind],
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
        **({"spectral": SPECTRAL[kind]} if kind in SPECTRAL else {}),
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
    assert STATES.get(kind, "bottleneck.dictionary") in states[0]
    if kind in SPECTRAL:
        assert any(key.startswith("objective.") for key in states[0])  # the cross-scale predictors
    for level in ("bottleneck", "coarse_bottleneck"):
        if f"{level}.update_steps" in states[0]:  # the post-step update ran once per step
            assert int(states[0][f"{level}.update_steps"]) == 4
