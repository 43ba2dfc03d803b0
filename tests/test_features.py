"""The ranking features derived at install: memory-mapped, the same as derived in memory.

A release installed by an older discreet has the format-1 files; it must
open as before. Files that do not match the release are never used.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from discreet._fs import canonical_json, npy_bytes
from discreet.catalog.features import CatalogFeatures, sorted_unique

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_catalog import CATEGORIES, write_release

FIELDS = ("indptr", "indices", "created", "language", "category_indptr", "category_rows")


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_release(tmp_path_factory.mktemp("features") / "release", n=2000).folder


def _from_items(folder: Path) -> CatalogFeatures:
    records = [json.loads(line) for line in (folder / "items.jsonl").read_bytes().splitlines()]
    return CatalogFeatures.from_records(records, [c["id"] for c in CATEGORIES])


def _same(a: CatalogFeatures, b: CatalogFeatures) -> None:
    assert a.category_ids == b.category_ids
    assert a.languages == b.languages
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    assert a.category_bits is not None
    assert b.category_bits is not None
    np.testing.assert_array_equal(a.category_bits, b.category_bits)


def test_installed_features_are_mapped_and_equal_to_a_fresh_derivation(release: Path) -> None:
    saved = CatalogFeatures.load(release, 2000)
    assert saved is not None
    assert isinstance(saved.category_rows, np.memmap)  # opening reads nothing
    _same(saved, _from_items(release))
    for i, category in enumerate(saved.category_ids):
        expected = np.flatnonzero(
            [
                i in saved.indices[a:b]
                for a, b in zip(saved.indptr[:-1], saved.indptr[1:], strict=True)
            ]
        )
        np.testing.assert_array_equal(saved.rows_in([category]), expected)
    both = saved.rows_in(["c01", "c02"])
    np.testing.assert_array_equal(
        both, sorted_unique(np.concatenate([saved.rows_in(["c01"]), saved.rows_in(["c02"])]))
    )


def test_a_release_installed_by_an_older_version_still_opens(release: Path, tmp_path: Path) -> None:
    """Format 1: an npz of the membership and features.languages.json."""
    fresh = _from_items(release)
    older = tmp_path / "older"
    older.mkdir()
    buffer = io.BytesIO()
    np.savez(buffer, indptr=fresh.indptr, indices=fresh.indices, allow_pickle=False)
    (older / "features.categories.npz").write_bytes(buffer.getvalue())
    (older / "features.created.npy").write_bytes(npy_bytes(fresh.created))
    (older / "features.language.npy").write_bytes(npy_bytes(fresh.language))
    meta = {"categories": list(fresh.category_ids), "languages": list(fresh.languages)}
    (older / "features.languages.json").write_bytes(canonical_json(meta))
    loaded = CatalogFeatures.load(older, 2000)
    assert loaded is not None
    _same(loaded, fresh)


@pytest.mark.parametrize(
    "damage",
    ["another item count", "a newer layout", "a truncated array", "a missing array"],
)
def test_features_that_do_not_match_the_release_are_not_used(
    release: Path, tmp_path: Path, damage: str
) -> None:
    folder = tmp_path / "copy"
    folder.mkdir()
    for path in release.glob("features.*"):
        (folder / path.name).write_bytes(path.read_bytes())
    assert CatalogFeatures.load(folder, 2000) is not None
    meta = json.loads((folder / "features.json").read_bytes())
    if damage == "another item count":
        meta["items"] = 1999
    elif damage == "a newer layout":
        meta["format_version"] = 3
    elif damage == "a truncated array":
        (folder / "features.category-rows.npy").write_bytes(npy_bytes(np.zeros(3, np.int64)))
    else:
        (folder / "features.created.npy").unlink()
    (folder / "features.json").write_bytes(canonical_json(meta))
    assert CatalogFeatures.load(folder, 2000) is None
