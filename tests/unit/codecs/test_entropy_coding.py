import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from laserlab.codecs import entropy
from laserlab.codecs.entropy import CategoricalPrior


def _zipf(size: int) -> CategoricalPrior:
    counts = torch.floor(1e6 / torch.arange(1, size + 1, dtype=torch.float64) ** 1.3)
    return CategoricalPrior.from_counts(counts)


def _uniform(size: int) -> CategoricalPrior:
    return CategoricalPrior(torch.full((size,), 1.0 / size, dtype=torch.float64))


def _sample(prior: CategoricalPrior, count: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.multinomial(prior.probabilities, count, replacement=True, generator=g)


def test_from_counts_is_additive_smoothing():
    prior = CategoricalPrior.from_counts(torch.tensor([3, 0, 1]), smoothing=1.0)
    torch.testing.assert_close(prior.probabilities, torch.tensor([4 / 7, 1 / 7, 2 / 7], dtype=torch.float64))
    assert prior.alphabet_size == 3
    kt = CategoricalPrior.from_counts(torch.tensor([3.0, 0.0, 1.0]))
    torch.testing.assert_close(kt.probabilities, torch.tensor([3.5, 0.5, 1.5], dtype=torch.float64) / 5.5)
    assert math.isclose(_uniform(8).entropy_bits(), 3.0)


def test_prior_validation():
    with pytest.raises(ValueError, match="must all be > 0"):
        CategoricalPrior(torch.tensor([1.0, 0.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="sum to 1"):
        CategoricalPrior(torch.tensor([0.5, 0.6], dtype=torch.float64))
    with pytest.raises(ValueError, match="NaN"):
        CategoricalPrior(torch.tensor([float("nan"), 1.0]))
    with pytest.raises(ValueError, match=r"shape \(K,\)"):
        CategoricalPrior(torch.full((2, 2), 0.25))
    with pytest.raises(TypeError, match="floating-point"):
        CategoricalPrior(torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="smoothing"):
        CategoricalPrior.from_counts(torch.ones(3), smoothing=0.0)
    with pytest.raises(ValueError, match="counts must be >= 0"):
        CategoricalPrior.from_counts(torch.tensor([1.0, -1.0]))


def test_state_dict_round_trip_and_model_id():
    prior = _zipf(100)
    state = prior.state_dict()
    assert set(state) == {"probabilities"} and state["probabilities"].dtype == torch.float64
    again = CategoricalPrior.from_state_dict(state)
    assert torch.equal(again.probabilities, prior.probabilities)
    assert again.model_id() == prior.model_id() != _uniform(100).model_id()
    with pytest.raises(ValueError, match="exactly the key 'probabilities'"):
        CategoricalPrior.from_state_dict({"probs": state["probabilities"]})


def test_quantized_cdf_is_compressai_16_bit():
    cdf = _zipf(16).quantized_cdf()
    assert len(cdf) == 18 and cdf[0] == 0 and cdf[-1] == 1 << 16
    assert all(b > a for a, b in itertools.pairwise(cdf))


def test_estimate_is_minus_log2_likelihood():
    prior = CategoricalPrior(torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64))
    assert entropy.estimate_bits(torch.tensor([0, 1, 2, 0]), prior) == 1 + 2 + 2 + 1
    other = CategoricalPrior(torch.tensor([0.125] * 8, dtype=torch.float64))
    bits = entropy.estimate_bits(torch.tensor([0, 7, 2]), [prior, other], indexes=torch.tensor([0, 1, 1]))
    assert bits == 1 + 3 + 3


@pytest.mark.parametrize("size", [16, 256, 4096])
@pytest.mark.parametrize("make", [_zipf, _uniform], ids=["skewed", "uniform"])
@pytest.mark.parametrize("count", [10, 1000, 100_000])
def test_round_trip_is_exact_and_size_is_within_2_percent_plus_64_bytes(size, make, count):
    prior = make(size)
    symbols = _sample(prior, count)
    data = entropy.encode(symbols, prior)
    assert torch.equal(entropy.decode(data, prior, count), symbols)
    estimate = entropy.estimate_bits(symbols, prior)
    assert 8 * len(data) <= 1.02 * estimate + 8 * 64
    if count >= 1000:  # the actual size is never below the ideal code length by more than rounding
        assert 8 * len(data) >= estimate - 1


def test_several_priors_with_different_alphabets():
    priors = [_zipf(16), _uniform(5), _zipf(4096)]
    g = torch.Generator().manual_seed(3)
    indexes = torch.randint(0, 3, (5000,), generator=g)
    symbols = torch.stack([_sample(priors[int(j)], 1, seed=i)[0] for i, j in enumerate(indexes[:5000])])
    data = entropy.encode(symbols, priors, indexes=indexes)
    assert torch.equal(entropy.decode(data, priors, 5000, indexes=indexes), symbols)
    assert 8 * len(data) <= 1.02 * entropy.estimate_bits(symbols, priors, indexes=indexes) + 512


@settings(max_examples=40, deadline=None)
@given(
    probabilities=st.lists(st.floats(0.001, 1.0), min_size=1, max_size=40),
    data=st.data(),
)
def test_any_short_stream_round_trips(probabilities, data):
    p = torch.tensor(probabilities, dtype=torch.float64)
    prior = CategoricalPrior(p / p.sum())
    symbols = torch.tensor(
        data.draw(st.lists(st.integers(0, len(probabilities) - 1), max_size=30)), dtype=torch.int64
    )
    coded = entropy.encode(symbols, prior)
    assert (coded == b"") == (symbols.numel() == 0)
    assert torch.equal(entropy.decode(coded, prior, symbols.numel()), symbols)


def test_out_of_alphabet_symbols_are_never_clamped():
    prior = _uniform(4)
    for bad in (torch.tensor([0, 4]), torch.tensor([-1, 2])):
        with pytest.raises(ValueError, match=r"outside \[0, 3\].*nothing is clamped"):
            entropy.encode(bad, prior)
        with pytest.raises(ValueError, match="outside"):
            entropy.estimate_bits(bad, prior)
    with pytest.raises(ValueError, match="outside \\[0, 1\\]"):
        entropy.encode(torch.tensor([3, 3]), [prior, _uniform(2)], indexes=torch.tensor([0, 1]))


def test_bad_arguments():
    prior = _uniform(4)
    with pytest.raises(TypeError, match="integer dtype"):
        entropy.encode(torch.tensor([0.0, 1.0]), prior)
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        entropy.encode(torch.zeros(2, 2, dtype=torch.int64), prior)
    with pytest.raises(ValueError, match=r"indexes .* must say which"):
        entropy.encode(torch.tensor([0]), [prior, prior])
    with pytest.raises(ValueError, match=r"indexes must be in \[0, 1\]"):
        entropy.encode(torch.tensor([0]), [prior, prior], indexes=torch.tensor([2]))
    with pytest.raises(ValueError, match="one entry per symbol"):
        entropy.decode(entropy.encode(torch.tensor([1]), prior), [prior, prior], 2, indexes=torch.tensor([0]))
    with pytest.raises(TypeError, match="CategoricalPrior"):
        entropy.encode(torch.tensor([0]), [torch.ones(4) / 4])
    with pytest.raises(TypeError, match="count"):
        entropy.decode(b"", prior, 1.0)


def test_malformed_streams_raise_and_corrupt_ones_do_not_crash():
    prior = _zipf(64)
    symbols = _sample(prior, 2000)
    data = entropy.encode(symbols, prior)
    for bad in (data[:5], data[:-1], b"\x00" * 4):
        with pytest.raises(ValueError, match="not an rANS stream"):
            entropy.decode(bad, prior, 2000)
    with pytest.raises(ValueError, match="0 symbols is empty"):
        entropy.decode(data, prior, 0)
    # rANS has no checksum: a cut stream decodes (to wrong symbols) or fails cleanly, without crashing
    try:
        decoded = entropy.decode(data[: len(data) // 2 // 4 * 4], prior, 2000)
        assert decoded.shape == (2000,) and not torch.equal(decoded, symbols)
    except ValueError as error:
        assert "corrupt" in str(error)


def test_symbol_counts():
    counts = entropy.symbol_counts(torch.tensor([[0, 2], [2, 2]]), 4)
    assert counts.tolist() == [1, 0, 3, 0]
    with pytest.raises(ValueError, match="outside"):
        entropy.symbol_counts(torch.tensor([4]), 4)


def test_stream_decoder_reads_one_stream_in_chunks_with_their_own_priors():
    priors = [_zipf(16), _uniform(5), _zipf(300)]
    g = torch.Generator().manual_seed(4)
    indexes = torch.randint(0, 3, (700,), generator=g)
    symbols = torch.stack([_sample(priors[int(j)], 1, seed=i)[0] for i, j in enumerate(indexes)])
    data = entropy.encode(symbols, priors, indexes=indexes)
    decoder = entropy.StreamDecoder(data, 700)
    pieces, start = [], 0
    for stop in (1, 50, 51, 400, 700):
        used = sorted(set(indexes[start:stop].tolist()))  # each chunk passes only the priors it uses
        local = torch.tensor([used.index(int(j)) for j in indexes[start:stop]])
        pieces.append(decoder.decode([priors[j] for j in used], local))
        start = stop
    assert torch.equal(torch.cat(pieces), symbols) and decoder.decoded == 700
    with pytest.raises(ValueError, match="at most 700 symbols"):
        decoder.decode(priors[0], count=1)


def test_stream_decoder_short_streams_and_bad_data():
    prior = _zipf(16)
    data = entropy.encode(torch.tensor([3, 0, 5]), prior)  # padded to 8 symbols; the padding is never read
    decoder = entropy.StreamDecoder(data, 3)
    assert torch.equal(decoder.decode(prior, count=2), torch.tensor([3, 0]))
    assert torch.equal(decoder.decode(prior, count=1), torch.tensor([5]))
    assert entropy.StreamDecoder(b"", 0).decode(prior, count=0).numel() == 0
    with pytest.raises(ValueError, match="empty stream"):
        entropy.StreamDecoder(b"", 4).decode(prior, count=1)
    with pytest.raises(ValueError, match="whole 32-bit words"):
        entropy.StreamDecoder(data[:-1], 3)
    with pytest.raises(ValueError, match="indexes or count, not both"):
        decoder.decode(prior, torch.tensor([0]), count=1)
    with pytest.raises(TypeError, match="data must be bytes"):
        entropy.StreamDecoder("abc", 3)
    # a truncated stream reads zeros past its end, never memory past it: this one decodes to 200 symbols
    # of the alphabet (no crash, no error; other truncations may raise ValueError)
    short = entropy.StreamDecoder(entropy.encode(_sample(prior, 200), prior)[:8], 200)
    symbols = short.decode(prior, count=200)
    assert symbols.shape == (200,) and bool(((symbols >= 0) & (symbols < 16)).all())
