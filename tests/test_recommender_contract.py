"""One contract, run against every ranker the harness compares (the engine and each baseline)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from discreet.evaluation.data import Dataset, load_dataset
from discreet.evaluation.harness import build_catalog, exact_popularity
from discreet.evaluation.protocol import Split, split_dataset
from discreet.evaluation.recommenders import (
    EASERecommender,
    EngineRecommender,
    ItemKNNRecommender,
    MostPopRecommender,
    RandomRecommender,
    Recommender,
)

GENRES = ["drama", "comedy", "horror", "scifi", "romance"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """60 items in 5 genres; 40 users who each favour one genre."""
    folder = tmp_path_factory.mktemp("contract")
    rng = np.random.default_rng(0)
    with (folder / "items.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "title", "text", "categories"])
        for i in range(60):
            genre = GENRES[i % 5]
            words = " ".join(rng.choice(["night", "love", "space", "laugh", "ghost", "ship"], 6))
            writer.writerow([f"m{i}", f"Film {i}", f"a {genre} film about {words}", genre])
    with (folder / "interactions.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["user_id", "item_id", "timestamp"])
        for u in range(40):
            favourite = u % 5
            picks = [i for i in range(60) if i % 5 == favourite]
            picks += list(rng.choice(60, 4, replace=False))
            for t, i in enumerate(rng.permutation(sorted(set(picks)))):
                writer.writerow([f"u{u}", f"m{i}", 1_600_000_000 + 86_400 * t])
    return load_dataset(folder / "items.csv", folder / "interactions.csv")


@pytest.fixture(scope="module")
def split(dataset: Dataset) -> Split:
    return split_dataset(dataset)[1]


def _engine(dataset: Dataset, split: Split, tmp: Path) -> Recommender:
    catalog = build_catalog(dataset, tmp / "catalog", exact_popularity(dataset, split), dim=8)
    return EngineRecommender(catalog)


FACTORIES: dict[str, Callable[[Dataset, Split, Path], Recommender]] = {
    "random": lambda d, s, t: RandomRecommender(3),
    "mostpop": lambda d, s, t: MostPopRecommender(),
    "itemknn": lambda d, s, t: ItemKNNRecommender(10),
    "ease": lambda d, s, t: EASERecommender(50.0),
    "engine": _engine,
}


@pytest.fixture(params=sorted(FACTORIES))
def fitted(
    request: pytest.FixtureRequest, dataset: Dataset, split: Split, tmp_path: Path
) -> Recommender:
    recommender = FACTORIES[request.param](dataset, split, tmp_path)
    assert recommender.fit(split) is recommender
    return recommender


def test_scores_have_one_value_per_item(fitted: Recommender, split: Split) -> None:
    for user in split.users[:5]:
        score = fitted.scores(int(user))
        assert score.shape == (split.n_items,)
        assert not np.isnan(score).any()


def test_results_are_deterministic(fitted: Recommender, split: Split) -> None:
    for user in split.users[:5]:
        first = fitted.recommend(int(user), 10)
        assert np.array_equal(first, fitted.recommend(int(user), 10))


def test_seen_items_are_never_recommended(fitted: Recommender, split: Split) -> None:
    for user in split.users:
        seen = set(
            split.train.indices[split.train.indptr[user] : split.train.indptr[user + 1]].tolist()
        )
        recommended = fitted.recommend(int(user), 20)
        assert not seen & set(recommended.tolist())
        assert len(set(recommended.tolist())) == len(recommended)


def test_k_larger_than_the_catalog(fitted: Recommender, split: Split) -> None:
    user = int(split.users[0])
    seen = split.train.indptr[user + 1] - split.train.indptr[user]
    everything = fitted.recommend(user, 10_000)
    assert len(everything) == split.n_items - seen
    assert len(fitted.recommend(user, 0)) == 0


def test_an_empty_profile_still_gets_results(
    request: pytest.FixtureRequest, dataset: Dataset, split: Split, tmp_path: Path
) -> None:
    import scipy.sparse as sp

    empty = Split(
        sp.csr_matrix(split.train.shape, dtype=np.float32),
        [[] for _ in split.history],
        split.heldout,
        split.n_items,
    )
    for name, factory in FACTORIES.items():
        recommender = factory(dataset, split, tmp_path / name).fit(empty)
        results = recommender.recommend(0, 5)
        assert len(results) == 5, name


def test_the_engine_learns_taste_where_content_carries_it(
    dataset: Dataset, split: Split, tmp_path: Path
) -> None:
    engine = _engine(dataset, split, tmp_path).fit(split)
    random = RandomRecommender(3).fit(split)
    from discreet.evaluation.protocol import evaluate_lists

    def lists(r: Recommender) -> dict[int, np.ndarray]:
        return {int(u): r.recommend(int(u), 20) for u in split.users}

    assert (
        evaluate_lists(lists(engine), split).ndcg10
        > 2 * evaluate_lists(lists(random), split).ndcg10
    )
