"""One streaming pass over a release's ``items.jsonl``: check every item, derive what the
device keeps beside the release, and never hold every item in memory.

The file is read in blocks of whole lines. Each block is parsed, checked
(:func:`check_items`), and reduced to what outlives it: the 64-bit hash of
each id (which also makes the look-up index), where each line starts, and
the per-item feature arrays. Ids are unique when their hashes are, and
equal hashes are settled by comparing the ids themselves, so a collision can
never pass for a duplicate, nor a duplicate for a collision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from discreet.catalog import _json
from discreet.catalog.features import CatalogFeatures, FeaturesBuilder
from discreet.catalog.index import id_hashes
from discreet.catalog.items import item_id_problem
from discreet.catalog.text import control_problem
from discreet.errors import CatalogInvalidError
from discreet.i18n import _

#: Lines are read about this many bytes at a time.
BLOCK_BYTES = 4 << 20
_ITEM_FIELDS = frozenset(("id", "title", "text", "categories", "created", "language"))


def parse_jsonl(data: bytes) -> list[Any]:
    """Parse JSON lines, exactly one value per line, without a ``json.loads`` per line.

    Raises ``ValueError`` (or ``UnicodeDecodeError``) on a malformed line, a
    blank line, a line that holds more or less than one value, or nesting too
    deep to parse.
    """
    text = data.decode("utf-8")
    records: list[Any] = []
    index, end = 0, len(text)
    while index < end:
        record, stop = _json.raw_decode(text, index)
        if stop < end and text[stop] != "\n":
            raise ValueError(f"line {len(records) + 1} does not hold exactly one JSON value")
        records.append(record)
        index = stop + 1
    return records


def _blocks(path: Path, size: int) -> Iterator[tuple[int, bytes]]:
    """``(offset, bytes)`` of consecutive runs of whole lines of ``path``."""
    with path.open("rb") as f:
        offset, rest = 0, b""
        while chunk := f.read(size):
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            if cut:  # otherwise one line is longer than a block: read on
                yield offset, data[:cut]
                offset, data = offset + cut, data[cut:]
            rest = data
        if rest:
            yield offset, rest


@dataclass(frozen=True)
class ItemsScan:
    """What one pass over ``items.jsonl`` found."""

    count: int
    hashes: np.ndarray[Any, np.dtype[np.uint64]]  # of each id, in row order
    offsets: np.ndarray[Any, np.dtype[np.int64]]  # where each line starts, and the end
    features: CatalogFeatures


def scan_items(
    path: Path, category_ids: Sequence[str], expected: int, block: int = BLOCK_BYTES
) -> ItemsScan:
    """Check every item of ``path`` and derive its index and features, a block at a time.

    Raises :class:`CatalogInvalidError` for a malformed or invalid item, a
    count other than ``expected`` or a duplicate id.
    """
    categories = frozenset(category_ids)
    features = FeaturesBuilder(category_ids)
    hashes: list[np.ndarray[Any, np.dtype[np.uint64]]] = []
    starts: list[np.ndarray[Any, np.dtype[np.int64]]] = []
    count = 0
    try:
        for offset, data in _blocks(path, block):
            records = parse_jsonl(data)
            newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
            ends = np.append(newlines + 1, len(data)) if data[-1:] != b"\n" else newlines + 1
            if len(ends) != len(records):  # a value spread over several lines
                raise ValueError("a line does not hold exactly one JSON value")
            count += len(records)
            if count > expected:
                break
            check_items(records, categories)
            hashes.append(id_hashes([r["id"] for r in records]))
            starts.append(offset + np.concatenate(([0], ends[:-1])).astype(np.int64))
            features.add(records)
    except (OSError, ValueError) as exc:
        raise CatalogInvalidError(_("items.jsonl is invalid ({exc})").format(exc=exc)) from None
    if count != expected:
        more = "more than " if count > expected else ""
        raise CatalogInvalidError(
            _("items.jsonl has {more}{count} items, the manifest {expected}").format(
                more=more, count=count, expected=expected
            )
        )
    all_hashes = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
    size = path.stat().st_size
    offsets = np.append(np.concatenate(starts) if starts else np.zeros(0, np.int64), size)
    _check_unique(path, all_hashes, offsets)
    return ItemsScan(count, all_hashes, offsets.astype(np.int64), features.finish())


def _check_unique(
    path: Path, hashes: np.ndarray[Any, np.dtype[np.uint64]], offsets: np.ndarray[Any, Any]
) -> None:
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    equal = np.flatnonzero(ordered[1:] == ordered[:-1])
    if not len(equal):
        return
    with path.open("rb") as f:
        for run in np.split(equal, np.flatnonzero(np.diff(equal) > 1) + 1):
            ids = set()
            rows = order[np.append(run, run[-1] + 1)]
            for row in rows:
                f.seek(int(offsets[row]))
                ids.add(_json.loads(f.read(int(offsets[row + 1] - offsets[row])))["id"])
            if len(ids) < len(rows):
                raise CatalogInvalidError(_("items.jsonl has duplicate ids"))


def check_items(records: list[Any], categories: frozenset[str]) -> None:
    """Check each record the publisher's way again: a signed release may still be hostile."""
    for record in records:
        if not isinstance(record, dict) or not record.keys() <= _ITEM_FIELDS:
            raise CatalogInvalidError(_("items.jsonl holds a record that is not an item"))
        item_id, title = record.get("id"), record.get("title")
        if not isinstance(item_id, str) or not isinstance(title, str):
            raise CatalogInvalidError(_("an item has a missing or non-text id or title"))
        problem = item_id_problem(item_id)
        if problem is not None:
            raise CatalogInvalidError(_("an item id {problem}").format(problem=problem))
        if not title.strip():
            raise CatalogInvalidError(_("an item has an empty title"))
        tags = record.get("categories", [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise CatalogInvalidError(_("an item's categories are not a list of category ids"))
        if not categories.issuperset(tags):
            raise CatalogInvalidError(_("an item names a category missing from taxonomy.json"))
        created = record.get("created")
        if created is not None and not (isinstance(created, str) and _is_date(created)):
            raise CatalogInvalidError(_("an item has an invalid 'created' date"))
        for key in ("text", "language"):
            if not isinstance(record.get(key, ""), str):
                raise CatalogInvalidError(_("an item has a non-text {key!r}").format(key=key))
        for key, multiline in (("title", False), ("text", True), ("language", False)):
            problem = control_problem(record.get(key, ""), multiline=multiline)
            if problem is not None:
                raise CatalogInvalidError(
                    _("an item's {key} {problem}").format(key=key, problem=problem)
                )


def _is_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True
