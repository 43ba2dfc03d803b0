"""How much one secure-aggregation route's test NDCG@10 moves with the simulated draws.

``python benchmarks/secure_route_spread.py DATA_DIR N EPSILON [--draws 5]``

The route's M, pad and blend are tuned once on validation (``tune_secure``, seed 0), then
the test aggregate is simulated ``--draws`` times with other seeds; it prints each
figure, then their mean and standard deviation. Not a timed benchmark.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np

from discreet.evaluation import harness
from discreet.evaluation.data import convert_movielens, load_dataset
from discreet.evaluation.protocol import evaluate_lists, split_dataset
from discreet.evaluation.recommenders import EngineRecommender
from discreet.evaluation.simulation import simulate_aggregates
from discreet.rank.weights import RankingWeights

#: The engine's non-collaborative weights, as ``discreet eval``'s ``tune_engine`` chooses them
#: on ml-latest-small's validation split (its "exact popularity" row's note), so that this
#: script need not search them again.
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
    parser.add_argument("clients", type=int)
    parser.add_argument("epsilon", type=float)
    parser.add_argument("--draws", type=int, default=5)
    options = parser.parse_args()
    clients, epsilon = options.clients, options.epsilon
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        dataset = load_dataset(*convert_movielens(options.movielens, folder / "data"))
        validation, test = split_dataset(dataset)
        config = harness.EvalConfig(log=print)
        weights = dataclasses.replace(RankingWeights(), **ENGINE_WEIGHTS)
        valid_catalog = harness.build_catalog(
            dataset, folder / "validation", harness.exact_popularity(dataset, validation), 64
        )
        exact = harness.with_popularity(
            valid_catalog, dataset, harness.exact_popularity(dataset, test), folder / "exact"
        )
        tuned, route = harness.tune_secure(
            dataset,
            validation,
            valid_catalog,
            weights,
            folder,
            config.collaborative,
            config.log,
            (clients, epsilon),
            np.random.default_rng(0),
        )
        scores = []
        for seed in range(1, options.draws + 1):
            rng = np.random.default_rng(100 + seed)
            aggregates = simulate_aggregates(
                test.train, test.users, clients, epsilon, harness.SECURE_DELTA, route, rng
            )
            catalog = harness.secure_catalog(dataset, exact, aggregates, route, folder / f"t{seed}")
            ranked = harness._ranked(EngineRecommender(catalog, tuned).fit(test), test)
            scores.append(evaluate_lists(ranked, test).ndcg10)
            print(f"draw {seed}: NDCG@10 {scores[-1]:.4f}", flush=True)
    summary = {
        "clients": clients,
        "epsilon": epsilon,
        "M": route.items,
        "pad": route.pair_pad,
        "mean": float(np.mean(scores)),
        "std": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0,
        "scores": scores,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
