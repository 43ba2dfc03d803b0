"""Spanish end to end: the demo, the data card, recommendations, the kiosk, the service.

Each run under ``LANG=es_ES.UTF-8`` is checked word by word: every word it
prints must come from a Spanish translation or from the data (the catalog's
titles, labels and notices, ids and codes), so an English sentence left
anywhere fails the test.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from discreet.catalog.scan import parse_jsonl
from discreet.cli import main
from discreet.demo_data import (
    demo_items_path,
    demo_notices_path,
    demo_taxonomy_path,
    publish_demo_catalog,
)
from discreet.engine import Engine
from discreet.errors import KeyRequiredError, UnknownCategoryError, UnknownItemError
from discreet.i18n import use
from discreet.kiosk import run_kiosk
from discreet.profile.schema import PROFILE_FIELDS
from discreet.profile.session import ProfileConfig, ProfileHome
from discreet.publish.repository import PublisherRepository
from discreet.store.keys import KeyFileKey
from discreet.sync.client import sync_catalog
from tests.server_support import http, running_service

SPANISH_PO = Path(__file__).resolve().parents[1] / "src/discreet/locale/es/LC_MESSAGES/discreet.po"
_WORD = re.compile(r"[^\W\d_]{3,}")
#: Tokens that are data, not language: paths, addresses, hex bytes, ids.
_DATA_TOKEN = re.compile(r"\S*[/\\]\S*|\b[0-9a-f]{16,}\b|\blb-\d+\b|\b\w+\.[a-z]{3}\.\w+\b")
#: Codes printed as they are: report kinds, ledger states, severities, the catalog's name.
_CODES = {"category", "item", "sent", "info", "lantern", "books", "discreet"}


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(_DATA_TOKEN.sub(" ", text))}


@pytest.fixture(scope="module")
def spanish_words() -> set[str]:
    """Every word of the Spanish translations, and of the data: the demo catalog, and the
    profile's field names, which the data card shows as they are stored."""
    with SPANISH_PO.open("rb") as f:
        catalog = read_po(f)
    words = set(_CODES) | _words(" ".join(spec.name for spec in PROFILE_FIELDS))
    for message in catalog:
        for form in message.string if isinstance(message.string, tuple) else (message.string,):
            words |= _words(form)
    for item in parse_jsonl(demo_items_path().read_bytes()):
        words |= _words(str(item["title"]))
    taxonomy = json.loads(demo_taxonomy_path().read_text(encoding="utf-8"))
    for category in taxonomy["categories"]:
        words |= _words(category["id"].replace("-", " ") + " " + category["label"]["es"])
    for notice in json.loads(demo_notices_path().read_text(encoding="utf-8")):
        words |= _words(notice["title"]["es"] + " " + notice["body"]["es"])
    return words


def _assert_spanish(output: str, spanish_words: set[str]) -> None:
    assert output.strip()
    english = sorted(_words(output) - spanish_words)
    assert not english, f"words from no translation: {english}"


@pytest.fixture
def in_spanish(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of a Spanish desktop: ``LANG=es_ES.UTF-8`` and nothing else."""
    for name in ("DISCREET_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "es_ES.UTF-8")


@pytest.fixture(scope="module")
def demo_repo(tmp_path_factory: pytest.TempPathFactory) -> PublisherRepository:
    repo = PublisherRepository.init(tmp_path_factory.mktemp("spanish") / "repo")
    publish_demo_catalog(repo)
    return repo


@pytest.fixture
def demo_home(
    demo_repo: PublisherRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The demo catalog installed, a key-file profile that liked three crime novels."""
    home = tmp_path / "home"
    sync_catalog(home, str(demo_repo.path), root=demo_repo.trusted_root_path)
    key = KeyFileKey.create(tmp_path / "device.key")
    config = ProfileConfig("standard", "keyfile", str(key.path))
    session = ProfileHome(home).create(key, config, dt.date.today())
    assert session is not None
    session.close()
    items = parse_jsonl(demo_items_path().read_bytes())
    with Engine.open(home) as engine:
        for item_id in [i["id"] for i in items if "crime" in i["categories"]][:3]:
            engine.record(item_id, "like")
    monkeypatch.setenv("DISCREET_HOME", str(home))
    return home


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    return out


def test_demo_speaks_spanish_end_to_end(spanish_words: set[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISCREET_LANG", "LANGUAGE")}
    env |= {"LANG": "es_ES.UTF-8", "LC_ALL": "es_ES.UTF-8"}
    done = subprocess.run(
        [sys.executable, "-m", "discreet", "demo", "--clients", "1000", "--seed", "7"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "== hecho" in done.stdout
    _assert_spanish(done.stdout, spanish_words)


def test_privacy_recommend_and_explain_speak_spanish(
    in_spanish: None,
    demo_home: Path,
    capsys: pytest.CaptureFixture[str],
    spanish_words: set[str],
) -> None:
    card = _cli(capsys, "privacy")
    assert card.startswith("Tu perfil se queda en este dispositivo.")
    recommendations = _cli(capsys, "recommend", "-k", "5")
    assert "que te gusta" in recommendations
    first = re.search(r"\[(lb-\d+)\]", recommendations)
    assert first is not None
    explained = _cli(capsys, "explain", first.group(1))
    interests = _cli(capsys, "interests")
    assert "Novela negra y misterio" in interests
    for output in (card, recommendations, explained, interests):
        _assert_spanish(output, spanish_words)


def test_errors_speak_spanish(
    in_spanish: None, demo_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "no-such-item"]) == 1
    assert capsys.readouterr().err.startswith(
        "discreet: error: ese elemento no está en el catálogo instalado"
    )
    assert main(["interests", "mute"]) == 2
    assert "indica una acción y una categoría" in capsys.readouterr().err


def test_kiosk_speaks_spanish(
    in_spanish: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    spanish_words: set[str],
) -> None:
    commands = "like 1\ndislike 2\nwhy 1\nmore\ninterests\nzz\nforget\nhelp\nquit\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(commands))
    out = _cli(capsys, "kiosk", "--demo")
    assert "Nada de lo que hagas aquí se guarda" in out
    assert "sesión terminada; no se guardó nada" in out
    _assert_spanish(out, spanish_words)


def test_notices_and_labels_in_the_users_language(
    in_spanish: None, demo_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "AVISO [info] 2026-11-01 Cómo recomienda Lantern Books" in _cli(
        capsys, "catalog", "info"
    )
    english = _cli(capsys, "--lang", "en", "catalog", "info")
    assert "NOTICE [info] 2026-11-01 How Lantern Books recommends" in english


def test_the_lang_option_wins_over_the_environment(
    in_spanish: None, demo_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(capsys, "--lang", "en", "privacy").startswith("Your profile stays")
    spanish_help = _cli(capsys, "--help", "--lang", "es")
    assert "ficha de datos" in spanish_help
    assert spanish_help.startswith("uso: discreet")
    assert "\nopciones:\n" in spanish_help
    assert _cli(capsys, "privacy").startswith("Tu perfil")  # --lang held for its run only


def test_json_stays_codes_in_utf8(
    in_spanish: None, demo_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spanish = _cli(capsys, "interests", "--json")
    english = _cli(capsys, "--lang", "en", "interests", "--json")
    assert "Arte y diseño" in spanish  # ñ as itself, not \u00f1
    assert "\\u00f1" not in spanish
    codes = [(i["category"], i["muted"]) for i in json.loads(spanish)["interests"]]
    assert codes == [(i["category"], i["muted"]) for i in json.loads(english)["interests"]]


def test_an_engine_speaks_its_own_locale(demo_home: Path) -> None:
    with Engine.open(demo_home, locale="es-MX") as engine:
        reasons = [r.text for rec in engine.recommend(3) for r in rec.reasons]
        assert any(text.endswith("que te gusta") for text in reasons)
        with pytest.raises(UnknownItemError, match="no está en el catálogo instalado"):
            engine.explain("no-such-item")
    with Engine.open(demo_home, locale="en") as engine:
        assert any(
            r.text.endswith("which you like") for rec in engine.recommend(3) for r in rec.reasons
        )


def test_the_privacy_statement_follows_accept_language(
    demo_repo: PublisherRepository, tmp_path: Path
) -> None:
    with running_service(demo_repo, tmp_path / "reports.db") as service:
        url = service.url + "/v1/privacy"
        status, headers, spanish = http("GET", url, headers={"Accept-Language": "es-ES,es;q=0.9"})
        _, _, english = http("GET", url, headers={"Accept-Language": "fr, en;q=0.5"})
        _, _, default = http("GET", url)
    assert status == 200
    assert {k.lower(): v for k, v in headers.items()}["content-language"] == "es"
    assert spanish["collects"].startswith("solo informes con privacidad diferencial")
    assert english["collects"].startswith("only ε-locally")
    assert default == english
    assert spanish.keys() == english.keys()
    assert spanish["reporting_parameters"] == english["reporting_parameters"]


def test_a_category_is_named_by_its_label_in_any_of_its_languages(demo_home: Path) -> None:
    with Engine.open(demo_home, locale="en") as engine:
        by_id = [r.item_id for r in engine.recommend(3, category="crime")]
        assert [r.item_id for r in engine.recommend(3, category="novela negra y MISTERIO")] == by_id
    with Engine.open(demo_home, locale="es") as engine:
        assert [r.item_id for r in engine.recommend(3, category="Crime & mystery")] == by_id
        with pytest.raises(UnknownCategoryError, match="para ver ids y etiquetas"):
            engine.recommend(3, category="Novela")


def test_engine_create_speaks_its_locale(tmp_path: Path) -> None:
    with pytest.raises(KeyRequiredError, match=r"^Engine\.create necesita key="):
        Engine.create(tmp_path / "home", key="hunter2", locale="es")  # type: ignore[arg-type]


def test_the_kiosk_idle_wipe_speaks_the_sessions_language(demo_home: Path) -> None:
    said: list[str] = []

    def lines() -> Iterator[str]:
        deadline = time.monotonic() + 10
        while "<clear>" not in said and time.monotonic() < deadline:
            time.sleep(0.05)  # the idle timer's own thread wipes the session
        yield "quit"

    with use("es"):
        run_kiosk(
            demo_home, lines(), said.append, idle_seconds=0.3, clear=lambda: said.append("<clear>")
        )
    assert said[said.index("<clear>") + 1] == (
        "la sesión anterior se borró tras un rato sin actividad;"
    )
