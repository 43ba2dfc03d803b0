"""Taxonomy files: JSON and TOML, with every validation branch tested."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from discreet.catalog.taxonomy import Taxonomy, load_taxonomy
from discreet.errors import TaxonomyInvalidError, UnsupportedFormatError
from tests.conftest import TAXONOMY


def test_sensitivity_is_inherited_from_ancestors() -> None:
    taxonomy = Taxonomy.from_json(TAXONOMY)
    assert taxonomy.ancestors("sleep") == ("health",)
    assert taxonomy.is_sensitive("sleep")
    assert taxonomy.is_sensitive("health")
    assert not taxonomy.is_sensitive("fiction")
    assert taxonomy.sensitive_ids == {"health", "sleep"}
    assert Taxonomy.from_json(taxonomy.to_json()) == taxonomy


def test_toml_taxonomy(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.toml"
    path.write_text(
        '[[categories]]\nid = "salud"\nlabel = "Salud"\nsensitive = true\n\n'
        '[[categories]]\nid = "novela"\nlabel = "Novela"\n',
        encoding="utf-8",
    )
    taxonomy = load_taxonomy(path)
    assert taxonomy.ids == ("salud", "novela")
    assert taxonomy.sensitive_ids == {"salud"}


def _entry(**fields: Any) -> dict[str, Any]:
    return {"categories": [{"id": "a", "label": "A"}, {"id": "b", "label": "B", **fields}]}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"categories": []}, "'categories' must be a non-empty list"),
        (
            {"categories": [{"id": "a", "label": "A"}, {"id": "a", "label": "A2"}]},
            "duplicate id 'a'",
        ),
        (_entry(label=""), "category #2 ('b'): field 'label' is missing or empty"),
        (_entry(parent="zzz"), "category 'b': field 'parent': unknown 'zzz'"),
        (_entry(sensitive="yes"), "field 'sensitive' must be true or false"),
        (_entry(colour="red"), "unknown field 'colour'"),
        ({"categories": [{"id": "Bad Id", "label": "x"}]}, "field 'id' must be 1-64 lowercase"),
        ({"categories": ["a"]}, "category #1: expected an object"),
        (
            {
                "categories": [
                    {"id": "a", "label": "A", "parent": "b"},
                    {"id": "b", "label": "B", "parent": "a"},
                ]
            },
            "forms a cycle",
        ),
        ({"categories": [{"id": "a", "label": "A"}], "extra": 1}, "unknown field 'extra'"),
        ([1, 2], "expected an object"),
    ],
)
def test_invalid_taxonomies(data: Any, expected: str) -> None:
    with pytest.raises(TaxonomyInvalidError) as info:
        Taxonomy.from_json(data, source="t.json")
    assert expected in str(info.value)


def test_newer_format_is_refused() -> None:
    with pytest.raises(UnsupportedFormatError, match="upgrade discreet"):
        Taxonomy.from_json({"format_version": 99, "categories": [{"id": "a", "label": "A"}]})


def test_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"categories": [\n  {"id": "a",}\n]}', encoding="utf-8")
    with pytest.raises(TaxonomyInvalidError, match=r"t\.json:2: invalid JSON"):
        load_taxonomy(path)
    path.write_bytes(b'{"categories": [{"id": "a", "label": "\xff"}]}')
    with pytest.raises(TaxonomyInvalidError, match="invalid UTF-8"):
        load_taxonomy(path)
    bad_toml = tmp_path / "t.toml"
    bad_toml.write_text("[[categories]\n", encoding="utf-8")
    with pytest.raises(TaxonomyInvalidError, match="invalid TOML"):
        load_taxonomy(bad_toml)
    with pytest.raises(TaxonomyInvalidError, match="cannot read"):
        load_taxonomy(tmp_path / "missing.json")
    path.write_text(json.dumps({"categories": [{"id": "a", "label": "A"}]}), encoding="utf-8")
    assert load_taxonomy(path).ids == ("a",)
