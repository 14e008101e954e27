import matplotlib
import matplotlib.pyplot
import pytest
import torch

from laserlab.viz import rate_distortion, rate_distortion_panels, reconstruction_grid, training_curves

matplotlib.use("Agg")


def test_reconstruction_grid_layout_and_shared_error_scale():
    originals = torch.rand(2, 3, 8, 8)
    fig = reconstruction_grid(originals, {"a": originals.clamp(0.1, 0.9), "b": torch.zeros(2, 3, 8, 8)})
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(axes) == 2 * 5
    maps = [ax.images[0] for ax in axes[:5] if ax.images[0].get_cmap().name == "magma"]
    assert len(maps) == 2 and maps[0].get_clim() == maps[1].get_clim()
    assert "dB" in axes[1].get_title()
    with pytest.raises(ValueError, match="must have the shape of originals"):
        reconstruction_grid(originals, {"a": torch.rand(1, 3, 8, 8)})


def test_curves_and_rate_distortion_draw_one_line_per_model():
    history = {"train/loss_step": [(0, 1.0), (1, 0.5)], "val/psnr": [(1, 20.0)]}
    fig = training_curves({"vq": history, "dl": history})
    assert [len(ax.lines) for ax in fig.axes] == [2, 2]
    fig = rate_distortion({"vq": [(0.5, 20.0), (0.25, 18.0)], "dl": [(0.4, 21.0)]})
    assert len(fig.axes[0].lines) == 2
    assert list(fig.axes[0].lines[0].get_xdata()) == [0.25, 0.5]


def test_training_curves_keep_one_colour_per_model_when_a_metric_is_missing():
    both = {"train/loss_step": [(0, 1.0), (1, 0.5)], "train/penalty": [(0, 0.2), (1, 0.1)]}
    fig = training_curves(
        {"baseline": {"train/loss_step": [(0, 1.1), (1, 0.6)]}, "regularised": both},
        metrics=("train/loss_step", "train/penalty"),
    )
    loss_ax, penalty_ax = fig.axes
    colours = {line.get_label(): line.get_color() for line in loss_ax.lines}
    assert [line.get_label() for line in penalty_ax.lines] == ["regularised"]
    assert penalty_ax.lines[0].get_color() == colours["regularised"] != colours["baseline"]
    assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == ["baseline", "regularised"]
    matplotlib.pyplot.close(fig)


def test_rate_distortion_draws_baselines_in_grey_behind_the_models():
    baselines = {"mean colour": [(0.02, 21.0)], "thumbnail": [(0.5, 28.0), (0.1, 24.0), (2.0, 32.0)]}
    fig = rate_distortion({"vq": [(0.5, 23.0)]}, baselines=baselines, log_rate=True, title="32²")
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"mean colour", "thumbnail", "vq"}
    assert list(lines["thumbnail"].get_xdata()) == [0.1, 0.5, 2.0]
    assert lines["mean colour"].get_marker() == "s" and lines["thumbnail"].get_linestyle() == ":"
    assert lines["thumbnail"].get_zorder() < lines["vq"].get_zorder()
    assert ax.get_xscale() == "log" and ax.get_title() == "32²"
    matplotlib.pyplot.close(fig)


def test_rate_distortion_panels_draw_one_panel_per_metric_with_grey_baselines():
    from laserlab.codecs import RDPoint

    def point(bpp, psnr):
        metrics = {"psnr": psnr, "lpips": 1 / psnr}
        return RDPoint("x", {}, bpp, metrics, {"bpp": [bpp], **{k: [v] for k, v in metrics.items()}})

    curves = {
        "mean colour": [point(0.01, 14.0)],
        "jpeg": [point(1.0, 30.0), point(0.5, 26.0)],
        "model": [point(0.3, 22.0)],
    }
    fig = rate_distortion_panels(
        curves, metrics=("psnr", "lpips"), baselines=["mean colour"], ylabels={"lpips": "LPIPS (random)"}
    )
    psnr_ax, lpips_ax = fig.axes
    assert psnr_ax.get_ylabel() == "PSNR (dB)" and lpips_ax.get_ylabel() == "LPIPS (random)"
    assert psnr_ax.get_xlabel() == "bits per pixel (coded files)" and psnr_ax.get_xscale() == "log"
    lines = {line.get_label(): line for line in lpips_ax.get_lines()}
    assert list(lines["jpeg"].get_xdata()) == [0.5, 1.0]
    assert list(lines["jpeg"].get_ydata()) == [1 / 26.0, 1 / 30.0]
    assert lines["mean colour"].get_zorder() < lines["model"].get_zorder()
    assert lines["mean colour"].get_color() != lines["jpeg"].get_color()
    with pytest.raises(ValueError, match="baselines must name curves"):
        rate_distortion_panels(curves, baselines=["webp"])
    with pytest.raises(ValueError, match="this point has the values"):
        rate_distortion_panels(curves, metrics=("ms_ssim",))
    matplotlib.pyplot.close("all")
