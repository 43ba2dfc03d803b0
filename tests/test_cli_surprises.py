"""Issue 17 section 4: a CLI without surprises.

The kiosk's idle wipe, reasons, language tags, interests, usage errors,
``sync`` remembering its source, errors as JSON under ``--json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from discreet.cli import build_parser, main
from discreet.engine import Engine
from discreet.kiosk import run_kiosk
from discreet.profile.session import ProfileConfig, ProfileHome
from discreet.publish.publisher import publish_catalog
from discreet.publish.repository import PublisherRepository
from discreet.rank.ranker import language_codes
from discreet.store.keys import KeyFileKey
from discreet.sync.client import sync_catalog
from tests.conftest import ITEMS


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def kiosk_home(repo: PublisherRepository, publish: Callable[..., object], tmp_path: Path) -> Path:
    """A home with the small catalog installed, for a kiosk session."""
    publish()
    home = tmp_path / "kiosk"
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    return home


def test_the_idle_wipe_clears_the_screen_and_says_so(kiosk_home: Path) -> None:
    said: list[str] = []

    def lines() -> Iterator[str]:
        yield "like 1"
        deadline = time.monotonic() + 10
        while not any("wiped" in line for line in said) and time.monotonic() < deadline:
            time.sleep(0.05)  # the visitor walks away; the real idle timer fires
        yield "like 1"
        yield "quit"

    run_kiosk(
        kiosk_home, lines(), said.append, idle_seconds=0.3, clear=lambda: said.append("<clear>")
    )
    clear = said.index("<clear>")
    assert "wiped" in said[clear + 1]
    # After the wipe the old numbers point at nothing: 'like 1' records nothing.
    assert said[clear + 3] == "nothing is on the screen yet; type 'more' for recommendations"
    assert said[-1] == "session ended; nothing was kept"
    assert said.count("<clear>") == 1, "closing at the end is no idle wipe"


def test_forget_is_not_reported_as_an_idle_wipe(kiosk_home: Path) -> None:
    said: list[str] = []
    run_kiosk(kiosk_home, ["like 1", "forget", "quit"], said.append, clear=lambda: said.append("x"))
    assert "x" not in said
    assert any(line.startswith("forgotten") for line in said)


def test_kiosk_refuses_json(cli_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "kiosk", "--json")
    assert code == 2
    assert "interactive" in err
    assert json.loads(out)["error"]["code"] == "usage"


@pytest.fixture
def engine(
    repo: PublisherRepository, inputs: tuple[Path, Path], tmp_path: Path
) -> Iterator[Engine]:
    """An engine over the small catalog, with es-MX and pt-BR items added."""
    items = tmp_path / "tagged.jsonl"
    extra = [
        {"id": "m1", "title": "Tacos", "text": "Tacos and salsa.", "categories": ["cooking"],
         "language": "es-MX"},
        {"id": "m2", "title": "Sopa", "text": "Sopa de ajo.", "categories": ["cooking"],
         "language": "es"},
        {"id": "p1", "title": "Feijoada", "text": "Feijoada e arroz.", "categories": ["cooking"],
         "language": "pt-BR"},
        {"id": "x1", "title": "Esperanto", "text": "Libro.", "categories": ["cooking"],
         "language": "esp"},
    ]  # fmt: skip
    items.write_text("".join(json.dumps(i) + "\n" for i in ITEMS + extra), encoding="utf-8")
    publish_catalog(repo, items, inputs[1])
    home = tmp_path / "app"
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    key = KeyFileKey.create(tmp_path / "app.key")
    config = ProfileConfig("standard", "keyfile", str(key.path))
    session = ProfileHome(home).create(key, config, dt.date.today())
    assert session is not None
    session.close()
    with Engine.open(home, key=key) as engine:
        yield engine


def test_language_tags_match_by_prefix(engine: Engine) -> None:
    ids = {r.item_id for r in engine.recommend(20, language="es")}
    assert ids == {"m1", "m2"}  # es-MX is Spanish; "esp" is not
    assert {r.item_id for r in engine.recommend(20, language="pt")} == {"p1"}
    assert {r.item_id for r in engine.recommend(20, language="ES-mx")} == {"m1"}
    assert language_codes(("", "es", "es-mx"), "es_MX") == [2]


def test_reasons_name_each_item_once(engine: Engine) -> None:
    engine.record("b2", "view")
    engine.record("b2", "like")
    engine.record("b2", "purchase")
    engine.record("b4", "like")
    for rec in engine.recommend(10):
        for reason in rec.reasons:
            assert len(set(reason.items)) == len(reason.items), reason.text
            if reason.kind == "because-you":
                assert reason.text.count("Winter Soups") <= 1, reason.text
    assert any(
        r.kind == "because-you" and r.items == ("b2", "b4")
        for rec in engine.recommend(10)
        for r in rec.reasons
    )


def test_interests_show_ids_labels_and_opt_in_and_take_either(
    cli_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init"]) == 0
    code, out, _ = _run(capsys, "interests")
    assert code == 0
    health = next(line for line in out.splitlines() if line.startswith("health "))
    assert "Health" in health
    assert "kept out: 'interests opt-in health'" in health
    assert _run(capsys, "interests", "opt-in", "Health")[0] == 0  # a label works too
    code, out, _ = _run(capsys, "interests", "--json")
    health_doc = next(i for i in json.loads(out)["interests"] if i["category"] == "health")
    assert health_doc["opted_in"] is True
    sleep = next(i for i in json.loads(out)["interests"] if i["category"] == "sleep")
    assert sleep["opted_in"] is True  # under health
    assert _run(capsys, "interests", "mute", "Travel")[0] == 0
    code, out, _ = _run(capsys, "interests", "--json")
    travel = next(i for i in json.loads(out)["interests"] if i["category"] == "travel")
    assert travel["muted"] is True


@pytest.mark.parametrize(
    "argv",
    [
        ("recommend", "--category", "nope"),
        ("recommend", "-k", "0"),
        ("recommend", "-k", "-3"),
    ],
)
def test_nonsense_filters_are_usage_errors(
    cli_home: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    assert main(["init"]) == 0
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert "nothing to recommend" not in out
    assert err


def test_errors_are_a_json_document_under_json(
    cli_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "recommend", "--json")  # no profile yet
    assert code == 1
    assert json.loads(out) == {
        "error": {"code": "StoreNotFoundError", "message": err.split("error: ", 1)[1].strip(),
                  "exit_code": 1}
    }  # fmt: skip
    code, out, _ = _run(capsys, "recommend", "--json", "--category", "nope")
    assert code == 1  # still no profile: the failure comes first
    code, out, _ = _run(capsys, "recommend", "-k", "zero", "--json")
    assert code == 2
    assert json.loads(out)["error"]["code"] == "usage"
    code, out, _ = _run(capsys, "recommend", "-k", "zero")
    assert out == "", "without --json, stdout stays empty"


def test_sync_remembers_where_it_synced_from(
    repo: PublisherRepository,
    publish: Callable[..., object],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    publish()
    home = tmp_path / "h"
    root = str(repo.trusted_root_path)
    assert main(["--home", str(home), "sync", "--from", str(repo.path), "--root", root]) == 0
    publish()
    capsys.readouterr()
    code, out, _ = _run(capsys, "--home", str(home), "sync")
    assert (code, out.strip()) == (0, "installed catalog v2 (was v1)")


def test_sync_without_a_source_before_the_first_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "--home", str(tmp_path / "h"), "sync")
    assert code == 1
    assert "--from" in err


def test_catalog_info_and_report_preview_read_as_text(
    cli_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "catalog", "info")
    assert code == 0
    assert "{" not in out, out
    assert "At most one report of each kind per week" in out
    assert main(["init"]) == 0
    assert main(["like", "b1"]) == 0
    assert main(["report", "consent", "--yes"]) == 0
    capsys.readouterr()
    code, out, _ = _run(capsys, "report", "preview")
    assert code == 0
    assert "{" not in out, out
    assert "'" not in out, out
    assert "mechanism " in out


def _bad_items(path: Path, count: int) -> Path:
    rows = ["id,title,categories", *(f"x{i},Title {i},no-such-category" for i in range(count))]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_publisher_errors_list_the_first_twenty_and_a_count(
    inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "r"
    assert main(["publish", "init", str(repo)]) == 0
    items = _bad_items(tmp_path / "items.csv", 43)
    argv = ["publish", "build", str(items), "--taxonomy", str(inputs[1]), "--repo", str(repo)]
    code, _, err = _run(capsys, *argv)
    assert code == 1
    listed = [line for line in err.splitlines() if "unknown category 'no-such-category'" in line]
    assert len(listed) == 1 + 20  # the summary line, then the first twenty
    assert err.splitlines()[-1] == "  ... and 23 more problems (all of them with --json)"
    code, out, _ = _run(capsys, *argv, "--json")
    assert len(json.loads(out)["error"]["problems"]) == 43


@pytest.mark.parametrize("length", [20_001, 200_000])
def test_the_text_limit_is_reported_alike_in_csv_and_jsonl(
    inputs: tuple[Path, Path], tmp_path: Path, length: int
) -> None:
    from discreet.catalog.items import MAX_TEXT_CHARS, read_items
    from discreet.catalog.taxonomy import load_taxonomy
    from discreet.errors import ItemsInvalidError

    assert length > MAX_TEXT_CHARS
    taxonomy = load_taxonomy(inputs[1])
    text = "a" * length
    csv_file = tmp_path / "items.csv"
    csv_file.write_text(f"id,title,text\nb1,Ok,{text}\nb2,Ok,\nb3,,x\n", encoding="utf-8")
    jsonl_file = tmp_path / "items.jsonl"
    records = [{"id": "b1", "title": "Ok", "text": text}, {"id": "b2", "title": "Ok"},
               {"id": "b3", "title": "", "text": "x"}]  # fmt: skip
    jsonl_file.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    found = []
    for path in (csv_file, jsonl_file):
        with pytest.raises(ItemsInvalidError) as raised:
            read_items(path, taxonomy)
        found.append([p.split(":", 2)[2] for p in raised.value.problems])
    assert found[0] == found[1]
    assert found[0] == [
        f" field 'text' is longer than {MAX_TEXT_CHARS} characters",
        " field 'title' is missing or empty",
    ]


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command's parser, by its path of names."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _commands(sub, (*path, name))


def test_every_option_has_help_and_shows_its_default() -> None:
    for path, parser in _commands(build_parser()):
        for action in parser._actions:
            if not action.option_strings or action.dest == "help":
                continue
            where = f"discreet {' '.join(path)} {action.option_strings[0]}"
            assert action.help, where
            if action.default in (None, False, True, argparse.SUPPRESS):
                continue
            shown = " ".join(parser._get_formatter()._format_action(action).split())
            assert "default" in shown, (where, shown)


HOMELESS = ("publish", "serve", "eval", "demo")


def test_home_is_offered_only_where_there_is_a_client_home(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path, parser in _commands(build_parser()):
        has_home = any("--home" in a.option_strings for a in parser._actions)
        assert has_home == (path[0] not in HOMELESS), path
    code, _, err = _run(capsys, "--home", str(tmp_path), "publish", "init", str(tmp_path / "r"))
    assert code == 2
    assert "--home" in err
    assert not (tmp_path / "r").exists()


def test_a_build_keeps_what_it_is_not_given_and_says_so(
    repo: PublisherRepository, inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    notices = tmp_path / "notices.json"
    notice = {"id": "n1", "severity": "info", "title": "Hi", "body": "b", "date": "2026-01-01"}
    notices.write_text(json.dumps([notice]), encoding="utf-8")
    popularity = tmp_path / "popularity.json"
    popularity.write_text(json.dumps({"estimates": {"b1": 90.0, "b2": 10.0}}), encoding="utf-8")
    first = publish_catalog(
        repo,
        *inputs,
        name="shop",
        notices_path=notices,
        popularity_path=popularity,
        reports_url="https://reports.example/v1",
    )
    assert first.carried_over == ()
    second = publish_catalog(repo, *inputs)
    assert second.carried_over == ("name", "notices", "popularity", "reports_url")
    m = second.manifest
    assert (m.name, m.notices, m.popularity_source) == ("shop", first.manifest.notices, "estimates")
    assert m.reports_url == "https://reports.example/v1"
    home = tmp_path / "h"
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    from discreet.sync.installed import InstalledCatalogs

    prior = InstalledCatalogs(home).open().popularity
    assert prior[0] == pytest.approx(0.9)  # b1's share of the first release's estimates
    empty = tmp_path / "none.json"
    empty.write_text("[]", encoding="utf-8")
    third = publish_catalog(repo, *inputs, notices_path=empty)
    assert third.manifest.notices == ()
    assert "notices" not in third.carried_over


def test_publish_build_states_what_it_kept(
    inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "r"
    build = ["publish", "build", str(inputs[0]), "--taxonomy", str(inputs[1]), "--repo", str(repo)]
    assert main(["publish", "init", str(repo)]) == 0
    assert main([*build, "--name", "shop"]) == 0
    capsys.readouterr()
    code, out, _ = _run(capsys, *build)
    assert code == 0
    assert "kept from v1 (not given this time): name, notices, popularity, reports_url" in out
    code, out, _ = _run(capsys, *build, "--json")
    assert json.loads(out)["carried_over"] == ["name", "notices", "popularity", "reports_url"]


def test_report_send_goes_where_the_manifest_names_not_to_the_catalog_host(
    repo: PublisherRepository,
    inputs: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.server_support import running_service, static_folder

    with running_service(repo, tmp_path / "reports.db") as service:
        publish_catalog(repo, *inputs, reports_url=service.url)
        with static_folder(repo.public) as cdn:  # a CDN answers a POST with 501
            home = tmp_path / "h"
            sync_catalog(home, cdn, root=repo.trusted_root_path)
            monkeypatch.setenv("DISCREET_HOME", str(home))
            monkeypatch.setenv("DISCREET_PASSPHRASE", "a long enough passphrase")
            for argv in (["init"], ["like", "b1"], ["report", "consent", "--yes"]):
                assert main(argv) == 0
            assert main(["report", "preview"]) == 0
            capsys.readouterr()
            code, out, err = _run(capsys, "report", "send", "--max-delay", "0.01", "--json")
    assert code == 0, err
    assert json.loads(out)["sent"] == 2
