"""Catalog build time and peak memory for generated catalogs (10k and 100k items).

Each case runs in its own process so that peak memory is its own. TF-IDF and
hashing vectorizers are compared in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _harness import peak_rss_mib, run_case, table
from discreet.catalog.build import build_catalog_files
from discreet.catalog.embedding import EmbeddingParams
from discreet.catalog.items import Item
from discreet.catalog.taxonomy import Taxonomy


def generated_items(n: int, seed: int = 0) -> tuple[list[Item], Taxonomy]:
    """``n`` items with Zipf-distributed words from a synthetic 20k-word vocabulary."""
    rng = np.random.default_rng(seed)
    syllables = np.array(
        ["ka", "lo", "mi", "ner", "sta", "po", "ri", "an", "te", "vu", "sol", "dor"]
    )
    vocab = ["".join(rng.choice(syllables, size=rng.integers(2, 5))) for _ in range(20_000)]
    ranks = np.arange(1, len(vocab) + 1)
    p = 1.0 / ranks**1.1
    p /= p.sum()
    taxonomy = Taxonomy.from_json(
        {"categories": [{"id": f"c{i}", "label": f"Category {i}"} for i in range(20)]}
    )
    lengths = rng.integers(30, 90, size=n)
    words = rng.choice(len(vocab), size=int(lengths.sum()), p=p)  # one draw for all items
    bounds = np.concatenate(([0], np.cumsum(lengths)))
    categories = rng.integers(20, size=n)
    items = []
    for i in range(n):
        chosen = [vocab[w] for w in words[bounds[i] : bounds[i + 1]]]
        title, text = " ".join(chosen[:4]), " ".join(chosen[4:])
        items.append(Item(f"i{i}", title, text, (f"c{categories[i]}",)))
    return items, taxonomy


def case(n: int, vectorizer: str) -> dict[str, object]:
    items, taxonomy = generated_items(n)
    base = peak_rss_mib()
    params = EmbeddingParams(vectorizer=vectorizer)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        build_catalog_files(
            items,
            taxonomy,
            Path(tmp) / "out",
            name="bench",
            version=1,
            built_at=dt.datetime.now(dt.UTC),
            params=params,
            model_folder=Path(tmp) / "model",
        )
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in (Path(tmp) / "out").iterdir())
    return {
        "items": n,
        "vectorizer": vectorizer,
        "build_s": seconds,
        "items_per_s": n / seconds,
        "peak_rss_mib": peak_rss_mib(),
        "peak_over_inputs_mib": peak_rss_mib() - base,
        "catalog_mib": size / 2**20,
    }


def main(quick: bool = False) -> str:
    sizes = (10_000,) if quick else (10_000, 100_000)
    rows = [run_case("bench_build", [str(n), v]) for n in sizes for v in ("tfidf", "hashing")]
    return table(
        "catalog build (embedding + files + model card), one process per case",
        rows,
        [
            "items",
            "vectorizer",
            "build_s",
            "items_per_s",
            "peak_rss_mib",
            "peak_over_inputs_mib",
            "catalog_mib",
        ],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", nargs=2)
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    if options.case:
        print(json.dumps(case(int(options.case[0]), options.case[1])))
    else:
        print(main(options.quick))
        sys.exit(0)
