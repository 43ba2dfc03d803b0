"""The int8 first pass on the evaluation protocol: the same top 10, the same NDCG@10.

The protocol of ``discreet eval`` on MovieLens (``../shared/data/ml-latest-small``,
read in place): weights tuned on the validation split with the exact ranker,
then every test user ranked twice with those weights, by the exact float32
ranker and with the int8 first pass forced on (the catalog, 9.7k items, is
below the size where the product turns it on by itself). Prints NDCG@10 of
both, the share of users whose top 10 is identical, and the recall@10 of the
first pass's candidates against exact float32 scoring.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from _harness import table
from discreet.evaluation.data import convert_movielens, load_dataset
from discreet.evaluation.harness import _ranked, build_catalog, exact_popularity, tune_engine
from discreet.evaluation.protocol import Split, evaluate_lists, split_dataset
from discreet.evaluation.recommenders import EngineRecommender
from discreet.rank.ranker import Ranker
from discreet.rank.records import Filters

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-latest-small"


class FirstPassEngine(EngineRecommender):
    """The engine with the int8 first pass on, whatever the catalog's size."""

    def fit(self, split: Split) -> FirstPassEngine:
        super().fit(split)
        self.ranker_ = Ranker(self.catalog, self.weights, first_pass_min_items=0)
        return self

    def recall10(self, user: int) -> float:
        """Share of the exact top 10 among the first pass's re-ranked candidates."""
        profile, today = self.profile(user)
        p = self.ranker_.profiled(profile, today)
        if p.vector is None:
            return 1.0
        exact = self.ranker_.scores(p, today)
        self.ranker_._mask(exact, p, Filters())
        truth = set(np.argsort(-exact, kind="stable")[:10].tolist())
        rows, _ = self.ranker_._candidates(p, today, Filters(), self.ranker_.weights.pool)
        return len(truth & set(rows.tolist())) / 10


def rows(source: Path = SOURCE) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        dataset = load_dataset(*convert_movielens(source, folder / "data"))
        validation, test = split_dataset(dataset)
        valid = build_catalog(
            dataset, folder / "validation", exact_popularity(dataset, validation), 64
        )
        weights, _ = tune_engine(valid, validation, lambda line: None)
        catalog = build_catalog(dataset, folder / "exact", exact_popularity(dataset, test), 64)
        assert catalog.quantised is not None
        exact = _ranked(EngineRecommender(catalog, weights).fit(test), test)
        engine = FirstPassEngine(catalog, weights).fit(test)
        two_stage = _ranked(engine, test)
        same = [np.array_equal(exact[u][:10], two_stage[u][:10]) for u in exact]
        recall = [engine.recall10(int(u)) for u in test.users]
        return [
            {
                "ranker": name,
                "users": len(lists),
                "NDCG@10": evaluate_lists(lists, test).ndcg10,
                "same_top10_share": float(np.mean(same)) if name != "exact float32" else 1.0,
                "recall@10": float(np.mean(recall)) if name != "exact float32" else 1.0,
            }
            for name, lists in (("exact float32", exact), ("int8 first pass", two_stage))
        ]


def main(quick: bool = False, as_json: bool = False) -> str:
    if not SOURCE.is_dir() and not os.environ.get("DISCREET_REQUIRE_SHARED_DATA"):
        return f"bench_first_pass_eval: {SOURCE} not found, skipped"
    measured = rows()
    if as_json:
        return json.dumps({"benchmark": "bench_first_pass_eval", "rows": measured}, indent=1)
    return table(
        "MovieLens latest-small, the eval protocol: exact ranker vs the int8 first pass",
        measured,
        ["ranker", "users", "NDCG@10", "same_top10_share", "recall@10"],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    print(main(as_json=parser.parse_args().json))
