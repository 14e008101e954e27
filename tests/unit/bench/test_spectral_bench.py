import re

import torch

from laserlab.bench import BENCHMARKS
from laserlab.bench import spectral as bench
from laserlab.spectral import haar_dwt


def test_spectral_benchmark_runs_every_section_and_reports_ratios(capsys):
    argv = ["--rounds", "1", "--batch", "2,1", "--sizes", "8,12", "--dwt-latents", "2,4,8,8", "1,8,4,6",
            "--penalty-latent", "2,4,4,4"]  # fmt: skip
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "load average" in out and "spectral" in BENCHMARKS
    for label in (
        "8×8  laserlab truncate",
        "12×12  scipy dctn/idctn (+ torch↔numpy)",
        "2×4×8×8  depthwise conv forward+backward",
        "1×8×4×6  laserlab haar_dwt forward",
        "laserlab CrossScalePenalty",
        "same with the conv Haar",
        "speed-up of truncate over the scipy reference at 12×12",
    ):
        assert label in out
    # every candidate agrees with its anchor: the last column of each timing row is the difference
    rows = [
        line.split() for line in out.splitlines() if "laserlab" in line or "conv" in line or "scipy" in line
    ]
    differences = [float(row[-1]) for row in rows if re.fullmatch(r"\d\.\de[+-]\d\d", row[-1])]
    assert len(differences) == 4 + 8 + 2 and max(differences) < 1e-5


def test_conv_anchor_is_the_same_transform():
    x = torch.randn(2, 3, 6, 8, dtype=torch.float64)
    torch.testing.assert_close(bench.haar_conv(x), haar_dwt(x), atol=1e-14, rtol=0)
