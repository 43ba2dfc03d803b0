"""The largest values, equal ones by index: what a stable sort keeps, on any CPU."""

from __future__ import annotations

import numpy as np
import pytest

from discreet.rank.select import best_first, largest, largest_per_column


@pytest.mark.parametrize("seed", range(20))
def test_largest_keeps_what_a_stable_sort_keeps_among_many_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3_000))
    # Few distinct values: most cuts fall inside a run of equal values.
    values = rng.integers(0, int(rng.integers(1, 8)), n).astype(np.float64)
    values[rng.random(n) < 0.1] = -np.inf
    for count in (0, 1, int(rng.integers(1, n + 1)), n, n + 5):
        stable = np.argsort(-values, kind="stable")[: max(count, 0)]
        assert largest(values, count).tolist() == sorted(stable.tolist())
        assert best_first(values, count).tolist() == stable.tolist()


@pytest.mark.parametrize("seed", range(5))
def test_each_columns_cut_keeps_the_lowest_rows_of_its_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    matrix = rng.integers(0, 4, (300, 40)).astype(np.float64)
    for count in (1, 17, 299, 300):
        mask = largest_per_column(matrix, count)
        for column in range(matrix.shape[1]):
            stable = np.argsort(-matrix[:, column], kind="stable")[:count]
            assert np.flatnonzero(mask[:, column]).tolist() == sorted(stable.tolist())
