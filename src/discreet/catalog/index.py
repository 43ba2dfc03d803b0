"""A local look-up index for an installed catalog, derived once at install time.

Three ``.npy`` files sit beside the release's files:

* ``index.hashes.npy``: the 64-bit BLAKE2b hash of every item id, sorted;
* ``index.rows.npy``: the row of each sorted hash;
* ``index.offsets.npy``: where each line of ``items.jsonl`` starts (n + 1 entries).

With them, opening a catalog of a million items costs nothing and a look-up by
id is a binary search over memory-mapped arrays plus one parsed line. Every
hit is checked against the item's actual id, so a hash collision, or a local
edit of the index, can never return the wrong item.
"""

from __future__ import annotations

import hashlib
import mmap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from discreet._fs import npy_bytes

INDEX_FILES = ("index.hashes.npy", "index.rows.npy", "index.offsets.npy")


def id_hash(item_id: str) -> int:
    """The 64-bit hash of an item id used by the index."""
    return int.from_bytes(hashlib.blake2b(item_id.encode(), digest_size=8).digest(), "little")


def line_offsets(data: bytes) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Start of every line of a JSON-lines buffer, plus its total length."""
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    starts = np.concatenate(([0], newlines + 1)).astype(np.int64)
    if starts[-1] != len(data):  # no newline after the last line
        starts = np.append(starts, len(data))
    return starts


def id_hashes(ids: Sequence[str]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """:func:`id_hash` of each of ``ids``."""
    return np.fromiter((id_hash(i) for i in ids), dtype=np.uint64, count=len(ids))


def write_index(folder: Path, ids: Sequence[str], items_data: bytes) -> None:
    """Write the index files for a release whose items are ``ids`` (in row order)."""
    save_index(folder, id_hashes(ids), line_offsets(items_data))


def save_index(
    folder: Path,
    hashes: np.ndarray[Any, np.dtype[np.uint64]],
    offsets: np.ndarray[Any, np.dtype[np.int64]],
) -> None:
    """Write the index files from the id hashes (in row order) and the lines' offsets."""
    if len(offsets) != len(hashes) + 1:
        raise ValueError("items.jsonl lines do not match the ids")
    order = np.argsort(hashes, kind="stable")
    (folder / "index.hashes.npy").write_bytes(npy_bytes(hashes[order]))
    (folder / "index.rows.npy").write_bytes(npy_bytes(order.astype(np.int64)))
    (folder / "index.offsets.npy").write_bytes(npy_bytes(offsets))


class ItemIndex:
    """The memory-mapped index and items file of one installed release."""

    def __init__(self, folder: Path, size: int) -> None:
        self._hashes = np.load(folder / INDEX_FILES[0], mmap_mode="r", allow_pickle=False)
        self._rows = np.load(folder / INDEX_FILES[1], mmap_mode="r", allow_pickle=False)
        self._offsets = np.load(folder / INDEX_FILES[2], mmap_mode="r", allow_pickle=False)
        if not (
            self._hashes.shape == self._rows.shape == (size,) and self._offsets.shape == (size + 1,)
        ):
            raise ValueError("the catalog index does not match the catalog")
        with open(folder / "items.jsonl", "rb") as f:
            self._items = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else None

    @classmethod
    def load(cls, folder: Path, size: int) -> ItemIndex | None:
        """The index of ``folder``, or ``None`` if it has none (or a broken one)."""
        if not all((folder / name).exists() for name in INDEX_FILES):
            return None
        try:
            return cls(folder, size)
        except (OSError, ValueError):
            return None

    def line(self, row: int) -> bytes:
        """The raw JSON line of ``row``."""
        if self._items is None:
            raise IndexError(row)
        start, end = int(self._offsets[row]), int(self._offsets[row + 1])
        return self._items[start:end]

    def candidates(self, item_id: str) -> Iterator[int]:
        """Rows whose id hash matches ``item_id`` (usually one, to be checked by the caller)."""
        target = np.uint64(id_hash(item_id))
        position = int(np.searchsorted(self._hashes, target))
        while position < len(self._hashes) and self._hashes[position] == target:
            yield int(self._rows[position])
            position += 1
