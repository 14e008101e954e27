"""2AFC/JND judgements: the BAPPS loader on a fixture in BAPPS layout, and the synthetic generator."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from laserlab import usage
from laserlab.data import twoafc
from laserlab.data.datasets import DatasetUnavailableError
from laserlab.data.distortions import DISTORTIONS, distort
from laserlab.data.twoafc import Pair, Triplet


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _npy(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.array([value], dtype=np.float32))


def make_bapps(root, *, size=(48, 40), judges=None, sames=None):
    """A tiny BAPPS tree: 2afc/val/{traditional,cnn}, jnd/val/traditional; returns the pixel arrays."""
    rng = np.random.default_rng(0)
    judges = judges or {"traditional": [0.0, 0.6, 1.0], "cnn": [0.2, 0.8]}
    sames = sames or {"traditional": [1.0, 0.0, 0.5, 0.25]}
    arrays = {}
    for subset, values in judges.items():
        for i, judge in enumerate(values):
            for part in ("ref", "p0", "p1"):
                array = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
                arrays["2afc", subset, part, i] = array
                _png(root / "2afc" / "val" / subset / part / f"{i:06d}.png", array)
            _npy(root / "2afc" / "val" / subset / "judge" / f"{i:06d}.npy", judge)
    for subset, values in sames.items():
        for i, same in enumerate(values):
            for part in ("p0", "p1"):
                array = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
                arrays["jnd", subset, part, i] = array
                _png(root / "jnd" / "val" / subset / part / f"{i:06d}.png", array)
            _npy(root / "jnd" / "val" / subset / "same" / f"{i:06d}.npy", same)
    return arrays


@pytest.fixture
def bapps(tmp_path):
    root = tmp_path / "bapps"
    return root, make_bapps(root)


def test_bapps_2afc_items_are_the_files_in_zero_one(bapps):
    root, arrays = bapps
    data = twoafc.bapps_2afc(root, subsets=["traditional", "cnn"], image_size=None)
    assert len(data) == 5 and not data.synthetic
    assert data.groups == ["traditional"] * 3 + ["cnn"] * 2
    item = data[4]
    assert isinstance(item, Triplet)
    for part in ("ref", "p0", "p1"):
        expected = torch.from_numpy(arrays["2afc", "cnn", part, 1]).permute(2, 0, 1).float() / 255
        assert torch.equal(getattr(item, part), expected)
    assert item.judge.dtype == torch.float32 and float(item.judge) == pytest.approx(0.8)
    assert [float(data[i].judge) for i in range(3)] == pytest.approx([0.0, 0.6, 1.0])


def test_bapps_resize_is_upstreams_transform_without_the_normalisation(bapps):
    from torchvision import transforms

    root, _ = bapps
    data = twoafc.bapps_2afc(root, subsets=["traditional"], image_size=64)
    ours = data[1].p0
    assert ours.shape == (3, 76, 64)  # shorter side 40 → 64, aspect kept
    upstream = transforms.Compose(
        [transforms.Resize(64), transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3)]
    )
    with Image.open(root / "2afc/val/traditional/p0/000001.png") as image:
        expected = upstream(image.convert("RGB"))
    # upstream resizes the 8-bit PIL image and rounds to 8 bits after each of its two passes; ours is float
    assert float((ours * 2 - 1 - expected).abs().max()) <= 2 * 1.5 / 255
    # at the native size (BAPPS: 64 × 64 at image_size=64) nothing is resized and both agree exactly
    native = twoafc.bapps_2afc(root, subsets=["traditional"], image_size=40)[1].p0
    with Image.open(root / "2afc/val/traditional/p0/000001.png") as image:
        expected = transforms.Compose([transforms.Resize(40), transforms.ToTensor()])(image.convert("RGB"))
    assert torch.equal(native, expected)


def test_bapps_jnd_pairs(bapps):
    root, arrays = bapps
    data = twoafc.bapps_jnd(root, subsets=["traditional"], image_size=None)
    assert len(data) == 4 and data.groups == ["traditional"] * 4
    item = data[2]
    assert isinstance(item, Pair) and float(item.same) == 0.5
    assert torch.equal(
        item.p1, torch.from_numpy(arrays["jnd", "traditional", "p1", 2]).permute(2, 0, 1) / 255
    )


def test_bapps_batches_through_the_default_collate(bapps):
    root, _ = bapps
    batch = next(iter(DataLoader(twoafc.bapps_2afc(root, subsets=["traditional"]), batch_size=3)))
    assert isinstance(batch, Triplet)
    assert batch.ref.shape == (3, 3, 76, 64) and batch.judge.shape == (3,)


def test_bapps_is_found_inside_the_download_scripts_dataset_folder(tmp_path):
    make_bapps(tmp_path / "bapps" / "dataset", judges={"traditional": [0.5]}, sames={"traditional": [0.5]})
    assert twoafc.bapps_root(tmp_path / "bapps") == tmp_path / "bapps" / "dataset"
    assert len(twoafc.bapps_2afc(tmp_path / "bapps", subsets=["traditional"])) == 1


def test_bapps_default_root_is_data_bapps(tmp_path, monkeypatch):
    monkeypatch.setenv("LASERLAB_DATA_DIR", str(tmp_path))
    assert twoafc.bapps_root() == tmp_path / "bapps"
    assert not twoafc.bapps_available()
    make_bapps(tmp_path / "bapps")
    assert not twoafc.bapps_available()  # four val subsets missing
    for subset in ("superres", "deblur", "color", "frameinterp"):
        make_bapps(tmp_path / "bapps", judges={subset: [0.5]})
    assert twoafc.bapps_available()
    assert not twoafc.bapps_available(kind="jnd")  # cnn missing
    assert len(twoafc.bapps_2afc()) == 9


def test_bapps_loading_is_recorded_as_real_data(bapps):
    usage.clear()
    twoafc.bapps_jnd(bapps[0], subsets=["traditional"])
    record = usage.records()[-1]
    assert record.name.startswith("BAPPS jnd/val") and not record.substituted


def test_missing_bapps_says_where_to_put_it(tmp_path):
    with pytest.raises(DatasetUnavailableError, match=r"2afc/val/traditional not found.*twoafc_val\.tar\.gz"):
        twoafc.bapps_2afc(tmp_path, subsets=["traditional"])
    with pytest.raises(DatasetUnavailableError, match=r"jnd\.tar\.gz"):
        twoafc.bapps_jnd(tmp_path)


def test_bapps_files_must_pair_up(bapps):
    root, _ = bapps
    _png(root / "2afc/val/cnn/p1/000007.png", np.zeros((8, 8, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"p1/ holds 3 files but judge/ holds 2.*000007"):
        twoafc.bapps_2afc(root, subsets=["cnn"])
    for part in ("ref", "p0", "p1", "judge"):
        (root / "2afc/val/superres" / part).mkdir(parents=True)
    with pytest.raises(ValueError, match=r"superres holds no items"):
        twoafc.bapps_2afc(root, subsets=["traditional", "superres"])
    (root / "2afc/val/traditional/judge").rename(root / "judge-elsewhere")
    with pytest.raises(DatasetUnavailableError, match=r"traditional is incomplete: .*judge is missing"):
        twoafc.bapps_2afc(root, subsets=["traditional"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "test"}, r"split must be 'train' or 'val' for 2afc"),
        ({"subsets": ["superres", "nope"]}, r"subsets must be a non-empty selection of \['traditional'"),
        ({"subsets": []}, r"subsets must be a non-empty selection"),
        ({"image_size": 0}, r"image_size must be an int >= 1"),
    ],
)
def test_bapps_bad_arguments(bapps, kwargs, message):
    with pytest.raises(ValueError, match=message):
        twoafc.bapps_2afc(bapps[0], **kwargs)
    with pytest.raises(TypeError, match=r"image_size must be an int >= 1; got 64.0"):
        twoafc.bapps_2afc(bapps[0], image_size=64.0)


# ------------------------------------------------------------------------------------------------
# Synthetic judgements


@pytest.fixture(scope="module")
def references():
    g = torch.Generator().manual_seed(0)
    smooth = torch.nn.functional.interpolate(torch.rand(3, 3, 8, 8, generator=g), size=32, mode="bilinear")
    return smooth.clamp(0, 1)


def _sigmoid(x, t):
    return 1 / (1 + math.exp(-x / t))


def test_synthetic_2afc_follows_its_labelling_rule(references):
    usage.clear()
    data = twoafc.synthetic_2afc(references, triplets_per_reference=2, seed=3)
    families = list(DISTORTIONS)
    assert len(data) == 3 * len(families) * 2
    assert data.groups == [f for _ in range(3) for f in families for _ in range(2)]
    for i in range(len(data)):
        (f0, a, s0, seed0), (f1, b, s1, seed1) = data.p0_distortion[i], data.p1_distortion[i]
        assert f0 == data.groups[i]
        assert s0 == DISTORTIONS[f0].sweep[a - 1] and s1 == DISTORTIONS[f1].sweep[b - 1]
        assert a / 5 != b / 5
        assert float(data.judge[i]) == pytest.approx(_sigmoid(a / 5 - b / 5, 0.1), abs=1e-7)
        item = data[i]
        assert torch.equal(item.ref, references[i // (2 * len(families))])
        assert torch.equal(item.p0, distort(item.ref[None], f0, s0, seed=seed0)[0])
        assert torch.equal(item.p1, distort(item.ref[None], f1, s1, seed=seed1)[0])
    mixed = [d0[0] != d1[0] for d0, d1 in zip(data.p0_distortion, data.p1_distortion, strict=True)]
    assert 0 < sum(mixed) < len(data)  # cross_family=0.5 by default
    assert data.synthetic and data.description.startswith("SYNTHETIC 2AFC")
    record = usage.records()[-1]
    assert record.substituted and "not from human raters" in record.reason


def test_synthetic_2afc_is_seeded(references):
    first = twoafc.synthetic_2afc(references, seed=1)
    again = twoafc.synthetic_2afc(references, seed=1)
    other = twoafc.synthetic_2afc(references, seed=2)
    assert torch.equal(first.p0, again.p0) and torch.equal(first.judge, again.judge)
    assert first.p0_distortion == again.p0_distortion
    assert first.p0_distortion != other.p0_distortion


def test_synthetic_2afc_family_mixing_and_hard_labels(references):
    same = twoafc.synthetic_2afc(references, distortions=["gaussian_blur", "jpeg"], cross_family=0.0)
    assert all(d0[0] == d1[0] for d0, d1 in zip(same.p0_distortion, same.p1_distortion, strict=True))
    mixed = twoafc.synthetic_2afc(references, distortions=["gaussian_blur", "jpeg"], cross_family=1.0)
    assert all(d0[0] != d1[0] for d0, d1 in zip(mixed.p0_distortion, mixed.p1_distortion, strict=True))
    hard = twoafc.synthetic_2afc(references, temperature=0)
    assert set(hard.judge.tolist()) <= {0.0, 1.0}
    for judge, (_, a, *_), (_, b, *_) in zip(hard.judge, hard.p0_distortion, hard.p1_distortion, strict=True):
        assert float(judge) == (1.0 if a > b else 0.0)  # p0 worse → everyone prefers p1


def test_synthetic_jnd_follows_its_labelling_rule(references):
    data = twoafc.synthetic_jnd(
        references, distortions=["shift", "jpeg"], pairs_per_reference=3, threshold=0.5
    )
    assert len(data) == 3 * 2 * 3
    for i in range(len(data)):
        family, level, strength, seed = data.distortion[i]
        item = data[i]
        assert isinstance(item, Pair) and family == data.groups[i]
        assert torch.equal(item.p0, references[i // 6])
        assert torch.equal(item.p1, distort(item.p0[None], family, strength, seed=seed)[0])
        assert float(item.same) == pytest.approx(_sigmoid(0.5 - level / 5, 0.1), abs=1e-7)
    levels = [d[1] for d in data.distortion[:3]]
    assert len(set(levels)) == 3  # different levels for one reference and family
    assert data.synthetic and data.description.startswith("SYNTHETIC JND")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: twoafc.synthetic_2afc(r * 2 - 1), r"references must have values in \[0, 1\]"),
        (lambda r: twoafc.synthetic_2afc(r[:, :1]), r"references must have 3 channels"),
        (
            lambda r: twoafc.synthetic_2afc(r, distortions=["blur"]),
            r"distortions\[i\] must be one of \['color_quantize', .*\]; got 'blur'",
        ),
        (
            lambda r: twoafc.synthetic_2afc(r, cross_family=1.5),
            r"cross_family \(a probability\) must be a finite number in \[0, 1\]",
        ),
        (lambda r: twoafc.synthetic_2afc(r, distortions=["jpeg"]), r"cross_family > 0 needs at least two"),
        (
            lambda r: twoafc.synthetic_2afc(r, temperature=-1),
            r"temperature must be a finite number in \[0, inf\]",
        ),
        (
            lambda r: twoafc.synthetic_2afc(r, triplets_per_reference=0),
            r"triplets_per_reference must be an int",
        ),
        (
            lambda r: twoafc.synthetic_jnd(r, pairs_per_reference=6),
            r"pairs_per_reference must be an int in \[1, 5\]",
        ),
        (
            lambda r: twoafc.synthetic_jnd(r, threshold=2),
            r"threshold \(a severity\) must be a finite number in \[0, 1\]",
        ),
        (lambda r: twoafc.synthetic_jnd(r[:0]), r"references must hold at least one image"),
    ],
)
def test_synthetic_bad_arguments(references, call, message):
    with pytest.raises(ValueError, match=message):
        call(references)
