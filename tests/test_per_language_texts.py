"""Category labels and notices given per language: validated, signed, shown in the user's.

The publisher may write ``"label": {"en": "Crime", "es": "Novela negra"}``
(and the same for a notice's title and body). Every text is checked like a
plain one, the tags must be language tags, and the device shows the text in
the user's language, else English, else the first given.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from discreet import i18n
from discreet.catalog.manifest import Notice, load_notices
from discreet.catalog.reader import Catalog
from discreet.catalog.taxonomy import Taxonomy
from discreet.errors import NoticesInvalidError, TaxonomyInvalidError
from discreet.publish.publisher import PublishResult
from discreet.publish.repository import PublisherRepository
from discreet.sync.client import sync_catalog
from tests.conftest import ITEMS, TAXONOMY

CRIME = {"en": "Crime", "es": "Novela negra", "pt-BR": "Policial"}


def _taxonomy(label: Any) -> Taxonomy:
    return Taxonomy.from_json({"categories": [{"id": "crime", "label": label}]}, source="t.json")


def test_a_label_per_language_is_shown_in_the_users_language() -> None:
    crime = _taxonomy(CRIME)["crime"]
    assert crime.label == "Crime"  # the default text: English
    with i18n.use("es-MX"):
        assert crime.shown_label == "Novela negra"
    with i18n.use("en"):
        assert crime.shown_label == "Crime"
    only_spanish = _taxonomy({"es": " Novela negra "})["crime"]
    assert (only_spanish.label, only_spanish.shown_label) == ("Novela negra", "Novela negra")
    assert _taxonomy("Crime")["crime"].shown_label == "Crime"


def test_per_language_labels_survive_the_taxonomy_round_trip() -> None:
    taxonomy = _taxonomy(CRIME)
    assert taxonomy.to_json()["categories"][0]["label"] == CRIME
    assert Taxonomy.from_json(taxonomy.to_json()) == taxonomy
    assert _taxonomy("Crime").to_json()["categories"][0]["label"] == "Crime"


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ({}, "field 'label' must name at least one language"),
        ({"en": "Crime", "not a tag": "x"}, "field 'label' 'not a tag' is not a language tag"),
        ({"en": "Crime", "es": ""}, "field 'label' is missing or empty"),
        ({"en": "Crime", "es": 5}, "field 'label' is missing or empty"),
        ({"en": "Crime", "es": "Novela\x1b[2J"}, "field 'label' contains a control character"),
        ({f"x{i:02d}": "t" for i in range(17)}, "names more than 16 languages"),
    ],
)
def test_invalid_per_language_labels_are_refused(label: Any, expected: str) -> None:
    with pytest.raises(TaxonomyInvalidError) as info:
        _taxonomy(label)
    assert expected in str(info.value)
    assert str(info.value).startswith("t.json: category #1 ('crime')")


GOOD_NOTICE = {
    "id": "n1",
    "severity": "info",
    "title": {"en": "Welcome", "es": "Bienvenida"},
    "body": {"en": "Nothing leaves.", "es": "Nada sale\nde aquí."},
    "date": "2026-11-01",
}


def test_notices_may_be_given_per_language(tmp_path: Path) -> None:
    path = tmp_path / "notices.json"
    path.write_text(json.dumps([GOOD_NOTICE]), encoding="utf-8")
    (notice,) = load_notices(path)
    assert notice.title == {"en": "Welcome", "es": "Bienvenida"}
    assert Notice.from_json(notice.to_json(), "again") == notice
    assert i18n.pick(notice.body, "es") == "Nada sale\nde aquí."


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"title": {}}, "field 'title' must name at least one language"),
        ({"title": {"e s": "x"}}, "is not a language tag"),
        ({"body": {"es": ""}}, "field 'body' must be text of 1-4000 characters"),
        ({"body": {"es": "a\x9bb"}}, "field 'body' contains a control character"),
        ({"title": {"es": "x" * 201}}, "field 'title' must be text of 1-200 characters"),
        ({"id": {"es": "n1"}}, "field 'id' must be text"),
    ],
)
def test_invalid_per_language_notices_are_refused(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    path = tmp_path / "notices.json"
    path.write_text(json.dumps([{**GOOD_NOTICE, **change}]), encoding="utf-8")
    with pytest.raises(NoticesInvalidError, match=expected):
        load_notices(path)


def test_the_signed_catalog_carries_every_language(
    repo: PublisherRepository,
    publish: Callable[..., PublishResult],
    inputs: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    taxonomy = json.loads(json.dumps(TAXONOMY))
    taxonomy["categories"][0]["label"] = {"en": "Fiction", "es": "Ficción"}
    inputs[1].write_text(json.dumps(taxonomy), encoding="utf-8")
    notices = tmp_path / "notices.json"
    notices.write_text(json.dumps([GOOD_NOTICE]), encoding="utf-8")
    publish(notices_path=notices)
    home = tmp_path / "device"
    synced = sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    assert synced.notices[0].title == GOOD_NOTICE["title"]
    fiction = Catalog.open(synced.folder).taxonomy[ITEMS[0]["categories"][0]]
    with i18n.use("es"):
        assert fiction.shown_label == "Ficción"
    assert fiction.label == "Fiction"
