"""The CLI through ``main(argv)``, plus the installed entry point in a subprocess."""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from discreet.cli import build_parser, main
from discreet.cli._output import StageProgress


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_publish_sync_and_info(
    capsys: pytest.CaptureFixture[str], inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, home = tmp_path / "r", tmp_path / "h"
    code, out, _ = _run(capsys, "publish", "init", str(repo), "--json")
    assert code == 0
    root = json.loads(out)["trusted_root"]
    assert root.endswith("1.root.json")
    assert Path(root).exists()
    code, out, _ = _run(
        capsys,
        "publish",
        "build",
        str(inputs[0]),
        "--taxonomy",
        str(inputs[1]),
        "--repo",
        str(repo),
        "--name",
        "shop",
    )
    assert code == 0
    assert "published catalog 'shop' v1: 8 items" in out
    code, out, _ = _run(capsys, "--home", str(home), "sync", "--from", str(repo), "--root", root)
    assert (code, out.strip()) == (0, "installed catalog v1")
    code, out, _ = _run(capsys, "catalog", "info", "--json", "--home", str(home))
    info = json.loads(out)
    assert code == 0
    assert info["name"] == "shop"
    assert info["items"] == 8
    assert info["version"] == 1


def test_home_from_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCREET_HOME", str(tmp_path / "envhome"))
    code, _, err = _run(capsys, "catalog", "info")
    assert code == 1
    assert err.count("\n") == 1
    assert "no catalog installed yet" in err
    assert "Traceback" not in err


def test_notices_are_shown(
    capsys: pytest.CaptureFixture[str], inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    notices = tmp_path / "notices.json"
    notices.write_text(
        json.dumps(
            [
                {
                    "id": "p1",
                    "severity": "warning",
                    "title": "New policy",
                    "body": "Reports are now weekly.",
                    "date": "2026-11-01",
                }
            ]
        ),
        encoding="utf-8",
    )
    repo, home = tmp_path / "r", tmp_path / "h"
    main(["publish", "init", str(repo)])
    main(
        [
            "publish",
            "build",
            str(inputs[0]),
            "--taxonomy",
            str(inputs[1]),
            "--repo",
            str(repo),
            "--notices",
            str(notices),
        ]
    )
    capsys.readouterr()
    code, out, _ = _run(
        capsys,
        "sync",
        "--home",
        str(home),
        "--from",
        str(repo / "public"),
        "--root",
        str(repo / "public/metadata/1.root.json"),
    )
    assert code == 0
    assert "NOTICE [warning] 2026-11-01 New policy" in out
    code, out, _ = _run(capsys, "catalog", "info", "--home", str(home))
    assert "Reports are now weekly." in out


def test_user_errors_are_one_line_with_exit_1(
    capsys: pytest.CaptureFixture[str], inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    repo = tmp_path / "r"
    main(["publish", "init", str(repo)])
    capsys.readouterr()
    bad = tmp_path / "bad.csv"
    bad.write_text("id,title\na,\n", encoding="utf-8")
    code, out, err = _run(
        capsys, "publish", "build", str(bad), "--taxonomy", str(inputs[1]), "--repo", str(repo)
    )
    assert code == 1
    assert out == ""
    assert err.startswith("discreet: error: ")
    assert err.count("\n") == 1
    assert "bad.csv:2: field 'title' is missing or empty" in err
    code, _, err = _run(capsys, "publish", "init", str(repo))
    assert code == 1
    assert "already holds a repository" in err
    code, _, err = _run(capsys, "sync", "--home", str(tmp_path / "h"), "--from", str(repo))
    assert code == 1
    assert "--root" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["publish", "build"]) == 2
    assert main(["no-such-command"]) == 2
    assert (
        main(
            [
                "publish",
                "build",
                "i.csv",
                "--taxonomy",
                "t",
                "--repo",
                "r",
                "--timestamp-expiry",
                "-1",
            ]
        )
        == 2
    )
    assert main(["--help"]) == 0
    out, _ = capsys.readouterr()
    assert "publish" in out
    assert "sync" in out


def test_each_command_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["publish", "init"],
        ["publish", "build"],
        ["publish", "refresh"],
        ["publish", "rotate-key"],
        ["publish", "estimates"],
        ["serve"],
        ["sync"],
        ["catalog", "info"],
        ["init"],
        ["record"],
        ["like"],
        ["dislike"],
        ["passphrase", "change"],
        ["profile", "export"],
        ["profile", "erase"],
        ["profile", "restore"],
        ["privacy"],
        ["report", "consent"],
        ["report", "revoke"],
        ["report", "preview"],
        ["report", "send"],
        ["ledger"],
    ):
        assert main([*argv, "--help"]) == 0
        out, _ = capsys.readouterr()
        assert "example: discreet " in out, argv


@pytest.mark.parametrize(
    ("argv", "dest"),
    [
        (["init", "--retention-days"], "retention_days"),
        (["init", "--max-events"], "max_events"),
        (["serve", "--repo", "r", "--db", "d", "--min-reports"], "min_reports"),
        (["serve", "--repo", "r", "--db", "d", "--max-body-bytes"], "max_body_bytes"),
        (["serve", "--repo", "r", "--db", "d", "--max-reports"], "max_reports"),
        (
            ["publish", "estimates", "--db", "d", "--period", "2026-W48", "--min-reports"],
            "min_reports",
        ),
    ],
)
def test_counts_and_limits_start_at_one(
    argv: list[str], dest: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()
    assert getattr(parser.parse_args([*argv, "1"]), dest) == 1
    for bad in ("0", "-1", "ten"):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args([*argv, bad])
        assert exit_.value.code == 2
        assert f"'{bad}' is not a positive whole number" in capsys.readouterr().err


def test_refresh_and_rotate(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = tmp_path / "r"
    main(["publish", "init", str(repo)])
    capsys.readouterr()
    code, out, _ = _run(
        capsys, "publish", "refresh", str(repo), "--json", "--timestamp-expiry", "2"
    )
    assert code == 0
    assert set(json.loads(out)) == {"root", "targets", "snapshot", "timestamp"}
    code, out, _ = _run(capsys, "publish", "rotate-key", str(repo), "--role", "root")
    assert code == 0
    assert "published root v2" in out


def test_installed_entry_point_and_module(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    # Where an installer puts the script varies (venv, --user, pipx): ask the metadata.
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="discreet")
    assert script.load() is main
    env = {**os.environ, "DISCREET_HOME": str(tmp_path / "h")}
    done = subprocess.run(
        [sys.executable, "-m", "discreet", "--version"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("discreet ")
    done = subprocess.run(
        [sys.executable, "-m", "discreet", "catalog", "info"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("discreet: error: no catalog installed yet")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    terminal = _Terminal()
    bar = StageProgress(terminal, width=8)
    bar(3, 4, "writing catalog files")
    bar.done()
    assert "[####----] 3/4 writing catalog files" in terminal.getvalue()
    assert terminal.getvalue().endswith("\r")
    pipe = io.StringIO()
    quiet = StageProgress(pipe)
    quiet(1, 4, "embedding")
    quiet.done()
    assert pipe.getvalue() == ""


def test_colour_only_on_a_terminal_and_never_with_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from discreet.cli._output import paint

    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert paint("error:", "red", _Terminal()) == "\033[31merror:\033[0m"
    assert paint("error:", "red", io.StringIO()) == "error:"  # a pipe gets plain text
    monkeypatch.setenv("NO_COLOR", "1")
    assert paint("error:", "red", _Terminal()) == "error:"
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert paint("error:", "red", _Terminal()) == "error:"


def test_sync_shows_progress_on_a_terminal(
    inputs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from discreet.cli import _catalog

    main(["publish", "init", str(tmp_path / "r")])
    main(
        [
            "publish",
            "build",
            str(inputs[0]),
            "--taxonomy",
            str(inputs[1]),
            "--repo",
            str(tmp_path / "r"),
        ]
    )
    terminal = _Terminal()
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr(_catalog, "StageProgress", lambda: StageProgress(terminal))
    root = str(tmp_path / "r" / "public" / "metadata" / "1.root.json")
    assert (
        main(["--home", str(tmp_path / "h"), "sync", "--from", str(tmp_path / "r"), "--root", root])
        == 0
    )
    drawn = terminal.getvalue()
    assert "downloading manifest.json" in drawn
    assert "verifying and installing" in drawn


def test_demo_without_the_server_extra_says_which_extra_to_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``pip install discreet`` without ``[server]``: one line naming the extra, no traceback."""
    monkeypatch.setitem(sys.modules, "starlette", None)  # import starlette now fails
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    code = main(["demo", "--clients", "1000", "--keep", str(tmp_path / "kept")])
    _, err = capsys.readouterr()
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith("discreet: error: the service needs starlette")
    assert "pip install 'discreet[server]'" in err
