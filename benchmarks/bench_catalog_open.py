"""Opening an installed catalog of 1M x 64 float32: memory-mapped (the product) vs fully loaded.

Both are measured in the same run, each in a fresh process, on the same files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from _harness import rss_mib, run_case, table
from discreet._fs import canonical_json
from discreet.catalog.build import npy_bytes
from discreet.catalog.manifest import Manifest
from discreet.catalog.reader import Catalog


def make_catalog(folder: Path, n: int, dim: int = 64) -> None:
    """Write a synthetic catalog with ``n`` items straight to disk."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    (folder / "embeddings.npy").write_bytes(npy_bytes(vectors))
    (folder / "popularity.npy").write_bytes(npy_bytes(np.full(n, 1 / n, dtype=np.float32)))
    with (folder / "items.jsonl").open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(f'{{"id":"item-{i:07d}","title":"Item {i}","categories":["c{i % 20}"]}}\n')
    taxonomy = {"format_version": 1, "categories": [{"id": f"c{i}", "label": f"C{i}", "sensitive": False} for i in range(20)]}
    (folder / "taxonomy.json").write_bytes(canonical_json(taxonomy))
    manifest = Manifest("bench", 1, dt.datetime.now(dt.timezone.utc), n, dim, {}, "uniform", 20)
    (folder / "manifest.json").write_bytes(canonical_json(manifest.to_json()))


def case(folder: str, mode: str) -> dict[str, object]:
    path = Path(folder)
    before = rss_mib()
    start = time.perf_counter()
    if mode == "mmap (Catalog.open)":
        catalog = Catalog.open(path)
        embeddings = catalog.embeddings
    else:
        embeddings = np.load(path / "embeddings.npy", allow_pickle=False)
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
        "array_mib": embeddings.nbytes / 2**20,
    }
    if mode == "mmap (Catalog.open)":
        start = time.perf_counter()
        catalog.index_of(f"item-{len(catalog) - 1:07d}")
        result["first_id_lookup_ms"] = (time.perf_counter() - start) * 1000
    return result


def main(quick: bool = False) -> str:
    n = 100_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        make_catalog(Path(tmp), n)
        rows = [run_case("bench_catalog_open", [tmp, m]) for m in ("mmap (Catalog.open)", "np.load (in memory)")]
    return table(
        f"catalog open, {n:,} x 64 float32 (RSS is the growth over the fresh process)",
        rows,
        ["mode", "open_ms", "rss_after_open_mib", "first_scan_ms", "rss_after_scan_mib", "array_mib", "first_id_lookup_ms"],
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
