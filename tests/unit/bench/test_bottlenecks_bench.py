from laserlab.bench import bottlenecks as bench
from laserlab.bottlenecks import UPDATE_RULES


def test_benchmark_runs_every_rule_and_reports_ratios(capsys):
    assert bench.main(["--latent", "2,4,4,4", "--atoms", "8", "--sparsity", "2", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    for label in (
        "omp on the tokens",
        "VectorQuantizer (EMA)",
        *(f"DictionaryBottleneck {r}" for r in UPDATE_RULES),
    ):
        assert label in out
    assert "vs omp alone" in out and "32 tokens of M = 4" in out


def test_patch_tokens_skip_the_pixel_vq():
    assert bench.main(["--latent", "1,2,4,4", "--atoms", "8", "--sparsity", "2", "--patch-size", "2",
                       "--rounds", "1", "--rules", "ksvd"]) == 0  # fmt: skip
