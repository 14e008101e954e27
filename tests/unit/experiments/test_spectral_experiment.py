"""The spectral-regularisation harness: hand-computable speed-ups, spreads, BD-rates and verdicts, and
one tiny real grid (hierarchical VAE and single-scale hyperprior, every variant) through ``fit``."""

import math

import pytest
import torch

from laserlab.codecs import RDPoint
from laserlab.experiments import spectral
from laserlab.experiments.spectral import Grid, Run, RunKey
from laserlab.train import recipe

HVAE = {"name": "hierarchical_vae", "scales": 2, "N": 8, "M": 8}
MSH = {"name": "mean_scale_hyperprior", "N": 8, "M": 8}


# ------------------------------------------------------------------ spread
def test_spread_of_three_values_by_hand():
    s = spectral.spread([1.0, 2.0, 3.0])
    assert (s.count, s.values, s.mean, s.sd, s.minimum, s.maximum) == (3, [1.0, 2.0, 3.0], 2.0, 1.0, 1.0, 3.0)
    assert s.missing == 0
    assert s.format(unit="×") == "2.00× ± 1.00 (1.00–3.00)"


def test_spread_counts_none_as_missing_not_as_zero():
    s = spectral.spread([None, 1.5, 2.5])
    assert (s.count, s.values, s.mean, s.missing) == (3, [1.5, 2.5], 2.0, 1)
    assert s.sd == pytest.approx(math.sqrt(0.5))
    assert s.format(1).endswith("; 2/3 reached")


def test_spread_of_one_or_no_value():
    one = spectral.spread([1.25])
    assert (one.mean, one.sd, one.minimum) == (1.25, None, 1.25) and one.format() == "1.25"
    none = spectral.spread([None, None])
    assert (none.mean, none.sd, none.count) == (None, None, 2) and none.format() == "— (0/2)"
    assert spectral.spread([]).format() == "— (0/0)"


@pytest.mark.parametrize(
    ("values", "error"), [("1, 2", TypeError), (1.0, TypeError), ([1.0, math.nan], ValueError)]
)
def test_spread_rejects_what_is_not_a_list_of_numbers(values, error):
    with pytest.raises(error, match="values"):
        spectral.spread(values)


# ------------------------------------------------------------------ speed-up
BASELINE = [(10, 5.0), (20, 3.0), (30, 2.0), (40, 2.5)]  # final 2.5, first reached at step 30


def test_speedup_by_hand():
    target, base_steps, steps, ratio, final_ratio = spectral.speedup(
        BASELINE, [(10, 4.0), (20, 2.4), (30, 2.0)]
    )
    assert (target, base_steps, steps) == (2.5, 30, 20)
    assert ratio == 1.5 and final_ratio == pytest.approx(0.8)


def test_speedup_slower_and_never_reached():
    assert spectral.speedup(BASELINE, [(10, 4.0), (20, 3.0), (40, 2.5)])[3] == pytest.approx(0.75)
    _, _, steps, ratio, final_ratio = spectral.speedup(BASELINE, [(10, 4.0), (40, 3.0)])
    assert steps is None and ratio is None and final_ratio == pytest.approx(1.2)


def test_speedup_needs_histories():
    with pytest.raises(ValueError, match="non-empty histories"):
        spectral.speedup([], BASELINE)


def test_relative_late_gain_by_hand():
    # last quarter (steps > 75) mean 1.0, the quarter before (50 < s <= 75) mean 2.0: −1.0 / final 1.0
    history = [(25, 4.0), (50, 3.0), (75, 2.0), (100, 1.0)]
    assert spectral.relative_late_gain(history) == pytest.approx(-1.0)
    assert spectral.relative_late_gain([(25, 2.0), (50, 2.0), (75, 2.0), (100, 2.0)]) == 0.0
    assert spectral.relative_late_gain([(100, 1.0)]) is None


# ------------------------------------------------------------------ grids built by hand
def _run(arm, variant, lmbda, seed, history):
    key = RunKey(arm, variant, lmbda, seed)
    return Run(
        key, {spectral.RD_LOSS: history}, {}, model=None, checkpoint=None, wall_seconds=1.0, cpu_seconds=2.0
    )


def test_speedups_compare_each_run_with_its_own_seed_and_lambda_baseline():
    runs = [
        _run("a", "baseline", 0.1, 0, BASELINE),
        _run("a", "phase 1", 0.1, 0, [(10, 2.5)]),
        _run("a", "baseline", 0.1, 1, [(10, 9.0), (20, 1.0)]),
        _run("a", "phase 1", 0.1, 1, [(10, 0.5), (20, 0.5)]),
    ]
    grid = Grid({r.key: r for r in runs}, {}, ["a"], ["baseline", "phase 1"], [0.1], [0, 1])
    results = {r.key.seed: r for r in spectral.speedups(grid)}
    assert results[0].ratio == 3.0 and results[0].baseline_steps == 30
    assert results[1].ratio == 2.0 and results[1].target == 1.0
    assert grid.cpu_seconds == 8.0 and grid.wall_seconds == 4.0


def _point(bpp, psnr):
    return RDPoint("test", {}, bpp, {"psnr": psnr}, {"bpp": [bpp], "psnr": [psnr]})


def test_bd_rates_of_a_curve_at_nine_tenths_of_the_rate_is_minus_ten_percent():
    lmbdas, rates, psnrs = [0.1, 0.2, 0.4, 0.8], [0.1, 0.2, 0.4, 0.8], [20.0, 23.0, 26.0, 29.0]
    points = {}
    for variant, scale in (("baseline", 1.0), ("phase 1", 0.9)):
        for lmbda, rate, psnr in zip(lmbdas, rates, psnrs, strict=True):
            points[RunKey("a", variant, lmbda, 0)] = _point(scale * rate, psnr)
    runs = {key: _run(key.arm, key.variant, key.lmbda, key.seed, [(1, 1.0)]) for key in points}
    grid = Grid(runs, {}, ["a"], ["baseline", "phase 1"], lmbdas, [0])
    assert spectral.bd_rates(grid, points) == {("a", "phase 1", 0): pytest.approx(-10.0, abs=1e-9)}


def test_bd_rates_need_four_lambdas():
    grid = Grid({}, {}, ["a"], ["baseline"], [0.1, 0.2, 0.4], [0])
    with pytest.raises(ValueError, match=r"at least 4 points per codec, i.e. 4 or more λ; the grid has 3"):
        spectral.bd_rates(grid, {})


# ------------------------------------------------------------------ verdicts
@pytest.mark.parametrize(
    ("values", "paper", "expected"),
    [
        ([1.2, 1.5, 1.9], 1.84, "faster in every run, 1.53× ± 0.35 (1.20–1.90)"),
        ([0.8, 1.3, 1.1], 1.84, "the runs disagree"),
        ([0.8, 0.9, 0.7], 1.84, "slower in every run"),
        ([None, 1.2, 1.3], 0.91, "1 of 3 runs never reached the baseline's final R-D loss"),
        ([1.5, 1.6], 2.30, "only 2 run(s): no speed-up is claimed"),
    ],
)
def test_verdict_reads_the_numbers(values, paper, expected):
    text = spectral.verdict("hvae", "phase 1", spectral.spread(values), paper=paper)
    assert expected in text
    agrees = "the direction agrees with the paper" in text
    assert agrees == (expected.startswith("faster") or expected.startswith("1 of 3"))


def test_paper_numbers_are_the_reported_ones():
    assert {v: spectral.PAPER[v]["speedup"] for v in spectral.PAPER} == {
        "phase 1": 1.84,
        "phase 2": 0.91,
        "phase 1+2": 2.30,
    }


# ------------------------------------------------------------------ configuration checks
def test_run_key_folder_is_a_plain_path():
    assert (
        RunKey("single scale", "phase 1+2", 0.013, 2).folder == "single_scale/phase_1and2/lambda0.013/seed2"
    )


def test_phase2_applies_to_two_or_more_latents_only():
    assert spectral.phase2_unavailable(HVAE) is None
    reason = spectral.phase2_unavailable(MSH)
    assert "mean_scale_hyperprior has 1 latent" in reason and "pair of latent scales" in reason


@pytest.fixture
def base(tmp_path):
    return recipe(tmp_path / "unused", model=MSH, data={"image_size": 64, "batch_size": 8})


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"arms": {}}, TypeError, "arms must be a non-empty"),
        ({"variants": ["phase 1"]}, ValueError, "must include 'baseline'"),
        ({"variants": ["baseline", "phase 3"]}, ValueError, r"variants \['phase 3'\] are not among"),
        ({"lmbdas": []}, TypeError, "lmbdas must be a non-empty list"),
        ({"lmbdas": [0.0]}, ValueError, "lmbdas"),
        ({"seeds": [0, 0]}, ValueError, "seeds must not repeat"),
        ({"seeds": [0, -1]}, ValueError, r"seeds\[i\]"),
    ],
)
def test_run_grid_rejects_bad_options_before_training(base, tmp_path, changes, error, message):
    options = {"arms": {"msh": MSH}, "lmbdas": [0.01], "seeds": [0], "output_dir": tmp_path, **changes}
    with pytest.raises(error, match=message):
        spectral.run_grid(base, **options)


def test_run_grid_needs_a_train_config(tmp_path):
    with pytest.raises(TypeError, match="base must be a TrainConfig"):
        spectral.run_grid({}, arms={"msh": MSH}, lmbdas=[0.01], seeds=[0], output_dir=tmp_path)


# ------------------------------------------------------------------ a tiny real grid
@pytest.fixture(scope="module")
def tiny_grid(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("grid")
    base = recipe(
        root / "unused",
        model=MSH,
        # 7 photographs x 2 crops = 14 training images, batches of 8 (the last one dropped): 1 step per epoch
        data={"name": "samples", "image_size": 64, "batch_size": 8, "options": {"crops_per_image": 2}},
        optimizer={"lr": 1e-3},
        trainer={"max_steps": 4, "accelerator": "cpu", "gradient_clip_val": 1.0, "log_every_n_steps": 1},
        spectral={"steps": 2, "delta": 0.1},
    )
    finished = []
    grid = spectral.run_grid(
        base,
        arms={"hierarchical": HVAE, "single-scale": MSH},
        lmbdas=[0.01],
        seeds=[0],
        output_dir=root / "runs",
        on_run=finished.append,
    )
    return grid, finished


@pytest.mark.slow
def test_tiny_grid_trains_every_applicable_variant(tiny_grid):
    grid, finished = tiny_grid
    assert len(grid.runs) == 4 + 2 and [run.key for run in finished] == list(grid.runs)
    assert set(grid.skipped) == {("single-scale", "phase 2"), ("single-scale", "phase 1+2")}
    assert grid.ran("single-scale") == ["baseline", "phase 1"]
    for key, run in grid.runs.items():
        assert run.checkpoint.is_file() and run.cpu_seconds > 0
        assert run.history[spectral.RD_LOSS][-1][0] == 4
        assert math.isfinite(run.metrics[spectral.RD_LOSS])
        phase2 = spectral.VARIANTS[key.variant][1]
        assert ("val/loss_cross_scale" in run.history) == phase2
    assert len(spectral.speedups(grid)) == 3 + 1


@pytest.mark.slow
def test_tiny_grid_codes_real_files_and_measures_redundancy(tiny_grid):
    grid, _ = tiny_grid
    images = torch.rand(6, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    points = spectral.coded_points(grid, list(images[:2]))
    assert set(points) == set(grid.runs)
    assert all(p.bpp > 0 and math.isfinite(p.metrics["psnr"]) for p in points.values())
    scores = spectral.redundancies(grid, images)
    assert {key.arm for key in scores} == {"hierarchical"}
    assert all(len(r) == 1 and 0.0 <= r[0] <= 1.0 for r in scores.values())
