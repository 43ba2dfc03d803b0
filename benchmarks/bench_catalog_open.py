"""Opening an installed catalog of 1M x 64 float32, three ways, in the same run.

* mmap + index: what ``discreet sync`` installs (the product);
* mmap, no index: the fallback, which builds an id map in memory on first look-up;
* np.load: the whole array read into memory, for comparison.

Each case runs in a fresh process on the same files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from _catalogs import make_catalog
from _harness import rss_mib, run_case, table
from discreet.catalog.index import INDEX_FILES
from discreet.catalog.reader import Catalog

MODES = ("mmap + index (installed)", "mmap, no index", "np.load (in memory)")


def case(folder: str, mode: str) -> dict[str, object]:
    path = Path(folder)
    if mode == MODES[1]:
        unindexed = path.with_name(path.name + "-noindex")
        if not unindexed.exists():
            shutil.copytree(path, unindexed, ignore=shutil.ignore_patterns(*INDEX_FILES))
        path = unindexed
    before, before_anon = rss_mib(), rss_mib("RssAnon")
    start = time.perf_counter()
    if mode == MODES[2]:
        embeddings = np.load(path / "embeddings.npy", allow_pickle=False)
    else:
        catalog = Catalog.open(path)
        embeddings = catalog.embeddings
    open_ms = (time.perf_counter() - start) * 1000
    after_open = rss_mib()
    start = time.perf_counter()
    scores = embeddings @ np.ones(embeddings.shape[1], dtype=np.float32)
    np.argpartition(-scores, 10)[:10]
    first_scan_ms = (time.perf_counter() - start) * 1000
    result: dict[str, object] = {
        "mode": mode,
        "open_ms": open_ms,
        "rss_after_open_mib": after_open - before,
        "first_scan_ms": first_scan_ms,
        "rss_after_scan_mib": rss_mib() - before,
        "anon_rss_after_scan_mib": rss_mib("RssAnon") - before_anon,
        "array_mib": embeddings.nbytes / 2**20,
    }
    if mode != MODES[2]:
        n = len(catalog)
        start = time.perf_counter()
        catalog.index_of(f"item-{n - 1:07d}")
        result["first_lookup_ms"] = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        for i in range(0, n, n // 1000):
            catalog.item(f"item-{i:07d}")
        result["next_1000_lookups_ms"] = (time.perf_counter() - start) * 1000
    return result


def main(quick: bool = False) -> str:
    n = 100_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "catalog"
        make_catalog(folder, n)
        rows = [run_case("bench_catalog_open", [str(folder), mode]) for mode in MODES]
    return table(
        f"catalog open, {n:,} x 64 float32 (RSS is the growth over the fresh process)",
        rows,
        [
            "mode",
            "open_ms",
            "rss_after_open_mib",
            "first_scan_ms",
            "rss_after_scan_mib",
            "anon_rss_after_scan_mib",
            "array_mib",
            "first_lookup_ms",
            "next_1000_lookups_ms",
        ],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", nargs=2)
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    if options.case:
        print(json.dumps(case(*options.case)))
    else:
        print(main(options.quick))
