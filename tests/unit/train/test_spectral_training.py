"""Spectral regularisation inside training: config checks, the phase-1 callback and the phase-2 penalty."""

import math

import pytest
import torch

from laserlab.train import TrainConfig, fit
from laserlab.train.module import AutoencoderModule

HIERARCHICAL = {
    "name": "hierarchical",
    "latent_dim": 8,
    "coarse_dim": 4,
    "width": 16,
    "downsample": 2,
    "num_residual_blocks": 1,
    "bottleneck": {"name": "vq", "num_codes": 16},
}
SINGLE = {**{k: v for k, v in HIERARCHICAL.items() if k != "coarse_dim"}, "name": "autoencoder"}


def config(**changes):
    return {"model": HIERARCHICAL, "output_dir": "unused", **changes}


@pytest.mark.parametrize(
    ("spectral", "message"),
    [
        ({"tau_init": 0}, r"spectral.tau_init must be a finite number in \(0, 1\]"),
        ({"tau_final": 1.5}, r"spectral.tau_final must be a finite number in \[0, 1\]"),
        ({"tau_init": 0.5, "tau_final": 0.2}, "spectral.tau_final must be >= spectral.tau_init"),
        ({"epochs": 0}, r"spectral.epochs must be an int >= 1"),
        ({"steps": 0}, r"spectral.steps must be an int >= 1"),
        ({"kind": "gaussian"}, r"spectral.kind must be one of \['radial', 'hard', 'square', 'flat_top'\]"),
        ({"delta": -0.1}, r"spectral.delta must be"),
        ({"tau": 0.1}, r"unknown key\(s\) \['tau'\] in spectral"),
        ({"phase1": True, "steps": 1000}, r"spectral.steps \(the phase-1 window, 1000\) must be below"),
    ],
)
def test_bad_spectral_options_name_the_key(spectral, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict(config(spectral=spectral))


def test_phase2_needs_two_latents():
    with pytest.raises(
        ValueError, match=r"regularizer 'cross_scale', spectral\.phase2\) needs a model with at least two"
    ):
        AutoencoderModule(config(model=SINGLE, spectral={"phase2": True}))


def test_phase2_predictors_are_optimised_and_the_term_is_logged():
    module = AutoencoderModule(config(spectral={"phase2": True, "delta": 0.1}))
    optimised = {id(p) for group in module.configure_optimizers().param_groups for p in group["params"]}
    assert all(id(p) in optimised for p in module.cross_scale.parameters())
    images = torch.rand(2, 3, 16, 16)
    output = module.model(images)
    terms = module.objective(output, images).terms
    assert float(terms["cross_scale"].detach()) >= 0
    assert {"latent_rms", "coarse_latent_rms"} <= set(module._scalars(output, images))


def test_fit_runs_the_curriculum_then_the_penalty(tmp_path):
    # 7 photographs x 4 crops = 28 images in batches of 8: 3 steps per epoch; window of 4 steps
    result = fit(
        {
            "model": HIERARCHICAL,
            "output_dir": str(tmp_path),
            "data": {"name": "samples", "image_size": 16, "batch_size": 8, "options": {"crops_per_image": 4}},
            "spectral": {"phase1": True, "phase2": True, "steps": 4, "tau_init": 0.2, "tau_final": 1.0},
            "trainer": {"max_steps": 7, "progress_bar": False, "log_every_n_steps": 1},
        }
    )
    history = result.history()
    taus = history["train/spectral_tau"]
    assert [step for step, _ in taus] == list(range(7))
    assert [tau for _, tau in taus[:4]] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert all(math.isnan(tau) for _, tau in taus[4:])  # truncation off after the window
    assert [step for step, _ in history["train/loss_cross_scale_step"]] == list(range(7))
    assert "val/loss_cross_scale" in result.metrics
    # validation rows sit at the optimiser steps taken: after epochs of 3 steps, and the final validate()
    assert [step for step, _ in history["val/mse"]] == [3, 6, 7]
    assert result.module.cross_scale.active
    assert result.module.batch_transform is None
