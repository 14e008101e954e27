"""2AFC score and JND mAP on hand-computed cases, against the lpips package's scorers where they are right."""

import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from laserlab.data.twoafc import Pair, Triplet
from laserlab.perceptual import (
    LPIPS,
    PIXEL_DISTANCES,
    evaluate_2afc,
    evaluate_jnd,
    jnd_average_precision,
    two_afc_scores,
)

lpips = pytest.importorskip("lpips")


class Loader:
    """The minimal data loader lpips' scorers iterate over (``load_data()`` yields dict batches)."""

    def __init__(self, batches):
        self.batches = batches

    def load_data(self):
        return self.batches


def test_two_afc_hand_computed_with_ties_and_soft_judges():
    d0 = torch.tensor([1.0, 2.0, 3.0, 3.0, 0.5])
    d1 = torch.tensor([2.0, 1.0, 3.0, 1.0, 4.0])
    judge = torch.tensor([0.2, 0.7, 0.9, 1.0, 0.0])
    # prefers p0 → 1 − 0.2; prefers p1 → 0.7; tie → 0.5; prefers p1 → 1.0; prefers p0 → 1 − 0.
    expected = torch.tensor([0.8, 0.7, 0.5, 1.0, 1.0], dtype=torch.float64)
    scores = two_afc_scores(d0, d1, judge)
    assert torch.allclose(scores, expected, atol=1e-7)
    assert scores.mean() == pytest.approx(0.8, abs=1e-7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score, _ = lpips.score_2afc_dataset(
            Loader([{"ref": d0, "p0": d0, "p1": d1, "judge": judge}]),
            lambda ref, p: p if p is d1 else d0,  # returns d0 for (ref, p0), d1 for (ref, p1)
        )
    assert score == pytest.approx(0.8, abs=1e-7)


def test_jnd_hand_computed_all_point_average_precision():
    distances = torch.tensor([0.1, 0.4, 0.2, 0.3])
    same = torch.tensor([1.0, 0.0, 0.5, 1.0])
    # sorted: s = 1, 0.5, 1, 0; precision 1, 0.75, 5/6, 0.625; recall 0.4, 0.6, 1, 1
    # envelope 1, 5/6, 5/6 → AP = 0.4·1 + 0.2·5/6 + 0.4·5/6 = 0.9
    curve = jnd_average_precision(distances, same)
    assert curve.ap == pytest.approx(0.9, abs=1e-12)
    assert torch.allclose(curve.precision, torch.tensor([1, 0.75, 5 / 6, 0.625], dtype=torch.float64))
    assert torch.allclose(curve.recall, torch.tensor([0.4, 0.6, 1.0, 1.0], dtype=torch.float64))
    precision, recall = curve.precision.numpy(), curve.recall.numpy()
    assert lpips.voc_ap(recall, precision) == pytest.approx(0.9, abs=1e-12)
    perfect = torch.tensor([1.0, 0.0, 1.0, 0.0])  # every "same" pair closer than every other
    assert jnd_average_precision(distances, perfect).ap == pytest.approx(1.0)


def test_jnd_flattens_distances_where_the_lpips_package_does_not():
    distances = torch.tensor([0.1, 0.4, 0.2, 0.3]).reshape(4, 1, 1, 1)  # what LPIPS modules return upstream
    same = torch.tensor([0.0, 1.0, 0.5, 1.0])
    loader = Loader([{"p0": distances, "p1": distances, "same": same}])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        upstream_nested, _ = lpips.score_jnd_dataset(loader, lambda p0, p1: p0)
        upstream_flat, _ = lpips.score_jnd_dataset(loader, lambda p0, p1: p0.reshape(-1))
    ours = jnd_average_precision(distances, same).ap
    assert ours == pytest.approx(upstream_flat, abs=1e-12)
    assert upstream_nested != pytest.approx(ours)  # argsort along a length-1 axis: not the mAP

    class Pairs(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return Pair(distances[i, :, :, :1].expand(3, 1, 1), torch.zeros(3, 1, 1), same[i])

    result = evaluate_jnd(lambda a, b: (a - b).abs().sum((1, 2, 3), keepdim=True), Pairs())  # (B, 1, 1, 1)
    assert result.distances.shape == (4,)
    assert result.ap == pytest.approx(ours)


def test_jnd_ties_are_scored_the_same_whatever_their_order():
    # Two tied pairs (one "same", one not), then a "same" one. Grouping the tie: precision 1/2 at recall
    # 1/2, then 2/3 at recall 1 → AP = 2/3. Upstream's order-dependent answer is 2/3 or 5/6.
    distances = torch.tensor([0.1, 0.1, 0.2])
    for same in ([0.0, 1.0, 1.0], [1.0, 0.0, 1.0]):
        assert jnd_average_precision(distances, torch.tensor(same)).ap == pytest.approx(2 / 3)
    ordered = [
        lpips.voc_ap(np.array(r), np.array(p))
        for r, p in (([0, 0.5, 1], [0, 0.5, 2 / 3]), ([0.5, 0.5, 1], [1, 0.5, 2 / 3]))
    ]
    assert ordered == pytest.approx([2 / 3, 5 / 6])


def test_jnd_is_invariant_to_the_order_of_the_pairs():
    g = torch.Generator().manual_seed(0)
    distances = torch.randint(0, 4, (40,), generator=g).float()  # many ties
    same = torch.rand(40, generator=g)
    ap = jnd_average_precision(distances, same).ap
    for _ in range(5):
        order = torch.randperm(40, generator=g)
        assert jnd_average_precision(distances[order], same[order]).ap == pytest.approx(ap, abs=1e-12)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: two_afc_scores([1.0], [1.0, 2.0], [0.5]), ValueError, "one value per triplet"),
        (lambda: two_afc_scores([1.0], [2.0], [1.5]), ValueError, r"judge must hold fractions in \[0, 1\]"),
        (lambda: two_afc_scores([float("nan")], [2.0], [0.5]), ValueError, "d0 must not contain NaN"),
        (lambda: jnd_average_precision([1.0, 2.0], [0.0, 0.0]), ValueError, "positive for at least one"),
        (lambda: jnd_average_precision([1.0], [0.5, 0.5]), ValueError, "one value per pair"),
        (lambda: jnd_average_precision([1.0], [-0.5]), ValueError, r"same must hold fractions in \[0, 1\]"),
    ],
)
def test_bad_scores(call, error, message):
    with pytest.raises(error, match=message):
        call()


class Triplets(Dataset):
    """ref = 0; p0, p1 constant images at the given levels; groups alternate a/b."""

    def __init__(self, levels0, levels1, judges, size=12):
        self.size = size
        self.items = list(zip(levels0, levels1, judges, strict=True))
        self.groups = ["a" if i % 2 == 0 else "b" for i in range(len(self.items))]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        l0, l1, j = self.items[i]
        shape = (3, self.size, self.size)
        return Triplet(torch.zeros(shape), torch.full(shape, l0), torch.full(shape, l1), torch.tensor(j))


def test_evaluate_2afc_calls_the_distance_as_distance_of_images_to_reference():
    data = Triplets([0.1, 0.5, 0.3, 0.2], [0.2, 0.4, 0.3, 0.6], [0.2, 0.9, 0.4, 0.0])
    calls = []

    def distance(images, reference):
        calls.append(len(images))
        assert (reference == 0).all()
        return images.mean((1, 2, 3))

    results = [evaluate_2afc(distance, data, batch_size=b) for b in (1, 3, 50)]
    assert calls[:4] == [2, 2, 2, 2] and calls[4:] == [6, 2, 8]  # p0 and p1 of a batch in one call
    for result in results:
        assert torch.allclose(result.d0, torch.tensor([0.1, 0.5, 0.3, 0.2], dtype=torch.float64))
        # 0.8 (p0 closer, j 0.2), 0.9 (p1 closer), 0.5 (tie), 1.0 (p0 closer, j 0)
        assert result.score == pytest.approx((0.8 + 0.9 + 0.5 + 1.0) / 4)
        assert result.by_group() == pytest.approx({"a": 0.65, "b": 0.95})
    oracle = results[0].oracle()
    assert oracle.score == pytest.approx((0.8 + 0.9 + 0.6 + 1.0) / 4)  # mean of max(j, 1 − j)


def test_evaluate_rejects_distances_of_the_wrong_size():
    data = Triplets([0.1, 0.2], [0.2, 0.1], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"one value per image pair, shape \(B,\) with B = 4; got \(1,\)"):
        evaluate_2afc(lambda a, b: a.mean().reshape(1), data)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        evaluate_2afc(lambda a, b: a.mean((1, 2, 3)), data, batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an int >= 1"):
        evaluate_2afc(lambda a, b: a.mean((1, 2, 3)), data, batch_size=True)
    with pytest.raises(ValueError, match="distance output must not contain NaN"):
        evaluate_2afc(lambda a, b: torch.full((len(a),), float("nan")), data)


def test_pixel_distances_are_oriented_as_distances():
    ref = torch.full((2, 3, 16, 16), 0.5)
    mild = ref + 0.01 * torch.randn(ref.shape, generator=torch.Generator().manual_seed(0))
    strong = ref + 0.2 * torch.randn(ref.shape, generator=torch.Generator().manual_seed(1))
    for name, distance in PIXEL_DISTANCES.items():
        assert (distance(mild.clamp(0, 1), ref) < distance(strong.clamp(0, 1), ref)).all(), name


def test_lpips_modules_plug_in_and_groups_come_from_the_dataset():
    metric = LPIPS("squeeze", weights=None)
    g = torch.Generator().manual_seed(0)
    levels = torch.rand(6, generator=g).tolist()
    data = Triplets(levels[:3], levels[3:], [0.0, 1.0, 0.5], size=48)
    result = evaluate_2afc(metric, data)
    assert result.groups == ["a", "b", "a"] and set(result.by_group()) == {"a", "b"}
    with torch.no_grad():
        expected = metric(torch.stack([data[i].p0 for i in range(3)]), torch.zeros(3, 3, 48, 48))
    assert torch.allclose(result.d0, expected.double(), atol=1e-7)
    in_float64 = evaluate_2afc(metric.double(), data)  # batches follow the module's dtype
    metric.float()
    assert torch.allclose(in_float64.d0, result.d0, rtol=1e-5)
    pairs = [Pair(data[i].p0, data[i].p1, data[i].judge) for i in range(3)]
    jnd = evaluate_jnd(metric, pairs)
    assert jnd.distances.shape == (3,) and 0 <= jnd.ap <= 1
    assert jnd.groups == []  # a plain list of pairs has no groups
