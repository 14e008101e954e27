import pytest
import torch

from laserlab.train import DataConfig, ModelConfig, TrainConfig, recipe
from laserlab.train.module import AutoencoderModule

MODEL = {
    "name": "autoencoder",
    "latent_dim": 8,
    "width": 16,
    "downsample": 2,
    "bottleneck": {"name": "vq", "num_codes": 16},
}


def config(**changes):
    return {"model": MODEL, "output_dir": "unused", **changes}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"model": {**MODEL, "bottleneck": {"name": "fsq"}}},
            r"model.bottleneck.name must be one of \['dictionary', 'vq'\]",
        ),
        (
            {"model": {**MODEL, "name": "vae"}},
            r"model.name must be one of \['autoencoder', 'factorized_prior', 'hierarchical', "
            r"'hierarchical_vae', 'mean_scale_hyperprior'\]",
        ),
        (
            {"loss": {"mse": 1.0, "perceptual": 1.0}},
            r"loss name must be one of \['dct', .*\]; got 'perceptual'",
        ),
        (
            {"model": {**MODEL, "depth": 3}},
            r"model 'autoencoder' has no option\(s\) \['depth'\]; valid options: \[",
        ),
        (
            {"model": {**MODEL, "bottleneck": {"name": "vq", "num_code": 8}}},
            r"model.bottleneck \('vq'\) has no option\(s\) \['num_code'\]; valid options: \['num_codes'",
        ),
        ({"model": {"name": "autoencoder"}}, r"model 'autoencoder' needs option\(s\) \['bottleneck'\]"),
        (
            {"data": {"options": {"crops": 4}}},
            r"data.options of dataset 'samples' has no option\(s\) \['crops'\]; valid options: \['crops_",
        ),
        (
            {"loss": {"dct": 1.0}, "loss_options": {"dct": {"eps": 0.1}}},
            r"loss_options.dct has no option\(s\) \['eps'\]; valid options: \['scales', 'epsilon'\]",
        ),
        (
            {"loss_options": {"dct": {}}},
            r"loss_options given for 'dct', which has no weight in loss \['mse'\]",
        ),
        (
            {"callbacks": {"lr_monitor": {"interval": "step"}}},
            r"callbacks.lr_monitor has no option\(s\) \['interval'\]; valid options: \['logging_interval'",
        ),
        (
            {"regularizers": {"cross_scale": {"delta": 0.1, "scale": 2}}},
            r"regularizers.cross_scale has no option\(s\) \['scale'\]",
        ),
        ({"data": {"name": "kodak"}}, r"data.name must be one of \['celeba', 'cifar10', 'folder'"),
        ({"data": {"size": 32}}, r"unknown key\(s\) \['size'\] in data; valid keys: \['name', 'image_size'"),
        (
            {"trainer": {"max_step": 3}},
            r"unknown key\(s\) \['max_step'\] in trainer; valid keys: \['max_steps'",
        ),
        (
            {"optimiser": {}},
            r"unknown key\(s\) \['optimiser'\] in config; valid keys: \['model', 'output_dir'",
        ),
        ({"callbacks": {"spectral": {}}}, r"callback name must be one of \['lr_monitor'\]; got 'spectral'"),
        (
            {"regularizers": {"spectral": {}}},
            r"regularizer name must be one of \['cross_scale'\]; got 'spectral'",
        ),
        ({"trainer": {"max_steps": 0}}, r"trainer.max_steps must be an int >= 1"),
    ],
)
def test_config_errors_name_the_key_and_list_valid_values(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict(config(**changes))


def test_missing_required_keys():
    with pytest.raises(ValueError, match=r"missing required key\(s\) \['output_dir'\]"):
        TrainConfig.from_dict({"model": MODEL})
    with pytest.raises(ValueError, match=r"missing required key\(s\) \['model', 'output_dir'\]"):
        TrainConfig.from_dict({})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"model": "autoencoder"},
            r"model must be a mapping \{name: <model>, bottleneck: \{...\}, ...options\}",
        ),
        ({"data": ["samples"]}, r"data must be a mapping of options"),
        ({"spectral": {"phase1": "yes"}}, r"spectral.phase1 must be a bool \(True or False\); got 'yes'"),
        ({"trainer": {"max_steps": 2.5}}, r"trainer.max_steps must be an int >= 1"),
        ({"trainer": {"progress_bar": 0}}, r"trainer.progress_bar must be a bool"),
        ({"optimizer": {"betas": 0.9}}, r"optimizer.betas must be a pair \[beta1, beta2\] of numbers"),
        ({"loss": ["mse"]}, r"loss must be a mapping \{name: ...\}"),
        ({"resume": "no"}, r"resume must be a bool"),
    ],
)
def test_wrong_types_are_type_errors(changes, message):
    with pytest.raises(TypeError, match=message):
        TrainConfig.from_dict(config(**changes))


def test_model_section_is_typed_and_reads_flat():
    parsed = TrainConfig.from_dict(config())
    assert isinstance(parsed.model, ModelConfig)
    assert parsed.model.name == "autoencoder" and parsed.model.bottleneck == MODEL["bottleneck"]
    assert parsed.model.options == {"latent_dim": 8, "width": 16, "downsample": 2}
    assert parsed.to_dict()["model"] == MODEL
    assert parsed.model.build().latent_dim == 8


def test_with_overrides_merges_one_level_and_validates():
    base = TrainConfig.from_dict(config(loss={"mse": 1.0, "dct": 0.1}))
    dictionary = {"name": "dictionary", "num_atoms": 16, "sparsity": 2}
    variant = base.with_overrides(
        output_dir="elsewhere", model={"bottleneck": dictionary}, loss={"dct": 0.2}, trainer={"max_steps": 7}
    )
    assert (
        variant.output_dir == "elsewhere" and variant.model.bottleneck == dictionary
    )  # replaced, not merged
    assert variant.model.options == base.model.options
    assert variant.loss == {"mse": 1.0, "dct": 0.2}
    assert (
        variant.trainer.max_steps == 7 and variant.trainer.log_every_n_steps == base.trainer.log_every_n_steps
    )
    assert base.trainer.max_steps == 1000  # the original is unchanged
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['max_step'\] in trainer"):
        base.with_overrides(trainer={"max_step": 7})


def test_recipe_writes_only_what_differs():
    made = recipe("runs/a", model=MODEL, data={"image_size": 32}, trainer={"max_steps": 9}, seed=3)
    assert made.output_dir == "runs/a" and made.seed == 3 and made.resume is False
    assert made.data.image_size == 32 and made.data.batch_size == DataConfig().batch_size
    assert made.trainer.max_steps == 9 and made.trainer.progress_bar is False
    assert made.trainer.log_every_n_steps == 5


def test_phase2_is_the_cross_scale_regularizer():
    hierarchical = {**MODEL, "name": "hierarchical"}
    by_switch = TrainConfig.from_dict(config(model=hierarchical, spectral={"phase2": True, "delta": 0.01}))
    assert by_switch.regularizer_specs() == {"cross_scale": {"delta": 0.01, "normalize": True}}
    with pytest.raises(ValueError, match="the cross-scale penalty is given twice"):
        TrainConfig.from_dict(
            config(model=hierarchical, spectral={"phase2": True}, regularizers={"cross_scale": {}})
        )
    module = AutoencoderModule(config(model=hierarchical, regularizers={"cross_scale": {"delta": 0.01}}))
    assert module.cross_scale is module.objective.regularizers["cross_scale"].penalty
    assert module.cross_scale.delta == 0.01


def test_yaml_round_trip(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(
        "output_dir: out\nmodel:\n  name: autoencoder\n  bottleneck: {name: vq, num_codes: 8}\n"
        "trainer: {max_steps: 5}\n"
    )
    parsed = TrainConfig.from_yaml(path)
    assert parsed.trainer.max_steps == 5 and parsed.data.name == "samples"
    assert TrainConfig.from_dict(parsed.to_dict()) == parsed
    with pytest.raises(ValueError, match="does not exist"):
        TrainConfig.from_yaml(tmp_path / "missing.yaml")


def test_nan_batch_error_names_the_step():
    module = AutoencoderModule(config())
    images = torch.rand(2, 3, 8, 8)
    images[1, 0, 2, 3] = float("nan")
    with pytest.raises(ValueError, match=r"images of training batch 4 \(global step 0\) must be finite"):
        module.training_step(images, 4)


def test_images_outside_unit_range_are_rejected():
    module = AutoencoderModule(config())
    with pytest.raises(ValueError, match=r"validation batch 0 .* must have values in \[0, 1\]"):
        module.validation_step(torch.rand(2, 3, 8, 8) * 255, 0)


def test_cli_train_reports_config_errors_in_one_line(tmp_path, capsys):
    from laserlab.cli import main

    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
    path = tmp_path / "bad.yaml"
    path.write_text(
        "output_dir: out\nmodel: {name: autoencoder, bottleneck: {name: vq, num_codes: 8}}\nloss: {mss: 1}\n"
    )
    assert main(["train", "--config", str(path)]) == 2
    assert "loss name must be one of ['dct', " in capsys.readouterr().err


def test_hierarchical_module_trains_a_step_and_logs_both_levels():
    hierarchical = {
        **MODEL,
        "name": "hierarchical",
        "coarse_bottleneck": {"name": "dictionary", "num_atoms": 16, "sparsity": 2},
    }
    module = AutoencoderModule(config(model=hierarchical, loss={"mse": 1.0, "dct": 0.1}))
    images = torch.rand(2, 3, 16, 16)
    output = module.model(images)
    scalars = module._scalars(output, images)
    assert {"perplexity", "coarse_perplexity", "coarse_sparsity", "bpp"} <= set(scalars)
    loss = module.objective(output, images).total
    loss.backward()
    assert all(p.grad is not None for p in module.model.coarse_encoder.parameters())
