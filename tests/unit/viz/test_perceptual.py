import matplotlib
import pytest
import torch

from laserlab.perceptual.lpips_training import EpochLog, RankingNetwork, TrainingResult
from laserlab.viz import distance_maps, learning_curve, score_table

matplotlib.use("Agg")


def test_score_table_annotates_every_cell_and_bolds_the_best_measure():
    scores = {
        "L2": {"blur": 0.7, "noise": 0.9},
        "LPIPS": {"blur": 0.8, "noise": 0.6},
        "oracle": {"blur": 1.0},
    }
    fig = score_table(scores, title="2AFC", references=("oracle",))
    ax = fig.axes[0]
    texts = {(t.get_position(), t.get_text()): t.get_fontweight() for t in ax.texts}
    assert len(texts) == 5  # the missing oracle/noise cell stays blank
    assert texts[((0, 1), "0.800")] == "bold" and texts[((0, 0), "0.700")] == "normal"
    assert texts[((1, 0), "0.900")] == "bold" and texts[((0, 2), "1.000")] == "normal"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["blur", "noise"]
    with pytest.raises(ValueError, match="at least one row"):
        score_table({})


def test_distance_maps_checks_shapes():
    images = torch.rand(2, 3, 16, 20)
    fig = distance_maps(images, images.flip(0), torch.rand(2, 16, 20), titles=["a", "b"])
    assert len(fig.axes) == 7  # 3 × 2 panels and a colour bar
    with pytest.raises(ValueError, match=r"maps \(N, H, W\)"):
        distance_maps(images, images, torch.rand(2, 1, 16, 20))


def test_learning_curve_draws_losses_scores_and_the_schedule():
    epochs = [EpochLog(1, 1e-4, 0.7, 0.6, 0.65), EpochLog(2, 5e-5, 0.6, 0.7, 0.7)]
    result = TrainingResult("lin", epochs, [0.72, 0.69, 0.61, 0.59], RankingNetwork(), 0.5)
    fig = learning_curve(result)
    loss_axis, score_axis, lr_axis = fig.axes
    assert len(loss_axis.lines) == 2 and len(score_axis.lines) == 2
    assert lr_axis.get_ylabel() == "learning rate"
    assert list(score_axis.lines[1].get_ydata()) == [0.5, 0.65, 0.7]
