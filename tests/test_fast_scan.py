"""The optional 4-bit fast scan: its codes, its prior, and rankings equal to exact ones."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pytest

from discreet.catalog import nibbles
from discreet.catalog.reader import Catalog
from discreet.profile.model import Profile, RetentionPolicy
from discreet.rank import fast_scan
from discreet.rank.ranker import Ranker
from discreet.rank.records import Filters
from discreet.rank.weights import RankingWeights

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_catalog import write_release

TODAY = dt.date(2026, 11, 29)

pytest.importorskip("faiss", reason="the fast extra (faiss-cpu) is part of the dev install")


def _unit_rows(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, 64)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_each_component_is_coded_as_its_nearest_level_low_nibble_first() -> None:
    vectors = _unit_rows(3000, 1)
    book = nibbles.codebook(vectors)
    codes = nibbles.encode(vectors, book, block=700)  # several blocks
    assert codes.shape == (3000, 32)
    levels = np.empty((3000, 64), dtype=np.int64)
    levels[:, 0::2], levels[:, 1::2] = codes & 15, codes >> 4
    nearest = np.abs(vectors[:, :, None] - book[None, :, :]).argmin(axis=2)
    chosen = book[np.arange(64), levels]
    best = book[np.arange(64), nearest]
    np.testing.assert_allclose(np.abs(chosen - vectors), np.abs(best - vectors), atol=1e-7)
    # 16 levels fitted to a Gaussian leave about 1% of its variance (Lloyd-Max: 0.0095).
    assert ((chosen - vectors) ** 2).mean() < 0.02 * vectors.var()
    assert (np.diff(book, axis=1) > 0).all()


def test_the_same_rows_give_the_same_codes() -> None:
    vectors = _unit_rows(5000, 2)
    first, second = nibbles.derive(vectors), nibbles.derive(vectors.copy())
    np.testing.assert_array_equal(first.codebook, second.codebook)
    np.testing.assert_array_equal(first.codes, second.codes)


def test_saved_codes_load_and_damaged_ones_are_ignored(tmp_path: Path) -> None:
    derived = nibbles.derive(_unit_rows(500, 3))
    nibbles.write(tmp_path, derived)
    loaded = nibbles.load_nibbles(tmp_path, 500, 64)
    assert loaded is not None
    np.testing.assert_array_equal(loaded.codes, derived.codes)
    assert nibbles.load_nibbles(tmp_path, 501, 64) is None  # another release's
    book = derived.codebook.copy()
    book[3] = book[3][::-1]  # levels out of order
    nibbles.write(tmp_path, nibbles.Nibbles(book, derived.codes))
    assert nibbles.load_nibbles(tmp_path, 500, 64) is None
    nibbles.write(tmp_path, derived)
    (tmp_path / nibbles.FILES[1]).write_bytes(b"not an array")
    assert nibbles.load_nibbles(tmp_path, 500, 64) is None
    (tmp_path / nibbles.FILES[2]).unlink()
    assert nibbles.load_nibbles(tmp_path, 500, 64) is None


@pytest.mark.parametrize("seed", range(4))
def test_two_levels_add_up_to_the_prior(seed: int) -> None:
    rng = np.random.default_rng(seed)
    prior = (rng.random(10_000) * rng.uniform(0.01, 3)).astype(np.float32)
    if seed == 3:
        prior[:] = 0.25  # one value: a range of zero
    levels, code = fast_scan.prior_levels(prior)
    coded = levels[0][code & 15] + levels[1][code >> 4]
    span = float(np.ptp(prior)) or 1.0
    assert np.abs(coded - prior).max() <= span / 480 + 1e-6


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """A clustered release with its 4-bit codes, as sync leaves it where faiss is installed."""
    folder = tmp_path_factory.mktemp("fast-scan") / "release"
    mp = pytest.MonkeyPatch()
    mp.setattr(nibbles, "MIN_ITEMS", 0)
    try:
        write_release(folder, n=20_000)
    finally:
        mp.undo()
    catalog = Catalog.open(folder)
    assert catalog.nibbles is not None
    return catalog


def _profile(catalog: Catalog, seed: int) -> Profile:
    rng = np.random.default_rng(seed)
    profile = Profile.new(TODAY, RetentionPolicy(days=3650))
    for row in rng.choice(len(catalog), int(rng.integers(1, 200)), replace=False):
        kind = ("like", "view", "dislike", "dismiss")[int(rng.integers(0, 4))]
        profile.record(catalog.item_at(int(row)).id, kind, TODAY)
    if seed % 2:
        profile.muted.add("c03")
    if seed % 3 == 0:
        profile.sensitive_opt_in.add("health")
    return profile


@pytest.mark.parametrize("seed", range(4))
def test_no_row_the_scan_leaves_out_scores_above_its_bound(catalog: Catalog, seed: int) -> None:
    ranker = Ranker(catalog, RankingWeights(freshness=0.3), first_pass_min_items=0)
    p = ranker.profiled(_profile(catalog, seed), TODAY)
    assert p.vector is not None
    exact = ranker.scores(p, TODAY)
    scan = ranker._fast_scan(TODAY)
    for count in (20, 200, 2_000):
        rows, approximate = scan.search(p.vector, count)
        assert len(rows) == count
        assert (np.diff(approximate) <= 0).all()  # best first
        above = approximate[-1] + scan.error_bound(approximate, exact[rows])
        left_out = np.setdiff1d(np.arange(len(catalog)), rows)
        assert exact[left_out].max() <= above
        assert exact[left_out].max() > approximate[-1]  # the bound is needed: not vacuous


def _same(expected: list, actual: list, k: int) -> None:  # type: ignore[type-arg]
    assert len(expected) == k
    assert [r.item_id for r in actual] == [r.item_id for r in expected]
    assert [r.reasons for r in actual] == [r.reasons for r in expected]
    np.testing.assert_allclose([r.score for r in actual], [r.score for r in expected], rtol=1e-5)


@pytest.mark.parametrize("seed", range(6))
def test_the_fast_scan_changes_no_result(catalog: Catalog, seed: int) -> None:
    profile = _profile(catalog, seed)
    weights = RankingWeights(freshness=0.3 if seed % 2 else 0.0)
    exact = Ranker(catalog, weights, first_pass_min_items=len(catalog) + 1)
    fast = Ranker(catalog, weights, first_pass_min_items=0)
    assert exact._nibbles is None
    for k, today in ((10, TODAY), (40, TODAY), (10, TODAY + dt.timedelta(days=400))):
        expected = exact.recommend(profile, k, today=today)
        actual = fast.recommend(profile, k, today=today)
        _same(expected, actual, k)
    assert fast._scan is not None  # the scan ranked these


def test_a_filter_or_an_unsure_scan_falls_back_to_the_int8_pass(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = _profile(catalog, 7)
    exact = Ranker(catalog, first_pass_min_items=len(catalog) + 1)
    filtered = Ranker(catalog, first_pass_min_items=0)
    for filters in (Filters(language="es"), Filters(categories=("c05",))):
        expected = exact.recommend(profile, 10, today=TODAY, filters=filters)
        _same(expected, filtered.recommend(profile, 10, today=TODAY, filters=filters), 10)
    assert filtered._scan is None  # never built: every call had a filter
    monkeypatch.setattr(fast_scan, "SIGMAS", 1e6)  # no candidate list can be vouched for
    unsure = Ranker(catalog, first_pass_min_items=0)
    calls: list[bool] = []
    candidates = unsure._candidates

    def spy(*args: object, fast: bool = True) -> object:
        calls.append(fast)
        return candidates(*args, fast=fast)  # type: ignore[arg-type]

    monkeypatch.setattr(unsure, "_candidates", spy)
    _same(exact.recommend(profile, 10, today=TODAY), unsure.recommend(profile, 10, today=TODAY), 10)
    assert calls == [True, False]


@pytest.mark.parametrize("limit", [65_536, 1_000])
def test_too_few_rows_left_are_asked_for_again_or_left_to_the_int8_pass(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    # A first ask far too small for what exclusions leave, then four times as many each time;
    # past the limit, the int8 pass ranks instead.
    monkeypatch.setattr(fast_scan, "search_size", lambda needed, excluded, share: needed // 10)
    monkeypatch.setattr(fast_scan, "MAX_SEARCH", limit)
    asked: list[int] = []
    search = fast_scan.FastScan.search

    def spy(self: fast_scan.FastScan, v: np.ndarray, count: int) -> object:
        asked.append(count)
        return search(self, v, count)

    monkeypatch.setattr(fast_scan.FastScan, "search", spy)
    profile = _profile(catalog, 8)
    exact = Ranker(catalog, first_pass_min_items=len(catalog) + 1)
    fast = Ranker(catalog, first_pass_min_items=0)
    _same(exact.recommend(profile, 10, today=TODAY), fast.recommend(profile, 10, today=TODAY), 10)
    assert asked[1:] == [4 * count for count in asked[:-1]]
    assert len(asked) == (2 if limit == 1_000 else 3)  # 250, 1,000: then int8


def test_without_faiss_no_codes_are_derived_and_the_int8_pass_ranks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nibbles, "MIN_ITEMS", 0)
    monkeypatch.setattr(nibbles, "fast_scan_available", lambda: False)
    catalog = write_release(tmp_path / "release", n=500)
    assert not any((catalog.folder / name).exists() for name in nibbles.FILES)
    ranker = Ranker(catalog, first_pass_min_items=0)
    assert ranker._nibbles is None
    assert ranker._first_pass is not None


def test_the_apps_openmp_setting_is_kept(catalog: Catalog) -> None:
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(3)
    try:
        fast = Ranker(catalog, first_pass_min_items=0)
        assert fast.recommend(_profile(catalog, 1), 10, today=TODAY)
        assert fast._scan is not None
        assert faiss.omp_get_max_threads() == 3
    finally:
        faiss.omp_set_num_threads(before)
