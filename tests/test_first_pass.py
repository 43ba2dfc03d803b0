"""The int8 first pass: its quantisation, its candidate selection, and rankings equal to exact."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pytest

from discreet.catalog.popularity import upper_quantile
from discreet.catalog.quantise import LEVELS, quantise
from discreet.catalog.reader import Catalog, Quantised
from discreet.profile.model import Profile, RetentionPolicy
from discreet.rank.first_pass import FirstPass, candidate_count, top_rows
from discreet.rank.ranker import Ranker
from discreet.rank.records import Filters

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_catalog import write_release

TODAY = dt.date(2026, 11, 29)


def test_each_component_is_within_half_a_step_and_zero_rows_stay_zero() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((1000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors[7] = 0.0
    codes, scales = quantise(vectors, block=300)  # several blocks
    assert codes.dtype == np.int8
    assert scales.dtype == np.float32
    assert np.abs(codes).max() == LEVELS
    assert scales[7] == 0
    assert not codes[7].any()
    error = np.abs(codes * scales[:, None] - vectors)
    assert (error <= scales[:, None] / 2 + 1e-7).all()


def test_approximate_scores_are_close_to_exact_ones() -> None:
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((5000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    query = vectors[:50].sum(axis=0)
    query = (query / np.linalg.norm(query)).astype(np.float32)
    base = rng.random(5000).astype(np.float32)
    approximate = FirstPass(Quantised(*quantise(vectors))).scores(query, base)
    exact = vectors @ query + base
    assert np.abs(approximate - exact).max() < 0.01
    assert np.abs(approximate - exact).max() > 0  # it is an approximation: not the same arrays


@pytest.mark.parametrize("seed", range(6))
def test_top_rows_are_the_largest_finite_values(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200_000))
    values = rng.standard_normal(n).astype(np.float32)
    if seed % 2:  # most excluded, and many equal values: the sample misleads
        values[rng.random(n) < 0.9] = -np.inf
        values[rng.random(n) < 0.5] = 1.0
    count = int(rng.integers(1, 3000))
    rows = top_rows(values, count)
    finite = np.flatnonzero(np.isfinite(values))
    assert len(rows) == len(set(rows.tolist())) == min(count, len(finite))
    if len(rows):
        # Nothing left out is larger than anything kept.
        left_out = np.setdiff1d(finite, rows)
        assert not len(left_out) or values[left_out].max() <= values[rows].min()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """Large enough that the first pass keeps a small share of the items."""
    catalog = write_release(tmp_path_factory.mktemp("first-pass") / "release", n=30_000)
    assert candidate_count(2_000) < len(catalog) / 10
    return catalog


@pytest.mark.parametrize("seed", range(5))
def test_the_first_pass_changes_no_result(catalog: Catalog, seed: int) -> None:
    rng = np.random.default_rng(seed)
    profile = Profile.new(TODAY, RetentionPolicy(days=3650))
    for row in rng.choice(len(catalog), int(rng.integers(1, 200)), replace=False):
        kind = ("like", "view", "dislike")[int(rng.integers(0, 3))]
        profile.record(catalog.item_at(int(row)).id, kind, TODAY)
    exact = Ranker(catalog, first_pass_min_items=len(catalog) + 1)
    two_stage = Ranker(catalog, first_pass_min_items=0)
    assert two_stage._first_pass is not None
    assert exact._first_pass is None
    for k, filters in ((10, Filters()), (40, Filters()), (10, Filters(language="es"))):
        expected = exact.recommend(profile, k, today=TODAY, filters=filters)
        actual = two_stage.recommend(profile, k, today=TODAY, filters=filters)
        assert len(expected) == k
        assert [r.item_id for r in actual] == [r.item_id for r in expected]
        assert [r.reasons for r in actual] == [r.reasons for r in expected]
        np.testing.assert_allclose(
            [r.score for r in actual], [r.score for r in expected], rtol=1e-5
        )


@pytest.mark.parametrize("seed", range(8))
def test_the_upper_quantile_selects_what_numpy_quantile_selects(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5000))
    counts = rng.zipf(1.6, n) if seed % 2 else rng.random(n)  # with and without ties
    values = (counts / counts.sum()).astype(np.float32)
    for q in (0.0, 0.5, 0.9, 0.97, 1.0):
        expected = values >= np.quantile(values, q)
        np.testing.assert_array_equal(values >= upper_quantile(values, q), expected)
