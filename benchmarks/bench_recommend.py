"""``recommend(k=10)`` latency against the floor, on memory-mapped catalogs of 10k-1M items.

The floor, measured in the same process on the same array, is a bare
``embeddings @ v`` plus ``argpartition``. ``recommend`` adds the interest
vector, the popularity prior, exclusions, diversity re-ranking, exploration
and a reason for every result. The profile (50 likes) is unchanged between
calls, as while a user browses.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np

from _harness import table
from bench_catalog_open import make_catalog
from discreet.catalog.features import CatalogFeatures
from discreet.catalog.reader import Catalog
from discreet.profile.model import Profile, RetentionPolicy
from discreet.rank.ranker import Ranker

TODAY = dt.date(2026, 11, 29)


def _timings(action: object, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()  # type: ignore[operator]
        samples.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 99))


def row(n: int, repeat: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "catalog"
        make_catalog(folder, n)
        records = [{"id": f"item-{i:07d}", "categories": [f"c{i % 20}"]} for i in range(n)]
        CatalogFeatures.from_records(records, [f"c{i}" for i in range(20)]).write(folder)
        catalog = Catalog.open(folder)
        ranker = Ranker(catalog)
        profile = Profile.new(TODAY, RetentionPolicy(max_events=5000))
        rng = np.random.default_rng(0)
        for i in rng.choice(n, 50, replace=False):
            profile.record(f"item-{i:07d}", "like", TODAY)
        vector = rng.standard_normal(64).astype(np.float32)
        embeddings = catalog.embeddings

        def floor() -> None:
            scores = embeddings @ vector
            np.argpartition(-scores, 10)[:10]

        ranker.recommend(profile, 10, today=TODAY)  # warm: caches, page cache
        floor()
        floor_p50, floor_p99 = _timings(floor, repeat)
        rec_p50, rec_p99 = _timings(lambda: ranker.recommend(profile, 10, today=TODAY), repeat)
        bare_p50, _ = _timings(
            lambda: ranker.recommend(profile, 10, today=TODAY, explain=False, diversity=1.0), repeat
        )
    return {
        "items": n,
        "floor_p50_ms": floor_p50,
        "floor_p99_ms": floor_p99,
        "recommend_p50_ms": rec_p50,
        "recommend_p99_ms": rec_p99,
        "x_floor_p50": rec_p50 / floor_p50,
        "no_mmr_no_reasons_p50_ms": bare_p50,
    }


def main(quick: bool = False) -> str:
    sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
    rows = [row(n, 30 if n >= 1_000_000 else 100) for n in sizes]
    return table(
        "recommend(k=10) with reasons vs the floor (embeddings @ v + argpartition), 64 dims",
        rows,
        [
            "items",
            "floor_p50_ms",
            "floor_p99_ms",
            "recommend_p50_ms",
            "recommend_p99_ms",
            "x_floor_p50",
            "no_mmr_no_reasons_p50_ms",
        ],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    print(main(parser.parse_args().quick))
