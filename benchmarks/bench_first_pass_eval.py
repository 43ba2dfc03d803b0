"""The int8 first pass and the fast scan on the evaluation protocol: the same top 10, NDCG@10.

The protocol of ``discreet eval`` on MovieLens (``../shared/data/ml-latest-small``,
read in place): weights tuned on the validation split with the exact ranker,
then every test user ranked with those weights by the exact float32 ranker,
with the int8 first pass forced on (the catalog, 9.7k items, is below the
size where the product turns it on by itself) and, where faiss is installed,
with the 4-bit fast scan forced on (its codes derived as sync derives them).
Prints NDCG@10 of each, the share of users whose top 10 is identical to the
exact ranker's, and the recall@10 of each first pass's candidates against
exact float32 scoring; ``fallbacks`` counts the rankings that the fast scan
left to the int8 pass because it could not vouch for its candidates.
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
from discreet.catalog import nibbles
from discreet.catalog.nibbles import fast_scan_available
from discreet.catalog.reader import Catalog
from discreet.evaluation.data import convert_movielens, load_dataset
from discreet.evaluation.harness import _ranked, build_catalog, exact_popularity, tune_engine
from discreet.evaluation.protocol import Split, evaluate_lists, split_dataset
from discreet.evaluation.recommenders import EngineRecommender
from discreet.rank.ranker import Ranker
from discreet.rank.records import Filters

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-latest-small"


class FirstPassEngine(EngineRecommender):
    """The engine with its first pass on (the fast scan where the catalog has its codes)."""

    def fit(self, split: Split) -> FirstPassEngine:
        super().fit(split)
        self.ranker_ = Ranker(self.catalog, self.weights, first_pass_min_items=0)
        self.fallbacks = 0
        candidates = self.ranker_._candidates

        def counted(*args: Any, fast: bool = True) -> Any:
            self.fallbacks += not fast  # the fast scan could not vouch for its candidates
            return candidates(*args, fast=fast)

        self.ranker_._candidates = counted  # type: ignore[method-assign]
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
        rows, _, _ = self.ranker_._candidates(p, today, Filters(), self.ranker_.weights.pool)
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
        engines = {"int8 first pass": FirstPassEngine(catalog, weights).fit(test)}
        if fast_scan_available():
            nibbles.write(catalog.folder, nibbles.derive(catalog.embeddings))
            fast = FirstPassEngine(Catalog.open(catalog.folder), weights).fit(test)
            engines["4-bit fast scan"] = fast
        measured = [
            {
                "ranker": "exact float32",
                "users": len(exact),
                "NDCG@10": evaluate_lists(exact, test).ndcg10,
                "same_top10_share": 1.0,
                "recall@10": 1.0,
                "fallbacks": 0,
            }
        ]
        for name, engine in engines.items():
            lists = _ranked(engine, test)
            same = [np.array_equal(exact[u][:10], lists[u][:10]) for u in exact]
            measured.append(
                {
                    "ranker": name,
                    "users": len(lists),
                    "NDCG@10": evaluate_lists(lists, test).ndcg10,
                    "same_top10_share": float(np.mean(same)),
                    "recall@10": float(np.mean([engine.recall10(int(u)) for u in test.users])),
                    "fallbacks": engine.fallbacks,
                }
            )
        return measured


def main(quick: bool = False, as_json: bool = False) -> str:
    if not SOURCE.is_dir() and not os.environ.get("DISCREET_REQUIRE_SHARED_DATA"):
        return f"bench_first_pass_eval: {SOURCE} not found, skipped"
    measured = rows()
    if as_json:
        return json.dumps({"benchmark": "bench_first_pass_eval", "rows": measured}, indent=1)
    return table(
        "MovieLens latest-small, the eval protocol: exact ranker vs the first passes",
        measured,
        ["ranker", "users", "NDCG@10", "same_top10_share", "recall@10", "fallbacks"],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    print(main(as_json=parser.parse_args().json))
