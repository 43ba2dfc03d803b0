"""The evaluation harness: protocol, metrics, the MovieLens converter and ``discreet eval``."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from discreet.cli import main
from discreet.errors import InputError
from discreet.evaluation.data import Dataset, convert_movielens, load_dataset
from discreet.evaluation.harness import (
    build_catalog,
    exact_popularity,
    noise_dominated,
    with_popularity,
)
from discreet.evaluation.protocol import Split, evaluate_lists, split_dataset
from discreet.evaluation.recommenders import EASERecommender, EngineRecommender
from discreet.evaluation.simulation import Aggregates, NoisyRelease
from discreet.rank.ranker import Ranker
from discreet.rank.weights import RankingWeights
from tests.shared_data import require_movielens


def _write(
    folder: Path, items: list[tuple[str, str]], interactions: list[tuple[str, str, int]]
) -> tuple[Path, Path]:
    with (folder / "items.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "title", "categories"])
        writer.writerows([(i, f"Title {i}", c) for i, c in items])
    with (folder / "interactions.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["user_id", "item_id", "timestamp"])
        writer.writerows(interactions)
    return folder / "items.csv", folder / "interactions.csv"


def test_split_follows_the_protocol(tmp_path: Path) -> None:
    items = [(f"i{n}", "a") for n in range(12)]
    interactions = [("u1", f"i{n}", 100 + n) for n in range(10)]  # 10 in time order
    interactions += [("u2", f"i{n}", 500) for n in (3, 1, 2, 0, 4)]  # a tie: item order decides
    interactions += [("u3", "i0", 1), ("u3", "i1", 2), ("u3", "i2", 3), ("u3", "i3", 4)]  # too few
    interactions += [("u1", "i0", 999)]  # a repeat counts once (its first time)
    dataset = load_dataset(*_write(tmp_path, items, interactions))
    validation, test = split_dataset(dataset)
    assert len(test.heldout) == 2  # u3 dropped
    assert test.heldout[0].tolist() == [8, 9]  # the last 20% in time
    assert test.heldout[1].tolist() == [4]  # ties broken by item: i4 is last
    assert [r for r, _ in test.history[0]] == list(range(8))
    assert validation.heldout[0].tolist() == [6, 7]  # validation comes from training only
    assert test.train[0].indices.tolist() == list(range(8))


def test_metrics_match_a_hand_computation() -> None:
    import scipy.sparse as sp

    split = Split(sp.csr_matrix((2, 6)), [[], []], [np.array([1, 3]), np.array([5])], 6)
    ranked = {0: np.array([3, 0, 1, 2]), 1: np.array([0, 2, 4])}
    metrics = evaluate_lists(ranked, split)
    user0 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert metrics.ndcg10 == pytest.approx(user0 / 2)
    assert metrics.recall20 == pytest.approx(0.5)
    assert metrics.hr10 == pytest.approx(0.5)
    assert metrics.coverage10 == pytest.approx(5 / 6)


def test_bias_figures_match_a_hand_computation() -> None:
    import scipy.sparse as sp

    # Training counts 6, 2, 1, 1, 0, 0: the short head (20% of 10 interactions) is item 0.
    train = sp.csr_matrix(
        np.asarray([[1, 1, 1, 0, 0, 0], [1, 1, 0, 1, 0, 0]] + [[1, 0, 0, 0, 0, 0]] * 4)
    )
    split = Split(train, [[]] * 6, [np.array([5])] + [np.array([], dtype=np.int64)] * 5, 6)
    metrics = evaluate_lists({0: np.array([0, 4, 4, 5])}, split)
    assert metrics.long_tail10 == pytest.approx(3 / 4)  # 4 and 5 are tail items, 0 is not
    exposure = np.sort([1, 0, 0, 0, 2, 1])
    expected = sum((2 * (i + 1) - 6 - 1) * x for i, x in enumerate(exposure)) / (6 * 4)
    assert metrics.gini10 == pytest.approx(expected)


def test_bad_interactions_are_reported(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"not in items\.csv"):
        load_dataset(*_write(tmp_path, [("i1", "a")], [("u1", "nope", 1)]))
    (tmp_path / "interactions.csv").write_text("user,item\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing field"):
        load_dataset(tmp_path / "items.csv", tmp_path / "interactions.csv")


def test_movielens_converts_to_the_evaluation_format(tmp_path: Path) -> None:
    items, interactions = convert_movielens(require_movielens(), tmp_path)
    dataset = load_dataset(items, interactions)
    assert dataset.n_items == 9742
    assert dataset.n_users == 610
    assert len(dataset.rows) == 100_836
    assert "comedy" in dataset.taxonomy
    toy_story = next(i for i in dataset.items if i.id == "1")
    assert set(toy_story.categories) >= {"animation", "comedy"}
    assert "pixar" in toy_story.text.lower()  # tags join the text


def test_eval_command_prints_every_method(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(1)
    genres = ["a", "b", "c", "d"]
    items = [(f"m{n}", genres[n % 4]) for n in range(40)]
    interactions = []
    for u in range(30):
        liked = [n for n in range(40) if n % 4 == u % 4] + list(rng.choice(40, 3))
        interactions += [(f"u{u}", f"m{n}", 1_600_000_000 + 3600 * t) for t, n in enumerate(liked)]
    items_path, interactions_path = _write(tmp_path, items, interactions)
    code = main(
        [
            "eval",
            "--items",
            str(items_path),
            "--interactions",
            str(interactions_path),
            "--clients",
            "3000",
            "--epsilon",
            "2",
            "--secure-clients",
            "3000",
            "--secure-epsilon",
            "2",
            "--json",
        ]
    )
    assert code == 0
    out, err = capsys.readouterr()
    rows = json.loads(out)["rows"]  # stdout is the JSON document alone
    # Off a terminal, the phases as plain lines on stderr, with no progress bar.
    assert "\r" not in err
    lines = err.splitlines()
    assert any("the engine's weights" in line for line in lines)
    assert lines[-1].endswith(f"done: {len(rows)} rows")
    routes = {(r["route"], r["clients"], r["epsilon"]) for r in rows if r["method"] != "Random"}
    assert routes == {
        ("centralized", None, None),
        (None, None, None),  # content only: no population data
        ("exact", None, None),
        ("LDP", 3000, 2.0),
        ("secure aggregation", 3000, 2.0),
    }
    assert [r["route"] for r in rows if r["method"].startswith("engine, secure")] == [
        "secure aggregation"
    ]
    methods = [r["method"] for r in rows]
    assert methods[:4] == ["Random", "MostPop", "ItemKNN (cosine, 100 neighbours)", "EASE"]
    assert "engine, exact popularity" in methods
    assert "engine, exact popularity + co-occurrence" in methods
    assert "engine, LDP (N=3,000, ε=2)" in methods
    assert "engine, secure aggregation (N=3,000, ε=2)" in methods
    assert all(0.0 <= r["ndcg@10"] <= 1.0 for r in rows)
    assert all(0.0 <= r["long_tail@10"] <= 1.0 and 0.0 <= r["gini@10"] <= 1.0 for r in rows)
    assert main(["eval"]) == 1


def _tiny_split(tmp_path: Path, users: int = 12) -> tuple[Dataset, Split]:
    rng = np.random.default_rng(3)
    items = [(f"m{n}", "abcd"[n % 4]) for n in range(30)]
    interactions = []
    for u in range(users):
        liked = [n for n in range(24) if n % 4 == u % 4] + list(rng.choice(24, 3))
        interactions += [
            (f"u{u}", f"m{n}", 1_600_000_000 + 86_400 * t) for t, n in enumerate(liked)
        ]
    dataset = load_dataset(*_write(tmp_path, items, interactions))
    return dataset, split_dataset(dataset)[1]


@pytest.mark.parametrize("users", [12, 60])  # fewer users than trained items, and more
def test_ease_fitted_on_trained_items_is_the_whole_catalog_model(
    tmp_path: Path, users: int
) -> None:
    _, split = _tiny_split(tmp_path, users)
    trained = np.asarray(split.train.sum(axis=0)).ravel() > 0
    assert not trained.all()  # m24..m29 were never watched
    assert (len(split.heldout) < trained.sum()) == (users == 12)
    ease = EASERecommender(20.0).fit(split)
    # Steck's closed form over every item of the catalog, untrained ones included.
    x = split.train.toarray().astype(np.float64)
    inverse = np.linalg.inv(x.T @ x + 20.0 * np.eye(x.shape[1]))
    weights = -inverse / np.diag(inverse)
    np.fill_diagonal(weights, 0.0)
    for user in split.users:
        expected = x[user] @ weights
        expected[x[user] > 0] = -np.inf
        got = ease.scores(int(user))
        assert np.array_equal(np.isinf(got), np.isinf(expected))
        np.testing.assert_allclose(
            got[np.isfinite(got)], expected[np.isfinite(expected)], atol=1e-12
        )
        assert (got[~trained] == 0).all()


def test_engines_on_one_split_share_profiles_and_rank_as_the_product_does(tmp_path: Path) -> None:
    dataset, split = _tiny_split(tmp_path)
    catalog = build_catalog(dataset, tmp_path / "catalog", exact_popularity(dataset, split), 16)
    first = EngineRecommender(catalog, RankingWeights()).fit(split)
    for weights in (RankingWeights(popularity=4.0), RankingWeights(recent_half_life_events=2.0)):
        engine = EngineRecommender(catalog, weights).fit(split)
        for user in split.users.tolist():
            profile, today = engine.profile(user)
            assert profile is first.profile(user)[0]  # built once per split
            alone = Ranker(catalog, weights).recommend(profile, 8, today=today, explain=False)
            assert engine.recommend(user, 8).tolist() == [
                catalog.index_of(r.item_id) for r in alone
            ]


def test_a_catalog_with_other_counts_is_the_one_built_with_them(tmp_path: Path) -> None:
    dataset, test = _tiny_split(tmp_path)
    validation = split_dataset(dataset)[0]
    base = build_catalog(dataset, tmp_path / "base", exact_popularity(dataset, validation), 16)
    built = build_catalog(dataset, tmp_path / "built", exact_popularity(dataset, test), 16)
    linked = with_popularity(base, dataset, exact_popularity(dataset, test), tmp_path / "linked")
    names = sorted(f.name for f in built.folder.iterdir())
    assert names == sorted(f.name for f in linked.folder.iterdir())
    assert "popularity.npy" in names
    for name in names:
        assert (built.folder / name).read_bytes() == (linked.folder / name).read_bytes(), name
    assert (base.folder / "popularity.npy").read_bytes() != (
        linked.folder / "popularity.npy"
    ).read_bytes()


def test_eval_rows_do_not_depend_on_the_number_of_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(2)
    items = [(f"m{n}", "abcd"[n % 4]) for n in range(40)]
    interactions = []
    for u in range(30):
        liked = [n for n in range(40) if n % 4 == u % 4] + list(rng.choice(40, 3))
        interactions += [(f"u{u}", f"m{n}", 1_600_000_000 + 3600 * t) for t, n in enumerate(liked)]
    paths = _write(tmp_path, items, interactions)
    runs = []
    for jobs in ("1", "2"):
        args = ["eval", "--items", str(paths[0]), "--interactions", str(paths[1])]
        args += ["--clients", "2000", "--epsilon", "1", "2", "--secure-clients", "1000", "3000"]
        args += ["--secure-epsilon", "2", "--no-baselines", "--jobs", jobs, "--json"]
        assert main(args) == 0
        out, err = capsys.readouterr()
        runs.append(([{**r, "seconds": None} for r in json.loads(out)["rows"]], err))
    (serial, serial_err), (pooled, pooled_err) = runs
    assert [r["method"] for r in pooled] == [
        "engine, content only",
        "engine, exact popularity",
        "engine, exact popularity + co-occurrence",
        "engine, secure aggregation (N=1,000, ε=2)",
        "engine, secure aggregation (N=3,000, ε=2)",
        "engine, LDP (N=2,000, ε=1)",
        "engine, LDP (N=2,000, ε=2)",
    ]
    assert pooled == serial
    assert "4 private routes on 2 processes" in pooled_err
    assert "private routes on" not in serial_err
    # The routes' own phase lines reach stderr from the workers too.
    for line in serial_err.splitlines():
        if "secure aggregation N=" in line or "LDP N=" in line:
            assert line.split("] ", 1)[1] in pooled_err


def test_the_long_pad_is_tried_only_where_the_pair_counts_are_noise_dominated() -> None:
    """The rule reads the released counts and the release's own noise (two aggregators)."""
    rng = np.random.default_rng(5)
    sigma_sq = 100**2  # per aggregator: the release's deviation is about 141

    def aggregates(mean: float) -> Aggregates:
        counts = rng.poisson(mean, 4950) + rng.normal(0, math.sqrt(2 * sigma_sq), 4950)
        pairs = NoisyRelease(counts.round().astype(np.int64), 10_000, 0.8, 5e-7, sigma_sq)
        popularity = NoisyRelease(np.zeros(10, dtype=np.int64), 10_000, 0.2, 5e-7, 1)
        return Aggregates(popularity, np.arange(10), pairs)

    assert noise_dominated(aggregates(40.0))
    assert not noise_dominated(aggregates(400.0))
