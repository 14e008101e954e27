"""Checkpoints of briefly trained learned codecs, shared by the learned-codec and command-line tests."""

import pytest


def train_codec(folder, name: str, *, steps: int, seed: int = 0):
    from laserlab.train import fit, recipe

    config = recipe(
        folder,
        model={"name": name, "N": 16, "M": 16},
        data={"image_size": 64, "batch_size": 8, "options": {"crops_per_image": 8}},
        loss_options={"rate_distortion": {"lmbda": 0.013}},
        optimizer={"lr": 1e-3},
        trainer={"max_steps": steps, "check_val_every_n_epoch": 100},
        seed=seed,
    )
    return fit(config).checkpoints["last"]


@pytest.fixture(scope="session")
def hyperprior_checkpoint(tmp_path_factory):
    """A mean-scale hyperprior (N = M = 16) trained for 30 steps on 64² crops, λ = 0.013."""
    return train_codec(tmp_path_factory.mktemp("hyperprior"), "mean_scale_hyperprior", steps=30)


@pytest.fixture(scope="session")
def factorized_checkpoint(tmp_path_factory):
    """A factorized prior (N = M = 16) trained for 20 steps on 64² crops, λ = 0.013."""
    return train_codec(tmp_path_factory.mktemp("factorized"), "factorized_prior", steps=20)


@pytest.fixture(scope="session")
def hierarchical_checkpoint(tmp_path_factory):
    """A hierarchical VAE (3 scales, N = M = 16) trained for 60 steps on 64² crops, λ = 0.013. (After 30
    steps its priors still put a tenth of the fine-scale symbols below 2^−16, where the estimate's
    1e-9-bounded likelihoods and the coder's escape codes part ways by over 10 %.)"""
    return train_codec(tmp_path_factory.mktemp("hierarchical"), "hierarchical_vae", steps=60)
