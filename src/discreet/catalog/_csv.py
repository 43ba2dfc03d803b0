"""CSV as spreadsheets save it: comma, semicolon or tab separated, with or without a BOM.

A spreadsheet set to Spanish (or French, German, ...) saves "CSV" with ``;``
between fields, because ``,`` is its decimal mark, and often starts the file
with a UTF-8 byte order mark. Every CSV input of the publisher is read here, so
that all of them accept the same forms. The separator is the one the header row
uses: field names never contain any of them.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator

#: The separators a CSV file may use, the first one winning a tie.
DELIMITERS = (",", ";", "\t")


def delimiter(text: str) -> str:
    """The separator of ``text``'s header row.

    >>> delimiter("id;title;categories\\n"), delimiter("id,title"), delimiter("id")
    (';', ',', ',')
    """
    header = text.removeprefix("\ufeff").partition("\n")[0]
    return max(DELIMITERS, key=header.count)


def reader(text: str, *, strict: bool = False) -> csv.DictReader[str]:
    """A ``csv.DictReader`` over ``text`` (without its BOM, if any), with its separator."""
    body = text.removeprefix("\ufeff")
    return csv.DictReader(io.StringIO(body, newline=""), delimiter=delimiter(body), strict=strict)


def line_reader(lines: Iterator[str], *, strict: bool = False) -> csv.DictReader[str]:
    """A ``csv.DictReader`` over ``lines`` (the first one without its BOM), with its separator."""
    first = next(lines, "").removeprefix("\ufeff")
    body = itertools.chain([first] if first else [], lines)
    return csv.DictReader(body, delimiter=delimiter(first), strict=strict)


def decimal(value: str, separator: str) -> str:
    """``value`` with a decimal comma read as a point, in a ``;``-separated file.

    >>> decimal("12,5", ";"), decimal("12,5", ","), decimal("1.5", ";")
    ('12.5', '12,5', '1.5')
    """
    if separator == ";" and value.count(",") == 1 and "." not in value:
        return value.replace(",", ".")
    return value
