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
from typing import Any, Protocol

from discreet.catalog import _csv, _json
from discreet.catalog.taxonomy import Taxonomy
from discreet.catalog.text import control_problem
from discreet.errors import ItemsInvalidError
from discreet.i18n import N_, _

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
        return _("is empty or starts or ends with a space")
    if len(item_id) > MAX_ID_CHARS:
        return _("is longer than {MAX_ID_CHARS} characters").format(MAX_ID_CHARS=MAX_ID_CHARS)
    problem = control_problem(item_id)
    if problem is not None:
        return problem
    if ".." in _PATH_SEPARATORS.split(item_id):
        return _("contains a '..' path segment")
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


def jsonl_line(item: Item) -> str:
    """The item's line of the catalog's ``items.jsonl`` (compact, sorted keys, no newline)."""
    return json.dumps(item.to_json(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def read_items(path: str | Path, taxonomy: Taxonomy) -> list[Item]:
    """Read and validate an items file; raise :class:`ItemsInvalidError` listing every problem.

    The format follows the suffix: ``.csv``, or ``.jsonl``/``.ndjson``.

    >>> read_items("items.csv", taxonomy)  # doctest: +SKIP
    """
    return [item for block in iter_item_blocks(path, taxonomy) for item in block]


class FirstLines(Protocol):
    """The source line of each item id seen so far (a ``dict`` will do)."""

    def get(self, item_id: str, /) -> int | None: ...

    def __setitem__(self, item_id: str, line: int, /) -> None: ...


@dataclass(frozen=True)
class ResumeAt:
    """Where a JSONL file is read from, when not from its start: a byte ``offset`` just
    after a line break, and the numbers of the line that starts there, counted as the
    items reader counts lines (``line``) and in ``\\n`` bytes (``newline_line``, which
    invalid UTF-8 is reported on)."""

    offset: int
    line: int
    newline_line: int


def is_jsonl(path: str | Path) -> bool:
    """Whether ``path`` is read as JSONL, one item per line (by its suffix)."""
    return Path(path).suffix.lower() in {".jsonl", ".ndjson"}


def iter_item_blocks(
    path: str | Path,
    taxonomy: Taxonomy,
    *,
    block_rows: int = 10_000,
    first_lines: FirstLines | None = None,
    resume: ResumeAt | None = None,
) -> Iterator[list[Item]]:
    """:func:`read_items` a block of up to ``block_rows`` items at a time, in file order.

    The file is read and decoded a chunk at a time; ``first_lines`` (default: a
    ``dict``) remembers the ids for the duplicate check. Every problem is found
    as :func:`read_items` finds it, and raised once the file is read: a caller
    that writes the blocks must write them where a failure leaves nothing behind.
    No block follows the first problem. With ``resume`` (JSONL only), the file is
    read from there on, as if every item before it had been read and had passed
    (``first_lines`` then holds their ids).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if resume is not None and not is_jsonl(path):
        raise ValueError("only a JSONL file is read from the middle")
    at = resume or ResumeAt(0, 1, 1)
    chunks = _decoded_chunks(path, at.offset, at.newline_line)
    try:
        if suffix == ".csv":
            records = _csv_records(chunks, str(path), _size(path))
        elif is_jsonl(path):
            records = _jsonl_records(chunks, str(path), at.line)
        else:
            for _chunk in chunks:  # a file that cannot be read or decoded says so first
                pass
            raise ItemsInvalidError(
                _("{path}: unknown items format; use a .csv or .jsonl file").format(path=path)
            )
        seen = first_lines if first_lines is not None else {}
        yield from _validate(records, taxonomy, str(path), block_rows, seen)
    except ItemsInvalidError:
        # As when the file was decoded whole before it was parsed: invalid UTF-8
        # anywhere is the problem reported.
        for _chunk in chunks:
            pass
        raise


#: Bytes read at a time (then cut after the chunk's last line break).
_CHUNK_BYTES = 1 << 22


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _decoded_chunks(path: Path, offset: int = 0, line: int = 1) -> Iterator[str]:
    """The file's text from byte ``offset`` (on line ``line``), whole lines at a time,
    without a leading byte order mark."""
    try:
        f = path.open("rb")
    except OSError as exc:
        raise _unreadable(path, exc) from None
    with f:
        f.seek(offset)
        rest, first = b"", offset == 0
        while True:
            try:
                data = f.read(_CHUNK_BYTES)
            except OSError as exc:
                raise _unreadable(path, exc) from None
            buffer = rest + data
            end = buffer.rfind(b"\n") + 1 if data else len(buffer)
            block, rest = buffer[:end], buffer[end:]
            if block:
                try:
                    text = block.decode("utf-8")
                except UnicodeDecodeError as exc:
                    line += block[: exc.start].count(b"\n")
                    raise ItemsInvalidError(
                        _("{path}:{line}: invalid UTF-8; save the file as UTF-8").format(
                            path=path, line=line
                        )
                    ) from None
                line += block.count(b"\n")
                if first:  # a byte order mark, as spreadsheets may write
                    text, first = text.removeprefix("\ufeff"), False
                yield text
            if not data:
                return


def _unreadable(path: Path, exc: OSError) -> ItemsInvalidError:
    return ItemsInvalidError(
        _("{path}: cannot read items ({strerror}); check the path").format(
            path=path, strerror=exc.strerror
        )
    )


_Record = tuple[int, dict[str, Any]]
_TODO = N_("nothing was published, fix the items file and build again")


def _fail(message: str) -> ItemsInvalidError:
    return ItemsInvalidError(_("{message}; {TODO}").format(message=message, TODO=_(_TODO)))


def _csv_records(chunks: Iterator[str], source: str, size: int) -> Iterator[_Record]:
    # The csv module refuses a field over its own limit (128 KiB) with a message of its
    # own, where JSONL names the field and the limit: let the validator do it for both.
    # A field is never longer than the file, so the csv limit protects nothing here.
    csv.field_size_limit(max(csv.field_size_limit(), size + 1))
    lines = (line for chunk in chunks for line in io.StringIO(chunk, newline=""))
    reader = _csv.line_reader(lines, strict=True)
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        raise _fail(
            _("{source}:1: malformed CSV header: {exc}").format(source=source, exc=exc)
        ) from None
    if not header:
        raise _fail(
            _("{source}: empty file; add a header row 'id,title,...'").format(source=source)
        )
    unknown = [f for f in header if f not in FIELDS]
    if unknown:
        raise _fail(
            _("{source}:1: unknown field {value!r}; allowed fields are {join}").format(
                source=source, value=unknown[0], join=", ".join(FIELDS)
            )
        )
    for field in ("id", "title"):
        if field not in header:
            raise _fail(
                _("{source}:1: field {field!r} is missing from the header").format(
                    source=source, field=field
                )
            )
    line = 1
    while True:
        start = line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _fail(
                _("{source}:{start}: malformed CSV: {exc}").format(
                    source=source, start=start, exc=exc
                )
            ) from None
        line = reader.line_num
        if None in row:
            raise _fail(
                _("{source}:{start}: more values than header fields").format(
                    source=source, start=start
                )
            )
        record: dict[str, Any] = {k: v for k, v in row.items() if v not in (None, "")}
        if "categories" in record:
            record["categories"] = [c.strip() for c in record["categories"].split("|")]
        yield start, record


def _jsonl_records(chunks: Iterator[str], source: str, first: int = 1) -> Iterator[_Record]:
    lines = (line for chunk in chunks for line in chunk.splitlines())
    for number, line in enumerate(lines, start=first):
        if not line.strip():
            continue
        try:
            record = _json.loads(line)
        except json.JSONDecodeError as exc:
            raise _fail(
                _("{source}:{number}: invalid JSON: {msg}").format(
                    source=source, number=number, msg=exc.msg
                )
            ) from None
        if not isinstance(record, dict):
            raise _fail(
                _("{source}:{number}: expected a JSON object per line").format(
                    source=source, number=number
                )
            )
        unknown = [f for f in record if f not in FIELDS]
        if unknown:
            raise _fail(
                _("{source}:{number}: unknown field {value!r}; allowed fields are {join}").format(
                    source=source, number=number, value=unknown[0], join=", ".join(FIELDS)
                )
            )
        yield number, record


def _validate(
    records: Iterator[_Record],
    taxonomy: Taxonomy,
    source: str,
    block_rows: int,
    first_line: FirstLines,
) -> Iterator[list[Item]]:
    block: list[Item] = []
    count = 0
    problems: list[str] = []
    for line, record in records:
        where = f"{source}:{line}"
        item, found = _validate_record(record, taxonomy, where)
        first = None if item is None else first_line.get(item.id)
        if item is not None and first is not None:
            found.append(
                _("{where}: field 'id': duplicate id {id!r} (first on line {value})").format(
                    where=where, id=item.id, value=first
                )
            )
            item = None
        if item is not None:
            first_line[item.id] = line
            count += 1
            if not problems:
                block.append(item)
        problems.extend(found)
        if problems:
            block = []  # never written: the file is refused
        elif len(block) >= block_rows:
            yield block
            block = []
        if len(problems) >= _MAX_PROBLEMS:
            break
    if not count and not problems:
        problems.append(
            _("{source}: no items; a catalog needs at least one item").format(source=source)
        )
    if problems:
        more = (
            _(" (+{value} more problems)").format(value=len(problems) - 1)
            if len(problems) > 1
            else ""
        )
        raise ItemsInvalidError(
            _("{value}{more}; {TODO}").format(value=problems[0], more=more, TODO=_(_TODO)),
            tuple(problems),
        )
    if block:
        yield block


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
        problems.append(_("{where}: field {name!r} must be text").format(where=where, name=name))
        return None
    value = value.strip()
    if multiline:  # a quoted CSV field keeps the file's CRLF line ends
        value = value.replace("\r\n", "\n")
    if len(value) > limit:
        problems.append(
            _("{where}: field {name!r} is longer than {limit} characters").format(
                where=where, name=name, limit=limit
            )
        )
        return None
    problem = control_problem(value, multiline=multiline)
    if problem is not None:
        problems.append(
            _("{where}: field {name!r} {problem}").format(where=where, name=name, problem=problem)
        )
        return None
    return value


def _validate_record(
    record: Mapping[str, Any], taxonomy: Taxonomy, where: str
) -> tuple[Item | None, list[str]]:
    problems: list[str] = []
    item_id = _required_text(record, "id", MAX_ID_CHARS, where, problems)
    id_problem = item_id_problem(item_id) if item_id else None
    if id_problem is not None:
        problems.append(
            _("{where}: field 'id' {id_problem}").format(where=where, id_problem=id_problem)
        )
    title = _required_text(record, "title", MAX_TITLE_CHARS, where, problems)
    text = _text_field(record, "text", MAX_TEXT_CHARS, where, problems, multiline=True) or ""
    categories = _categories(record.get("categories"), taxonomy, where, problems)
    created = _created(record.get("created"), where, problems)
    language = _text_field(record, "language", 35, where, problems)
    if language is not None and not _LANGUAGE.fullmatch(language):
        problems.append(
            _("{where}: field 'language': {language!r} is not a language tag like 'es'").format(
                where=where, language=language
            )
        )
    if problems or item_id is None or title is None:
        return None, problems
    return Item(item_id, title, text, categories, created, language), problems


def _required_text(
    record: Mapping[str, Any], name: str, limit: int, where: str, problems: list[str]
) -> str | None:
    before = len(problems)
    value = _text_field(record, name, limit, where, problems)
    if not value and len(problems) == before:
        problems.append(
            _("{where}: field {name!r} is missing or empty").format(where=where, name=name)
        )
    return value or None


def _categories(value: Any, taxonomy: Taxonomy, where: str, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        problems.append(
            _("{where}: field 'categories' must be a list of category ids").format(where=where)
        )
        return ()
    if len(value) > MAX_CATEGORIES:
        problems.append(
            _("{where}: field 'categories' has more than {MAX_CATEGORIES} entries").format(
                where=where, MAX_CATEGORIES=MAX_CATEGORIES
            )
        )
        return ()
    out: list[str] = []
    for category in value:
        if category not in taxonomy:
            problems.append(
                _("{where}: field 'categories': unknown category {category!r}").format(
                    where=where, category=category
                )
            )
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
    problems.append(
        _("{where}: field 'created': {value!r} is not an ISO date like 2024-05-31").format(
            where=where, value=value
        )
    )
    return None
