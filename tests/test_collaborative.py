"""The collaborative target: fitted from aggregates, shipped in the catalog, used by the ranker.

The data is synthetic: users come in taste groups whose items are spread over
unrelated categories, so content similarity cannot find a group's other items
but co-occurrence can.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from discreet._fs import canonical_json
from discreet.catalog.collaborative import MAX_BYTES, Neighbours
from discreet.catalog.manifest import (
    COLLABORATIVE_FILE,
    Manifest,
    collaborative_card,
    task_card,
)
from discreet.catalog.reader import Catalog, verify_catalog_folder
from discreet.demo_data import demo_items_path, demo_taxonomy_path
from discreet.errors import CatalogInvalidError, InputError
from discreet.profile.model import Profile
from discreet.publish.collaborative import (
    CollaborativeParams,
    Cooccurrence,
    collaborative_target,
    denoise_gram,
    fit_neighbours,
    pairs_stand_out,
    pooled_estimates,
    pooled_popularity,
    read_cooccurrence,
)
from discreet.publish.publisher import publish_catalog
from discreet.publish.repository import PublisherRepository
from discreet.rank.ranker import Ranker
from discreet.rank.weights import RankingWeights
from discreet.secagg.mode import SecureAggregation
from discreet.secagg.task import Task, b64, create_task
from discreet.sync.client import sync_catalog
from tests.synthetic_catalog import write_release

TODAY = dt.date(2026, 11, 29)
GROUPS, GROUP_SIZE, USERS = 12, 10, 240


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Catalog, Catalog, list[list[int]]]:
    """A plain release, the same with a target fitted from its users' exact co-occurrence
    (only the first half of the groups' items are counted), and the users' histories."""
    folder = tmp_path_factory.mktemp("collaborative")
    plain = write_release(folder / "plain", n=600)
    rng = np.random.default_rng(7)
    groups = rng.permutation(len(plain))[: GROUPS * GROUP_SIZE].reshape(GROUPS, GROUP_SIZE)
    histories = [list(rng.choice(groups[u % GROUPS], 6, replace=False)) for u in range(USERS)]
    counted = groups[: GROUPS // 2].ravel()  # the top M: half the groups
    m = len(counted)
    position = {int(row): i for i, row in enumerate(counted)}
    counts = np.zeros(math.comb(m, 2), dtype=np.int64)
    popularity = dict.fromkeys(plain.ids, 0.0)
    for history in histories[: USERS // 2]:  # the first half of users reported
        inside = sorted(position[int(r)] for r in history if int(r) in position)
        for a, b in zip(*np.triu_indices(len(inside), 1), strict=True):
            i, j = inside[a], inside[b]
            counts[i * (2 * m - i - 1) // 2 + (j - i - 1)] += 1
        for r in history:
            popularity[plain.ids[int(r)]] += 1.0
    aggregate = Cooccurrence(
        tuple(plain.ids[int(r)] for r in counted), counts, USERS // 2, 1.0, 1e-6, 0.0, 1
    )
    exact = CollaborativeParams(item_weight=1, item_pad=1, pair_weight=1, pair_pad=2)
    target = collaborative_target(aggregate, list(plain.ids), popularity, exact)
    return plain, with_target(plain, folder / "collaborative", target), histories


def with_target(
    plain: Catalog, folder: Path, target: tuple[Neighbours, dict[str, object]]
) -> Catalog:
    """A copy of ``plain`` carrying ``target``, installed through the real verification."""
    shutil.copytree(plain.folder, folder)
    (folder / COLLABORATIVE_FILE).write_bytes(target[0].to_bytes())
    manifest = dataclasses.replace(plain.manifest, collaborative=target[1])
    (folder / "manifest.json").write_bytes(canonical_json(manifest.to_json()))
    return verify_catalog_folder(folder, index=True)


def _profile(catalog: Catalog, rows: list[int]) -> Profile:
    profile = Profile.new(TODAY)
    for row in rows:
        profile.record(catalog.ids[int(row)], "like", TODAY)
    return profile


def _hit_rate(catalog: Catalog, histories: list[list[int]], users: list[int]) -> float:
    ranker = Ranker(catalog, RankingWeights(exploration_share=0.0, collaborative=2.0))
    hits = []
    for u in users:
        shown, held = histories[u][:4], {catalog.ids[int(r)] for r in histories[u][4:]}
        results = ranker.recommend(_profile(catalog, shown), 10, today=TODAY, explain=False)
        hits.append(len(held & {r.item_id for r in results}) / len(held))
    return float(np.mean(hits))


def test_the_collaborative_term_finds_what_content_cannot(
    world: tuple[Catalog, Catalog, list[list[int]]],
) -> None:
    plain, collaborative, histories = world
    # Users of the counted groups who never reported: the held-out half.
    counted = [u for u in range(USERS // 2, USERS) if u % GROUPS < GROUPS // 2]
    before = _hit_rate(plain, histories, counted)
    after = _hit_rate(collaborative, histories, counted)
    assert before < 0.2
    assert after > 0.6


def test_it_costs_nothing_where_the_target_is_silent(
    world: tuple[Catalog, Catalog, list[list[int]]],
) -> None:
    plain, collaborative, histories = world
    weights = RankingWeights(collaborative=2.0)
    uncounted = [u for u in range(USERS) if u % GROUPS >= GROUPS // 2][:10]
    for u in uncounted:  # no history item is in the target: the same results, same scores
        profile = _profile(plain, histories[u][:4])
        a = Ranker(plain, weights).recommend(profile, 10, today=TODAY)
        b = Ranker(collaborative, weights).recommend(profile, 10, today=TODAY)
        assert [r.to_json() for r in a] == [r.to_json() for r in b]
    cold = Profile.new(TODAY)
    a = Ranker(plain, weights).recommend(cold, 10, today=TODAY)
    b = Ranker(collaborative, weights).recommend(cold, 10, today=TODAY)
    assert [r.to_json() for r in a] == [r.to_json() for r in b]


def test_reasons_and_explain_show_the_term(
    world: tuple[Catalog, Catalog, list[list[int]]],
) -> None:
    plain, collaborative, histories = world
    user = next(u for u in range(USERS // 2, USERS) if u % GROUPS < GROUPS // 2)
    profile = _profile(collaborative, histories[user][:4])
    ranker = Ranker(collaborative, RankingWeights(exploration_share=0.0, collaborative=2.0))
    results = ranker.recommend(profile, 10, today=TODAY)
    liked = [x for r in results for x in r.reasons if x.kind == "collaborative"]
    assert liked
    shown = {collaborative.ids[int(r)] for r in histories[user][:4]}
    assert all(len(x.items) == 1 and x.items[0] in shown for x in liked)
    title = collaborative.item(liked[0].items[0]).title
    assert liked[0].text == f"people who liked {title} also liked this"
    why = ranker.explain(profile, results[0].item_id, today=TODAY)
    assert why.components.collaborative is not None
    assert why.components.collaborative > 0
    parts = why.components
    total = parts.similarity + parts.popularity + parts.freshness + parts.collaborative
    assert why.score == pytest.approx(total, abs=1e-5)
    assert "collaborative" in json.loads(json.dumps(why.to_json()))["components"]
    plain_why = Ranker(plain).explain(profile, results[0].item_id, today=TODAY)
    assert "collaborative" not in plain_why.to_json()["components"]


def test_a_malformed_target_is_refused(
    world: tuple[Catalog, Catalog, list[list[int]]], tmp_path: Path
) -> None:
    collaborative = world[1]
    target = collaborative.collaborative
    assert target is not None
    path = tmp_path / COLLABORATIVE_FILE
    bad = {
        "out of range": {"neighbours": np.full_like(target.neighbours, 10_000)},
        "float32 weights": {"weights": target.weights.astype(np.float32)},
        "repeated rows": {"rows": np.zeros_like(target.rows)},
        "objects": {"rows": np.asarray([object()] * len(target.rows))},
    }
    for change in bad.values():
        arrays = {"rows": target.rows, "neighbours": target.neighbours, "weights": target.weights}
        arrays.update(change)
        with path.open("wb") as f:
            np.savez(f, **arrays)
        with pytest.raises(CatalogInvalidError):
            Neighbours.load(path, len(collaborative))

    path.write_bytes(b"PK not a zip")
    with pytest.raises(CatalogInvalidError):
        Neighbours.load(path, len(collaborative))
    big = Neighbours(
        np.arange(3000, dtype=np.int32),
        np.zeros((3000, 100), dtype=np.int32),
        np.ones((3000, 100), dtype=np.float16),
    )
    with pytest.raises(ValueError, match="over the budget"):
        big.to_bytes()
    at_budget = Neighbours(
        np.arange(1000, dtype=np.int32),
        np.zeros((1000, 100), dtype=np.int32),
        np.ones((1000, 100), dtype=np.float16),
    )
    assert len(at_budget.to_bytes()) <= MAX_BYTES  # M = 1,000 with 100 neighbours fits


def test_a_malformed_cooccurrence_file_says_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "cooccurrence.json"
    good = Cooccurrence(("a", "b", "c"), np.asarray([1, 2, 3]), 10, 1.0, 1e-6, 2.5, 3, "t")
    path.write_text(json.dumps(good.to_json()), encoding="utf-8")
    again = read_cooccurrence(path)
    assert again.items == good.items
    assert again.counts.tolist() == [1, 2, 3]
    assert (again.max_weight, again.task_id) == (3, "t")
    for field, value, message in [
        ("pair_counts", [1, 2], "M\\(M-1\\)/2"),
        ("top_items", ["a", "a", "b"], "distinct"),
        ("format", "other", "not a discreet-cooccurrence"),
        ("format_version", 2, "format_version"),
        ("sigma_sq_per_aggregator", -1, "non-negative"),
        ("max_weight", 0, "max_weight"),
        ("task_id", 7, "task_id"),
    ]:
        path.write_text(json.dumps({**good.to_json(), field: value}), encoding="utf-8")
        with pytest.raises(InputError, match=message):
            read_cooccurrence(path)


def test_publish_build_ships_the_target_with_its_model_card(tmp_path: Path) -> None:
    repo = PublisherRepository.init(tmp_path / "repo")
    ids = _demo_ids()[:40]
    m = len(ids)
    rng = np.random.default_rng(9)
    counts = rng.poisson(3.0, math.comb(m, 2))
    counts[0] = 500  # the first two items go together
    aggregate = Cooccurrence((*ids, "gone"), np.append(counts, [0] * m), 5000, 1.0, 1e-6, 4.0, 190)
    (tmp_path / "pairs.json").write_text(json.dumps(aggregate.to_json()), encoding="utf-8")
    estimates = dict.fromkeys(ids, 100.0)
    (tmp_path / "popularity.json").write_text(json.dumps({"estimates": estimates}), "utf-8")
    with pytest.raises(InputError, match="--popularity"):
        publish_catalog(
            repo, demo_items_path(), demo_taxonomy_path(), cooccurrence_path=tmp_path / "pairs.json"
        )
    result = publish_catalog(
        repo,
        demo_items_path(),
        demo_taxonomy_path(),
        popularity_path=tmp_path / "popularity.json",
        cooccurrence_path=tmp_path / "pairs.json",
    )
    installed = Catalog.open(
        sync_catalog(tmp_path / "home", str(repo.path), root=repo.trusted_root_path).folder
    )
    card = installed.manifest.collaborative
    assert card is not None
    assert (card["items"], card["devices"], card["epsilon"]) == (m, 5000, 1.0)  # "gone" left out
    target = installed.collaborative
    assert target is not None
    first = installed.index_of(ids[0])
    assert target.neighbours[list(target.rows).index(first)][0] == installed.index_of(ids[1])
    assert "Collaborative target" in (result.model_folder / "MODEL_CARD.md").read_text("utf-8")


def test_an_aggregate_that_is_all_noise_is_refused(tmp_path: Path) -> None:
    """Pair counts of 300 devices under noise of deviation 400 per aggregator: nothing rises
    past the noise's spectral edge, so the build says so and what to do, however popular
    the items (a large diagonal must not pass noise off as structure); the same counts
    with little noise give a target."""
    ids = _demo_ids()[:40]
    rng = np.random.default_rng(12)
    truth = np.zeros(math.comb(len(ids), 2), dtype=np.int64)
    truth[:39] = 30  # the first item goes with every other one
    for sigma, popularity, refused in [
        (400.0, 100.0, True),
        (400.0, 1e5, True),
        (1.0, 100.0, False),
        (1.0, 1e5, False),
    ]:
        noise = np.rint(rng.normal(0.0, sigma * math.sqrt(2), len(truth))).astype(np.int64)
        aggregate = Cooccurrence(tuple(ids), truth + noise, 300, 0.5, 1e-6, sigma, 190)
        estimates = dict.fromkeys(ids, popularity)
        if refused:
            with pytest.raises(InputError, match=r"\(ε=0\.5\) is all noise.*more devices"):
                collaborative_target(aggregate, ids, estimates, CollaborativeParams())
        else:
            target, _card = collaborative_target(aggregate, ids, estimates, CollaborativeParams())
            assert (target.neighbours[0] >= 0).any()


def test_publish_build_refuses_an_all_noise_aggregate_and_writes_nothing(tmp_path: Path) -> None:
    """``publish build --cooccurrence`` with pair counts that are all noise: the error says
    what to do, and the repository's files are as they were (no release, no model)."""
    repo = PublisherRepository.init(tmp_path / "repo")
    ids = _demo_ids()[:40]
    noise = np.random.default_rng(15).normal(0.0, 400.0 * math.sqrt(2), math.comb(len(ids), 2))
    aggregate = Cooccurrence(
        tuple(ids), np.rint(noise).astype(np.int64), 300, 0.8, 5e-7, 400.0, 190
    )
    (tmp_path / "pairs.json").write_text(json.dumps(aggregate.to_json()), encoding="utf-8")
    estimates = dict.fromkeys(ids, 1e5)
    (tmp_path / "popularity.json").write_text(json.dumps({"estimates": estimates}), "utf-8")

    def files() -> dict[str, bytes]:
        return {
            str(f.relative_to(repo.path)): f.read_bytes()
            for f in sorted(repo.path.rglob("*"))
            if f.is_file() and f.name != ".lock"
        }

    before = files()
    with pytest.raises(InputError, match=r"is all noise.*build without --cooccurrence"):
        publish_catalog(
            repo,
            demo_items_path(),
            demo_taxonomy_path(),
            popularity_path=tmp_path / "popularity.json",
            cooccurrence_path=tmp_path / "pairs.json",
        )
    assert files() == before


def test_noise_alone_rarely_stands_out_and_a_weak_structure_does() -> None:
    """The refusal's test: noise alone (200 draws at M = 60 and 150) never passes the edge
    with its margin; a block of pairs whose eigenvalue is 1.5 times the edge always does,
    and exact counts stand out when any is positive."""
    rng = np.random.default_rng(13)
    for m in (60, 150):
        edge = 2.0 * 3.0 * math.sqrt(m)
        block = np.zeros((m, m))
        block[:10, :10] = 1.5 * edge / 9  # one direction, eigenvalue 1.5 x the edge
        np.fill_diagonal(block, 0.0)
        for _draw in range(200):
            noise = np.triu(rng.normal(0.0, 3.0, (m, m)), 1)
            assert not pairs_stand_out(noise + noise.T, 9.0)
            assert pairs_stand_out(block + noise + noise.T, 9.0)
    assert not pairs_stand_out(np.zeros((5, 5)), 0.0)
    assert pairs_stand_out(np.eye(5)[::-1] + np.eye(5), 0.0)


def test_the_fit_finds_groups_that_the_noise_hides_from_ease() -> None:
    """Taste groups under noise as large as their pair counts: the neighbour lists fitted
    with the noise's variance (denoised) put more of each item's group first than EASE fitted
    on the same counts as if they were exact."""
    rng = np.random.default_rng(14)
    groups, size = 6, 20
    m = groups * size
    group = np.repeat(np.arange(groups), size)
    truth = np.where(group[:, None] == group[None, :], 30.0, 5.0)
    popularity = np.full(m, 400.0)
    upper = np.triu_indices(m, 1)
    params = CollaborativeParams(neighbours=10)
    rows = np.arange(m)
    precision: dict[str, list[float]] = {"denoised": [], "as exact": []}
    for _draw in range(5):
        counts = truth[upper] + rng.normal(0.0, 30.0, len(upper[0]))
        for name, variance in [("denoised", 900.0), ("as exact", 0.0)]:
            fitted = fit_neighbours(rows, counts, popularity, variance, params)
            listed = fitted.neighbours
            same = (group[np.maximum(listed, 0)] == group[:, None]) & (listed >= 0)
            precision[name].append(float(same.sum() / (listed >= 0).sum()))
    assert np.mean(precision["denoised"]) > np.mean(precision["as exact"]) + 0.1


def _demo_ids() -> list[str]:
    lines = demo_items_path().read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["id"] for line in lines if line.strip()]


def test_publish_build_takes_the_shape_from_the_section_that_collected(tmp_path: Path) -> None:
    """The fit and the model card use the K and pad of the tasks the devices reported to
    (the current release's section), not the publisher's defaults; an aggregate of another
    task is fitted with the shape its own K gives, and the card names that task alone."""
    repo = PublisherRepository.init(tmp_path / "repo")
    all_ids = _demo_ids()
    ids = all_ids[:40]
    tasks = [
        create_task(
            tmp_path / name,
            length=len(all_ids),
            max_weight=weight,
            min_batch_size=1,
            epsilon=epsilon,
            delta=5e-7,
            labels=() if top else tuple(all_ids),
            top_items=top,
        )
        for name, weight, epsilon, top in (
            ("items", 20, 0.25, ()),
            ("pairs", 45, 0.75, tuple(ids)),
        )
    ]
    items, pairs = (Task.load(files.task) for files in tasks)
    # K1 = 20 needs a pad of 20, K2 = 45 one of 10: one pad of 20, so a device holding
    # 20 items reports 45 of its 190 pairs (the pairs' rate is 45/190, not 1).
    section = SecureAggregation(items, "https://l.example", "https://h.example", 1.0, 20, pairs)
    publish_catalog(repo, demo_items_path(), demo_taxonomy_path(), secure_aggregation=section)
    rng = np.random.default_rng(4)
    counts = rng.poisson(3.0, math.comb(len(ids), 2))
    counts[0] = 300
    aggregate = Cooccurrence(tuple(ids), counts, 3000, 0.75, 5e-7, 3.0, 45, b64(pairs.task_id))
    (tmp_path / "pairs.json").write_text(json.dumps(aggregate.to_json()), encoding="utf-8")
    estimates = {item_id: 40.0 + 5 * i for i, item_id in enumerate(ids)}
    (tmp_path / "popularity.json").write_text(json.dumps({"estimates": estimates}), "utf-8")
    result = publish_catalog(
        repo,
        demo_items_path(),
        demo_taxonomy_path(),
        popularity_path=tmp_path / "popularity.json",
        cooccurrence_path=tmp_path / "pairs.json",
    )
    installed = Catalog.open(
        sync_catalog(tmp_path / "home", str(repo.path), root=repo.trusted_root_path).folder
    )
    card = installed.manifest.collaborative
    assert card is not None
    assert card["tasks"] == [
        {"kind": "popularity", "epsilon": 0.25, "delta": 5e-7, "max_weight": 20},
        {"kind": "cooccurrence", "epsilon": 0.75, "delta": 5e-7, "max_weight": 45},
    ]
    assert (card["pad_length"], card["epsilon"], card["delta"], card["devices"]) == (
        20,
        1.0,
        1e-6,
        3000,
    )
    pooled = pooled_estimates(aggregate, estimates, section)
    assert pooled.keys() == estimates.keys()
    assert pooled != estimates
    assert pooled_estimates(aggregate, estimates, None) == estimates  # noise not known
    expected, _card = collaborative_target(
        aggregate, all_ids, pooled, CollaborativeParams(), section
    )
    default, default_card = collaborative_target(
        aggregate, all_ids, estimates, CollaborativeParams()
    )
    target = installed.collaborative
    assert target is not None
    assert np.array_equal(target.weights, expected.weights)
    assert np.array_equal(target.neighbours, expected.neighbours)
    assert not np.array_equal(target.weights, default.weights)  # the rates matter
    prior = installed.popularity[[installed.index_of(item_id) for item_id in ids]]
    shares = np.asarray([pooled[item_id] for item_id in ids])
    assert np.allclose(prior, shares / sum(pooled.values()), rtol=1e-5)
    # Without the section: K2 = 45 fits a pad of 10, K1 = 10; only the pairs' task is known.
    assert default_card["pad_length"] == 10
    assert [task["kind"] for task in default_card["tasks"]] == ["cooccurrence"]
    assert default_card["epsilon"] == 0.75
    text = (result.model_folder / "MODEL_CARD.md").read_text("utf-8")
    assert "Popularity task: ε = 0.25, δ = 5e-07, K = 20 per device, history padded to 20." in text
    assert "Cooccurrence task: ε = 0.75, δ = 5e-07, K = 45 per device" in text


def test_the_card_s_tasks_are_checked_when_a_manifest_is_read(
    world: tuple[Catalog, Catalog, list[list[int]]],
) -> None:
    plain = world[0].manifest.to_json()
    tasks = [task_card("popularity", 0.2, 5e-7, 20), task_card("cooccurrence", 0.8, 5e-7, 190)]
    card = collaborative_card("aggregates", 40, 10, 100, tasks, 20)
    assert (card["epsilon"], card["delta"]) == (1.0, 1e-6)
    assert Manifest.from_json({**plain, "collaborative": card}).collaborative == card
    for change in (
        {"epsilon": 0.9},  # not the tasks' sum
        {"tasks": [*tasks, task_card("popularity", 0.0, 0.0, 1)]},
        {"tasks": [{**tasks[0], "kind": "other"}, tasks[1]]},
        {"tasks": [{**tasks[0], "max_weight": 0}, tasks[1]]},
        {"tasks": [{**tasks[0], "extra": 1}, tasks[1]]},
        {"pad_length": 0},
        {"unknown": 1},
    ):
        with pytest.raises(CatalogInvalidError, match="collaborative"):
            Manifest.from_json({**plain, "collaborative": {**card, **change}})


def test_pooled_popularity_weighs_each_release_by_its_noise() -> None:
    """Pair counts whose row sums follow popularity (x 8) sharpen noisy popularity counts;
    each measure's weight follows its noise, and exact counts are kept as they are."""
    rng = np.random.default_rng(11)
    m = 60
    truth = rng.uniform(50, 500, m)
    pair_truth = np.outer(truth, truth) * 8 / truth.sum()  # row sums about 8 x popularity
    upper = pair_truth[np.triu_indices(m, 1)]
    pop_variance, pair_variance = 150.0**2, 40.0**2
    errors = {"popularity": [], "pooled": []}
    for _draw in range(20):
        counts = truth + rng.normal(0, 150.0, m)
        pairs = upper + rng.normal(0, 40.0, len(upper))
        pooled = pooled_popularity(counts, pairs, pop_variance, pair_variance)
        errors["popularity"].append(np.sqrt(np.mean((counts - truth) ** 2)))
        errors["pooled"].append(np.sqrt(np.mean((pooled - truth) ** 2)))
    assert np.mean(errors["pooled"]) < 0.5 * np.mean(errors["popularity"])
    counts, pairs = truth + rng.normal(0, 150.0, m), upper + rng.normal(0, 40.0, len(upper))
    assert np.array_equal(pooled_popularity(counts, pairs, 0.0, pair_variance), counts)
    nearly = pooled_popularity(counts, pairs, pop_variance, 1e12)  # row sums all noise
    assert np.allclose(nearly, counts, rtol=1e-3)


def _wigner(rng: np.random.Generator, m: int, sd: float) -> np.ndarray:
    """Symmetric noise as the aggregators add it to pair counts: independent entries
    above the diagonal, none on it."""
    noise = np.triu(rng.normal(0.0, sd, (m, m)), 1)
    return noise + noise.T


def test_denoising_keeps_next_to_nothing_of_noise_alone() -> None:
    """Noise alone has its whole spectrum within the edge 2√(vM): what is left is at most
    a component at the edge, shrunk to about nothing."""
    rng = np.random.default_rng(21)
    m, sd = 300, 4.0
    for _draw in range(5):
        noise = _wigner(rng, m, sd)
        cleaned = denoise_gram(noise, sd**2)
        assert np.linalg.norm(cleaned) < 0.05 * np.linalg.norm(noise)


def test_denoising_recovers_a_planted_direction_as_theory_says() -> None:
    """A rank-one Gram θuuᵀ with θ = 3s under the noise: the estimate is one component, its
    eigenvalue θ - s²/θ and its direction's squared cosine with u 1 - s²/θ² (random matrix
    theory, averaged over draws), and its error is below both the noisy matrix's and that of
    keeping the same component unshrunk."""
    rng = np.random.default_rng(22)
    m, sd = 400, 2.0
    s = sd * math.sqrt(m)
    theta = 3.0 * s
    values, cosines, errors = [], [], {"noisy": [], "unshrunk": [], "denoised": []}
    for _draw in range(10):
        u = rng.normal(size=m)
        u /= np.linalg.norm(u)
        signal = theta * np.outer(u, u)
        noisy = signal + _wigner(rng, m, sd)
        cleaned = denoise_gram(noisy, sd**2)
        found, vectors = np.linalg.eigh(cleaned)
        # One component; a noise eigenvalue just over the edge may stay, shrunk to little.
        assert np.sum(np.abs(found) > 0.15 * theta) == 1
        values.append(found[-1])
        cosines.append(float(vectors[:, -1] @ u) ** 2)
        top = np.linalg.eigh(noisy)
        unshrunk = top[0][-1] * np.outer(top[1][:, -1], top[1][:, -1])
        errors["noisy"].append(np.linalg.norm(noisy - signal))
        errors["unshrunk"].append(np.linalg.norm(unshrunk - signal))
        errors["denoised"].append(np.linalg.norm(cleaned - signal))
    assert np.mean(values) == pytest.approx(theta - s**2 / theta, rel=0.03)
    assert np.mean(cosines) == pytest.approx(1.0 - (s / theta) ** 2, abs=0.02)
    assert np.mean(errors["denoised"]) < 0.9 * np.mean(errors["unshrunk"])
    assert np.mean(errors["denoised"]) < 0.1 * np.mean(errors["noisy"])
