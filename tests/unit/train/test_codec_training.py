"""Training learned codecs: the rate–distortion loss (oracle: CompressAI's own), config checks, the
auxiliary optimiser, logging and the spectral phase-1 curriculum."""

import math

import pytest
import torch

from laserlab.data import dataset
from laserlab.models import MeanScaleHyperprior
from laserlab.models.compression import compressai_modules
from laserlab.train import (
    LOSSES,
    LearnedCodecModule,
    RateDistortionLoss,
    TrainConfig,
    fit,
    recipe,
    training_module,
)

CODEC = {"name": "factorized_prior", "N": 8, "M": 8}
AUTOENCODER = {
    "name": "autoencoder",
    "latent_dim": 8,
    "width": 16,
    "bottleneck": {"name": "vq", "num_codes": 8},
}
# 7 training photographs x 4 crops of 16² = 28 images, batches of 8: 3 steps per epoch
DATA = {"name": "samples", "image_size": 16, "batch_size": 8, "options": {"crops_per_image": 4}}


def config(**changes):
    return {"model": CODEC, "output_dir": "unused", **changes}


@pytest.mark.parametrize("lmbda", [0.0035, 0.05])
def test_rate_distortion_loss_is_compressais(lmbda):
    compressai_modules()  # imports compressai without its torch.jit notice
    from compressai.losses import RateDistortionLoss as Reference

    model = MeanScaleHyperprior(N=8, M=8).train()
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    output = model(images)
    ours = RateDistortionLoss(lmbda=lmbda)(output, images)
    assert ours.shape == (2,)
    reference = Reference(lmbda=lmbda)({"x_hat": output.synthesis, "likelihoods": output.likelihoods}, images)
    assert torch.allclose(ours.mean(), reference["loss"], rtol=1e-6)
    assert "rate_distortion" in LOSSES


def test_rate_distortion_needs_a_codec_output():
    from laserlab.models import build_model

    model = build_model("autoencoder", **{k: v for k, v in AUTOENCODER.items() if k != "name"})
    images = torch.rand(1, 3, 16, 16)
    with pytest.raises(TypeError, match="needs a learned codec's CodecOutput"):
        RateDistortionLoss()(model(images), images)


def test_a_codec_config_defaults_to_the_rate_distortion_loss():
    assert TrainConfig.from_dict(config()).loss == {"rate_distortion": 1.0}
    assert recipe("unused", model=CODEC).loss == {"rate_distortion": 1.0}
    assert TrainConfig.from_dict({"model": AUTOENCODER, "output_dir": "unused"}).loss == {"mse": 1.0}
    assert TrainConfig.from_dict(config()).optimizer.aux_lr == 1e-3


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        (
            {"loss": {"mse": 1.0}},
            ValueError,
            r"'factorized_prior' is a learned codec: loss must weight 'rate_d",
        ),
        ({"loss": {"rate_distortion": 0.0}}, ValueError, r"loss must weight 'rate_distortion'"),
        (
            {"model": AUTOENCODER, "loss": {"rate_distortion": 1.0}},
            ValueError,
            r"loss 'rate_distortion' needs a learned codec model \(model.name one of \['factorized_prior', "
            r"'hierarchical_vae', 'mean_scale_hyperprior'\]\)",
        ),
        (
            {"loss_options": {"rate_distortion": {"lmbda": 0}}},
            ValueError,
            r"lmbda must be a finite number in \(0",
        ),
        (
            {"loss_options": {"rate_distortion": {"lmbda": -0.01}}},
            ValueError,
            r"lmbda must be a finite number",
        ),
        (
            {"loss_options": {"rate_distortion": {"lmbda": math.nan}}},
            ValueError,
            r"lmbda must be a finite number",
        ),
        (
            {"loss_options": {"rate_distortion": {"lmbda": "0.01"}}},
            TypeError,
            r"lmbda must be a finite number",
        ),
        (
            {"loss_options": {"rate_distortion": {"lambda": 0.01}}},
            ValueError,
            r"loss_options.rate_distortion has no option\(s\) \['lambda'\]; valid options: \['lmbda'\]",
        ),
        ({"optimizer": {"aux_lr": 0}}, ValueError, r"optimizer.aux_lr must be a finite number in \(0, inf\)"),
        (
            {"trainer": {"precision": "16-mixed"}},
            ValueError,
            r"precision '16-mixed' is not supported for learned",
        ),
        ({"model": {**CODEC, "N": 4}}, ValueError, r"N must be an int >= 8"),
    ],
)
def test_bad_codec_configs_are_clear_errors(changes, error, message):
    with pytest.raises(error, match=message):
        config_ = TrainConfig.from_dict(config(**changes))
        config_.model.build()  # channel counts are checked by the model


def test_phase2_needs_two_scales_of_latents():
    with pytest.raises(ValueError, match=r"needs a model with at least two latents.*this model has 1"):
        training_module(TrainConfig.from_dict(config(spectral={"phase2": True})))


def test_the_aux_optimiser_trains_the_quantiles_and_the_main_one_everything_else():
    module = training_module(TrainConfig.from_dict(config(optimizer={"lr": 2e-3, "aux_lr": 5e-3})))
    assert isinstance(module, LearnedCodecModule)
    main = module.configure_optimizers()
    quantiles = module.model.net.entropy_bottleneck.quantiles
    main_ids = {id(p) for group in main.param_groups for p in group["params"]}
    assert id(quantiles) not in main_ids and len(main_ids) == len(list(module.model.parameters())) - 1
    assert main.param_groups[0]["lr"] == 2e-3
    (group,) = module.aux_optimizer.param_groups
    assert group["params"] == [quantiles] and group["lr"] == 5e-3


def test_fit_trains_a_codec_and_logs_rate_quality_and_aux_loss(tmp_path):
    run = recipe(
        tmp_path / "run",
        model=CODEC,
        data=DATA,
        loss_options={"rate_distortion": {"lmbda": 0.05}},
        trainer={"max_steps": 4, "log_every_n_steps": 1, "gradient_clip_val": 1.0},
    )
    initial = training_module(run).model.net.entropy_bottleneck.quantiles.detach().clone()
    result = fit(run)
    assert isinstance(result.module, LearnedCodecModule) and result.global_step == 4
    assert not torch.equal(result.model.net.entropy_bottleneck.quantiles.detach(), initial)  # aux steps ran
    history = result.history()
    for name in (
        "loss",
        "loss_rate_distortion",
        "bpp",
        "bpp_y",
        "mse",
        "psnr",
        "ssim",
        "latent_rms",
        "aux_loss",
    ):
        assert [step for step, _ in history[f"train/{name}_step"]] == [0, 1, 2, 3], name
    for name in ("loss", "bpp", "bpp_y", "mse", "psnr", "ssim", "latent_rms"):
        assert math.isfinite(result.metrics[f"val/{name}"]), name
    # val/bpp is the likelihood estimate of the eval-mode model, mean over the held-out images
    images = torch.stack(list(dataset("samples", split="test", image_size=16, crops_per_image=4)))
    with torch.no_grad():
        output = result.model.eval()(images)
    assert result.metrics["val/bpp"] == pytest.approx(float(output.bits_per_pixel.mean()), rel=1e-5)
    assert result.metrics["val/bpp_y"] == pytest.approx(result.metrics["val/bpp"], rel=1e-6)
    assert result.metrics["val/loss"] == pytest.approx(
        float(RateDistortionLoss(lmbda=0.05)(output, images).mean()), rel=1e-5
    )


def test_the_spectral_phase1_curriculum_trains_codecs_too(tmp_path):
    run = recipe(
        tmp_path / "run",
        model=CODEC,
        data=DATA,
        trainer={"max_steps": 3, "log_every_n_steps": 1},
        spectral={"phase1": True, "steps": 2, "tau_init": 0.1},
    )
    history = fit(run).history()
    taus = [tau for _, tau in history["train/spectral_tau"]]
    assert taus[:2] == pytest.approx([0.1, 0.55]) and math.isnan(taus[2])


HIERARCHICAL = {"name": "hierarchical_vae", "scales": 3, "N": 16, "M": 8}


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"scales": 5}, ValueError, r"model 'hierarchical_vae': scales must be an int in \[2, 4\]; got 5"),
        ({"scales": "3"}, TypeError, r"model 'hierarchical_vae': scales must be an int in \[2, 4\]"),
        ({"N": 4}, ValueError, r"model 'hierarchical_vae': N must be an int >= 8; got 4"),
        ({"M": [8, 8]}, ValueError, r"M must be an int or a list of 3 ints \(one per scale, fine → coarse\)"),
        ({"M": [8, 8, 2]}, ValueError, r"M\[i\] must be an int >= 8; got 2"),
        (
            {"levels": 3},
            ValueError,
            r"'hierarchical_vae' has no option\(s\) \['levels'\]; valid options: \['scales', 'N', 'M'\]",
        ),
    ],
)
def test_hierarchical_vae_options_are_checked_with_the_config(options, error, message):
    accepted = TrainConfig.from_dict(config(model={**HIERARCHICAL, "M": [8, 12, 16]}))
    assert accepted.model.options["M"] == [8, 12, 16]
    with pytest.raises(error, match=message):
        TrainConfig.from_dict(config(model={**HIERARCHICAL, **options}))


def test_fit_trains_the_hierarchical_vae_with_both_spectral_phases(tmp_path):
    """Per-scale rates are logged (``bpp_s0`` finest ... ``bpp_s2`` coarsest, summing to ``bpp``); phase 1
    low-passes the first 2 steps, then phase 2's cross-scale penalty acts on the three latents."""
    run = recipe(
        tmp_path / "run",
        model=HIERARCHICAL,
        data=DATA,
        loss_options={"rate_distortion": {"lmbda": 0.013}},
        trainer={"max_steps": 4, "log_every_n_steps": 1, "gradient_clip_val": 1.0},
        spectral={"phase1": True, "phase2": True, "steps": 2, "tau_init": 0.1, "delta": 0.1},
    )
    result = fit(run)
    assert result.global_step == 4 and result.module.cross_scale.active
    history = result.history()
    taus = [tau for _, tau in history["train/spectral_tau"]]
    assert taus[:2] == pytest.approx([0.1, 0.55]) and all(math.isnan(t) for t in taus[2:])
    for name in ("bpp_s0", "bpp_s1", "bpp_s2", "loss_cross_scale", "aux_loss", "level2_latent_rms"):
        assert [step for step, _ in history[f"train/{name}_step"]] == [0, 1, 2, 3], name
    per_scale = [result.metrics[f"val/bpp_s{level}"] for level in range(3)]
    assert sum(per_scale) == pytest.approx(result.metrics["val/bpp"], rel=1e-5)
    images = torch.stack(list(dataset("samples", split="test", image_size=16, crops_per_image=4)))
    with torch.no_grad():
        output = result.model.eval()(images)
    for level, value in enumerate(per_scale):
        assert value == pytest.approx(float(output.stream_bits_per_pixel()[f"s{level}"].mean()), rel=1e-5)
    assert math.isfinite(result.metrics["val/loss_cross_scale"])
