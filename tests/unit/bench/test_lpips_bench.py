import pytest

from laserlab.bench.lpips import main

pytest.importorskip("lpips")


def test_lpips_benchmark_runs_and_reports_the_ratio(capsys):
    assert main(["--nets", "squeeze", "--rounds", "1", "--batch", "1", "--size", "32", "--backward"]) == 0
    out = capsys.readouterr().out
    assert "forward + backward, 1 pairs of 32×32" in out
    row = next(line for line in out.splitlines() if line.startswith("squeeze"))
    ratio, difference = row.split()[3], row.split()[-1]
    assert float(ratio) > 0 and float(difference) < 1e-6
