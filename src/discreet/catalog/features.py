"""Per-item arrays for vectorised filtering and ranking, derived once per installed release.

* ``features.categories.npz``: category membership in CSR form (``indptr``,
  ``indices`` into the taxonomy's order);
* ``features.created.npy``: the creation day as an ordinal (0 when unknown);
* ``features.language.npy`` + ``features.languages.json``: a code per item
  and the language tags they stand for (code 0 is "unspecified").

They are written beside a release at install time, from the same parse that
verifies it, and rebuilt in memory for a release that lacks them.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from discreet._fs import canonical_json, npy_bytes

IntArray = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True)
class CatalogFeatures:
    """Category, language and date arrays aligned with the catalog's rows."""

    category_ids: tuple[str, ...]
    indptr: IntArray
    indices: IntArray
    created: IntArray
    language: IntArray
    languages: tuple[str, ...]

    @classmethod
    def from_records(
        cls, records: Sequence[dict[str, Any]], category_ids: Sequence[str]
    ) -> CatalogFeatures:
        """Build the arrays from parsed item records."""
        position = {c: i for i, c in enumerate(category_ids)}
        languages: dict[str, int] = {"": 0}
        indptr = np.zeros(len(records) + 1, dtype=np.int64)
        indices: list[int] = []
        created = np.zeros(len(records), dtype=np.int64)
        language = np.zeros(len(records), dtype=np.int64)
        for row, record in enumerate(records):
            indices.extend(position[c] for c in record.get("categories", ()))
            indptr[row + 1] = len(indices)
            day = record.get("created")
            if day:
                created[row] = dt.date.fromisoformat(day).toordinal()
            tag = (record.get("language") or "").lower()
            language[row] = languages.setdefault(tag, len(languages))
        return cls(
            tuple(category_ids),
            indptr,
            np.asarray(indices, dtype=np.int64),
            created,
            language,
            tuple(languages),
        )

    def write(self, folder: Path) -> None:
        """Save beside a release."""
        buffer = io.BytesIO()
        np.savez(buffer, indptr=self.indptr, indices=self.indices, allow_pickle=False)
        (folder / "features.categories.npz").write_bytes(buffer.getvalue())
        (folder / "features.created.npy").write_bytes(npy_bytes(self.created))
        (folder / "features.language.npy").write_bytes(npy_bytes(self.language))
        meta = {"categories": list(self.category_ids), "languages": list(self.languages)}
        (folder / "features.languages.json").write_bytes(canonical_json(meta))

    @classmethod
    def load(cls, folder: Path, size: int) -> CatalogFeatures | None:
        """The saved arrays, or ``None`` if missing or inconsistent."""
        try:
            with np.load(folder / "features.categories.npz", allow_pickle=False) as data:
                indptr, indices = data["indptr"], data["indices"]
            created = np.load(folder / "features.created.npy", allow_pickle=False)
            language = np.load(folder / "features.language.npy", allow_pickle=False)
            meta = json.loads((folder / "features.languages.json").read_bytes())
        except (OSError, ValueError, KeyError):
            return None
        if indptr.shape != (size + 1,) or created.shape != (size,) or language.shape != (size,):
            return None
        return cls(
            tuple(meta["categories"]),
            indptr.astype(np.int64),
            indices.astype(np.int64),
            created.astype(np.int64),
            language.astype(np.int64),
            tuple(meta["languages"]),
        )

    @cached_property
    def _rows_by_category(self) -> list[IntArray]:
        rows = np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))
        order = np.argsort(self.indices, kind="stable")
        bounds = np.searchsorted(self.indices[order], np.arange(len(self.category_ids) + 1))
        return [rows[order[bounds[i] : bounds[i + 1]]] for i in range(len(self.category_ids))]

    def rows_in(self, category_ids: Sequence[str]) -> IntArray:
        """Rows of the items in any of ``category_ids`` (no Python loop over items)."""
        parts = [
            self._rows_by_category[self.category_ids.index(c)]
            for c in category_ids
            if c in self.category_ids
        ]
        if not parts:
            return np.zeros(0, dtype=np.int64)
        return parts[0] if len(parts) == 1 else np.unique(np.concatenate(parts))

    @cached_property
    def category_bits(self) -> IntArray | None:
        """Per item, a 64-bit mask of its categories (``None`` past 64 categories)."""
        if len(self.category_ids) > 63:
            return None
        bits = np.zeros(len(self.indptr) - 1, dtype=np.int64)
        rows = np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))
        np.bitwise_or.at(bits, rows, np.left_shift(1, self.indices))
        return bits

    def bits_of(self, category_ids: Sequence[str]) -> int:
        """The mask of ``category_ids`` in :attr:`category_bits`."""
        return sum(
            1 << self.category_ids.index(c) for c in set(category_ids) if c in self.category_ids
        )
