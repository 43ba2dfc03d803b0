"""Item files: every validation branch names the file, the line and the field."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from discreet.catalog.items import Item, read_items
from discreet.catalog.taxonomy import Taxonomy
from discreet.errors import ItemsInvalidError
from tests.conftest import TAXONOMY

TAX = Taxonomy.from_json(TAXONOMY)
HEADER = "id,title,text,categories,created,language\n"


def _csv(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "items.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


def _problem(path: Path) -> str:
    with pytest.raises(ItemsInvalidError) as info:
        read_items(path, TAX)
    return str(info.value)


def test_csv_items_parse_all_fields(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        'a,"Title, with comma","Line one\nline two",fiction|travel,2024-02-29,es-MX\nb,Plain,,,,\n',
    )
    first, second = read_items(path, TAX)
    assert first == Item(
        "a",
        "Title, with comma",
        "Line one\nline two",
        ("fiction", "travel"),
        dt.date(2024, 2, 29),
        "es-MX",
    )
    assert second == Item("b", "Plain")


def test_jsonl_items_parse_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    record = {
        "id": "x",
        "title": "Sopa",
        "categories": ["cooking"],
        "created": "2020-01-01T10:00:00Z",
    }
    path.write_text(json.dumps(record) + "\n\n", encoding="utf-8")
    (item,) = read_items(path, TAX)
    assert item.created == dt.date(2020, 1, 1)
    assert Item.from_json(item.to_json()) == item


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("a,One,,,,\na,Two,,,,\n", "items.csv:3: field 'id': duplicate id 'a' (first on line 2)"),
        ("a,,,,,\n", "items.csv:2: field 'title' is missing or empty"),
        (",Title,,,,\n", "items.csv:2: field 'id' is missing or empty"),
        ("a,T,,poetry,,\n", "items.csv:2: field 'categories': unknown category 'poetry'"),
        ("a,T,,,2024-13-01,\n", "items.csv:2: field 'created': '2024-13-01' is not an ISO date"),
        ("a,T,,,yesterday,\n", "items.csv:2: field 'created': 'yesterday' is not an ISO date"),
        ("a,T,,,,english language\n", "items.csv:2: field 'language'"),
        ("a,T,,,,,extra\n", "items.csv:2: more values than header fields"),
        ('a,"T,,,,\n', "items.csv:2: malformed CSV"),
        ('ok,Fine,,,,\nb,T,"multi\nline",,,\nc,T,,,bad,\n', "items.csv:5: field 'created'"),
    ],
)
def test_invalid_csv_records_name_file_line_and_field(
    tmp_path: Path, body: str, expected: str
) -> None:
    message = _problem(_csv(tmp_path, body))
    assert expected in message
    assert message.endswith("nothing was published, fix the items file and build again")


def test_all_problems_are_collected(tmp_path: Path) -> None:
    path = _csv(tmp_path, "a,,,,,\nb,T,,nope,,\nc,T,,,bad,\n")
    with pytest.raises(ItemsInvalidError) as info:
        read_items(path, TAX)
    assert len(info.value.problems) == 3
    assert "(+2 more problems)" in str(info.value)


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(HEADER.encode() + b"a,Fine,,,,\nb,Caf\xe9,,,,\n")
    assert _problem(path).startswith(f"{path}:3: invalid UTF-8")


def test_unknown_header_field_is_rejected(tmp_path: Path) -> None:
    message = _problem(_csv(tmp_path, "a,T,x\n", header="id,title,author_email\n"))
    assert "items.csv:1: unknown field 'author_email'" in message


def test_missing_required_header_field(tmp_path: Path) -> None:
    assert "field 'title' is missing from the header" in _problem(_csv(tmp_path, "a\n", "id\n"))


def test_jsonl_errors(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text('{"id": "a", "title": "T"}\n{"id": "b", "title": 5}\n', encoding="utf-8")
    assert f"{path}:2: field 'title' must be text" in _problem(path)
    path.write_text('{"id": "a", "title": "T"}\n{broken\n', encoding="utf-8")
    assert f"{path}:2: invalid JSON" in _problem(path)
    path.write_text('["a"]\n', encoding="utf-8")
    assert "expected a JSON object" in _problem(path)
    path.write_text('{"id": "a", "title": "T", "categories": "fiction"}\n', encoding="utf-8")
    assert "field 'categories' must be a list" in _problem(path)
    path.write_text('{"id": "a", "title": "T", "price": 3}\n', encoding="utf-8")
    assert "unknown field 'price'" in _problem(path)


def test_empty_and_unknown_formats(tmp_path: Path) -> None:
    assert "no items" in _problem(_csv(tmp_path, ""))
    other = tmp_path / "items.xml"
    other.write_text("<items/>", encoding="utf-8")
    assert "use a .csv or .jsonl file" in _problem(other)
    assert "cannot read items" in _problem(tmp_path / "absent.csv")


def test_overlong_and_control_fields(tmp_path: Path) -> None:
    assert "longer than 500" in _problem(_csv(tmp_path, f"a,{'x' * 501},,,,\n"))
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"id": "a\tb", "title": "T"}) + "\n", encoding="utf-8")
    assert "control character" in _problem(path)
