from laserlab.bench import wasserstein as bench


def test_benchmark_runs_and_reports_ratios(capsys):
    assert bench.main(["--rounds", "1", "--channels", "2", "--size", "16", "--levels", "2"]) == 0
    out = capsys.readouterr().out
    assert "agreement with the reference-style port" in out
    assert "speed-up over the reference-style port, forward+backward" in out
    assert "JAX reference" not in out  # the anchors are shown only for their own configuration


def test_reference_style_port_is_the_same_function():
    import torch

    from laserlab.perceptual.wasserstein import wasserstein_distortion

    a, b = torch.randn(3, 19, 22, dtype=torch.float64), torch.randn(3, 19, 22, dtype=torch.float64)
    sigma = torch.rand(19, 22, dtype=torch.float64) * 4
    ours = wasserstein_distortion(a, b, sigma, num_levels=4)
    assert abs(bench.reference_style_distortion(a, b, sigma, num_levels=4).item() - ours.item()) < 1e-13
