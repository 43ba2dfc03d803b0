"""An items file validated and written as the catalog's ``items.jsonl`` in one streaming pass.

``publish build --dask`` stages a CSV items file here, on the client (a JSONL
file is staged by the workers: :mod:`discreet.catalog.staged_cluster`). It
reads the publisher's items a block at a time
(:func:`~discreet.catalog.items.iter_item_blocks`) and never holds the item
list: what it keeps per item is the duplicate check's 24 bytes
(:class:`CompactFirstLines`), plus one block of items and, only when a
secure-aggregation task or the collaborative target needs them, the ids.
The workers then read the items back from ``items.jsonl``, a partition of
lines at a time (:meth:`StagedItems.partitions`, or by byte range:
:meth:`StagedItems.ranges`).
"""

from __future__ import annotations

import collections
import hashlib
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from discreet._fs import replacing
from discreet.catalog import _json
from discreet.catalog.items import iter_item_blocks, jsonl_line
from discreet.catalog.taxonomy import Taxonomy

__all__ = ["CompactFirstLines", "ItemLines", "StagedItems", "stage_items"]

ITEMS_FILE = "items.jsonl"


class CompactFirstLines:
    """The first source line of every item id, in 24 bytes per id.

    The latest ids are kept in a ``dict``; every ``recent`` of them, they move
    to three sorted numpy arrays: a 128-bit BLAKE2b digest of the id (two
    64-bit halves) and the line. Two different ids share a digest with a
    probability of about ``n² / 2**129`` (below 10⁻²⁴ at 10⁹ ids).
    """

    def __init__(self, recent: int = 200_000) -> None:
        self._limit = recent
        self._recent: dict[str, int] = {}
        self._high = np.zeros(0, dtype=np.uint64)
        self._low = np.zeros(0, dtype=np.uint64)
        self._lines = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._recent) + len(self._lines)

    @classmethod
    def from_digests(
        cls, digests: np.ndarray[Any, Any], lines: np.ndarray[Any, Any], recent: int = 200_000
    ) -> CompactFirstLines:
        """The first lines of ids given by their digests (an ``(n, 2)`` uint64 array of
        :func:`id_digests`'s halves) and lines, every id once."""
        seen = cls(recent)
        order = np.lexsort((digests[:, 1], digests[:, 0]))
        seen._high = np.ascontiguousarray(digests[order, 0])
        seen._low = np.ascontiguousarray(digests[order, 1])
        seen._lines = np.asarray(lines, dtype=np.int64)[order]
        return seen

    def get(self, item_id: str, /) -> int | None:
        """The line where ``item_id`` was first seen, or ``None``."""
        line = self._recent.get(item_id)
        if line is not None or not len(self._lines):
            return line
        high, low = (np.uint64(half) for half in _digest(item_id))
        # A uint64 key: a Python int would make numpy compare as float64, copying the array.
        at = int(self._high.searchsorted(high))
        while at < len(self._high) and self._high[at] == high:
            if self._low[at] == low:
                return int(self._lines[at])
            at += 1
        return None

    def __setitem__(self, item_id: str, line: int, /) -> None:
        self._recent[item_id] = line
        if len(self._recent) >= self._limit:
            self._merge()

    def _merge(self) -> None:
        digests = np.array([_digest(i) for i in self._recent], dtype=np.uint64).reshape(-1, 2)
        lines = np.fromiter(self._recent.values(), dtype=np.int64, count=len(self._recent))
        order = np.lexsort((digests[:, 1], digests[:, 0]))
        high, low, lines = digests[order, 0], digests[order, 1], lines[order]
        at = np.searchsorted(self._high, high)
        self._high = np.insert(self._high, at, high)
        self._low = np.insert(self._low, at, low)
        self._lines = np.insert(self._lines, at, lines)
        self._recent = {}


def _id_hash(item_id: str) -> bytes:
    """An id's 128-bit digest: two little-endian uint64 halves."""
    return hashlib.blake2b(item_id.encode(), digest_size=16).digest()


def _digest(item_id: str) -> tuple[int, int]:
    digest = _id_hash(item_id)
    return int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little")


def id_digests(ids: Iterable[str]) -> np.ndarray[Any, Any]:
    """The ids' 128-bit digests as :class:`CompactFirstLines` keeps them: ``(n, 2)`` uint64."""
    joined = b"".join(_id_hash(i) for i in ids)
    return np.frombuffer(joined, dtype="<u8").astype(np.uint64).reshape(-1, 2)


@dataclass(frozen=True)
class ItemLines:
    """Bytes ``start`` to ``stop`` of a file of whole lines, which a worker reads itself
    (the client and the workers share the disk, as on a LocalCluster)."""

    path: Path
    start: int
    stop: int

    def read(self) -> bytes:
        """The range's bytes."""
        with self.path.open("rb") as f:
            f.seek(self.start)
            return f.read(self.stop - self.start)


@dataclass(frozen=True)
class StagedItems:
    """A validated items file, written as the catalog's canonical ``items.jsonl``."""

    #: The written ``items.jsonl``.
    path: Path
    count: int
    #: Items per language tag (``"unspecified"`` without one) and per category id.
    languages: collections.Counter[str]
    categories: collections.Counter[str]
    #: The item ids in order, when :func:`stage_items` was asked to keep them.
    ids: tuple[str, ...] | None = None
    #: The partitions the file was written in, when staged on a cluster: the first row
    #: and the byte offset of each, then the item count and the file's size.
    layout: tuple[tuple[int, int], ...] | None = None

    def __len__(self) -> int:
        return self.count

    @property
    def bounds(self) -> list[tuple[int, int]] | None:
        """The ``(start, stop)`` rows of the :attr:`layout`'s partitions, if it has one."""
        if self.layout is None:
            return None
        return [(a, b) for (a, _), (b, _) in itertools.pairwise(self.layout)]

    def ranges(self, bounds: list[tuple[int, int]]) -> Iterator[ItemLines]:
        """The byte range of each of the :attr:`bounds` (the only ``bounds`` taken)."""
        if self.layout is None or bounds != self.bounds:
            raise ValueError("byte ranges are known only for the staged partitions")
        for (_, start), (_, stop) in itertools.pairwise(self.layout):
            yield ItemLines(self.path, start, stop)

    def partitions(self, bounds: list[tuple[int, int]]) -> Iterator[bytes]:
        """The lines of each ``(start, stop)`` of consecutive ``bounds``, read from the file."""
        if self.layout is not None and bounds == self.bounds:
            for lines in self.ranges(bounds):
                yield lines.read()
            return
        with self.path.open("rb") as f:
            for start, stop in bounds:
                yield b"".join(next(f) for _ in range(stop - start))

    def item_ids(self) -> Iterator[str]:
        """The item ids in catalog order (read back from the file unless kept)."""
        if self.ids is not None:
            yield from self.ids
            return
        with self.path.open("rb") as f:
            for line in f:
                yield _json.loads(line)["id"]


def stage_items(
    source: str | Path,
    taxonomy: Taxonomy,
    folder: Path,
    *,
    keep_ids: bool = False,
    block_rows: int = 10_000,
) -> StagedItems:
    """Validate ``source`` and write ``folder/items.jsonl``, a block of items at a time.

    Raise :class:`~discreet.errors.ItemsInvalidError` as
    :func:`~discreet.catalog.items.read_items` does; ``folder`` then holds no
    ``items.jsonl`` (a partial file is removed).
    """
    path = folder / ITEMS_FILE
    languages: collections.Counter[str] = collections.Counter()
    categories: collections.Counter[str] = collections.Counter()
    ids: list[str] | None = [] if keep_ids else None
    seen = CompactFirstLines()
    count = 0
    with replacing(path) as out:
        for block in iter_item_blocks(source, taxonomy, block_rows=block_rows, first_lines=seen):
            out.write("".join(jsonl_line(item) + "\n" for item in block).encode())
            count += len(block)
            languages.update(item.language or "unspecified" for item in block)
            categories.update(c for item in block for c in item.categories)
            if ids is not None:
                ids.extend(item.id for item in block)
    return StagedItems(path, count, languages, categories, None if ids is None else tuple(ids))


def item_counts(items: Any) -> tuple[collections.Counter[str], collections.Counter[str]]:
    """Items per language and per category, of a staged file or an item list."""
    if isinstance(items, StagedItems):
        return items.languages, items.categories
    languages = collections.Counter(i.language or "unspecified" for i in items)
    return languages, collections.Counter(c for i in items for c in i.categories)
