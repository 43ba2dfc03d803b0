"""Input that once ended in a traceback ends in one line and the right error class.

Deeply nested JSON makes the standard parser raise ``RecursionError``, which is no
``ValueError``; a list where a category id belongs made a set operation raise
``TypeError``. Both reached users as tracebacks, on the publisher's inputs and in
signed releases alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from discreet.catalog.items import read_items
from discreet.catalog.manifest import load_notices
from discreet.catalog.popularity import load_estimates
from discreet.catalog.reader import verify_catalog_folder
from discreet.catalog.taxonomy import Taxonomy, load_taxonomy
from discreet.cli import main
from discreet.errors import (
    CatalogInvalidError,
    ItemsInvalidError,
    NoticesInvalidError,
    PopularityInvalidError,
    TaxonomyInvalidError,
)
from discreet.publish.repository import PublisherRepository
from discreet.sync.client import sync_catalog
from discreet.sync.installed import InstalledCatalogs

#: Far deeper than the parser's recursion limit, far smaller than any size limit.
DEEP = "[" * 100_000 + "]" * 100_000
TAXONOMY = Taxonomy.from_json({"categories": [{"id": "x", "label": "X"}]})


def test_deep_nesting_is_too_deep_for_the_standard_parser() -> None:
    """Without this the cases below would prove nothing."""
    with pytest.raises(RecursionError):
        json.loads(DEEP)


def test_deeply_nested_publisher_inputs_are_input_errors(tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text('{"id": "a", "title": "T"}\n{"id": "b", "title": ' + DEEP + "}\n")
    with pytest.raises(ItemsInvalidError, match=r"items\.jsonl:2: invalid JSON: nested too deeply"):
        read_items(items, TAXONOMY)
    taxonomy = tmp_path / "taxonomy.json"
    taxonomy.write_text(DEEP, encoding="utf-8")
    with pytest.raises(TaxonomyInvalidError, match="nested too deeply"):
        load_taxonomy(taxonomy)
    notices = tmp_path / "notices.json"
    notices.write_text(DEEP, encoding="utf-8")
    with pytest.raises(NoticesInvalidError, match="nested too deeply"):
        load_notices(notices)
    popularity = tmp_path / "popularity.json"
    popularity.write_text(DEEP, encoding="utf-8")
    with pytest.raises(PopularityInvalidError):
        load_estimates(popularity)


def _first_item_field(folder: Path, key: str, raw_value: str) -> None:
    lines = (folder / "items.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    record[key] = None
    lines[0] = json.dumps(record).replace(f'"{key}": null', f'"{key}": {raw_value}')
    (folder / "items.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _manifest_field(folder: Path, raw_value: str) -> None:
    manifest = json.loads((folder / "manifest.json").read_bytes())
    manifest["embeddings"]["model"] = None
    text = json.dumps(manifest).replace('"model": null', f'"model": {raw_value}')
    (folder / "manifest.json").write_text(text, encoding="utf-8")


HOSTILE: dict[str, tuple[Callable[[Path], None], str]] = {
    "a category that is a list": (
        lambda f: _first_item_field(f, "categories", '[["fiction"]]'),
        "an item's categories are not a list of category ids",
    ),
    "a category that is an object": (
        lambda f: _first_item_field(f, "categories", '[{"id": "fiction"}]'),
        "an item's categories are not a list of category ids",
    ),
    "an item nested too deeply": (
        lambda f: _first_item_field(f, "text", DEEP),
        "items.jsonl is invalid (nested too deeply",
    ),
    "a manifest nested too deeply": (
        lambda f: _manifest_field(f, DEEP),
        "manifest.json unreadable (nested too deeply",
    ),
    "a taxonomy nested too deeply": (
        lambda f: (f / "taxonomy.json").write_text(DEEP, encoding="utf-8"),
        "taxonomy.json is invalid (nested too deeply",
    ),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_signed_hostile_structure_is_an_invalid_catalog(release: Path, case: str) -> None:
    tamper, message = HOSTILE[case]
    tamper(release)
    with pytest.raises(CatalogInvalidError) as caught:
        verify_catalog_folder(release)
    assert str(caught.value).startswith(message)


def test_sync_of_a_signed_nested_category_is_one_line_and_keeps_the_catalog(
    repo: PublisherRepository,
    publish: Callable[..., object],
    release: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "device"
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    before = (home / "catalog" / "current.json").read_bytes()
    _first_item_field(release, "categories", '[["fiction"]]')
    manifest = json.loads((release / "manifest.json").read_bytes())
    manifest["catalog"]["version"] = 2
    (release / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with repo.lock():
        repo.publish_targets({p.name: p for p in release.iterdir()})
    code = main(["--home", str(home), "sync", "--from", str(repo.path)])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert "an item's categories are not a list of category ids" in err
    assert (home / "catalog" / "current.json").read_bytes() == before
    assert InstalledCatalogs(home).open().version == 1
