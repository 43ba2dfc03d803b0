"""A seeded synthetic release, installed through the real verification path.

Its numbers come from numpy's seeded generator alone (no scikit-learn, no
BLAS in the build), so the same seed writes the same files on every machine:
what the pinned ranking tests need.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from discreet._fs import canonical_json, npy_bytes
from discreet.catalog.build import items_jsonl
from discreet.catalog.items import Item
from discreet.catalog.manifest import QUANTISED_FILES, Manifest
from discreet.catalog.quantise import quantise
from discreet.catalog.reader import Catalog, verify_catalog_folder
from discreet.catalog.taxonomy import Taxonomy

CATEGORIES = [
    {"id": f"c{i:02d}", "label": f"Category {i}", "sensitive": False} for i in range(10)
] + [
    {"id": "health", "label": "Health", "sensitive": True},
    {"id": "sleep", "label": "Sleep", "parent": "health", "sensitive": False},
]
LANGUAGES = (None, "en", "es", "pt-BR")


def write_release(
    folder: Path, n: int = 3000, dim: int = 64, seed: int = 0, *, quantised: bool = True
) -> Catalog:
    """Write and install (verify, index, derive) a release of ``n`` seeded items.

    With ``quantised=False`` it is a release of before issue 15, without the int8 rows.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    taxonomy = Taxonomy.from_json({"format_version": 1, "categories": CATEGORIES})
    ids = [c["id"] for c in CATEGORIES]
    # Items cluster by their first category, so that interests and diversity mean something.
    centres = rng.standard_normal((len(ids), dim))
    first = rng.integers(0, len(ids), n)
    vectors = centres[first] + 1.2 * rng.standard_normal((n, dim))
    vectors[rng.random(n) < 0.01] = 0.0  # a few items with no usable text
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = np.where(norms > 0, vectors / np.where(norms > 0, norms, 1.0), 0.0)
    items = []
    for row in range(n):
        extra = rng.integers(0, len(ids)) if rng.random() < 0.3 else first[row]
        categories = tuple(dict.fromkeys((ids[first[row]], ids[extra])))
        created = dt.date(2020, 1, 1) + dt.timedelta(days=int(rng.integers(0, 2500)))
        items.append(
            Item(
                id=f"s-{row:05d}",
                title=f"Synthetic item {row}",
                categories=categories,
                created=created if rng.random() < 0.8 else None,
                language=LANGUAGES[int(rng.integers(0, len(LANGUAGES)))],
            )
        )
    counts = rng.zipf(1.6, n).astype(np.float64)
    prior = (counts / counts.sum()).astype(np.float32)
    built = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    manifest = Manifest(
        "synthetic", 1, built, n, dim, {}, "estimates", len(ids), quantised=quantised
    )
    if quantised:
        codes, scales = quantise(vectors.astype(np.float32))
        (folder / QUANTISED_FILES[0]).write_bytes(npy_bytes(codes))
        (folder / QUANTISED_FILES[1]).write_bytes(npy_bytes(scales))
    (folder / "items.jsonl").write_bytes(items_jsonl(items))
    (folder / "embeddings.npy").write_bytes(npy_bytes(vectors.astype(np.float32)))
    (folder / "popularity.npy").write_bytes(npy_bytes(prior))
    (folder / "taxonomy.json").write_bytes(canonical_json(taxonomy.to_json()))
    (folder / "manifest.json").write_bytes(canonical_json(manifest.to_json()))
    return verify_catalog_folder(folder, index=True)
