"""The secure-aggregation route of ``discreet eval`` alone, for quick measurements.

``python benchmarks/secure_route_quality.py DATA_DIR [--clients N ...] [--epsilon E ...]``

It runs what :func:`discreet.evaluation.harness.run_evaluation` runs for the
secure route (the blend tuned per (N, ε) on validation aggregates, then one
test aggregate per route), but skips the engine's coordinate search: the
non-collaborative weights are the ones that search chose on validation for
ml-latest-small (:mod:`discreet.rank.weights`' docstring), given here as a cache.
It prints one line per route with test NDCG@10 and its ratio to ``--ease``
(EASE's test NDCG@10 from a full ``discreet eval``). Not a timed benchmark.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from discreet.evaluation import harness
from discreet.evaluation.data import convert_movielens, load_dataset
from discreet.evaluation.protocol import evaluate_lists, split_dataset
from discreet.evaluation.recommenders import EngineRecommender
from discreet.evaluation.simulation import simulate_aggregates
from discreet.rank.weights import RankingWeights

#: What ``tune_engine`` chose on ml-latest-small's validation split.
ENGINE_WEIGHTS = {
    "popularity": 2.0,
    "popularity_exponent": 1.0,
    "half_life_days": 3650.0,
    "recent_half_life_events": 2.0,
    "mmr_lambda": 0.9,
    "exploration_share": 0.1,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("movielens", help="an unpacked MovieLens folder (read in place)")
    parser.add_argument("--clients", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--epsilon", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument("--ease", type=float, default=0.130, help="EASE's test NDCG@10")
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        dataset = load_dataset(*convert_movielens(options.movielens, folder / "data"))
        validation, test = split_dataset(dataset)
        config = harness.EvalConfig(log=lambda message: print(f"  {message}", flush=True))
        params = config.collaborative
        weights = dataclasses.replace(RankingWeights(), **ENGINE_WEIGHTS)
        valid_catalog = harness.build_catalog(
            dataset, folder / "validation", harness.exact_popularity(dataset, validation), 64
        )
        exact = harness.build_catalog(
            dataset, folder / "exact", harness.exact_popularity(dataset, test), 64
        )
        rows = []

        def report(
            method: str, catalog: harness.Catalog, tuned: RankingWeights, m: int = params.items
        ) -> None:
            ranked = harness._ranked(EngineRecommender(catalog, tuned).fit(test), test)
            metrics = evaluate_lists(ranked, test)
            ndcg = metrics.ndcg10
            rows.append(
                {
                    "method": method,
                    **metrics.to_json(),
                    "x_ease": ndcg / options.ease,
                    "collaborative": tuned.collaborative,
                    "popularity": tuned.popularity,
                    "exploration_share": tuned.exploration_share,
                    "M": m,
                }
            )
            print(
                f"{method}: NDCG@10 {ndcg:.4f} ({ndcg / options.ease:.2f}x EASE) "
                f"M={m}, long tail@10 {metrics.long_tail10:.3f}, Gini@10 {metrics.gini10:.3f} "
                f"[{time.perf_counter() - start:.0f} s]",
                flush=True,
            )

        report("engine, exact popularity", exact, weights)
        exact_tuned = harness.tune_blend(
            harness.with_popularity(
                valid_catalog,
                dataset,
                harness.exact_popularity(dataset, validation),
                folder / "exact-validation",
                harness._exact_target(validation, params),
            ),
            validation,
            weights,
        )[1]
        report(
            "engine, exact popularity + co-occurrence",
            harness.with_popularity(
                exact,
                dataset,
                harness.exact_popularity(dataset, test),
                folder / "exact-both",
                harness._exact_target(test, params),
            ),
            exact_tuned,
        )
        rng = np.random.default_rng(options.seed)
        for clients in options.clients:
            for epsilon in options.epsilon:
                tuned, route = harness.tune_secure(
                    dataset,
                    validation,
                    valid_catalog,
                    weights,
                    folder,
                    config.collaborative,
                    config.log,
                    (clients, epsilon),
                    rng,
                )
                aggregates = simulate_aggregates(
                    test.train, test.users, clients, epsilon, harness.SECURE_DELTA, route, rng
                )
                catalog = harness.secure_catalog(
                    dataset, exact, aggregates, route, folder / f"secure-{clients}-{epsilon:g}"
                )
                report(
                    f"engine, secure aggregation (N={clients:,}, ε={epsilon:g})",
                    catalog,
                    tuned,
                    route.items,
                )
    print(json.dumps({"params": dataclasses.asdict(params), "rows": rows}, ensure_ascii=False))


if __name__ == "__main__":
    main()
