"""Ranking on the shipped demo catalog: exclusions, filters, feedback, diversity, reasons."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from discreet.catalog.reader import Catalog
from discreet.demo_data import (
    demo_items_path,
    demo_taxonomy_path,
    publish_demo_catalog,
)
from discreet.profile.model import Profile
from discreet.publish.publisher import publish_catalog
from discreet.publish.repository import PublisherRepository
from discreet.rank.ranker import Ranker
from discreet.rank.records import Filters
from discreet.rank.weights import RankingWeights
from discreet.sync.client import sync_catalog

TODAY = dt.date(2026, 11, 29)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    folder = tmp_path_factory.mktemp("demo")
    repo = PublisherRepository.init(folder / "repo")
    publish_demo_catalog(repo)
    return Catalog.open(
        sync_catalog(folder / "home", str(repo.path), root=repo.trusted_root_path).folder
    )


def _in(catalog: Catalog, category: str, n: int = 3, language: str = "en") -> list[str]:
    rows = catalog.features.rows_in([category])
    ids = [catalog.item_at(int(r)).id for r in rows if catalog.item_at(int(r)).language == language]
    return ids[:n]


def _profile(catalog: Catalog, liked: list[str], kind: str = "like") -> Profile:
    profile = Profile.new(TODAY)
    for item in liked:
        profile.record(item, kind, TODAY)
    return profile


def test_likes_shape_the_ranking_with_reasons(catalog: Catalog) -> None:
    liked = _in(catalog, "crime")
    results = Ranker(catalog).recommend(_profile(catalog, liked), 10, today=TODAY)
    assert len(results) == 10
    assert not {r.item_id for r in results} & set(liked)
    crime = [r for r in results if "crime" in catalog.item(r.item_id).categories]
    assert len(crime) >= 6
    for r in results:
        assert r.reasons, r
    because = next(x for x in results[0].reasons if x.kind == "because-you")
    assert set(because.items) <= set(liked)


def test_muted_and_sensitive_categories_stay_out(catalog: Catalog) -> None:
    ranker = Ranker(catalog, RankingWeights(exploration_share=0.0))
    profile = _profile(catalog, _in(catalog, "crime") + _in(catalog, "health"))
    results = ranker.recommend(profile, 40, today=TODAY)
    assert len(results) == 40
    sensitive = catalog.taxonomy.sensitive_ids
    assert not any(set(catalog.item(r.item_id).categories) & sensitive for r in results)
    profile.muted.add("crime")
    unmuted = ranker.recommend(profile, 40, today=TODAY)
    assert len(unmuted) == 40
    assert not any("crime" in catalog.item(r.item_id).categories for r in unmuted)
    profile.sensitive_opt_in.add("health")
    opted = ranker.recommend(profile, 40, today=TODAY, filters=Filters(categories=("health",)))
    assert opted
    assert all(
        "health" in catalog.item(r.item_id).categories
        or "mental-health" in catalog.item(r.item_id).categories
        for r in opted
    )


def test_filters_by_category_language_and_date(catalog: Catalog) -> None:
    ranker = Ranker(catalog)
    profile = _profile(catalog, _in(catalog, "travel"))
    spanish = ranker.recommend(profile, 5, today=TODAY, filters=Filters(language="es"))
    assert spanish
    assert all(catalog.item(r.item_id).language == "es" for r in spanish)
    food = ranker.recommend(profile, 5, today=TODAY, filters=Filters(categories=("food",)))
    assert food
    assert all("food" in catalog.item(r.item_id).categories for r in food)
    after = dt.date(2024, 1, 1)
    recent = ranker.recommend(profile, 5, today=TODAY, filters=Filters(created_after=after))
    assert recent
    assert all(catalog.item(r.item_id).created >= after for r in recent)  # type: ignore[operator]
    assert ranker.recommend(profile, 5, today=TODAY, filters=Filters(language="xx")) == []


def test_dislikes_push_similar_items_away(catalog: Catalog) -> None:
    ranker = Ranker(catalog)
    crime = _in(catalog, "crime", 6)
    base = _profile(catalog, _in(catalog, "travel", 3))
    before = ranker.scores(ranker.profiled(base, TODAY), TODAY)
    for item in crime[:3]:
        base.record(item, "dislike", TODAY)
    after = ranker.scores(ranker.profiled(base, TODAY), TODAY)
    rows = [catalog.index_of(i) for i in crime[3:]]
    assert len(rows) == 3
    assert np.all(after[rows] < before[rows])


def test_recent_events_count_most_when_asked(catalog: Catalog) -> None:
    """Same day, same items: only the order differs, and only the recency weight sees it."""
    crime, travel = _in(catalog, "crime", 4), _in(catalog, "travel", 4)
    crime_then_travel = _profile(catalog, crime + travel)
    travel_then_crime = _profile(catalog, travel + crime)
    probe = [catalog.index_of(i) for i in _in(catalog, "crime", 8)[4:]]
    assert len(probe) == 4

    def crime_score(weights: RankingWeights, profile: Profile) -> float:
        ranker = Ranker(catalog, weights)
        return float(ranker.scores(ranker.profiled(profile, TODAY), TODAY)[probe].mean())

    order_blind = RankingWeights(recent_half_life_events=None)
    assert crime_score(order_blind, crime_then_travel) == pytest.approx(
        crime_score(order_blind, travel_then_crime), abs=1e-6
    )
    recent = RankingWeights(recent_half_life_events=2.0)
    assert crime_score(recent, travel_then_crime) > crime_score(recent, crime_then_travel) + 0.05
    with pytest.raises(ValueError, match="half-lives"):
        RankingWeights(recent_half_life_events=0.0)


def test_lower_lambda_gives_more_diverse_results(catalog: Catalog) -> None:
    profile = _profile(catalog, _in(catalog, "crime", 2) + _in(catalog, "poetry", 1))

    def spread(lam: float) -> int:
        ranker = Ranker(catalog, RankingWeights(mmr_lambda=lam, exploration_share=0.0))
        results = ranker.recommend(profile, 10, today=TODAY)
        return len({c for r in results for c in catalog.item(r.item_id).categories})

    assert spread(0.3) > spread(1.0)


def test_exploration_is_deterministic_within_a_day(catalog: Catalog) -> None:
    ranker = Ranker(catalog, RankingWeights(exploration_share=0.2))
    profile = _profile(catalog, _in(catalog, "crime"))
    first = ranker.recommend(profile, 10, today=TODAY)
    assert [r.item_id for r in first] == [
        r.item_id for r in ranker.recommend(profile, 10, today=TODAY)
    ]
    explored = [r for r in first if any(x.kind == "exploration" for x in r.reasons)]
    assert len(explored) == 2
    assert all("crime" not in catalog.item(r.item_id).categories for r in explored)
    days = {
        tuple(r.item_id for r in ranker.recommend(profile, 10, today=TODAY + dt.timedelta(days=d)))
        for d in range(6)
    }
    assert len(days) > 1


def test_cold_start_is_popularity_with_diversity(catalog: Catalog, tmp_path: Path) -> None:
    ranker = Ranker(catalog)
    fresh = ranker.recommend(Profile.new(TODAY), 8, today=TODAY)
    assert len(fresh) == 8
    assert all(any(x.kind == "starter" for x in r.reasons) for r in fresh)
    assert len({catalog.item(r.item_id).categories[0] for r in fresh}) >= 4
    # With an informative prior the most popular items lead, marked as popular.
    sensitive = catalog.taxonomy.sensitive_ids
    everyday = [i for i in catalog.ids if not set(catalog.item(i).categories) & sensitive]
    popular = everyday[:5]
    estimates = tmp_path / "pop.json"
    document = {"estimates": dict.fromkeys(popular, 1000.0)}
    estimates.write_text(json.dumps(document), encoding="utf-8")
    repo = PublisherRepository.init(tmp_path / "repo")
    publish_catalog(repo, demo_items_path(), demo_taxonomy_path(), popularity_path=estimates)
    informed = Catalog.open(
        sync_catalog(tmp_path / "home", str(repo.path), root=repo.trusted_root_path).folder
    )
    top = Ranker(informed, RankingWeights(mmr_lambda=1.0)).recommend(
        Profile.new(TODAY), 5, today=TODAY
    )
    assert {r.item_id for r in top} == set(popular)
    assert all(any(x.kind == "popular" for x in r.reasons) for r in top)


def test_explain_agrees_with_recommend(catalog: Catalog) -> None:
    ranker = Ranker(catalog, RankingWeights(mmr_lambda=1.0, exploration_share=0.0))
    liked = _in(catalog, "sf-fantasy")
    profile = _profile(catalog, liked)
    results = ranker.recommend(profile, 5, today=TODAY)
    assert len(results) == 5
    for position, result in enumerate(results, start=1):
        why = ranker.explain(profile, result.item_id, today=TODAY)
        assert why.rank == position
        c = why.components
        assert why.score == pytest.approx(c.similarity + c.popularity + c.freshness, abs=1e-5)
    assert (
        ranker.explain(profile, liked[0], today=TODAY).excluded
        == "you have already engaged with it"
    )
    health = _in(catalog, "health", 1)[0]
    assert "sensitive" in (ranker.explain(profile, health, today=TODAY).excluded or "")
    with pytest.raises(KeyError):
        ranker.explain(profile, "nope", today=TODAY)


def test_interests_reflect_the_profile(catalog: Catalog) -> None:
    profile = _profile(catalog, _in(catalog, "travel", 3))
    profile.muted.add("politics")
    interests = Ranker(catalog).interests(profile, TODAY)
    assert interests[0].category == "travel"
    assert next(i for i in interests if i.category == "politics").muted
    assert next(i for i in interests if i.category == "health").sensitive


def test_paused_profiles_get_unpersonalised_results(catalog: Catalog) -> None:
    profile = _profile(catalog, _in(catalog, "crime"))
    profile.paused = True
    results = Ranker(catalog).recommend(profile, 5, today=TODAY)
    assert len(results) == 5
    assert all(any(x.kind == "starter" for x in r.reasons) for r in results)


def test_explain_components_add_up_on_cold_start_too(catalog: Catalog) -> None:
    """Regression: with no history the score is the prior alone, unweighted."""
    ranker = Ranker(catalog, RankingWeights(popularity=4.0, freshness=0.5))
    empty = Profile.new(TODAY)
    results = ranker.recommend(empty, 3, today=TODAY)
    assert len(results) == 3
    for result in results:
        why = ranker.explain(empty, result.item_id, today=TODAY)
        c = why.components
        assert why.score == pytest.approx(c.similarity + c.popularity + c.freshness, abs=1e-5)


def test_category_totals_match_the_plain_sum(catalog: Catalog) -> None:
    ranker = Ranker(catalog)
    rng = np.random.default_rng(3)
    rows = rng.choice(len(catalog), 40)  # repeats included
    weights = rng.normal(size=40)
    f = catalog.features
    expected = np.zeros(len(f.category_ids))
    for row, weight in zip(rows, weights, strict=True):
        expected[f.indices[f.indptr[row] : f.indptr[row + 1]]] += weight
    np.testing.assert_allclose(ranker._category_totals(rows, weights), expected)
    assert ranker._category_totals(rows[:0], weights[:0]).sum() == 0


def test_recommend_rows_are_the_rows_of_recommend(catalog: Catalog) -> None:
    profile = _profile(catalog, _in(catalog, "crime", 2) + _in(catalog, "poetry", 1))
    profile.record(_in(catalog, "crime", 3)[2], "dislike", TODAY)
    cases = [
        (RankingWeights(), Filters(), None),
        (RankingWeights(exploration_share=0.3, mmr_lambda=0.5), Filters(), None),
        (RankingWeights(), Filters(language="en"), 1.0),
    ]
    for weights, filters, diversity in cases:
        ranker = Ranker(catalog, weights)
        for k in (1, 7, 25):
            results = ranker.recommend(
                profile, k, today=TODAY, filters=filters, diversity=diversity, explain=False
            )
            rows = ranker.recommend_rows(
                profile, k, today=TODAY, filters=filters, diversity=diversity
            )
            assert rows.dtype == np.int64
            assert len(rows) == len(results) > 0
            assert [catalog.item_at(int(r)).id for r in rows] == [r.item_id for r in results]
    assert len(Ranker(catalog).recommend_rows(profile, 0, today=TODAY)) == 0
    cold = Ranker(catalog).recommend_rows(Profile.new(TODAY), 5, today=TODAY)
    assert [catalog.item_at(int(r)).id for r in cold] == [
        r.item_id for r in Ranker(catalog).recommend(Profile.new(TODAY), 5, today=TODAY)
    ]


def test_a_ranker_with_other_weights_ranks_as_a_new_one_and_shares_the_lookups(
    catalog: Catalog,
) -> None:
    profile = _profile(catalog, _in(catalog, "crime", 2) + _in(catalog, "poetry", 2))
    base = Ranker(catalog)
    base.recommend(profile, 10, today=TODAY)
    looked_up = dict(base._rows)
    assert looked_up
    for weights in (
        RankingWeights(popularity=4.0, popularity_exponent=0.5),
        RankingWeights(recent_half_life_events=None, half_life_days=30.0, freshness=1.0),
        RankingWeights(mmr_lambda=1.0, exploration_share=0.0, kind_weights={"like": 3.0}),
    ):
        derived = base.with_weights(weights)
        assert derived.weights == weights
        assert base.weights == RankingWeights()
        fresh = Ranker(catalog, weights)
        for day in (TODAY, TODAY + dt.timedelta(days=40)):
            got = derived.recommend(profile, 10, today=day)
            assert got == fresh.recommend(profile, 10, today=day)
            assert derived.explain(profile, got[0].item_id, today=day) == fresh.explain(
                profile, got[0].item_id, today=day
            )
        assert derived._rows is base._rows
    assert base._rows == looked_up  # nothing looked up twice
    # The base ranks by its own weights still.
    assert base.recommend(profile, 10, today=TODAY) == Ranker(catalog).recommend(
        profile, 10, today=TODAY
    )


def test_rankers_with_weights_that_shape_a_profile_alike_share_its_state(
    catalog: Catalog,
) -> None:
    """Weights that leave a profile's state as it is (popularity, diversity, exploration)
    reuse it; those that change it (the half-lives, the kinds' weights) compute their own;
    every ranking is a new ranker's."""
    profile = _profile(catalog, _in(catalog, "crime", 3) + _in(catalog, "poetry", 2))
    other = _profile(catalog, _in(catalog, "poetry", 3))
    base = Ranker(catalog)
    first = base.with_weights(RankingWeights())
    state = first.profiled(profile, TODAY)
    alike = (
        RankingWeights(popularity=4.0, popularity_exponent=0.5),
        RankingWeights(mmr_lambda=1.0, exploration_share=0.0),
    )
    unlike = (
        RankingWeights(half_life_days=30.0),
        RankingWeights(recent_half_life_events=None),
        RankingWeights(kind_weights={"like": 3.0}),
    )
    for weights in alike + unlike:
        derived = base.with_weights(weights)
        shared = derived.profiled(profile, TODAY) is state
        assert shared == (weights in alike)
        fresh = Ranker(catalog, weights)
        for p in (profile, other):
            assert derived.recommend(p, 10, today=TODAY) == fresh.recommend(p, 10, today=TODAY)
    # Another day is another state.
    tomorrow = TODAY + dt.timedelta(days=1)
    assert base.with_weights(RankingWeights()).profiled(profile, tomorrow) is not state
    # A ranker made on its own keeps none but its last.
    assert Ranker(catalog).profiled(profile, TODAY) is not state
