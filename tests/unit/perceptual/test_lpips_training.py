"""LPIPS training: the ranking network and loss against lpips, the schedule, the clamp, determinism."""

import warnings

import pytest
import torch
import torchvision

from laserlab.data.twoafc import Synthetic2AFC
from laserlab.perceptual import LPIPS, RankingNetwork, evaluate_2afc, train_lpips
from laserlab.perceptual.lpips_training import learning_rate

lpips = pytest.importorskip("lpips")


def noise_triplets(n, *, size=32, seed=0):
    """An easy task: p0 and p1 are the reference plus weak or strong noise; judge says which is worse."""
    g = torch.Generator().manual_seed(seed)
    ref = torch.nn.functional.interpolate(torch.rand(n, 3, 8, 8, generator=g), size=size, mode="bilinear")
    weak = (ref + 0.03 * torch.randn(ref.shape, generator=g)).clamp(0, 1)
    strong = (ref + 0.3 * torch.randn(ref.shape, generator=g)).clamp(0, 1)
    p0_strong = torch.rand(n, generator=g) < 0.5
    mask = p0_strong[:, None, None, None]
    p0, p1 = torch.where(mask, strong, weak), torch.where(mask, weak, strong)
    judge = p0_strong.float()  # everyone prefers the weakly distorted side
    return Synthetic2AFC(
        ref, p0, p1, judge, groups=["noise"] * n, p0_distortion=[], p1_distortion=[], description="test"
    )


def test_ranking_network_and_loss_equal_lpips_bce_ranking_loss():
    torch.manual_seed(0)
    ours = RankingNetwork()
    assert sum(p.numel() for p in ours.parameters()) == 1281
    reference = lpips.BCERankingLoss()
    mapped = {f"net.model.{k.split('.', 1)[1]}": v for k, v in ours.state_dict().items()}
    reference.load_state_dict(mapped, strict=True)
    g = torch.Generator().manual_seed(1)
    d0, d1, judge = torch.rand(7, generator=g), torch.rand(7, generator=g), torch.rand(7, generator=g)
    expected_loss = reference(d0.view(-1, 1, 1, 1), d1.view(-1, 1, 1, 1), judge.view(-1, 1, 1, 1) * 2 - 1)
    assert torch.equal(ours(d0, d1), reference.logit.reshape(-1))
    loss = torch.nn.functional.binary_cross_entropy(ours(d0, d1), judge)
    assert torch.allclose(loss, expected_loss, rtol=0, atol=1e-7)


def upstream_schedule(epochs, lr=1e-4):
    """lpips' train.py: the lr drops by lr/nepoch_decay after every epoch > nepoch."""
    nepoch, nepoch_decay = epochs // 2, epochs - epochs // 2
    rates, current = [], lr
    for epoch in range(1, nepoch + nepoch_decay + 1):
        rates.append(current)
        if epoch > nepoch:
            current -= lr / nepoch_decay
    return rates


def test_schedule_is_the_reference_six_flat_and_four_decaying_epochs():
    rates = [learning_rate(e, epochs=10) for e in range(1, 11)]
    assert rates == pytest.approx([1e-4] * 6 + [8e-5, 6e-5, 4e-5, 2e-5], rel=1e-12)
    for epochs in range(1, 13):
        assert [learning_rate(e, epochs=epochs, lr=0.3) for e in range(1, epochs + 1)] == pytest.approx(
            upstream_schedule(epochs, 0.3), rel=1e-12
        )
    with pytest.raises(ValueError, match=r"epoch must be an int in \[1, 10\]"):
        learning_rate(11, epochs=10)
    with pytest.raises(TypeError, match=r"epoch must be an int in \[1, 10\]"):
        learning_rate(1.0, epochs=10)


def test_lin_training_lowers_the_loss_keeps_heads_non_negative_and_leaves_the_backbone_alone():
    data = noise_triplets(48)
    model = LPIPS("alex", weights=None, lin=None)
    assert any((h < 0).any() for h in model.heads)  # PyTorch's default init, as upstream's trainer
    backbone = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    result = train_lpips(model, data, epochs=6, batch_size=8, lr=1e-2, validation=data)
    losses = [log.loss for log in result.epochs]
    assert losses[-1] < 0.8 * losses[0]
    assert result.epochs[-1].validation_score >= result.initial_validation_score
    assert result.epochs[-1].validation_score > 0.9
    assert all((h >= 0).all() for h in model.heads) and all(h.sum() > 0 for h in model.heads)
    assert all(torch.equal(v, model.backbone.state_dict()[k]) for k, v in backbone.items())
    assert len(result.step_losses) == 6 * 6 and [log.lr for log in result.epochs] == pytest.approx(
        [1e-2] * 4 + [2 / 3 * 1e-2, 1 / 3 * 1e-2]
    )
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_training_is_deterministic_for_a_seed():
    data = noise_triplets(16)

    def run(seed):
        torch.manual_seed(0)  # the same random backbone every time
        model = LPIPS("squeeze", weights=None, lin="uniform")
        result = train_lpips(model, data, epochs=2, batch_size=8, lr=1e-3, seed=seed)
        return result.step_losses, [h.detach().clone() for h in model.heads]

    (losses, heads), (again, heads_again), (other, _) = run(3), run(3), run(4)
    assert losses == again and all(torch.equal(a, b) for a, b in zip(heads, heads_again, strict=True))
    assert losses != other


def test_scratch_and_tune_train_the_backbone_but_never_clamp_squeezenets_own_convolutions():
    data = noise_triplets(8)
    model = LPIPS("squeeze", weights=None, lin=None)
    fire = model.backbone.features[3].squeeze.weight  # a Fire module's 1×1 squeeze convolution
    assert (fire < 0).any()
    before = fire.detach().clone()
    train_lpips(model, data, variant="scratch", epochs=1, batch_size=4, lr=1e-3)
    assert not torch.equal(before, fire.detach())  # trained …
    assert (fire < 0).any()  # … and not projected (upstream clamps every 1×1 kernel)
    assert all((h >= 0).all() for h in model.heads)


def test_variants_are_checked(tmp_path):
    data = noise_triplets(4)
    path = tmp_path / "alexnet.pth"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pretrained = LPIPS("alex", weights=path, lin=None)
    with pytest.raises(ValueError, match="variant 'scratch' trains from a random backbone"):
        train_lpips(pretrained, data, variant="scratch")
    with pytest.raises(ValueError, match=r"variant must be one of \['lin', 'tune', 'scratch'\]"):
        train_lpips(pretrained, data, variant="finetune")
    with pytest.raises(TypeError, match="model must be a laserlab LPIPS module"):
        train_lpips(torch.nn.Identity(), data)
    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        train_lpips(pretrained, data, epochs=0)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        train_lpips(pretrained, data, batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an int >= 1"):
        train_lpips(pretrained, data, batch_size=4.0)
    with pytest.raises(TypeError, match=r"lr must be a finite number in \(0, inf\)"):
        train_lpips(pretrained, data, lr="1e-4")


def test_a_failing_run_leaves_the_model_frozen():
    data = noise_triplets(4)
    model = LPIPS("squeeze", weights=None, lin=None)

    def stop(log):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_lpips(model, data, epochs=2, batch_size=4, on_epoch=stop)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert evaluate_2afc(model, data).score >= 0


def test_training_steps_equal_the_lpips_trainer_with_dropout_off():
    """Same backbone, heads, ranking network and batch: lpips' Trainer.optimize_parameters and ours agree."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = lpips.Trainer()
        trainer.initialize(model="lpips", net="alex", pnet_rand=True, is_train=True, use_gpu=False)
    for module in trainer.net.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0  # dropout draws cannot be matched; everything else can
    model = LPIPS("alex", weights=None, lin=None, dropout=0.0)
    state = trainer.net.state_dict()
    model.backbone.load_state_dict(
        {f"features.{k.split('.', 2)[2]}": v for k, v in state.items() if k.startswith("net.slice")}
    )
    with torch.no_grad():
        for k, head in enumerate(model.heads):
            head.copy_(state[f"lin{k}.model.1.weight"])
    ranking = RankingNetwork()
    ranking.load_state_dict(
        {f"layers.{k.split('.', 2)[2]}": v for k, v in trainer.rankLoss.state_dict().items()}
    )

    data = noise_triplets(6)
    trainer.set_input(
        {
            "ref": data.ref * 2 - 1,
            "p0": data.p0 * 2 - 1,
            "p1": data.p1 * 2 - 1,
            "judge": data.judge.view(-1, 1, 1, 1),
        }
    )
    losses = []
    for _ in range(2):  # two steps: the second one depends on Adam's betas
        trainer.optimize_parameters()
        losses.append(trainer.loss_total.item())
    result = train_lpips(model, data, epochs=2, batch_size=6, ranking=ranking)

    assert result.step_losses == pytest.approx(losses, abs=1e-6)
    for k, head in enumerate(model.heads):
        assert torch.allclose(head, trainer.net.state_dict()[f"lin{k}.model.1.weight"], rtol=0, atol=1e-7)
    for key, value in trainer.rankLoss.state_dict().items():
        assert torch.allclose(
            ranking.state_dict()[f"layers.{key.split('.', 2)[2]}"], value, rtol=0, atol=1e-7
        )
