"""Catalog items and the publisher's item files (CSV or JSONL).

Fields: ``id`` (unique string) and ``title`` are required; ``text``,
``categories`` (``|``-separated in CSV, a list in JSONL), ``created``
(ISO date) and ``language`` (a BCP 47 tag such as ``es`` or ``pt-BR``) are
optional. Any other field is an error: everything in the items file is
published to every device, so nothing unexpected may slip through. Nor may
a character that steers a terminal (:mod:`discreet.catalog.text`): ids, titles
and languages are one line; a text may hold line breaks and tabs.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from discreet.catalog import _json
from discreet.catalog.taxonomy import Taxonomy
from discreet.catalog.text import control_problem
from discreet.errors import ItemsInvalidError

FIELDS = ("id", "title", "text", "categories", "created", "language")
MAX_ID_CHARS = 200
MAX_TITLE_CHARS = 500
MAX_TEXT_CHARS = 20_000
MAX_CATEGORIES = 32
_MAX_PROBLEMS = 100
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ][0-9:.+\-Z]*)?$")
_PATH_SEPARATORS = re.compile(r"[/\\]")


def item_id_problem(item_id: str) -> str | None:
    """What makes ``item_id`` one no catalog may hold, or ``None``.

    The publisher's rule, which every device applies again when it verifies a
    release: not empty nor padded with spaces, at most :data:`MAX_ID_CHARS`
    characters, one line with no control character, and no ``..`` path segment.

    >>> item_id_problem("lb-0042")
    >>> item_id_problem("../lb-0042")
    "contains a '..' path segment"
    """
    if not item_id.strip() or item_id != item_id.strip():
        return "is empty or starts or ends with a space"
    if len(item_id) > MAX_ID_CHARS:
        return f"is longer than {MAX_ID_CHARS} characters"
    problem = control_problem(item_id)
    if problem is not None:
        return problem
    if ".." in _PATH_SEPARATORS.split(item_id):
        return "contains a '..' path segment"
    return None


@dataclass(frozen=True)
class Item:
    """One catalog item, as published to every device."""

    id: str
    title: str
    text: str = ""
    categories: tuple[str, ...] = ()
    created: dt.date | None = None
    language: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The item as a JSON object (the catalog's ``items.jsonl`` line)."""
        out: dict[str, Any] = {"id": self.id, "title": self.title}
        if self.text:
            out["text"] = self.text
        if self.categories:
            out["categories"] = list(self.categories)
        if self.created is not None:
            out["created"] = self.created.isoformat()
        if self.language is not None:
            out["language"] = self.language
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Item:
        """Rebuild an item from its catalog JSON form (already validated at publish time)."""
        created = data.get("created")
        return cls(
            id=data["id"],
            title=data["title"],
            text=data.get("text", ""),
            categories=tuple(data.get("categories", ())),
            created=dt.date.fromisoformat(created) if created else None,
            language=data.get("language"),
        )


def read_items(path: str | Path, taxonomy: Taxonomy) -> list[Item]:
    """Read and validate an items file; raise :class:`ItemsInvalidError` listing every problem.

    The format follows the suffix: ``.csv``, or ``.jsonl``/``.ndjson``.

    >>> read_items("items.csv", taxonomy)  # doctest: +SKIP
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ItemsInvalidError(
            f"{path}: cannot read items ({exc.strerror}); check the path"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ItemsInvalidError(f"{path}:{line}: invalid UTF-8; save the file as UTF-8") from None
    text = text.removeprefix("\ufeff")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        records = _csv_records(text, str(path))
    elif suffix in {".jsonl", ".ndjson"}:
        records = _jsonl_records(text, str(path))
    else:
        raise ItemsInvalidError(f"{path}: unknown items format; use a .csv or .jsonl file")
    return _validate(records, taxonomy, str(path))


_Record = tuple[int, dict[str, Any]]
_TODO = "nothing was published, fix the items file and build again"


def _fail(message: str) -> ItemsInvalidError:
    return ItemsInvalidError(f"{message}; {_TODO}")


def _csv_records(text: str, source: str) -> Iterator[_Record]:
    # The csv module refuses a field over its own limit (128 KiB) with a message of its
    # own, where JSONL names the field and the limit: let the validator do it for both.
    # The whole file is in memory already, so the csv limit protects nothing here.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        raise _fail(f"{source}:1: malformed CSV header: {exc}") from None
    if not header:
        raise _fail(f"{source}: empty file; add a header row 'id,title,...'")
    unknown = [f for f in header if f not in FIELDS]
    if unknown:
        raise _fail(
            f"{source}:1: unknown field {unknown[0]!r}; allowed fields are {', '.join(FIELDS)}"
        )
    for field in ("id", "title"):
        if field not in header:
            raise _fail(f"{source}:1: field {field!r} is missing from the header")
    line = 1
    while True:
        start = line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _fail(f"{source}:{start}: malformed CSV: {exc}") from None
        line = reader.line_num
        if None in row:
            raise _fail(f"{source}:{start}: more values than header fields")
        record: dict[str, Any] = {k: v for k, v in row.items() if v not in (None, "")}
        if "categories" in record:
            record["categories"] = [c.strip() for c in record["categories"].split("|")]
        yield start, record


def _jsonl_records(text: str, source: str) -> Iterator[_Record]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = _json.loads(line)
        except json.JSONDecodeError as exc:
            raise _fail(f"{source}:{number}: invalid JSON: {exc.msg}") from None
        if not isinstance(record, dict):
            raise _fail(f"{source}:{number}: expected a JSON object per line")
        unknown = [f for f in record if f not in FIELDS]
        if unknown:
            raise _fail(
                f"{source}:{number}: unknown field {unknown[0]!r}; "
                f"allowed fields are {', '.join(FIELDS)}"
            )
        yield number, record


def _validate(records: Iterator[_Record], taxonomy: Taxonomy, source: str) -> list[Item]:
    items: list[Item] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for line, record in records:
        where = f"{source}:{line}"
        item, found = _validate_record(record, taxonomy, where)
        if item is not None and item.id in first_line:
            found.append(
                f"{where}: field 'id': duplicate id {item.id!r} "
                f"(first on line {first_line[item.id]})"
            )
            item = None
        if item is not None:
            first_line[item.id] = line
            items.append(item)
        problems.extend(found)
        if len(problems) >= _MAX_PROBLEMS:
            break
    if not items and not problems:
        problems.append(f"{source}: no items; a catalog needs at least one item")
    if problems:
        more = f" (+{len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise ItemsInvalidError(
            f"{problems[0]}{more}; {_TODO}",
            tuple(problems),
        )
    return items


def _text_field(
    record: Mapping[str, Any],
    name: str,
    limit: int,
    where: str,
    problems: list[str],
    *,
    multiline: bool = False,
) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(f"{where}: field {name!r} must be text")
        return None
    value = value.strip()
    if multiline:  # a quoted CSV field keeps the file's CRLF line ends
        value = value.replace("\r\n", "\n")
    if len(value) > limit:
        problems.append(f"{where}: field {name!r} is longer than {limit} characters")
        return None
    problem = control_problem(value, multiline=multiline)
    if problem is not None:
        problems.append(f"{where}: field {name!r} {problem}")
        return None
    return value


def _validate_record(
    record: Mapping[str, Any], taxonomy: Taxonomy, where: str
) -> tuple[Item | None, list[str]]:
    problems: list[str] = []
    item_id = _required_text(record, "id", MAX_ID_CHARS, where, problems)
    id_problem = item_id_problem(item_id) if item_id else None
    if id_problem is not None:
        problems.append(f"{where}: field 'id' {id_problem}")
    title = _required_text(record, "title", MAX_TITLE_CHARS, where, problems)
    text = _text_field(record, "text", MAX_TEXT_CHARS, where, problems, multiline=True) or ""
    categories = _categories(record.get("categories"), taxonomy, where, problems)
    created = _created(record.get("created"), where, problems)
    language = _text_field(record, "language", 35, where, problems)
    if language is not None and not _LANGUAGE.fullmatch(language):
        problems.append(f"{where}: field 'language': {language!r} is not a language tag like 'es'")
    if problems or item_id is None or title is None:
        return None, problems
    return Item(item_id, title, text, categories, created, language), problems


def _required_text(
    record: Mapping[str, Any], name: str, limit: int, where: str, problems: list[str]
) -> str | None:
    before = len(problems)
    value = _text_field(record, name, limit, where, problems)
    if not value and len(problems) == before:
        problems.append(f"{where}: field {name!r} is missing or empty")
    return value or None


def _categories(value: Any, taxonomy: Taxonomy, where: str, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        problems.append(f"{where}: field 'categories' must be a list of category ids")
        return ()
    if len(value) > MAX_CATEGORIES:
        problems.append(f"{where}: field 'categories' has more than {MAX_CATEGORIES} entries")
        return ()
    out: list[str] = []
    for category in value:
        if category not in taxonomy:
            problems.append(f"{where}: field 'categories': unknown category {category!r}")
        elif category not in out:
            out.append(category)
    return tuple(out)


def _created(value: Any, where: str, problems: list[str]) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    problems.append(f"{where}: field 'created': {value!r} is not an ISO date like 2024-05-31")
    return None
