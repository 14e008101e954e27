import matplotlib.pyplot as plt

from laserlab.experiments.pixels import Row
from laserlab.viz import rate_distortion


def _row(method, s, fitted_on, mse, bpp, k=16):
    return Row(method, k, s, 1, fitted_on, mse, mse, 0.0, bpp, bpp)


def test_rate_distortion_draws_one_line_per_method_and_fit_set():
    rows = [
        _row("vq", 1, "train", 1e-2, 4.0), _row("vq", 1, "train", 5e-3, 8.0, k=256),
        _row("omp", 1, "train", 2e-3, 12.0), _row("omp", 3, "train", 0.0, 33.1),
        _row("mp", 1, "test (in-sample)", 2e-4, 12.0),
    ]  # fmt: skip
    fig = rate_distortion(rows, title="pixels")
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {
        "VQ (k-means), fitted on train", "exact OMP, fitted on train",
        "matching pursuit, fitted on test (in-sample)",
    }  # fmt: skip
    assert lines["matching pursuit, fitted on test (in-sample)"].get_linestyle() == "--"
    omp_y = lines["exact OMP, fitted on train"].get_ydata()
    assert omp_y[1] == 1e-4  # MSE 0 is drawn at half the smallest positive MSE, on the log axis
    assert ax.get_yscale() == "log" and ax.get_title() == "pixels"
    plt.close(fig)
