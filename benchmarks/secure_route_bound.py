"""An upper bound on the secure-aggregation route at N devices: each task at an ε of its own.

``python benchmarks/secure_route_bound.py DATA_DIR N --popularity-epsilon 19
--pairs-epsilon 1 [--split test] [--items 100 200 300] [--pads 20 40] [--draws 2]``

The route's own functions (``simulate_aggregates``, ``secure_catalog``), with the week's
ε split so that popularity gets ``--popularity-epsilon`` and the pairs
``--pairs-epsilon`` (``CollaborativeParams.pair_share``), δ = 10⁻⁶ as in
``discreet eval``. Each (M, pad) is scored on ``--split`` with the best blend of the
route's whole grid (``tune_blend``'s ``SECURE_GRID``), tuned on that same split: an
optimistic figure (popularity nearly exact and the whole week's ε to the pairs is more
than any split of that ε between the two tasks gives). Not a timed benchmark; it prints
a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from discreet.evaluation import harness
from discreet.evaluation.data import convert_movielens, load_dataset
from discreet.evaluation.protocol import split_dataset
from discreet.evaluation.simulation import simulate_aggregates
from discreet.rank.weights import RankingWeights
from secure_route_spread import ENGINE_WEIGHTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("movielens", help="an unpacked MovieLens folder (read in place)")
    parser.add_argument("clients", type=int)
    parser.add_argument("--popularity-epsilon", type=float, required=True)
    parser.add_argument("--pairs-epsilon", type=float, required=True)
    parser.add_argument("--split", choices=("validation", "test"), default="test")
    parser.add_argument("--items", type=int, nargs="+", default=[100, 200, 300])
    parser.add_argument("--pads", type=int, nargs="+", default=[20, 40])
    parser.add_argument("--draws", type=int, default=2)
    options = parser.parse_args()
    week = options.popularity_epsilon + options.pairs_epsilon
    share = options.pairs_epsilon / week
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        dataset = load_dataset(*convert_movielens(options.movielens, folder / "data"))
        validation, test = split_dataset(dataset)
        split = test if options.split == "test" else validation
        weights = dataclasses.replace(RankingWeights(), **ENGINE_WEIGHTS)
        base = harness.build_catalog(
            dataset, folder / "base", harness.exact_popularity(dataset, split), 64
        )
        made = 0
        for items in options.items:
            for pad in options.pads:
                params = dataclasses.replace(
                    harness.EvalConfig().collaborative, items=items, pair_share=share
                ).padded(pad)
                scores = []
                for draw in range(options.draws):
                    rng = np.random.default_rng(draw)
                    aggregates = simulate_aggregates(
                        split.train,
                        split.users,
                        options.clients,
                        week,
                        harness.SECURE_DELTA,
                        params,
                        rng,
                    )
                    made += 1
                    catalog = harness.secure_catalog(
                        dataset, base, aggregates, params, folder / f"c{made}"
                    )
                    scores.append(harness.tune_blend(catalog, split, weights)[0])
                table.append((items, pad, float(np.mean(scores)), scores))
                print(f"M={items} P={pad}: {np.mean(scores):.4f} {scores}", flush=True)
    print(
        f"\nN={options.clients:,}, popularity ε={options.popularity_epsilon:g}, "
        f"pairs ε={options.pairs_epsilon:g}, {options.split} split, mean of {options.draws} draws"
    )
    print("| M | pad | NDCG@10 |\n|---|---|---|")
    for items, pad, mean, _scores in table:
        print(f"| {items} | {pad} | {mean:.4f} |")


if __name__ == "__main__":
    main()
