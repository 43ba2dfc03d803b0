"""The first ``recommend(10)`` after opening a catalog, in a fresh process, warm page cache.

What an app pays when it starts and ranks once: opening the installed
release and everything the ranker derives on its first call (category rows,
popularity scaling, the first pass's scales, the item index). The floor is
the first ``embeddings @ v`` plus ``argpartition`` for the top 10 on the same
memory-mapped file in a fresh process. Both exclude importing numpy and
discreet (see ``bench_import``); each case runs several times, alternately,
and the medians are reported (the first runs warm the page cache).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time

import numpy as np

from _catalogs import item_id, synthetic_release
from _harness import run_case, table

TODAY = dt.date(2026, 11, 29)


def case(n: str, what: str) -> dict[str, float]:
    from threadpoolctl import threadpool_limits

    from discreet.catalog.reader import Catalog
    from discreet.profile.model import Profile
    from discreet.rank.ranker import Ranker

    folder = synthetic_release(int(n))
    profile = Profile.new(TODAY)
    rng = np.random.default_rng(0)
    for i in rng.choice(int(n), 50, replace=False):
        profile.record(item_id(int(i)), "like", TODAY)
    vector = rng.standard_normal(64).astype(np.float32)
    start = time.perf_counter()
    if what == "floor":
        with threadpool_limits(limits=1, user_api="blas"):
            embeddings = np.load(folder / "embeddings.npy", mmap_mode="r", allow_pickle=False)
            np.argpartition(-(embeddings @ vector), 10)[:10]
    else:
        Ranker(Catalog.open(folder)).recommend(profile, 10, today=TODAY)
    return {"ms": (time.perf_counter() - start) * 1000}


def rows(quick: bool = False) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for n in (100_000,) if quick else (100_000, 1_000_000):
        synthetic_release(n)  # written before timing anything
        runs: dict[str, list[float]] = {"floor": [], "product": []}
        for _ in range(5):
            for what in runs:
                runs[what].append(float(run_case("bench_cold_start", [str(n), what])["ms"]))
        product, floor = statistics.median(runs["product"]), statistics.median(runs["floor"])
        out.append(
            {
                "items": n,
                "first_recommend_ms": product,
                "floor_ms": floor,
                "ratio": product / floor,
            }
        )
    return out


def main(quick: bool = False, as_json: bool = False) -> str:
    measured = rows(quick)
    if as_json:
        return json.dumps({"benchmark": "bench_cold_start", "rows": measured}, indent=1)
    return table(
        "first recommend(10) after opening a catalog (fresh process, warm page cache), median of 5",
        measured,
        ["items", "first_recommend_ms", "floor_ms", "ratio"],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", nargs=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    if options.case:
        print(json.dumps(case(*options.case)))
    else:
        print(main(options.quick, options.json))
