"""Synthetic installed releases for the benchmarks, written once and reused.

A release of a million items takes minutes and gigabytes to write, so with
``DISCREET_BENCH_CACHE=DIR`` each size is written once under ``DIR`` (outside
the repository) and reused by later runs; without it, under a temporary
folder that is removed at exit. A release carries the files ``discreet sync``
installs beside it (index and features), as a device would have them.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from discreet._fs import canonical_json, npy_bytes
from discreet.catalog.features import CatalogFeatures
from discreet.catalog.index import write_index
from discreet.catalog.manifest import QUANTISED_FILES, Manifest
from discreet.catalog.nibbles import derive_for_fast_scan, load_nibbles
from discreet.catalog.quantise import quantise

#: Bumped whenever the files written here change, so that a stale cache is rebuilt.
LAYOUT = 4
CATEGORIES = 20


def cache_root() -> Path:
    """Where synthetic catalogs and repositories are kept (see the module's docstring)."""
    global _ROOT
    _ROOT = _ROOT or _root()
    return _ROOT


def _root() -> Path:
    cache = os.environ.get("DISCREET_BENCH_CACHE")
    if cache:
        return Path(cache)
    folder = Path(tempfile.mkdtemp(prefix="discreet-bench-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


_ROOT: Path | None = None


def item_id(row: int) -> str:
    """The id of the item in ``row``."""
    return f"item-{row:07d}"


def make_catalog(folder: Path, n: int, dim: int = 64) -> None:
    """Write a synthetic release of ``n`` items straight to ``folder``."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    (folder / "embeddings.npy").write_bytes(npy_bytes(vectors))
    codes, scales = quantise(vectors)
    (folder / QUANTISED_FILES[0]).write_bytes(npy_bytes(codes))
    (folder / QUANTISED_FILES[1]).write_bytes(npy_bytes(scales))
    del vectors, codes
    counts = rng.zipf(1.6, n).astype(np.float64)  # a long tail, as reported counts have
    (folder / "popularity.npy").write_bytes(npy_bytes((counts / counts.sum()).astype(np.float32)))
    # Items as a shop's are: a title, a paragraph of text (about 250 bytes), a day, a language.
    words = [f"word{w}" for w in range(997)]
    lines = [
        f'{{"categories":["c{i % CATEGORIES}"],"created":"20{10 + i % 15}-0{1 + i % 9}-1{i % 10}",'
        f'"id":"{item_id(i)}","language":"{("en", "es", "pt-BR")[i % 3]}",'
        f'"text":"{" ".join(words[(i * k) % 997] for k in range(1, 36))}","title":"Item {i}"}}'
        for i in range(n)
    ]
    data = ("\n".join(lines) + "\n").encode()
    (folder / "items.jsonl").write_bytes(data)
    write_index(folder, [item_id(i) for i in range(n)], data)
    records = [json.loads(line) for line in lines]
    CatalogFeatures.from_records(records, [f"c{i}" for i in range(CATEGORIES)]).write(folder)
    taxonomy = {
        "format_version": 1,
        "categories": [
            {"id": f"c{i}", "label": f"C{i}", "sensitive": i == 0} for i in range(CATEGORIES)
        ],
    }
    (folder / "taxonomy.json").write_bytes(canonical_json(taxonomy))
    built = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    manifest = Manifest("bench", 1, built, n, dim, {}, "estimates", CATEGORIES, quantised=True)
    (folder / "manifest.json").write_bytes(canonical_json(manifest.to_json()))


def synthetic_release(n: int) -> Path:
    """The folder of a synthetic release of ``n`` items (written on first use)."""
    folder = cache_root() / f"release-{n}-layout{LAYOUT}"
    if not folder.exists():
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        make_catalog(partial, n)
        partial.rename(folder)
    if load_nibbles(folder, n, 64) is None:  # derived at install where faiss is installed
        derive_for_fast_scan(folder, np.load(folder / "embeddings.npy", mmap_mode="r"))
    return folder
