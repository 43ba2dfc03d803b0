"""``discreet eval``: the engine against centralized baselines, on one protocol, in one run.

Everything is tuned on the validation split: the engine's ranking weights
(coordinate search) and EASE's λ. The test split is used once, at the end.
The engine runs through the product path: a catalog built by the publisher's
code (embeddings and popularity prior), a profile per user, ``recommend``.
Its popularity prior comes from exact training counts, or from private
reports simulated for N devices at ε through the real oracles and aggregation
(the LDP route), or from the secure-aggregation route: N simulated devices'
weekly popularity and co-occurrence contributions, summed and noised as the
aggregators do (:mod:`discreet.evaluation.simulation`), from which the
publisher's code fits the collaborative target
(:mod:`discreet.publish.collaborative`). The route's M and the blend of the
collaborative term with popularity are tuned per route, on validation
aggregates simulated at the route's own N and ε (how much a noisy term is
worth depends on its noise): the publisher knows N and ε when it creates the
task and builds the catalog, so it can do the same.

The private routes (each secure-aggregation and LDP (N, ε)) are independent:
each draws from its own random stream (:func:`route_rng`), so they run in this
process or on a pool of worker processes (:attr:`EvalConfig.jobs`) with the
same rows, in the same order. They need only the engine's tuned weights and the
catalogs: on a pool they start as soon as those exist, and this process
computes the baselines and the exact rows while they run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import math
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from discreet._fs import canonical_json, npy_bytes
from discreet.catalog.build import Progress, build_catalog_files, no_progress
from discreet.catalog.collaborative import Neighbours
from discreet.catalog.embedding import EmbeddingParams
from discreet.catalog.manifest import COLLABORATIVE_FILE, collaborative_card, task_card
from discreet.catalog.popularity import prior_from_estimates
from discreet.catalog.reader import Catalog, verify_catalog_folder
from discreet.evaluation.data import Dataset
from discreet.evaluation.heap import keep_freed_memory
from discreet.evaluation.protocol import Metrics, Split, evaluate_lists, split_dataset
from discreet.evaluation.recommenders import (
    EASERecommender,
    EngineRecommender,
    ItemKNNRecommender,
    MostPopRecommender,
    RandomRecommender,
    Recommender,
)
from discreet.evaluation.simulation import Aggregates, simulate_aggregates
from discreet.i18n import _
from discreet.protocol.params import ReportingParams
from discreet.publish.collaborative import (
    CollaborativeParams,
    fit_neighbours,
    pooled_popularity,
)
from discreet.rank.blas import one_blas_thread
from discreet.rank.weights import RankingWeights
from discreet.server.aggregate import simulate_estimates

#: The engine's tuning grid, searched one coordinate at a time on validation.
ENGINE_GRID: dict[str, Sequence[Any]] = {
    "popularity": (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0),
    "popularity_exponent": (0.5, 0.75, 1.0, 1.5),
    "half_life_days": (30.0, 180.0, 3650.0),
    "recent_half_life_events": (None, 2.0, 3.0, 5.0, 10.0, 30.0),
    "mmr_lambda": (1.0, 0.9),
    "exploration_share": (0.0, 0.1),
}
#: M, the top items the co-occurrence task counts, chosen per (N, ε) on validation (fewer
#: items when N is small: each pair's count is then small next to the noise) ...
SECURE_TOP_ITEMS = (100, 200, 300)
#: ... and where the pair counts are noise-dominated (:func:`noise_dominated`), this longer
#: pad is tried too, at the largest M (K₁ = P, K₂ = C(P, 2): a heavy device's pairs grow
#: with K₂, the noise with √K₂). Where the noise is small the pad made no difference on
#: validation, and a longer one costs the simulation time in proportion to K₂.
SECURE_LONG_PAD = 40
#: ... each scored with the best of these blends.
SECURE_SCREEN: dict[str, Sequence[Any]] = {
    "collaborative": (1.0, 2.0),
    "popularity": (0.25, 0.5),
}
EASE_LAMBDAS = (100.0, 300.0, 1000.0)
#: For private popularity, tuned per (N, ε) on validation: the pad length and the prior's weight.
PRIVATE_PAD_LENGTHS = (1, 8)
PRIVATE_POPULARITY_WEIGHTS = (0.5, 1.0, 2.0, 4.0, 8.0)
#: The secure-aggregation route's δ per week.
SECURE_DELTA = 1e-6
#: Its blend, tuned per (N, ε) on validation: the first two as a grid, then the others one
#: at a time (the collaborative term speaks for the whole history, so the recency half-life
#: the content term wants is searched again).
SECURE_GRID: dict[str, Sequence[Any]] = {
    "collaborative": (0.25, 0.5, 1.0, 2.0, 4.0, 8.0),
    "popularity": (0.25, 0.5, 1.0, 2.0),
    "exploration_share": (0.0, 0.1),
    "recent_half_life_events": (2.0, 5.0, 10.0),
}


#: The routes by which the engine's population data reach it (:attr:`Row.route`).
ROUTES = (CENTRALIZED, EXACT, SECURE, LDP) = (
    "centralized",
    "exact",
    "secure aggregation",
    "LDP",
)


@dataclass(frozen=True)
class Row:
    """One line of the results table."""

    method: str
    metrics: Metrics
    note: str = ""
    seconds: float = 0.0
    #: How the popularity (and co-occurrence) the row ranks with were gathered, one of
    #: :data:`ROUTES` (a baseline's: centralized); ``None`` when it uses none.
    route: str | None = None
    #: The simulated devices and the ε of a private route (``None`` otherwise).
    clients: int | None = None
    epsilon: float | None = None

    def to_json(self) -> dict[str, Any]:
        """As JSON: the method's name, its route, N and ε, the metrics."""
        return {
            "method": self.method,
            "route": self.route,
            "clients": self.clients,
            "epsilon": self.epsilon,
            **self.metrics.to_json(),
            "note": self.note,
            "seconds": self.seconds,
        }


@dataclass
class EvalConfig:
    """What to run."""

    #: The LDP route's (N, ε) grid.
    clients: Sequence[int] = (100_000, 1_000_000)
    epsilons: Sequence[float] = (1.0, 2.0)
    #: The secure-aggregation route's.
    secure_clients: Sequence[int] = (10_000, 100_000, 1_000_000)
    secure_epsilons: Sequence[float] = (0.5, 1.0, 2.0)
    collaborative: CollaborativeParams = field(default_factory=CollaborativeParams)

    baselines: bool = True
    seed: int = 0
    dim: int = 64
    #: One line per phase.
    log: Callable[[str], None] = field(default=lambda message: None)
    #: Within a phase, (users ranked, users, what is ranked) as each ranking pass advances.
    progress: Progress = no_progress
    #: Processes for the private routes (each its own random stream, so the rows do not
    #: depend on this): 1 runs them in this process.
    jobs: int = 1


#: Where the ranking passes of the running evaluation report their progress.
_progress: ContextVar[Progress] = ContextVar("_progress", default=no_progress)


@one_blas_thread  # once for the whole loop, not once per user
def _ranked(recommender: Recommender, split: Split, k: int = 20) -> dict[int, np.ndarray[Any, Any]]:
    progress, users = _progress.get(), split.users
    every = max(1, len(users) // 24)  # a bar's worth of updates, not one per user
    ranked = {}
    for done, user in enumerate(users.tolist()):
        if done % every == 0:
            progress(done + 1, len(users), recommender.name)
        ranked[user] = recommender.recommend(user, k)
    return ranked


def build_catalog(
    dataset: Dataset, folder: Path, popularity: dict[str, float] | None, dim: int
) -> Catalog:
    """The catalog the publisher would build: embeddings, prior, index and features."""
    build_catalog_files(
        dataset.items,
        dataset.taxonomy,
        folder,
        name="evaluation",
        version=1,
        built_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        params=EmbeddingParams(dim=dim),
        estimates=popularity,
    )
    return verify_catalog_folder(folder, index=True)


def with_popularity(
    catalog: Catalog,
    dataset: Dataset,
    estimates: dict[str, float],
    folder: Path,
    collaborative: tuple[Neighbours, dict[str, Any]] | None = None,
) -> Catalog:
    """A copy of ``catalog`` whose popularity prior comes from ``estimates``, with the
    collaborative target and its model card when given.

    The embeddings do not depend on popularity, so they are linked rather than
    refitted; the prior is computed exactly as ``publish build --popularity`` does.
    """
    folder.mkdir(parents=True)
    rewritten = {"popularity.npy", "manifest.json", COLLABORATIVE_FILE}
    for source in catalog.folder.iterdir():
        if source.name not in rewritten:
            os.link(source, folder / source.name)
    prior, _ = prior_from_estimates([i.id for i in dataset.items], estimates)
    (folder / "popularity.npy").write_bytes(npy_bytes(prior))
    manifest = catalog.manifest
    if collaborative is not None:
        (folder / COLLABORATIVE_FILE).write_bytes(collaborative[0].to_bytes())
        manifest = dataclasses.replace(manifest, collaborative=collaborative[1])
    (folder / "manifest.json").write_bytes(canonical_json(manifest.to_json()))
    return Catalog.open(folder)


def exact_collaborative(split: Split, params: CollaborativeParams) -> Neighbours:
    """Neighbour lists from exact training counts: every user once, every pair of the
    top M counted (the noiseless upper bound of the route)."""
    counts = np.asarray(split.train.sum(axis=0)).ravel()
    top = np.argsort(-counts, kind="stable")[: params.items]
    x = split.train[:, top].astype(np.float64)
    gram = (x.T @ x).toarray()
    pairs = gram[np.triu_indices(len(top), 1)]
    exact = dataclasses.replace(params, item_weight=1, item_pad=1, pair_weight=1, pair_pad=2)
    return fit_neighbours(top, pairs, counts[top], 0.0, exact)


def secure_catalog(
    dataset: Dataset,
    base: Catalog,
    aggregates: Aggregates,
    params: CollaborativeParams,
    folder: Path,
) -> Catalog:
    """The catalog the publisher builds from the released aggregates: the popularity
    prior (the top M items' pooled with their pair counts, :func:`pooled_popularity`),
    and the collaborative target with its model card."""
    popularity, pairs = aggregates.popularity, aggregates.pairs
    top = aggregates.top
    counts = popularity.counts.astype(np.float64)
    counts[top] = pooled_popularity(
        counts[top], pairs.counts, 2.0 * popularity.sigma_sq, 2.0 * pairs.sigma_sq
    )
    neighbours = fit_neighbours(top, pairs.counts, counts[top], 2.0 * pairs.sigma_sq, params)
    card = collaborative_card(
        "secure aggregation: a week's popularity, and the next week's co-occurrence of "
        "its top items",
        len(top),
        neighbours.neighbours.shape[1],
        pairs.reports,
        [
            task_card("popularity", popularity.epsilon, popularity.delta, params.item_weight),
            task_card("cooccurrence", pairs.epsilon, pairs.delta, params.pair_weight),
        ],
        params.pair_pad,
    )
    estimates = {dataset.items[i].id: float(max(c, 0.0)) for i, c in enumerate(counts)}
    return with_popularity(base, dataset, estimates, folder, (neighbours, card))


def exact_popularity(dataset: Dataset, split: Split) -> dict[str, float]:
    """Training interaction counts per item."""
    counts = np.asarray(split.train.sum(axis=0)).ravel()
    return {dataset.items[i].id: float(c) for i, c in enumerate(counts) if c > 0}


def private_popularity(
    dataset: Dataset,
    split: Split,
    clients: int,
    epsilon: float,
    pad_length: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """Item estimates from ``clients`` simulated devices reporting at ``epsilon``.

    Each device is a user of the training split drawn at random; it samples one
    item of its history padded with "none" to ``pad_length``, exactly as a
    device does, and reports it through the real oracle.
    """
    params = ReportingParams.default_for(
        dataset.taxonomy.reportable_ids,
        dataset.n_items,
        epsilon=epsilon,
        epsilon_per_period=epsilon,
        item_pad_length=pad_length,
        kinds=("item",),
    )
    lengths = np.diff(split.train.indptr)
    users = split.users[rng.integers(0, len(split.users), clients)]
    slots = np.maximum(lengths[users], pad_length)
    choice = np.floor(rng.random(clients) * slots).astype(np.int64)
    has = choice < lengths[users]
    rows = split.train.indices[split.train.indptr[users[has]] + choice[has]]
    values = np.zeros(clients, dtype=np.int64)
    values[has] = rows + 1
    estimates = simulate_estimates(params, "item", values, rng)
    return {
        dataset.items[i].id: max(float(estimates.values[i + 1]), 0.0)
        for i in range(dataset.n_items)
    }


def tune_engine(
    catalog: Catalog, validation: Split, log: Callable[[str], None], passes: int = 2
) -> tuple[RankingWeights, float]:
    """Coordinate search over :data:`ENGINE_GRID` on the validation split.

    Passes repeat (at most ``passes``) until one changes nothing, because the
    best value of one weight moves when another changes.
    """
    weights = RankingWeights()
    best = evaluate_lists(
        _ranked(EngineRecommender(catalog, weights).fit(validation), validation), validation
    ).ndcg10
    tried = [weights]  # (unhashable: kind_weights is a mapping)
    for _pass in range(passes):
        start = weights
        for name, values in ENGINE_GRID.items():
            for value in values:
                candidate = dataclasses.replace(weights, **{name: value})
                if candidate in tried:
                    continue
                tried.append(candidate)
                score = evaluate_lists(
                    _ranked(EngineRecommender(catalog, candidate).fit(validation), validation),
                    validation,
                ).ndcg10
                if score > best + 1e-6:
                    best, weights = score, candidate
            log(f"tuned {name} = {getattr(weights, name)} (validation NDCG@10 {best:.4f})")
        if weights == start:
            break
    return weights, best


def tune_private(
    dataset: Dataset,
    validation: Split,
    clients: int,
    epsilon: float,
    weights: RankingWeights,
    base: Catalog,
    folder: Path,
    rng: np.random.Generator,
    log: Callable[[str], None],
) -> tuple[int, RankingWeights]:
    """Choose the pad length and the prior's weight for private popularity, on validation."""
    best: tuple[float, int, RankingWeights] = (-1.0, PRIVATE_PAD_LENGTHS[0], weights)
    for pad in PRIVATE_PAD_LENGTHS:
        estimates = private_popularity(dataset, validation, clients, epsilon, pad, rng)
        tuning = folder / f"tune-{clients}-{epsilon:g}-{pad}"
        catalog = with_popularity(base, dataset, estimates, tuning)
        for popularity in PRIVATE_POPULARITY_WEIGHTS:
            candidate = dataclasses.replace(weights, popularity=popularity)
            ranked = _ranked(EngineRecommender(catalog, candidate).fit(validation), validation)
            score = evaluate_lists(ranked, validation).ndcg10
            if score > best[0]:
                best = (score, pad, candidate)
    log(
        f"LDP N={clients:,} ε={epsilon:g}: pad {best[1]}, popularity {best[2].popularity} "
        f"(validation NDCG@10 {best[0]:.4f})"
    )
    return best[1], best[2]


def tune_secure(
    dataset: Dataset,
    validation: Split,
    base: Catalog,
    weights: RankingWeights,
    folder: Path,
    collaborative: CollaborativeParams,
    log: Callable[[str], None],
    route: tuple[int, float],
    rng: np.random.Generator,
) -> tuple[RankingWeights, CollaborativeParams]:
    """The secure-aggregation route's weights, M and pad at ``route`` = (N, ε), on
    validation aggregates simulated at that N and ε: M among :data:`SECURE_TOP_ITEMS`
    (each with the blends of :data:`SECURE_SCREEN`), and where the largest M's pair counts
    are noise-dominated (:func:`noise_dominated`), that M again with the pad
    :data:`SECURE_LONG_PAD`; then the blend of the best (:func:`tune_blend`)."""
    clients, epsilon = route
    candidates: list[tuple[float, CollaborativeParams, Catalog]] = []

    def screen(params: CollaborativeParams) -> Aggregates:
        aggregates = simulate_aggregates(
            validation.train, validation.users, clients, epsilon, SECURE_DELTA, params, rng
        )
        name = f"tune-secure-{clients}-{epsilon:g}-{params.items}-{params.pair_pad}"
        catalog = secure_catalog(dataset, base, aggregates, params, folder / name)
        screened = tune_blend(catalog, validation, weights, SECURE_SCREEN)[0]
        candidates.append((screened, params, catalog))
        return aggregates

    for items in SECURE_TOP_ITEMS:
        largest = screen(dataclasses.replace(collaborative, items=items))
    # The largest M has the smallest pair counts, and the most devices holding more items
    # than the pad: noise-dominated there, try it with the long pad.
    if noise_dominated(largest) and collaborative.pair_pad < SECURE_LONG_PAD:
        screen(candidates[-1][1].padded(SECURE_LONG_PAD))
    _score, params, catalog = max(candidates, key=lambda candidate: candidate[0])
    best = tune_blend(catalog, validation, weights)
    log(
        _(
            "secure aggregation N={clients}, ε={epsilon}: M {items}, pad {pad}, collaborative "
            "{collaborative}, popularity {popularity}, exploration {exploration} "
            "(validation NDCG@10 {score:.4f})"
        ).format(
            clients=f"{clients:,}",
            epsilon=f"{epsilon:g}",
            items=params.items,
            pad=params.pair_pad,
            collaborative=best[1].collaborative,
            popularity=best[1].popularity,
            exploration=best[1].exploration_share,
            score=best[0],
        )
    )
    return best[1], params


def noise_dominated(aggregates: Aggregates) -> bool:
    """Whether the released pair counts' mean is below their noise's standard deviation
    (both aggregators'): most pairs' counts are then mostly noise."""
    pairs = aggregates.pairs
    return float(pairs.counts.mean()) < math.sqrt(2.0 * pairs.sigma_sq)


def tune_blend(
    catalog: Catalog,
    validation: Split,
    weights: RankingWeights,
    grid: dict[str, Sequence[Any]] | None = None,
) -> tuple[float, RankingWeights]:
    """The best validation NDCG@10 and weights for a catalog with a collaborative target:
    ``grid``'s (default :data:`SECURE_GRID`) collaborative and popularity weights
    together, then each other weight it names, one at a time."""
    grid = SECURE_GRID if grid is None else grid

    def score(candidate: RankingWeights) -> float:
        ranked = _ranked(EngineRecommender(catalog, candidate).fit(validation), validation)
        return evaluate_lists(ranked, validation).ndcg10

    best = (-1.0, weights)
    for collaborative in grid["collaborative"]:
        for popularity in grid["popularity"]:
            candidate = dataclasses.replace(
                weights, collaborative=collaborative, popularity=popularity
            )
            best = max(best, (score(candidate), candidate), key=lambda pair: pair[0])
    for name in [name for name in grid if name not in ("collaborative", "popularity")]:
        for value in grid[name]:
            if value != getattr(best[1], name):
                candidate = dataclasses.replace(best[1], **{name: value})
                best = max(best, (score(candidate), candidate), key=lambda pair: pair[0])
    return best


def _exact_target(split: Split, params: CollaborativeParams) -> tuple[Neighbours, dict[str, Any]]:
    """The noiseless collaborative target of a split, with its model card."""
    neighbours = exact_collaborative(split, params)
    m, k = neighbours.neighbours.shape
    return neighbours, collaborative_card("exact training counts", m, k, len(split.users))


def _secure_note(weights: RankingWeights) -> str:
    """The blend's weights, as the table's note gives them (all tuned on validation)."""
    tuned = ", ".join(f"{k}={getattr(weights, k)}" for k in SECURE_GRID)
    return f"{tuned} (validation, this route)"


def run_evaluation(dataset: Dataset, config: EvalConfig) -> list[Row]:
    """The whole comparison; returns the table rows."""
    token = _progress.set(config.progress)
    try:
        return _run(dataset, config)
    finally:
        _progress.reset(token)


def _run(dataset: Dataset, config: EvalConfig) -> list[Row]:
    log = config.log
    validation, test = split_dataset(dataset)
    log(f"{len(test.users)} users, {dataset.n_items} items, {test.train.nnz} training interactions")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)

        def timed(
            method: str,
            recommender: Recommender,
            note: str = "",
            route: str | None = CENTRALIZED,
            clients: int | None = None,
            epsilon: float | None = None,
        ) -> None:
            rows.append(_test_row(method, recommender, test, log, note, route, clients, epsilon))

        valid_catalog = build_catalog(
            dataset, folder / "validation", exact_popularity(dataset, validation), config.dim
        )
        log(_("the engine's weights, one at a time on validation"))
        weights, _score = tune_engine(valid_catalog, validation, log)
        # The embeddings do not depend on popularity: the test split's catalog is the
        # validation one with the test split's counts (the files build_catalog would write).
        exact = with_popularity(
            valid_catalog, dataset, exact_popularity(dataset, test), folder / "exact"
        )
        shared = _RouteInputs(
            dataset,
            validation,
            test,
            valid_catalog.folder,
            exact.folder,
            folder,
            weights,
            config.collaborative,
            config.seed,
        )
        routes = [(SECURE, n, e) for n in config.secure_clients for e in config.secure_epsilons]
        routes += [(LDP, n, e) for n in config.clients for e in config.epsilons]
        # The private routes need only the engine's weights and the catalogs: on a pool,
        # they start now and this process computes the other rows meanwhile.
        with _private_routes(shared, routes, config) as private_rows:
            if config.baselines:
                log(_("the centralized baselines (EASE's λ chosen on validation)"))
                timed("Random", RandomRecommender(config.seed))
                timed("MostPop", MostPopRecommender())
                timed("ItemKNN (cosine, 100 neighbours)", ItemKNNRecommender(100))
                lam_scores = {
                    lam: evaluate_lists(
                        _ranked(EASERecommender(lam).fit(validation), validation), validation
                    ).ndcg10
                    for lam in EASE_LAMBDAS
                }
                lam = max(lam_scores, key=lambda x: lam_scores[x])
                log(f"EASE λ={lam:g} chosen on validation")
                timed("EASE", EASERecommender(lam), f"λ={lam:g} (validation)")
            content_only = dataclasses.replace(
                RankingWeights(), popularity=0.0, exploration_share=0.0, mmr_lambda=1.0
            )
            timed(
                "engine, content only",
                EngineRecommender(exact, content_only),
                "no popularity",
                route=None,
            )
            tuned = ", ".join(f"{k}={getattr(weights, k)}" for k in ENGINE_GRID)
            timed("engine, exact popularity", EngineRecommender(exact, weights), tuned, EXACT)
            params = config.collaborative
            exact_weights = tune_blend(
                with_popularity(
                    valid_catalog,
                    dataset,
                    exact_popularity(dataset, validation),
                    folder / "exact-collaborative-validation",
                    _exact_target(validation, params),
                ),
                validation,
                weights,
            )[1]
            timed(
                "engine, exact popularity + co-occurrence",
                EngineRecommender(
                    with_popularity(
                        exact,
                        dataset,
                        exact_popularity(dataset, test),
                        folder / "exact-collaborative",
                        _exact_target(test, params),
                    ),
                    exact_weights,
                ),
                _secure_note(exact_weights),
                EXACT,
            )
            rows += private_rows()
    return rows


@dataclass(frozen=True)
class _RouteInputs:
    """What every private route needs, as plain data a worker process can receive
    (catalogs as their folders, reopened there)."""

    dataset: Dataset
    validation: Split
    test: Split
    valid_folder: Path
    exact_folder: Path
    folder: Path
    weights: RankingWeights
    collaborative: CollaborativeParams
    seed: int


def route_rng(seed: int, route: str, clients: int, epsilon: float) -> np.random.Generator:
    """The random stream of one private route: derived from the evaluation's seed and the
    route's kind, N and ε only, so a route draws the same whatever runs before it or
    beside it, in this process or another."""
    kind = ROUTES.index(route)
    return np.random.default_rng([seed, kind, clients, round(epsilon * 1_000_000)])


@contextlib.contextmanager
def _private_routes(
    shared: _RouteInputs, routes: list[tuple[str, int, float]], config: EvalConfig
) -> Iterator[Callable[[], list[Row]]]:
    """The private routes' rows, in the order of ``routes``, from the function it yields.

    When ``config.jobs`` is 1 that function computes them in this process. Else the
    routes start at once on a pool of worker processes (longest first), so that this
    process can compute other rows while they run; the function then waits for them,
    logging each route's lines as it finishes.
    """
    jobs = min(len(routes), config.jobs)
    if jobs <= 1:
        yield lambda: [_route_row(shared, route, config.log) for route in routes]
        return
    config.log(_("{count} private routes on {jobs} processes").format(count=len(routes), jobs=jobs))
    # Longest first (the secure route's cost grows with N): the last to finish are short.
    order = sorted(range(len(routes)), key=lambda i: (routes[i][0] != SECURE, -routes[i][1], i))
    # Each worker receives the inputs once; the splits without what rankers derived from
    # them here (the workers derive it again). Spawned, not forked: the parent holds BLAS
    # threads.
    light = dataclasses.replace(
        shared,
        validation=dataclasses.replace(shared.validation, memo={}),
        test=dataclasses.replace(shared.test, memo={}),
    )
    context = multiprocessing.get_context("spawn")
    # The cores shared out: each worker's BLAS gets its share, so that the workers' BLAS
    # threads (outside ranking passes: fits, simulations) do not outnumber the cores.
    threads = max(1, (os.cpu_count() or 1) // jobs)
    pool = ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_init_worker, initargs=(light, threads)
    )
    try:
        futures = {pool.submit(_route_in_worker, routes[i]): i for i in order}

        def collect() -> list[Row]:
            rows: dict[int, Row] = {}
            for future in as_completed(futures):
                row, lines = future.result()
                for line in lines:
                    config.log(line)
                rows[futures[future]] = row
            return [rows[i] for i in range(len(routes))]

        yield collect
    except BaseException:
        # A failed route or row (or Ctrl-C) ends the evaluation now, not after the queued
        # routes.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


#: A worker process's copy of the routes' inputs (set once per worker by :func:`_init_worker`).
_worker_inputs: _RouteInputs | None = None


#: The thread-count settings of OpenMP and of the BLAS libraries numpy and scipy may load.
_BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _init_worker(shared: _RouteInputs, blas_threads: int) -> None:
    global _worker_inputs
    _worker_inputs = shared
    keep_freed_memory()  # the process does nothing else
    # The BLAS libraries loaded later (scipy's, scikit-learn's) read these when they load;
    # those loaded already are limited now, for the worker's life.
    for variable in _BLAS_THREAD_VARIABLES:
        os.environ[variable] = str(blas_threads)
    threadpool_limits(limits=blas_threads, user_api="blas")


def _route_in_worker(route: tuple[str, int, float]) -> tuple[Row, list[str]]:
    assert _worker_inputs is not None
    lines: list[str] = []
    row = _route_row(_worker_inputs, route, lines.append)
    return row, lines


def _route_row(
    shared: _RouteInputs, route: tuple[str, int, float], log: Callable[[str], None]
) -> Row:
    """One private route's row: its parameters tuned on validation, then the test run."""
    kind, clients, epsilon = route
    dataset, validation, test = shared.dataset, shared.validation, shared.test
    folder = shared.folder
    valid_catalog = Catalog.open(shared.valid_folder)
    exact = Catalog.open(shared.exact_folder)
    rng = route_rng(shared.seed, kind, clients, epsilon)
    if kind == SECURE:
        log(
            _(
                "secure aggregation N={clients:,}, ε={epsilon:g}: M and the weights on validation"
            ).format(clients=clients, epsilon=epsilon)
        )
        secure_weights, params = tune_secure(
            dataset,
            validation,
            valid_catalog,
            shared.weights,
            folder,
            shared.collaborative,
            log,
            (clients, epsilon),
            rng,
        )
        aggregates = simulate_aggregates(
            test.train, test.users, clients, epsilon, SECURE_DELTA, params, rng
        )
        name = f"secure-{clients}-{epsilon:g}"
        catalog = secure_catalog(dataset, exact, aggregates, params, folder / name)
        return _test_row(
            f"engine, secure aggregation (N={clients:,}, ε={epsilon:g})",
            EngineRecommender(catalog, secure_weights),
            test,
            log,
            f"δ={SECURE_DELTA:g}, M={params.items}, P={params.pair_pad}, "
            f"pairs' ε share {params.pair_share:g}; {_secure_note(secure_weights)}",
            SECURE,
            clients,
            epsilon,
        )
    log(
        _(
            "LDP N={clients:,}, ε={epsilon:g}: its pad length and popularity weight on validation"
        ).format(clients=clients, epsilon=epsilon)
    )
    pad, private_weights = tune_private(
        dataset, validation, clients, epsilon, shared.weights, valid_catalog, folder, rng, log
    )
    estimates = private_popularity(dataset, test, clients, epsilon, pad, rng)
    name = f"private-{clients}-{epsilon:g}"
    catalog = with_popularity(exact, dataset, estimates, folder / name)
    return _test_row(
        f"engine, LDP (N={clients:,}, ε={epsilon:g})",
        EngineRecommender(catalog, private_weights),
        test,
        log,
        f"pad length {pad}, popularity={private_weights.popularity} (validation)",
        LDP,
        clients,
        epsilon,
    )


def _test_row(
    method: str,
    recommender: Recommender,
    test: Split,
    log: Callable[[str], None],
    note: str = "",
    route: str | None = CENTRALIZED,
    clients: int | None = None,
    epsilon: float | None = None,
) -> Row:
    """A recommender's row: fitted on the test split's training part, its lists scored."""
    start = time.perf_counter()
    metrics = evaluate_lists(_ranked(recommender.fit(test), test), test)
    seconds = time.perf_counter() - start
    log(f"{method}: NDCG@10 {metrics.ndcg10:.4f}")
    return Row(method, metrics, note, seconds, route, clients, epsilon)


def format_table(rows: Sequence[Row]) -> str:
    """The results as a text table."""
    header = (
        f"{'method':<52} {'NDCG@10':>8} {'Recall@20':>9} {'HR@10':>7} {'Cov@10':>7} "
        f"{'Tail@10':>7} {'Gini@10':>7}  note"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        m = r.metrics
        figures = (
            f"{m.ndcg10:>8.4f} {m.recall20:>9.4f} {m.hr10:>7.4f} {m.coverage10:>7.4f} "
            f"{m.long_tail10:>7.4f} {m.gini10:>7.4f}"
        )
        lines.append(f"{r.method:<52} {figures}  {r.note}")
    return "\n".join(lines)
