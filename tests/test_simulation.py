"""The simulated secure-aggregation route draws exactly what devices draw, and noises it as
the aggregators do."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections import Counter
from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import chi2_contingency

from discreet.evaluation import simulation
from discreet.evaluation.simulation import (
    PairCandidates,
    draw_subsets,
    pair_draws,
    pair_entries,
    popularity_draws,
    release,
    simulate_aggregates,
    total,
)
from discreet.profile.contribution import pair_index, sample_entries, sample_pairs
from discreet.publish.collaborative import CollaborativeParams
from discreet.secagg.accounting import calibrate
from tests.simulation_support import first_distinct


def _train(histories: list[list[int]], n_items: int) -> sp.csr_matrix:
    indptr = np.cumsum([0] + [len(h) for h in histories])
    indices = np.asarray([r for h in histories for r in h], dtype=np.int64)
    return sp.csr_matrix(
        (np.ones(len(indices), dtype=np.float32), indices, indptr),
        shape=(len(histories), n_items),
    )


def _same_distribution(a: Counter[tuple[int, ...]], b: Counter[tuple[int, ...]]) -> float:
    """The p-value of a chi-square test that two samples of outcomes share a distribution."""
    outcomes = sorted(set(a) | set(b))
    table = np.asarray([[a[o] for o in outcomes], [b[o] for o in outcomes]])
    return float(chi2_contingency(table)[1])


@pytest.mark.parametrize(("total", "k"), [(6, 3), (7, 5), (5, 5), (3, 4), (12, 2)])
def test_draw_subsets_is_a_uniform_subset_like_rng_choice(total: int, k: int) -> None:
    rng = np.random.default_rng(1)
    ours = Counter(
        tuple(sorted(int(x) for x in row if x >= 0))
        for row in draw_subsets(np.full(3000, total), k, rng)
    )
    theirs = Counter(
        tuple(sorted(int(x) for x in rng.choice(total, size=min(k, total), replace=False)))
        for _ in range(3000)
    )
    assert set(ours) <= {tuple(c) for c in itertools.combinations(range(total), min(k, total))}
    assert len(ours) == math.comb(total, min(k, total))
    assert _same_distribution(ours, theirs) > 1e-3


def _reference_draw_subsets(totals: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``draw_subsets`` with its repeated slots drawn again as first written (every row
    sorted again each round): the faster one must make exactly its draws, from exactly its
    random stream."""
    with mock.patch.object(simulation, "_distinct", first_distinct):
        return draw_subsets(totals, k, rng)


@pytest.mark.parametrize(
    ("k", "low", "high"),
    [(1, 0, 5), (2, 0, 9), (7, 0, 40), (20, 0, 3000), (20, 40, 60), (190, 150, 1200)],
)
def test_draw_subsets_makes_the_first_versions_draws_from_the_same_stream(
    k: int, low: int, high: int
) -> None:
    """Rows with all their slots, with over half of them (the left-out draws) and with
    many repeats (slots barely over 2k) alike: the same subsets, and the generator left
    in the same state."""
    totals = np.random.default_rng(10).integers(low, high, 2000)
    ours, theirs = np.random.default_rng(11), np.random.default_rng(11)
    assert (
        draw_subsets(totals, k, ours).tolist()
        == _reference_draw_subsets(totals, k, theirs).tolist()
    )
    assert ours.bit_generator.state == theirs.bit_generator.state


def test_pair_draws_are_the_first_versions_entries() -> None:
    """The pairs' entries read off the same slots as the first version read them."""
    rng = np.random.default_rng(12)
    histories = [sorted(rng.choice(30, int(rng.integers(0, 25)), replace=False)) for _ in range(40)]
    train = _train([[int(r) for r in h] for h in histories], 30)
    top = rng.permutation(30)[:20]
    devices = rng.integers(0, 40, 3000)
    ours = pair_draws(train, top, devices, 6, 4, np.random.default_rng(13))
    candidates = PairCandidates.of(train, top)
    n = candidates.counts[devices]
    p = np.maximum(n, 4)
    slots = _reference_draw_subsets(p * (p - 1) // 2, 6, np.random.default_rng(13))
    held = (slots >= 0) & (slots < (n * (n - 1) // 2)[:, None])
    theirs = np.full(slots.shape, -1, dtype=np.int64)
    for device, column in zip(*np.nonzero(held), strict=True):
        t = int(slots[device, column])
        b = int((1 + math.isqrt(1 + 8 * t)) // 2)  # t = b(b-1)/2 + a, a < b
        a = t - b * (b - 1) // 2
        held_items = candidates.values[candidates.indptr[devices[device]] :]
        theirs[device, column] = pair_index(int(held_items[a]), int(held_items[b]), 20)
    assert (theirs >= 0).any()
    assert ours.tolist() == theirs.tolist()


def test_pair_entries_number_pairs_as_pair_index() -> None:
    i, j = np.triu_indices(9, 1)
    expected = [pair_index(a, b, 9) for a, b in zip(i.tolist(), j.tolist(), strict=True)]
    assert pair_entries(i, j, 9).tolist() == expected


def test_one_device_popularity_is_sample_entries() -> None:
    """A device's item contribution has sample_entries' distribution (all candidates, padded)."""
    history = [3, 7, 1, 9]  # row order, as the training matrix holds it
    train = _train([[0, 2], history], 12)
    rng = np.random.default_rng(2)
    draws = popularity_draws(train, np.ones(3000, dtype=np.int64), 2, 6, rng)
    ours = Counter(tuple(sorted(int(x) for x in row if x >= 0)) for row in draws)
    theirs = Counter(tuple(sample_entries(sorted(history), 2, 6, rng)) for _ in range(3000))
    assert _same_distribution(ours, theirs) > 1e-3


def test_one_device_pairs_are_sample_pairs() -> None:
    """A device's pair contribution has sample_pairs' distribution over the top-M entries."""
    top = np.asarray([5, 1, 8, 2, 0])  # catalog rows of top-M positions 0..4
    history = [8, 3, 0, 1]  # top positions 2, 1, 4 (row 3 is not counted)
    train = _train([[2], history], 10)
    rng = np.random.default_rng(3)
    draws = pair_draws(train, top, np.ones(3000, dtype=np.int64), 2, 4, rng)
    ours = Counter(tuple(sorted(int(x) for x in row if x >= 0)) for row in draws)
    theirs = Counter(tuple(sample_pairs([1, 2, 4], 5, 2, 4, rng)) for _ in range(3000))
    assert _same_distribution(ours, theirs) > 1e-3


def test_without_padding_every_pair_is_counted_once_per_device() -> None:
    top = np.asarray([4, 0, 3, 1])
    train = _train([[0, 1, 3], [4, 3]], 5)  # positions {1, 3, 2} and {0, 2}
    draws = pair_draws(train, top, np.asarray([0, 0, 1]), 10, 2, np.random.default_rng(4))
    counts = total(draws, 6)
    expected = np.zeros(6, dtype=np.int64)
    for i, j in [(1, 3), (1, 2), (2, 3)]:
        expected[pair_index(i, j, 4)] += 2
    expected[pair_index(0, 2, 4)] += 1
    assert counts.tolist() == expected.tolist()


def test_release_adds_two_aggregators_calibrated_noise() -> None:
    counts = np.arange(20_000, dtype=np.int64)
    noisy = release(counts, 500, 4, 0.5, 5e-7, np.random.default_rng(5))
    plan = calibrate(0.5, 5e-7, 8)
    assert noisy.sigma_sq == plan.sigma_sq
    assert noisy.reports == 500
    assert (noisy.epsilon, noisy.delta) == (0.5, 5e-7)
    noise = noisy.counts - counts
    assert abs(noise.mean()) < 0.05 * math.sqrt(2 * plan.sigma_sq)
    assert noise.var() == pytest.approx(2 * plan.sigma_sq, rel=0.05)


def test_the_week_budget_is_split_as_the_params_say() -> None:
    """The two releases spend the week's ε in the params' shares and δ evenly: together
    exactly the week's, each task's noise calibrated to its own share."""
    train = _train([[0, 1, 2], [1, 2, 3], [0, 3]], 4)
    params = CollaborativeParams(items=3, item_weight=3, item_pad=3, pair_weight=3, pair_pad=3)
    for share in (0.5, 0.8):
        shaped = dataclasses.replace(params, pair_share=share)
        week = simulate_aggregates(
            train, np.arange(3), 2_000, 1.0, 1e-6, shaped, np.random.default_rng(6)
        )
        popularity, pairs = week.popularity, week.pairs
        assert pairs.epsilon == pytest.approx(share)
        assert popularity.epsilon + pairs.epsilon == pytest.approx(1.0)
        assert popularity.delta + pairs.delta == pytest.approx(1e-6)
        assert pairs.sigma_sq == calibrate(pairs.epsilon, pairs.delta, 2 * 3).sigma_sq
        assert popularity.sigma_sq == calibrate(popularity.epsilon, 5e-7, 2 * 3).sigma_sq
