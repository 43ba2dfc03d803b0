"""The Engine an app embeds: its API, a UI thread beside a sync thread, kiosk mode, the CLI."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from discreet.cli import main
from discreet.engine import Engine
from discreet.errors import (
    EngineClosedError,
    KeyRequiredError,
    SessionModeError,
    StoreNotFoundError,
    UnknownCategoryError,
    UnknownItemError,
)
from discreet.profile.session import ProfileConfig, ProfileHome, ProfileSession
from discreet.publish.repository import PublisherRepository
from discreet.store._hazmat import Argon2Params
from discreet.store.keys import KeyFileKey, PassphraseKey
from discreet.sync.client import sync_catalog
from tests.clock_support import ManualClock


@pytest.fixture
def engine(repo: PublisherRepository, publish: Callable[..., object], tmp_path: Path) -> Engine:
    publish()
    home = tmp_path / "app"
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    key = KeyFileKey.create(tmp_path / "app.key")
    session = ProfileHome(home).create(
        key, ProfileConfig("standard", "keyfile", str(key.path)), dt.date.today()
    )
    assert session is not None
    session.close()
    return Engine.open(home, key=key)


def test_the_app_facing_api(engine: Engine) -> None:
    with engine:
        assert engine.record("b1", "like") is not None
        assert engine.record("b3", "like") is None  # sensitive, not opted in
        results = engine.recommend(3)
        assert results
        assert "b1" not in {r.item_id for r in results}
        assert all(r.reasons for r in results)
        assert engine.recommend(3, category="travel")
        assert engine.explain("b1").excluded == "you have already engaged with it"
        with pytest.raises(UnknownItemError):
            engine.explain("zzz")
        engine.mute("fiction")
        assert next(i for i in engine.interests() if i.category == "fiction").muted
        engine.unmute("fiction")
        with pytest.raises(UnknownCategoryError):
            engine.mute("no-such-category")
        with pytest.raises(SessionModeError):
            engine.erase_session()  # "forget me" is for kiosk sessions only
        engine.opt_in("health")
        assert engine.record("b3", "like") is not None
        engine.opt_out("health")
        assert "b3" not in [e[0] for e in engine.export().to_json()["profile"]["events"]]
        engine.pause()
        assert engine.record("b2", "view") is None
        engine.pause(False)
        assert any(r.endswith("profile.dsc") for r in engine.erase())


def test_the_engine_reads_dates_only_from_its_injected_clock(
    repo: PublisherRepository, publish: Callable[..., object], tmp_path: Path
) -> None:
    publish()
    home = tmp_path / "clocked"
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    key = KeyFileKey.create(tmp_path / "clocked.key")
    created = dt.date(2031, 3, 3)  # a Monday far from the system date
    session = ProfileHome(home).create(
        key, ProfileConfig("standard", "keyfile", str(key.path)), created
    )
    session.close()
    day = [created]
    with Engine.open(home, key=key, today=lambda: day[0]) as engine:
        engine.record("b1", "like")
        day[0] = created + dt.timedelta(days=8)  # the next ISO week
        engine.record("b2", "view")
        engine.consent()
        preview = engine.preview_reports(np.random.default_rng(0))
        exported = engine.export().to_json()
    assert [e[2] for e in exported["profile"]["events"]] == ["2031-03-03", "2031-03-11"]
    assert exported["exported_on"] == "2031-03-11"
    assert exported["profile"]["consent"]["granted_on"] == "2031-03-11"
    assert preview.period == "2031-W11"
    assert {e["day"] for e in exported["profile"]["ledger"]} == {"2031-03-11"}


def test_opening_finds_the_key_its_settings_name(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFoundError):
        Engine.open(tmp_path / "nothing-here")
    today = dt.date.today()
    secret = PassphraseKey("correct horse battery staple", Argon2Params(19 * 1024, 2))
    session = ProfileHome(tmp_path / "p").create(secret, ProfileConfig(), today)
    assert session is not None
    session.close()
    with pytest.raises(KeyRequiredError, match="passphrase"):
        Engine.open(tmp_path / "p")
    Engine.open(tmp_path / "p", key=secret).close()
    key = KeyFileKey.create(tmp_path / "k.key")
    config = ProfileConfig("standard", "keyfile", str(key.path))
    session = ProfileHome(tmp_path / "k").create(key, config, today)
    assert session is not None
    session.close()
    Engine.open(tmp_path / "k").close()  # the key file named in its settings


def test_ui_thread_and_sync_thread_together(
    engine: Engine, repo: PublisherRepository, publish: Callable[..., object]
) -> None:
    errors: list[BaseException] = []
    done = threading.Event()

    def background_sync() -> None:
        try:
            for _ in range(3):
                publish()
                engine.sync(str(repo.path))
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=background_sync)
    thread.start()
    items = ["b1", "b2", "b4"]  # leaves b5, b6, b7 to recommend
    count = 0
    while not done.is_set() or count < 20:
        engine.record(items[count % len(items)], "view")
        assert engine.recommend(3)
        count += 1
    thread.join()
    assert errors == []
    assert engine.catalog.version == 4
    assert len(engine.export().to_json()["profile"]["events"]) == count
    engine.close()


def test_kiosk_engine_wipes_when_idle(
    repo: PublisherRepository, publish: Callable[..., object], tmp_path: Path
) -> None:
    publish()
    home = tmp_path / "kiosk"
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    before = set(home.rglob("*"))
    clock = ManualClock()
    session = ProfileSession.kiosk(dt.date.today(), 60.0, clock=clock, timer=clock.timer)
    with Engine(home, session, kiosk=True) as engine:

        def kept() -> list[str]:
            return [e[0] for e in engine.export().to_json()["profile"]["events"]]

        engine.record("b1", "like")
        clock.advance(59.0)
        assert kept() == ["b1"]
        engine.record("b2", "like")  # any use restarts the idle countdown
        clock.advance(59.0)
        assert kept() == ["b1", "b2"]
        clock.advance(1.0)  # 60 s since the last use: the timer wipes, with no access
        assert kept() == []
        engine.record("b4", "like")  # a fresh session
        assert kept() == ["b4"]
        assert len(clock.armed) == 1, "exactly one idle countdown runs"
    assert clock.armed == [], "closing stops the idle timer"
    assert set(home.rglob("*")) == before, "kiosk mode wrote to disk"


def test_the_data_card_describes_where_the_engine_keeps_the_profile(
    engine: Engine, repo: PublisherRepository, tmp_path: Path
) -> None:
    with engine:
        card = engine.data_card()
    assert card == ProfileHome(engine.home).data_card()
    assert card["storage"]["location"].endswith("profile.dsc")
    assert card["fields"]
    kiosk_home = tmp_path / "kiosk"
    sync_catalog(kiosk_home, str(repo.path), root=repo.trusted_root_path)
    with Engine.open(kiosk_home, kiosk=True, idle_seconds=90) as kiosk:
        in_memory = kiosk.data_card()
    assert in_memory["storage"]["location"] == "memory only; nothing is written to disk"
    assert "after 90 s idle" in in_memory["storage"]["backup"]
    assert in_memory["fields"] == card["fields"]


def test_cli_recommend_explain_interests(
    engine: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = engine.home
    engine.close()
    monkeypatch.setenv("DISCREET_HOME", str(home))
    assert main(["like", "b6"]) == 0
    capsys.readouterr()
    assert main(["recommend", "-k", "2", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert len(results) == 2
    assert all(r["reasons"] for r in results)
    assert main(["explain", results[0]["item"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rank"] == 1
    assert main(["interests", "mute", "travel"]) == 0
    assert "(muted)" in capsys.readouterr().out
    assert main(["interests", "mute"]) == 2  # a usage error
    assert main(["recommend", "--after", "yesterday"]) == 2


def test_demo_runs_end_to_end_and_cleans_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    assert main(["demo", "--clients", "3000", "--seed", "5", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["reports_sent"] == 2
    assert {e["status"] for e in summary["ledger"]} == {"sent"}
    assert len(summary["recommendations"]) == 5
    assert all(r["reasons"] for r in summary["recommendations"])
    covered = sum(row["covered"] for row in summary["population"])
    assert covered >= len(summary["population"]) - 2  # 95% intervals, 12 categories
    assert list((tmp_path / "tmp").iterdir()) == [], "the demo left files behind"
    kept = tmp_path / "kept"
    assert main(["demo", "--clients", "1000", "--seed", "5", "--keep", str(kept)]) == 0
    assert "liked" in capsys.readouterr().out
    assert (kept / "repo" / "public" / "metadata" / "1.root.json").exists()
    assert (kept / "reports.db").exists()


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


def test_kiosk_command_writes_nothing(
    repo: PublisherRepository, publish: Callable[..., object], tmp_path: Path
) -> None:
    """A real kiosk process: the home and the temp folder are exactly as before."""
    import os
    import subprocess
    import sys

    publish()
    home = tmp_path / "kiosk-home"
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    before = _snapshot(home)
    script = "like 1\nwhy 1\ndislike 2\nmore\ninterests\nforget\nlike 9\nquit\n"
    env = {**os.environ, "DISCREET_HOME": str(home), "TMPDIR": str(scratch)}
    done = subprocess.run(
        [sys.executable, "-m", "discreet", "kiosk", "--idle", "30"],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    assert "liked" in done.stdout
    assert "forgotten: this session kept nothing" in done.stdout
    assert "choose a number from 1 to" in done.stdout
    assert done.stdout.rstrip().endswith("session ended; nothing was kept")
    assert _snapshot(home) == before, "the kiosk wrote to its home"
    assert list(scratch.iterdir()) == [], "the kiosk wrote temporary files"


def test_kiosk_demo_needs_no_setup_and_cleans_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import sys
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setattr(sys, "stdin", io.StringIO("like 1\nwhy 1\nquit\n"))
    home = tmp_path / "nothing-here"
    assert main(["--home", str(home), "kiosk"]) == 1
    assert "kiosk --demo" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("like 1\nwhy 1\nquit\n"))
    assert main(["--home", str(home), "kiosk", "--demo"]) == 0
    out = capsys.readouterr().out
    assert "lantern-books — 360 items" in out
    assert "rank 1" in out
    assert list(scratch.iterdir()) == []
    assert not home.exists()


def test_malformed_reporting_section_is_a_catalog_error(engine: Engine, tmp_path: Path) -> None:
    """The manifest's reporting section is parsed once, when the catalog is opened."""
    from discreet.errors import CatalogCorruptError

    manifest = engine.catalog.folder / "manifest.json"
    engine.close()
    document = json.loads(manifest.read_bytes())
    document["reporting"]["format_version"] = 99  # a locally altered release
    manifest.write_text(json.dumps(document), encoding="utf-8")
    with (
        Engine.open(engine.home, key=KeyFileKey(tmp_path / "app.key")) as fresh,
        pytest.raises(CatalogCorruptError, match="reporting parameters are malformed"),
    ):
        fresh.reporting_parameters()


def test_erase_drops_every_copy_closes_the_engine_and_frees_the_folder(
    engine: Engine, tmp_path: Path
) -> None:
    assert engine.record("b1", "like") is not None
    assert any("engaged" in r.text for rec in engine.recommend(3) for r in rec.reasons)
    removed = engine.erase()
    assert any(r.endswith("profile.dsc") for r in removed)
    assert any(r.endswith("config.json") for r in removed)
    for call in (
        lambda: engine.recommend(3),
        lambda: engine.export(),
        lambda: engine.record("b2", "view"),
        lambda: engine.ledger(),
        lambda: engine.explain("b2"),
        lambda: engine.erase(),
    ):
        with pytest.raises(EngineClosedError):
            call()
    engine.close()  # closing an erased engine is harmless
    profile_folder = engine.home / "profile"
    assert not (profile_folder / "config.json").exists()
    assert not [p for p in profile_folder.iterdir() if not p.name.endswith(".lock")]
    key = KeyFileKey.create(tmp_path / "again.key")
    again = ProfileHome(engine.home).create(
        key, ProfileConfig("standard", "keyfile", str(key.path)), dt.date.today()
    )
    assert again is not None
    again.close()
    with Engine.open(engine.home) as fresh:
        assert fresh.export().to_json()["profile"]["events"] == []
        assert not any("engaged" in r.text for rec in fresh.recommend(3) for r in rec.reasons)


def test_a_closed_engine_refuses_to_work(engine: Engine) -> None:
    engine.close()
    with pytest.raises(EngineClosedError):
        engine.recommend(3)
