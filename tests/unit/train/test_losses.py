import pytest
import torch

from laserlab import perceptual
from laserlab.models import Autoencoder
from laserlab.spectral import dct_2d
from laserlab.train import Objective, multiresolution_dct_loss, multiresolution_gradient_loss


def test_dct_loss_matches_hand_computation_and_vanishes_on_equal_images():
    torch.manual_seed(0)
    a, b = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    expected = []
    for s in (1, 2):
        pa, pb = torch.nn.functional.avg_pool2d(a, s), torch.nn.functional.avg_pool2d(b, s)
        la, lb = (dct_2d(pa).abs() + 0.01).log(), (dct_2d(pb).abs() + 0.01).log()
        expected.append((la - lb).abs().mean((1, 2, 3)))
    got = multiresolution_dct_loss(a, b, scales=(1, 2), epsilon=0.01)
    torch.testing.assert_close(got, torch.stack(expected).mean(0))
    assert torch.all(multiresolution_dct_loss(a, a) == 0)


def test_gradient_loss_sees_edges_not_offsets():
    x = torch.zeros(1, 1, 8, 8)
    x[..., 4:] = 1.0
    assert float(multiresolution_gradient_loss(x + 0.0, x.clamp(max=0.5) + 0.0, scales=(1,))) > 0
    # a constant offset changes no gradient
    assert float(multiresolution_gradient_loss(x * 0.5 + 0.25, x * 0.5, scales=(1, 2))) == 0


def test_dct_gradient_is_bounded_by_one_over_epsilon():
    a = torch.full((1, 1, 8, 8), 0.5, requires_grad=True)
    multiresolution_dct_loss(a, torch.rand(1, 1, 8, 8), scales=(1,), epsilon=0.01).sum().backward()
    assert float(a.grad.abs().max()) <= 1 / 0.01


def test_objective_weights_terms_and_adds_bottleneck_loss():
    model = Autoencoder({"name": "vq", "num_codes": 8}, latent_dim=4, width=8, downsample=2)
    images = torch.rand(2, 3, 16, 16)
    out = model(images)
    objective = Objective({"mse": 2.0, "l1": 0.0, "gradient": 0.5}, bottleneck_weight=3.0)
    losses = objective(out, images)
    assert set(losses.terms) == {"mse", "gradient", "bottleneck"}
    mse = (out.reconstruction - images).square().mean()
    torch.testing.assert_close(losses.terms["mse"], 2 * mse)
    torch.testing.assert_close(losses.terms["bottleneck"], 3 * out.bottleneck_loss)
    torch.testing.assert_close(losses.total, sum(losses.terms.values()))


def test_perceptual_slot_takes_wasserstein_with_a_sigma_map():
    sigma = {"name": "foveated", "size": 16, "radius": 4.0}
    objective = Objective({"wasserstein": 1.0}, options={"wasserstein": {"sigma": sigma}})
    torch.testing.assert_close(
        objective.terms["wasserstein"].log2_sigma, perceptual.sigma.foveated(16, radius=4.0)
    )
    model = Autoencoder({"name": "vq", "num_codes": 8}, latent_dim=4, width=8, downsample=2)
    images = torch.rand(2, 3, 16, 16)
    losses = objective(model(images), images)
    assert losses.terms["wasserstein"].shape == () and float(losses.terms["wasserstein"].detach()) > 0


def test_regulariser_terms_are_added_by_name():
    class LatentEnergy(torch.nn.Module):
        def forward(self, output, images):
            return {"latent_energy": 0.1 * output.latent.square().mean()}

    model = Autoencoder({"name": "vq", "num_codes": 8}, latent_dim=4, width=8, downsample=2)
    images = torch.rand(1, 3, 8, 8)
    out = model(images)
    losses = Objective({"mse": 1.0}, regularizers={"energy": LatentEnergy()})(out, images)
    torch.testing.assert_close(losses.terms["latent_energy"], 0.1 * out.latent.square().mean())


def test_objective_errors_list_valid_names():
    with pytest.raises(ValueError, match=r"loss name must be one of \['dct', .*\]; got 'ssim'"):
        Objective({"ssim": 1.0})
    with pytest.raises(ValueError, match=r"loss 'dct' has no option\(s\) \['eps'\]; valid options"):
        Objective({"dct": 1.0}, options={"dct": {"eps": 0.1}})
    with pytest.raises(ValueError, match=r"loss 'wasserstein' needs option\(s\) \['sigma'\]"):
        Objective({"wasserstein": 1.0})
    with pytest.raises(TypeError, match=r"sigma must be a mapping \{'name': <sigma map>"):
        Objective({"wasserstein": 1.0}, options={"wasserstein": {"sigma": "constant"}})
    with pytest.raises(ValueError, match="loss weight 'mse' must be"):
        Objective({"mse": -1.0})
    with pytest.raises(ValueError, match="loss_options given for"):
        Objective({"mse": 1.0}, options={"dct": {"epsilon": 0.1}})
    with pytest.raises(ValueError, match="epsilon must be"):
        Objective({"dct": 1.0}, options={"dct": {"epsilon": 0.0}})
