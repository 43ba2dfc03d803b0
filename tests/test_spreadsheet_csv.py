"""Every publisher input as a Spanish spreadsheet saves it: ``;`` between fields, a BOM.

Each input file accepts the same forms: comma, semicolon or tab separated CSV,
with or without a UTF-8 byte order mark (JSON and TOML inputs take the mark too).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from discreet.catalog._csv import decimal, delimiter
from discreet.catalog.items import Item, read_items
from discreet.catalog.manifest import load_notices
from discreet.catalog.popularity import load_estimates
from discreet.catalog.taxonomy import Taxonomy, load_taxonomy
from discreet.errors import ItemsInvalidError, PopularityInvalidError
from discreet.evaluation.data import load_dataset
from tests.conftest import TAXONOMY

TAX = Taxonomy.from_json(TAXONOMY)
BOM = "\ufeff"
FORMS = [
    pytest.param(",", "", id="comma"),
    pytest.param(";", "", id="semicolon"),
    pytest.param("\t", "", id="tab"),
    pytest.param(",", BOM, id="comma-bom"),
    pytest.param(";", BOM, id="semicolon-bom"),
]


def _write(path: Path, rows: list[list[str]], sep: str, bom: str) -> Path:
    path.write_text(bom + "\n".join(sep.join(row) for row in rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("sep", "bom"), FORMS)
def test_items_csv_in_every_form(tmp_path: Path, sep: str, bom: str) -> None:
    rows = [
        ["id", "title", "text", "categories", "created", "language"],
        ["a", '"Niñas, de Oaxaca"', "Una novela", "fiction|travel", "2024-02-29", "es-MX"],
        ["b", "Plain", "", "", "", ""],
    ]
    first, second = read_items(_write(tmp_path / "items.csv", rows, sep, bom), TAX)
    assert first == Item(
        "a", "Niñas, de Oaxaca", "Una novela", ("fiction", "travel"), dt.date(2024, 2, 29), "es-MX"
    )
    assert second == Item("b", "Plain")


def test_items_csv_errors_name_the_line_whatever_the_separator(tmp_path: Path) -> None:
    rows = [["id", "title", "categories"], ["a", "Uno", "fiction"], ["b", "Dos", "nope"]]
    path = _write(tmp_path / "items.csv", rows, ";", BOM)
    with pytest.raises(ItemsInvalidError, match=r"items\.csv:3: field 'categories'"):
        read_items(path, TAX)


@pytest.mark.parametrize(("sep", "bom"), FORMS)
def test_popularity_csv_in_every_form(tmp_path: Path, sep: str, bom: str) -> None:
    rows = [["id", "estimate"], ["a", "1.5"], ["b", "2"]]
    assert load_estimates(_write(tmp_path / "pop.csv", rows, sep, bom)) == {"a": 1.5, "b": 2.0}


def test_popularity_csv_takes_a_decimal_comma_when_separated_by_semicolons(
    tmp_path: Path,
) -> None:
    rows = [["id", "estimate"], ["a", "12,5"], ["b", "3"]]
    path = _write(tmp_path / "pop.csv", rows, ";", BOM)
    assert load_estimates(path) == {"a": 12.5, "b": 3.0}
    rows = [["id", "estimate"], ["a", "1,2,5"]]
    with pytest.raises(PopularityInvalidError, match=r"pop\.csv:2: field 'estimate'"):
        load_estimates(_write(tmp_path / "pop.csv", rows, ";", ""))


def test_popularity_csv_header_is_checked_in_every_form(tmp_path: Path) -> None:
    path = _write(tmp_path / "pop.csv", [["id", "count"], ["a", "1"]], ";", BOM)
    with pytest.raises(PopularityInvalidError, match="must have 'id' and 'estimate'"):
        load_estimates(path)


def test_json_and_toml_inputs_take_a_bom(tmp_path: Path) -> None:
    pop = tmp_path / "pop.json"
    pop.write_text(BOM + json.dumps({"estimates": {"a": 2}}), encoding="utf-8")
    assert load_estimates(pop) == {"a": 2.0}
    taxonomy = tmp_path / "taxonomy.json"
    taxonomy.write_text(BOM + json.dumps(TAXONOMY), encoding="utf-8")
    assert load_taxonomy(taxonomy).ids == TAX.ids
    toml = tmp_path / "taxonomy.toml"
    toml.write_text(BOM + '[[categories]]\nid = "a"\nlabel = "Á"\n', encoding="utf-8")
    assert load_taxonomy(toml)["a"].label == "Á"
    notices = tmp_path / "notices.json"
    notice = {"id": "n1", "title": "Hola", "body": "Año nuevo", "date": "2026-01-01"}
    notices.write_text(BOM + json.dumps([notice]), encoding="utf-8")
    assert load_notices(notices)[0].body == "Año nuevo"


@pytest.mark.parametrize(("sep", "bom"), FORMS)
def test_evaluation_interactions_in_every_form(tmp_path: Path, sep: str, bom: str) -> None:
    rows = [["id", "title", "categories"], ["a", "Uno", "x"], ["b", "Dos", "y"]]
    items = _write(tmp_path / "items.csv", rows, sep, bom)
    interactions = _write(
        tmp_path / "interactions.csv",
        [["user_id", "item_id", "timestamp"], ["u1", "a", "100"], ["u1", "b", "200"]],
        sep,
        bom,
    )
    dataset = load_dataset(items, interactions)
    assert dataset.n_items == 2
    assert dataset.user_ids == ["u1"]


def test_the_separator_is_the_headers() -> None:
    assert delimiter(BOM + "id;title\n1,5;x") == ";"
    assert delimiter("id\ttitle\tx;y\n") == "\t"
    assert delimiter("") == ","
    assert decimal("1,5", "\t") == "1,5"
