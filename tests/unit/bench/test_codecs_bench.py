from laserlab.bench import BENCHMARKS
from laserlab.bench import codecs as bench


def test_codecs_benchmark_times_every_codec_and_the_entropy_coder(capsys):
    argv = [
        "--sources",
        "chelsea",
        "--short-side",
        "16",
        "--rounds",
        "1",
        "--symbols",
        "50",
        "--alphabets",
        "4",
        "--learned-channels",
        "8",
        "8",
        "--learned-steps",
        "1",
    ]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "codecs" in BENCHMARKS and "load average" in out and "chelsea 16×24" in out
    labels = ("jpeg(quality=75)", "webp(quality=75)", "thumbnail(factor=8", "mean_colour()", "K=4 zipf")
    for label in (*labels, "mean_scale_hyperprior(N=8, M=8, 1 steps)"):
        assert label in out
    starts = ("jpeg(", "webp(", "K=4", "mean_scale_hyperprior(")
    rows = [line.split() for line in out.splitlines() if line.startswith(starts)]
    assert len(rows) == 5 and all(float(row[-2]) > 0 for row in rows)
