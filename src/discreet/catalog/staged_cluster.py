"""Items staged as the catalog's ``items.jsonl`` by the cluster's workers, a partition at a time.

Without this, the client validated and wrote every item itself before the
first task ran: a serial pass that capped two workers' speed-up near 1.5 times.
Here the client does little more than copy bytes:

- **a JSONL items file** (:func:`stage_items_on_cluster`): the client cuts the
  file into byte ranges at line breaks (it reads a few bytes around each cut).
  Each worker reads its range (:class:`~discreet.catalog.staged.ItemLines`:
  workers that share the client's disk, as a LocalCluster's do), or is sent
  its bytes, then decodes, validates and normalises it, and sends back the
  range's ``items.jsonl`` lines, its line counts, and each item's 128-bit id
  digest and line. The client writes the lines in file order and checks the
  digests for ids repeated across ranges (24 bytes per item, as
  :class:`~discreet.catalog.staged.CompactFirstLines` keeps them).
  If a range has a problem, the client reads the file again itself from the
  first such range on (:func:`~discreet.catalog.items.iter_item_blocks` with
  ``resume``, the ids before it known by their digests). So a refused file
  gets exactly the error the whole-file reader gives: the same messages, line
  numbers, problem cap and order, invalid UTF-8 first. Nothing is left behind.
  A CSV file (a quoted field may span lines) is staged on the client
  (:func:`~discreet.catalog.staged.stage_items`);
- **an item list** (:func:`stage_item_list`, for builds given items): each
  partition's items are scattered to a worker, which writes their lines.

Either way the result's :attr:`~discreet.catalog.staged.StagedItems.layout`
gives the partitions, which the embedding tasks then read again by byte range.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from discreet._fs import replacing
from discreet.catalog.embedding_dask import OnCluster
from discreet.catalog.items import (
    Item,
    ResumeAt,
    _jsonl_records,
    _validate_record,
    is_jsonl,
    iter_item_blocks,
    jsonl_line,
)
from discreet.catalog.staged import (
    ITEMS_FILE,
    CompactFirstLines,
    ItemLines,
    StagedItems,
    id_digests,
    stage_items,
)
from discreet.catalog.taxonomy import Taxonomy
from discreet.errors import ItemsInvalidError

__all__ = ["stage_item_list", "stage_items_on_cluster"]

#: Bytes read at a time while looking for the line break after a cut.
_SEEK_BYTES = 1 << 16


@dataclass(frozen=True)
class StagedPart:
    """What a worker makes of one partition of items (:func:`_stage_range`)."""

    #: False: the partition has a problem (the client's reader says which).
    clean: bool
    #: The partition's ``items.jsonl`` lines.
    data: bytes = b""
    count: int = 0
    #: The partition's lines as the items reader counts them, and its ``\n`` bytes.
    lines: int = 0
    newlines: int = 0
    #: Each item's id digest (``(count, 2)`` uint64) and line (from 0 in the partition).
    digests: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros((0, 2), np.uint64))
    numbers: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros(0, np.int64))
    languages: collections.Counter[str] | None = None
    categories: collections.Counter[str] | None = None
    ids: tuple[str, ...] | None = None


def _staged_part(items: Sequence[Item], keep_ids: bool, **more: Any) -> StagedPart:
    return StagedPart(
        True,
        "".join(jsonl_line(item) + "\n" for item in items).encode(),
        len(items),
        languages=collections.Counter(item.language or "unspecified" for item in items),
        categories=collections.Counter(c for item in items for c in item.categories),
        ids=tuple(item.id for item in items) if keep_ids else None,
        **more,
    )


def _stage_range(
    source: ItemLines | bytes, taxonomy: Taxonomy, first: bool, keep_ids: bool
) -> StagedPart:
    """Validate and normalise one byte range of a JSONL items file (a worker's task).

    Its records are parsed and validated by the items reader's own functions;
    the first problem ends the range (the client then reads it itself).
    """
    data = source.read() if isinstance(source, ItemLines) else source
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return StagedPart(False)
    if first:  # a byte order mark, as the reader drops it
        text = text.removeprefix("\ufeff")
    items: list[Item] = []
    numbers: list[int] = []
    seen: set[str] = set()
    try:
        for number, record in _jsonl_records(iter([text]), "", first=0):
            item, _problems = _validate_record(record, taxonomy, "")
            if item is None or item.id in seen:
                return StagedPart(False)
            seen.add(item.id)
            items.append(item)
            numbers.append(number)
    except ItemsInvalidError:
        return StagedPart(False)
    return _staged_part(
        items,
        keep_ids,
        lines=len(text.splitlines()),
        newlines=data.count(b"\n"),
        digests=id_digests(item.id for item in items),
        numbers=np.array(numbers, dtype=np.int64),
    )


@dataclass(frozen=True)
class _ItemList:
    """A partition of an item list, sent whole: Dask would serialise a bare list's
    items one by one, each with its own header (several times the CPU). Pickled as
    tuples of fields, which costs the client about half what the items do."""

    items: Sequence[Item]

    def __reduce__(self) -> tuple[Any, ...]:
        fields = [(i.id, i.title, i.text, i.categories, i.created, i.language) for i in self.items]
        return _item_list, (fields,)


def _item_list(fields: list[tuple[Any, ...]]) -> _ItemList:
    return _ItemList([Item(*f) for f in fields])


def _stage_list(part: _ItemList) -> StagedPart:
    """One partition of an item list's ``items.jsonl`` lines (a worker's task)."""
    return _staged_part(part.items, False)


def line_ranges(path: Path, target: int) -> list[tuple[int, int]]:
    """Consecutive byte ranges of about ``target`` bytes covering ``path``, each cut just
    after a line break (the last may end without one)."""
    size = path.stat().st_size
    cuts = [0]
    with path.open("rb") as f:
        while cuts[-1] < size:
            at = cuts[-1] + max(1, target) - 1
            f.seek(at)
            while True:
                block = f.read(_SEEK_BYTES)
                found = block.find(b"\n")
                if found >= 0:
                    cuts.append(at + found + 1)
                    break
                if not block:
                    cuts.append(size)
                    break
                at += len(block)
    return list(itertools.pairwise(cuts))


def _in_order(client: Any, submits: Iterable[Callable[[], Any]], window: int) -> Iterator[Any]:
    """The results of the submitted tasks, in order, with at most ``window`` in flight
    (the workers hold finished results until the client takes them)."""
    pending: collections.deque[Any] = collections.deque()
    try:
        for submit in submits:
            pending.append(submit())
            if len(pending) >= window:
                future = pending.popleft()
                yield future.result()
                future.release()
        while pending:
            future = pending.popleft()
            yield future.result()
            future.release()
    finally:
        if pending:
            client.cancel(list(pending))


class _Tally:
    """The staged partitions' counts and layout, added up in order by the client."""

    def __init__(self, keep_ids: bool) -> None:
        self.keep_ids = keep_ids
        self.count = 0
        self.layout = [(0, 0)]
        self.languages: collections.Counter[str] = collections.Counter()
        self.categories: collections.Counter[str] = collections.Counter()
        self.ids: list[str] = []

    def add(self, part: StagedPart) -> None:
        self.count += part.count
        self.layout.append((self.count, self.layout[-1][1] + len(part.data)))
        self.languages.update(part.languages or {})
        self.categories.update(part.categories or {})
        if self.keep_ids:
            self.ids.extend(part.ids or ())

    def staged(self, path: Path) -> StagedItems:
        # Empty partitions dropped: an embedding task is never given no rows.
        kept = [b for a, b in itertools.pairwise(self.layout) if b[0] > a[0]]
        return StagedItems(
            path,
            self.count,
            self.languages,
            self.categories,
            tuple(self.ids) if self.keep_ids else None,
            (self.layout[0], *kept),
        )


def _write_parts(path: Path, parts: Iterable[StagedPart], check: Callable[[], None]) -> None:
    """Write the parts' lines into ``path``, renamed into place once complete and
    ``check`` passed: a failure leaves nothing behind."""
    with replacing(path) as out:
        for part in parts:
            out.write(part.data)
        check()


def stage_item_list(items: Sequence[Item], folder: Path, cluster: OnCluster) -> StagedItems:
    """Write ``folder/items.jsonl`` for ``items`` (already valid), a partition per task."""
    client = cluster.client
    tally = _Tally(keep_ids=False)

    def submit(part: _ItemList) -> Callable[[], Any]:
        # Scattered: sent to a worker at once, not held in the graph by the client.
        return lambda: client.submit(_stage_list, *client.scatter([part], hash=False), pure=False)

    def parts() -> Iterator[StagedPart]:
        submits = (submit(_ItemList(items[a:b])) for a, b in cluster.bounds(len(items)))
        for part in _in_order(client, submits, cluster.window):
            tally.add(part)
            yield part

    _write_parts(folder / ITEMS_FILE, parts(), lambda: None)
    return tally.staged(folder / ITEMS_FILE)


def stage_items_on_cluster(
    source: str | Path,
    taxonomy: Taxonomy,
    folder: Path,
    cluster: OnCluster,
    *,
    keep_ids: bool = False,
) -> StagedItems:
    """Validate ``source`` and write ``folder/items.jsonl`` on the cluster's workers.

    The same result and the same errors as :func:`~discreet.catalog.staged.stage_items`
    (:class:`~discreet.errors.ItemsInvalidError`, with ``folder`` then holding no
    ``items.jsonl``), plus the :attr:`~discreet.catalog.staged.StagedItems.layout`.
    """
    path = Path(source)
    try:
        ranges = line_ranges(path, cluster.range_bytes(path.stat().st_size))
    except OSError:
        ranges = []
    if not is_jsonl(path) or not ranges:  # CSV, or not readable: the reader says what
        return stage_items(path, taxonomy, folder, keep_ids=keep_ids)
    client = cluster.client
    tally = _Tally(keep_ids)
    starts = [ResumeAt(0, 1, 1)]  # where each range starts
    seen = _SeenIds()

    def submit(index: int, start: int, stop: int) -> Callable[[], Any]:
        given: ItemLines | Any = ItemLines(path, start, stop)
        if not cluster.shares_files:
            (given,) = client.scatter([given.read()], hash=False)
        first = index == 0
        return lambda: client.submit(_stage_range, given, taxonomy, first, keep_ids, pure=False)

    def parts() -> Iterator[StagedPart]:
        submits = (submit(i, a, b) for i, (a, b) in enumerate(ranges))
        for index, part in enumerate(_in_order(client, submits, cluster.window)):
            at = starts[index]
            if not part.clean:
                refuse(index)
            seen.add(part.digests, part.numbers + at.line)
            stop = ranges[index][1]
            starts.append(ResumeAt(stop, at.line + part.lines, at.newline_line + part.newlines))
            tally.add(part)
            yield part

    def refuse(index: int) -> None:
        """Raise the reader's error, read from range ``index`` on, or from an earlier
        range holding an id that a range before it holds too."""
        repeat = seen.first_repeat()
        index = index if repeat is None else repeat
        at = starts[index]
        for _block in iter_item_blocks(path, taxonomy, first_lines=seen.before(index), resume=at):
            pass
        raise RuntimeError(f"{path}: a worker found a problem the items reader does not find")

    def check() -> None:
        if not tally.count:
            refuse(0)
        if seen.first_repeat() is not None:
            refuse(len(ranges))

    _write_parts(folder / ITEMS_FILE, parts(), check)
    return tally.staged(folder / ITEMS_FILE)


class _SeenIds:
    """The staged items' id digests and lines, 24 bytes per item, range by range."""

    def __init__(self) -> None:
        self._digests = [np.zeros((0, 2), np.uint64)]
        self._lines = [np.zeros(0, np.int64)]
        self._ends = [0]  # items before each range

    def add(self, digests: np.ndarray[Any, Any], lines: np.ndarray[Any, Any]) -> None:
        """The next range's items."""
        self._digests.append(digests)
        self._lines.append(lines)
        self._ends.append(self._ends[-1] + len(lines))

    def _joined(self) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        if len(self._digests) > 1:  # one copy at a time: joined, the parts are let go
            self._digests = [np.concatenate(self._digests)]
            self._lines = [np.concatenate(self._lines)]
        return self._digests[0], self._lines[0]

    def first_repeat(self) -> int | None:
        """The range of the first item whose id an item before it has, or ``None``."""
        digests, _ = self._joined()
        order = np.lexsort((digests[:, 1], digests[:, 0]))  # stable: repeats sort after
        high = digests[order, 0]
        pairs = np.flatnonzero(high[1:] == high[:-1])
        del high
        same = digests[order[pairs], 1] == digests[order[pairs + 1], 1]
        repeats = order[pairs[same] + 1]
        if not len(repeats):
            return None
        return int(np.searchsorted(self._ends, repeats.min(), side="right")) - 1

    def before(self, index: int) -> CompactFirstLines:
        """The first lines of the ids of the ranges before range ``index``."""
        digests, lines = self._joined()
        end = self._ends[index]
        if not end:
            return CompactFirstLines()
        return CompactFirstLines.from_digests(digests[:end], lines[:end])
