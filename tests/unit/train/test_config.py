import pytest
import torch

from laserlab.train import TrainConfig
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
        ({"model": {**MODEL, "name": "vae"}}, r"model.name must be one of \['autoencoder', 'hierarchical'\]"),
        (
            {"loss": {"mse": 1.0, "perceptual": 1.0}},
            r"unknown loss name\(s\) \['perceptual'\]; valid names: \[",
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
        ({"callbacks": {"spectral": {}}}, r"unknown callbacks name\(s\) \['spectral'\]; valid names"),
        ({"regularizers": {"spectral": {}}}, r"unknown regularizers name\(s\) \['spectral'\]"),
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
    assert "unknown loss name(s) ['mss']; valid names:" in capsys.readouterr().err


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
