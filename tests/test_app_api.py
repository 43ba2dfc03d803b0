"""Issue 17 section 3: the app API an app developer meets first.

``Engine.create``, typed results, every mistake a :class:`DiscreetError` of
its own, a second open in the same process said as such, pause and resume in
the CLI.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from discreet.cli import main
from discreet.engine import Engine
from discreet.errors import (
    DiscreetError,
    FilterInvalidError,
    KeyRequiredError,
    StoreExistsError,
    StoreLockedError,
    UnknownCategoryError,
    UnknownEventKindError,
    UnknownItemError,
)
from discreet.profile.export import ProfileExport
from discreet.profile.model import EventKind
from discreet.profile.session import ProfileConfig, ProfileHome
from discreet.publish.repository import PublisherRepository
from discreet.rank.explanation import Explanation
from discreet.store.keys import KeyFileKey, PassphraseKey
from discreet.sync.client import sync_catalog


@pytest.fixture
def synced(repo: PublisherRepository, publish: Callable[..., object], tmp_path: Path) -> Path:
    """A home with the small catalog installed and no profile yet."""
    publish()
    home = tmp_path / "app"
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    return home


@pytest.fixture
def engine(synced: Path, tmp_path: Path) -> Engine:
    """An engine on a new profile, made the long way (so that each test here checks one
    thing, not Engine.create too)."""
    key = KeyFileKey.create(tmp_path / "app.key")
    config = ProfileConfig("standard", "keyfile", str(key.path))
    session = ProfileHome(synced).create(key, config, dt.date.today())
    assert session is not None
    session.close()
    return Engine.open(synced, key=key)


def test_create_makes_the_profile_and_a_later_open_finds_its_key_file(
    synced: Path, tmp_path: Path
) -> None:
    key = KeyFileKey.create(tmp_path / "app.key")
    with Engine.create(synced, key=key) as engine:
        assert engine.record("b1", "like") is not None
    with Engine.open(synced) as engine:  # the settings name the key file
        assert [e.item for e in engine.export().events] == ["b1"]
    with pytest.raises(StoreExistsError):
        Engine.create(synced, key=key)


def test_create_without_a_key_says_which_keys_there_are(synced: Path) -> None:
    with pytest.raises(KeyRequiredError, match="PassphraseKey"):
        Engine.create(synced, key=None)  # type: ignore[arg-type]


def test_create_with_a_passphrase_needs_it_to_open_again(synced: Path) -> None:
    with Engine.create(synced, key=PassphraseKey("a long enough passphrase")) as engine:
        engine.record("b2", "view")
    with pytest.raises(KeyRequiredError):
        Engine.open(synced)


def test_export_is_typed_and_its_json_is_the_documented_document(engine: Engine) -> None:
    with engine:
        engine.record("b1", "like")
        engine.mute("travel")
        exported = engine.export()
        engine.record("b2", "view")  # a snapshot: later events do not show in it
    assert isinstance(exported, ProfileExport)
    assert [(e.item, e.kind) for e in exported.events] == [("b1", EventKind.LIKE)]
    assert exported.muted == frozenset({"travel"})
    assert exported.paused is False
    assert exported.exported_on == dt.date.today()
    document = exported.to_json()
    assert document["format"] == "discreet-profile-export"
    assert [e[0] for e in document["profile"]["events"]] == ["b1"]
    assert json.loads(json.dumps(document)) == document


def test_explain_is_typed(engine: Engine) -> None:
    with engine:
        why = engine.explain("b2")
    assert isinstance(why, Explanation)
    assert why.to_json()["item"] == "b2"


def test_an_unknown_event_kind_is_its_own_error(engine: Engine) -> None:
    with engine, pytest.raises(UnknownEventKindError, match="view, click, like"):
        engine.record("b1", "rating")


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda e: e.recommend(3, created_after="2024-01-01"), FilterInvalidError),
        (lambda e: e.recommend(3, created_before=20240101), FilterInvalidError),
        (lambda e: e.recommend(0), FilterInvalidError),
        (lambda e: e.recommend(3, language=1), FilterInvalidError),
        (lambda e: e.record("b1", "like", day="2024-01-01"), FilterInvalidError),
        (lambda e: e.recommend(3, category="no-such-category"), UnknownCategoryError),
        (lambda e: e.mute("no-such-category"), UnknownCategoryError),
        (lambda e: e.catalog.item("zzz"), UnknownItemError),
        (lambda e: e.record("zzz", "like"), UnknownItemError),
    ],
)
def test_every_mistake_is_a_discreet_error_of_its_own(
    engine: Engine, call: Callable[[Engine], object], error: type[DiscreetError]
) -> None:
    with engine, pytest.raises(error) as raised:
        call(engine)
    assert isinstance(raised.value, DiscreetError)
    assert "zzz" not in str(raised.value)  # never an id from the user's history
    assert "\n" not in str(raised.value)


def test_an_unknown_item_is_still_a_key_error_with_a_plain_message(engine: Engine) -> None:
    with engine, pytest.raises(KeyError) as raised:
        engine.catalog.item("zzz")
    assert str(raised.value) == "that item is not in this catalog; check the id or sync"


def test_a_category_may_be_named_by_its_label(engine: Engine) -> None:
    with engine:
        engine.mute("Travel")
        assert engine.export().muted == frozenset({"travel"})
        assert engine.recommend(3, category="Cooking")


def test_a_second_open_in_the_same_process_says_so_at_once(engine: Engine) -> None:
    with engine:
        start = time.monotonic()
        with pytest.raises(StoreLockedError, match="already open in this process"):
            Engine.open(engine.home)
        assert time.monotonic() - start < 1.0, "it did not wait for a lock it holds itself"
    with Engine.open(engine.home) as again:  # closed: it opens
        assert again.recommend(2)


def test_pause_and_resume_from_the_cli(cli_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init"]) == 0
    assert main(["pause", "--json"]) == 0
    capsys.readouterr()
    assert main(["like", "b1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["recorded"] is False
    assert main(["resume"]) == 0
    assert "resumed" in capsys.readouterr().out
    assert main(["like", "b1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["recorded"] is True
