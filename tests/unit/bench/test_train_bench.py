from laserlab.bench.train import main


def test_train_bench_prints_every_model_with_its_ratio(capsys):
    argv = [
        "--image-size",
        "16",
        "--batch-size",
        "2",
        "--width",
        "16",
        "--dim",
        "8",
        "--codes",
        "16",
        "--sparsity",
        "2",
        "--rounds",
        "1",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "latent grid 4×4×8" in out and "load average" in out
    for label in (
        "VQ-VAE (EMA)",
        "DL-VAE (gradient)",
        "DL-VAE (online)",
        "K-SVD-VAE (approx)",
        "K-SVD-VAE (exact)",
    ):
        assert label in out
    assert "1.00x" in out
