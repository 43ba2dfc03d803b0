"""Per-item arrays for vectorised filtering and ranking, derived once per installed release.

Written beside a release at install time, from the same pass that verifies
it, and memory-mapped when the catalog is opened, so that the first ranking
after an app starts costs no sort and no copy of a million rows:

* ``features.categories.indptr.npy`` + ``features.categories.indices.npy``:
  category membership per item (CSR, indices into the taxonomy's order);
* ``features.category-rows.indptr.npy`` + ``features.category-rows.npy``: the
  same membership per category (the rows of each category, ascending);
* ``features.category-bits.npy``: per item, a 64-bit mask of its categories
  (only for taxonomies of at most 63 categories);
* ``features.created.npy``: the creation day as an ordinal (0 when unknown);
* ``features.language.npy``: a code per item (0 is "unspecified");
* ``features.json``: the layout version, the category ids and the language tags.

A release installed by an older version of discreet has the format-1 files
(``features.categories.npz`` and ``features.languages.json``) instead: they
are read and the rest derived in memory. A release with neither, or whose
files do not match it, is derived from ``items.jsonl``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from discreet._fs import canonical_json, npy_bytes

IntArray = np.ndarray[Any, np.dtype[np.int64]]
FEATURES_FORMAT_VERSION = 2
_ARRAYS = {
    "indptr": "features.categories.indptr.npy",
    "indices": "features.categories.indices.npy",
    "category_indptr": "features.category-rows.indptr.npy",
    "category_rows": "features.category-rows.npy",
    "created": "features.created.npy",
    "language": "features.language.npy",
}
_BITS = "features.category-bits.npy"
_META = "features.json"


def _category_rows(indptr: IntArray, indices: IntArray, categories: int) -> tuple[IntArray, ...]:
    """Membership per category (CSC) from membership per item (CSR)."""
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    order = np.argsort(indices, kind="stable")
    bounds = np.searchsorted(indices[order], np.arange(categories + 1)).astype(np.int64)
    return bounds, rows[order].astype(np.int64)


def _bits(indptr: IntArray, indices: IntArray, categories: int) -> IntArray | None:
    if categories > 63:
        return None
    bits = np.zeros(len(indptr) - 1, dtype=np.int64)
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    np.bitwise_or.at(bits, rows, np.left_shift(1, indices))
    return bits


def sorted_unique(values: IntArray) -> IntArray:
    """``np.unique`` for integers, without the masked-array import it costs on first use."""
    ordered = np.sort(values)
    if len(ordered) < 2:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


@dataclass(frozen=True)
class CatalogFeatures:
    """Category, language and date arrays aligned with the catalog's rows."""

    category_ids: tuple[str, ...]
    indptr: IntArray
    indices: IntArray
    created: IntArray
    language: IntArray
    languages: tuple[str, ...]
    #: The rows of category ``i`` are ``category_rows[category_indptr[i]:category_indptr[i + 1]]``.
    category_indptr: IntArray
    category_rows: IntArray
    #: Per item, a 64-bit mask of its categories (``None`` past 63 categories).
    category_bits: IntArray | None

    @classmethod
    def from_records(
        cls, records: Iterable[dict[str, Any]], category_ids: Sequence[str]
    ) -> CatalogFeatures:
        """Build the arrays from parsed item records."""
        builder = FeaturesBuilder(category_ids)
        builder.add(records)
        return builder.finish()

    @classmethod
    def derived(
        cls,
        category_ids: Sequence[str],
        indptr: IntArray,
        indices: IntArray,
        created: IntArray,
        language: IntArray,
        languages: Sequence[str],
    ) -> CatalogFeatures:
        """The features of membership, dates and languages, with what is derived from them."""
        category_indptr, category_rows = _category_rows(indptr, indices, len(category_ids))
        return cls(
            tuple(category_ids),
            indptr,
            indices,
            created,
            language,
            tuple(languages),
            category_indptr,
            category_rows,
            _bits(indptr, indices, len(category_ids)),
        )

    def write(self, folder: Path) -> None:
        """Save beside a release (the metadata last: it says the arrays are complete)."""
        for field, name in _ARRAYS.items():
            (folder / name).write_bytes(npy_bytes(getattr(self, field)))
        if self.category_bits is not None:
            (folder / _BITS).write_bytes(npy_bytes(self.category_bits))
        meta = {
            "format_version": FEATURES_FORMAT_VERSION,
            "items": len(self.created),
            "categories": list(self.category_ids),
            "languages": list(self.languages),
        }
        (folder / _META).write_bytes(canonical_json(meta))

    @classmethod
    def load(cls, folder: Path, size: int) -> CatalogFeatures | None:
        """The saved arrays (memory-mapped), or ``None`` if missing or inconsistent."""
        try:
            meta = json.loads((folder / _META).read_bytes())
            if meta.get("format_version") != FEATURES_FORMAT_VERSION or meta["items"] != size:
                return _load_format_1(folder, size)
            arrays = {
                field: np.load(folder / name, mmap_mode="r", allow_pickle=False)
                for field, name in _ARRAYS.items()
            }
            categories = tuple(meta["categories"])
            bits = (
                np.load(folder / _BITS, mmap_mode="r", allow_pickle=False)
                if len(categories) <= 63
                else None
            )
            features = cls(
                categories,
                languages=tuple(meta["languages"]),
                category_bits=bits,
                **arrays,
            )
        except FileNotFoundError:
            return _load_format_1(folder, size)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return features if features.consistent(size) else None

    def consistent(self, size: int) -> bool:
        """Whether every array has the shape and type a catalog of ``size`` items needs."""
        shapes = (
            (self.indptr, (size + 1,)),
            (self.indices, (int(self.indptr[-1]),)),
            (self.created, (size,)),
            (self.language, (size,)),
            (self.category_indptr, (len(self.category_ids) + 1,)),
            (self.category_rows, (len(self.indices),)),
        )
        bits = self.category_bits
        return all(a.dtype == np.int64 and a.shape == shape for a, shape in shapes) and (
            bits is None or (bits.dtype == np.int64 and bits.shape == (size,))
        )

    def rows_in(self, category_ids: Sequence[str]) -> IntArray:
        """Rows of the items in any of ``category_ids``, ascending (no Python loop over items)."""
        parts = []
        for c in category_ids:
            if c in self.category_ids:
                i = self.category_ids.index(c)
                parts.append(
                    self.category_rows[self.category_indptr[i] : self.category_indptr[i + 1]]
                )
        if not parts:
            return np.zeros(0, dtype=np.int64)
        return parts[0] if len(parts) == 1 else sorted_unique(np.concatenate(parts))

    def bits_of(self, category_ids: Sequence[str]) -> int:
        """The mask of ``category_ids`` in :attr:`category_bits`."""
        return sum(
            1 << self.category_ids.index(c) for c in set(category_ids) if c in self.category_ids
        )


class FeaturesBuilder:
    """Builds :class:`CatalogFeatures` from item records given a block at a time.

    Each block becomes a few numpy arrays at once, so that a catalog of a
    million items never holds a million Python objects here.
    """

    def __init__(self, category_ids: Sequence[str]) -> None:
        self._category_ids = tuple(category_ids)
        self._position = {c: i for i, c in enumerate(self._category_ids)}
        self._languages: dict[str, int] = {"": 0}
        self._blocks: list[tuple[IntArray, ...]] = []

    def add(self, records: Iterable[dict[str, Any]]) -> None:
        """Append the next records, in row order."""
        position, languages = self._position, self._languages
        counts: list[int] = []
        indices: list[int] = []
        created: list[int] = []
        language: list[int] = []
        for record in records:
            categories = record.get("categories", ())
            indices.extend(position[c] for c in categories)
            counts.append(len(categories))
            day = record.get("created")
            created.append(dt.date.fromisoformat(day).toordinal() if day else 0)
            tag = (record.get("language") or "").lower()
            language.append(languages.setdefault(tag, len(languages)))
        self._blocks.append(
            tuple(np.asarray(a, dtype=np.int64) for a in (counts, indices, created, language))
        )

    def finish(self) -> CatalogFeatures:
        """The features of every record added."""
        counts, indices, created, language = (
            np.concatenate([block[i] for block in self._blocks] or [np.zeros(0, np.int64)])
            for i in range(4)
        )
        indptr = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return CatalogFeatures.derived(
            self._category_ids, indptr, indices, created, language, tuple(self._languages)
        )


def _load_format_1(folder: Path, size: int) -> CatalogFeatures | None:
    """The files an older discreet installed, with the rest derived in memory."""
    try:
        with np.load(folder / "features.categories.npz", allow_pickle=False) as data:
            indptr, indices = data["indptr"], data["indices"]
        created = np.load(folder / "features.created.npy", allow_pickle=False)
        language = np.load(folder / "features.language.npy", allow_pickle=False)
        meta = json.loads((folder / "features.languages.json").read_bytes())
        features = CatalogFeatures.derived(
            meta["categories"],
            indptr.astype(np.int64),
            indices.astype(np.int64),
            created.astype(np.int64),
            language.astype(np.int64),
            meta["languages"],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return features if features.consistent(size) else None
