"""``report consent|revoke|preview`` and ``ledger`` through ``main(argv)``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from discreet.cli import main
from discreet.protocol.report import REPORT_BYTES, Report
from discreet.publish.repository import PublisherRepository
from discreet.sync.client import sync_catalog


@pytest.fixture
def client(cli_home: Path) -> Path:
    """The shared CLI home, with a profile that liked one item."""
    assert main(["init"]) == 0
    assert main(["like", "b1"]) == 0
    return cli_home


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_consent_preview_ledger_revoke(client: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "report", "preview")
    assert code == 1
    assert "report consent" in err
    code, _, err = _run(capsys, "report", "consent")
    assert code == 1
    assert "--yes" in err
    code, out, _ = _run(capsys, "report", "consent", "--yes", "--json")
    assert code == 0
    consent = json.loads(out)
    assert consent["parameters"]["epsilon_per_period"] == 2.0
    code, out, _ = _run(capsys, "report", "preview", "--json")
    preview = json.loads(out)
    assert code == 0
    assert preview["epsilon_spent"] == 2.0
    assert [r["kind"] for r in preview["reports"]] == ["category", "item"]
    for r in preview["reports"]:
        data = bytes.fromhex(r["bytes_hex"])
        assert len(data) == REPORT_BYTES
        assert Report.from_bytes(data).payload == r["fields"]["payload"]
        assert b"b1" not in data
    _, again, _ = _run(capsys, "report", "preview", "--json")
    assert json.loads(again)["reports"] == preview["reports"]  # same bytes until sent
    code, out, _ = _run(capsys, "ledger", "--json")
    ledger = json.loads(out)
    assert [e["status"] for e in ledger["entries"]] == ["pending", "pending"]
    assert list(ledger["epsilon_by_period"].values()) == [2.0]
    code, out, _ = _run(capsys, "report", "revoke", "--json")
    assert json.loads(out) == {"consent": False, "dropped": 2}
    code, out, _ = _run(capsys, "ledger")
    assert "withdrawn" in out
    code, _, err = _run(capsys, "report", "preview")
    assert code == 1


def test_catalog_without_reporting(
    repo: PublisherRepository,
    publish: Callable[..., object],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    publish(reporting=None)
    home = tmp_path / "quiet"
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    monkeypatch.setenv("DISCREET_HOME", str(home))
    monkeypatch.setenv("DISCREET_PASSPHRASE", "a long enough passphrase")
    main(["init"])
    code, out, _ = _run(capsys, "report", "consent", "--yes")
    assert code == 0
    assert "asks for no reports" in out
    code, _, err = _run(capsys, "report", "preview")
    assert code == 1
    assert "does not ask for reports" in err


def test_publisher_reporting_options_are_checked(
    capsys: pytest.CaptureFixture[str], inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    repo = tmp_path / "r"
    main(["publish", "init", str(repo)])
    argv = ["publish", "build", str(inputs[0]), "--taxonomy", str(inputs[1]), "--repo", str(repo)]
    code, _, err = _run(capsys, *argv, "--reporting-epsilon", "3", "--reporting-budget", "2")
    assert code == 1
    assert "adjust the reporting options" in err
    code, _, _ = _run(capsys, *argv, "--reporting-epsilon", "0.5", "--item-pad-length", "4")
    assert code == 0
    manifest_target = PublisherRepository.open(repo).current_targets()["catalog/manifest.json"]
    manifest = json.loads(PublisherRepository.open(repo).target_path(manifest_target).read_bytes())
    assert manifest["reporting"]["kinds"]["item"]["pad_length"] == 4
    assert manifest["reporting"]["kinds"]["item"]["oracle"]["epsilon"] == 0.5


def test_send_and_publish_estimates_through_the_cli(
    repo: PublisherRepository,
    publish: Callable[..., object],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.server_support import running_service

    publish()
    monkeypatch.setenv("DISCREET_HOME", str(tmp_path / "device"))
    monkeypatch.setenv("DISCREET_PASSPHRASE", "a long enough passphrase")
    db = tmp_path / "reports.db"
    with running_service(repo, db, min_reports=1) as service:
        assert main(["sync", "--from", service.url, "--root", str(repo.trusted_root_path)]) == 0
        assert main(["init"]) == 0
        assert main(["like", "b1"]) == 0
        assert main(["report", "consent", "--yes"]) == 0
        code, out, _ = _run(capsys, "report", "send", "--max-delay", "0", "--json")
        assert code == 0
        assert json.loads(out) == {"sent": 0, "duplicates": 0, "rejected": 0}  # nothing queued yet
        assert main(["report", "preview"]) == 0
        # Regression: a wrong --to (a 404) dropped both reports for good, reason "()".
        wrong = service.url + "/not-the-service"
        code, _, err = _run(capsys, "report", "send", "--to", wrong, "--max-delay", "0")
        assert code == 1
        assert "HTTP 404" in err
        assert "check the address" in err
        assert "stay queued" in err
        code, out, _ = _run(capsys, "ledger", "--json")
        assert [e["status"] for e in json.loads(out)["entries"]] == ["pending", "pending"]
        code, out, _ = _run(capsys, "report", "send", "--max-delay", "0", "--json")
        assert json.loads(out)["sent"] == 2
        code, out, _ = _run(capsys, "ledger", "--json")
        assert {e["status"] for e in json.loads(out)["entries"]} == {"sent"}
    from discreet.protocol.report import period_of

    period = period_of(__import__("datetime").date.today())
    out_file = tmp_path / "popularity.json"
    code, out, _ = _run(
        capsys,
        "publish",
        "estimates",
        "--db",
        str(db),
        "--period",
        period,
        "--min-reports",
        "1",
        "--out",
        str(out_file),
        "--json",
    )
    assert code == 0
    assert json.loads(out_file.read_text(encoding="utf-8"))["reports"] == 1
    code, _, err = _run(capsys, "publish", "estimates", "--db", str(db), "--period", period)
    assert code == 1
    assert "from 1000 reports on" in err
    code, _, err = _run(capsys, "report", "send", "--to", "http://127.0.0.1:9", "--max-delay", "0")
    assert code == 0  # nothing queued: no connection is even tried


@pytest.mark.parametrize("period", ["bogus", "2026-W60", "2026W48", ""])
def test_a_malformed_period_is_a_usage_error_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], period: str
) -> None:
    """Regression: the check ran inside the handler and printed a traceback."""
    code, out, err = _run(
        capsys, "publish", "estimates", "--db", str(tmp_path / "r.db"), "--period", period
    )
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert "ISO week" in err
    assert not (tmp_path / "r.db").exists()  # nothing was opened or created


def test_report_commands_go_through_the_engine(
    client: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI holds no reporting logic of its own: consent and preview are the Engine's."""
    from discreet.engine import Engine

    calls: list[str] = []
    for name in ("consent", "preview_reports", "revoke_consent", "ledger"):
        original = getattr(Engine, name)

        def spy(self: Engine, *a: object, _o: object = original, _n: str = name) -> object:
            calls.append(_n)
            return _o(self, *a)  # type: ignore[operator]

        monkeypatch.setattr(Engine, name, spy)
    assert _run(capsys, "report", "consent", "--yes")[0] == 0
    assert _run(capsys, "report", "preview")[0] == 0
    assert _run(capsys, "ledger")[0] == 0
    assert _run(capsys, "report", "revoke")[0] == 0
    assert calls == ["consent", "preview_reports", "ledger", "revoke_consent"]
