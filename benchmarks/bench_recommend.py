"""``recommend(k=10)`` against the floor, on memory-mapped catalogs of 10k, 100k and 1M items.

The floor is a bare ``embeddings @ v`` plus ``argpartition`` for the top 10
over the same memory-mapped float32 embeddings, on one BLAS thread, with the
interest vector the product uses. Product and floor are timed alternately in
the same process. ``recommend`` adds the interest vector, the popularity
prior, exclusions, diversity re-ranking, exploration and a reason for every
result. The profile (50 likes) is unchanged between calls, as while a user
browses.

``first_pass`` names what gave the candidates: the 4-bit fast scan (with
faiss installed, the ``fast`` extra), the int8 first pass, or none (the
float32 scan of every item, below 50k items).

``recall@10`` is the share of the exact top 10 (float32 scores over every
item, after the same exclusions) found among the candidates the product
ranks. ``python benchmarks/run.py bench_recommend --json`` prints the rows as
one JSON document. Set ``DISCREET_BENCH_CACHE=DIR`` to keep the synthetic
catalogs between runs (the 1M one takes minutes to write).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from _catalogs import item_id, synthetic_release
from _harness import table
from discreet.catalog.reader import Catalog
from discreet.profile.model import Profile, RetentionPolicy
from discreet.rank.ranker import Ranker
from discreet.rank.records import Filters

TODAY = dt.date(2026, 11, 29)
COLUMNS = [
    "items",
    "first_pass",
    "p50_ms",
    "p95_ms",
    "floor_p50_ms",
    "floor_p95_ms",
    "ratio",
    "cpu_p50_ms",
    "recall@10",
]


def _recall(ranker: Ranker, profile: Profile) -> float:
    """Share of the exact float32 top 10 among the product's ranked candidates."""
    p = ranker.profiled(profile, TODAY)
    exact = ranker.scores(p, TODAY)
    ranker._mask(exact, p, Filters())
    truth = set(np.argsort(-exact, kind="stable")[:10].tolist())
    candidates, _, _ = ranker._candidates(p, TODAY, Filters(), ranker.weights.pool)
    return len(truth & set(candidates.tolist())) / 10


def _first_pass(ranker: Ranker) -> str:
    if ranker._nibbles is not None:
        return "fast scan"
    return "int8" if ranker._first_pass is not None else "none"


def row(n: int, repeat: int) -> dict[str, Any]:
    catalog = Catalog.open(synthetic_release(n))
    ranker = Ranker(catalog)
    profile = Profile.new(TODAY, RetentionPolicy(max_events=5000))
    rng = np.random.default_rng(0)
    for i in rng.choice(n, 50, replace=False):
        profile.record(item_id(int(i)), "like", TODAY)
    vector = ranker.profiled(profile, TODAY).vector
    assert vector is not None
    embeddings = catalog.embeddings

    def floor() -> None:
        scores = embeddings @ vector
        np.argpartition(-scores, 10)[:10]

    def product() -> None:
        ranker.recommend(profile, 10, today=TODAY)

    wall: dict[str, list[float]] = {"floor": [], "product": []}
    cpu: list[float] = []
    with threadpool_limits(limits=1, user_api="blas"):
        product()  # warm: caches, page cache
        floor()
        for _ in range(repeat):
            for name, action in (("floor", floor), ("product", product)):
                start, start_cpu = time.perf_counter(), time.process_time()
                action()
                wall[name].append((time.perf_counter() - start) * 1000)
                if name == "product":
                    cpu.append((time.process_time() - start_cpu) * 1000)
    p50, p95 = np.percentile(wall["product"], [50, 95])
    floor_p50, floor_p95 = np.percentile(wall["floor"], [50, 95])
    return {
        "items": n,
        "first_pass": _first_pass(ranker),
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "floor_p50_ms": float(floor_p50),
        "floor_p95_ms": float(floor_p95),
        "ratio": float(p50 / floor_p50),
        "cpu_p50_ms": float(np.median(cpu)),
        "recall@10": _recall(ranker, profile),
    }


def rows(quick: bool = False) -> list[dict[str, Any]]:
    """One row per catalog size."""
    sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
    return [row(n, 30 if n >= 1_000_000 else 200) for n in sizes]


def main(quick: bool = False, as_json: bool = False) -> str:
    measured = rows(quick)
    if as_json:
        return json.dumps({"benchmark": "bench_recommend", "rows": measured}, indent=1)
    return table(
        "recommend(k=10) with reasons vs the floor (embeddings @ v + argpartition), 64 dims, "
        "timed alternately; ratio = p50 / floor p50",
        measured,
        COLUMNS,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    print(main(options.quick, options.json))
