"""``discreet serve`` without the optional ``server`` extra says what to install."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from discreet.errors import MissingDependencyError
from discreet.publish.repository import PublisherRepository
from discreet.server.run import SERVER_EXTRA, BackgroundService, serve
from discreet.server.storage import ReportStore

INSTALL = "pip install 'discreet[server]'"


@pytest.mark.parametrize("module", SERVER_EXTRA)
def test_serve_without_the_extra_names_what_to_install(
    module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # the next import of it fails
    repo = PublisherRepository.init(tmp_path / "repo")
    db = tmp_path / "reports.db"
    with pytest.raises(MissingDependencyError, match=rf"needs {module}\b.*{re.escape(INSTALL)}"):
        serve(repo.path, db)
    assert not db.exists(), "nothing is created for a service that cannot start"
    store = ReportStore(db)
    try:
        with pytest.raises(MissingDependencyError, match=re.escape(INSTALL)):
            BackgroundService(repo, store)
    finally:
        store.close()


def test_cli_serve_without_the_extra_fails_in_one_line(tmp_path: Path) -> None:
    # A process where neither module can be imported, as after a plain 'pip install discreet'.
    code = (
        "import sys\n"
        f"sys.modules.update(dict.fromkeys({SERVER_EXTRA!r}))\n"
        "from discreet.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n"
    )
    repo = tmp_path / "repo"
    PublisherRepository.init(repo)
    done = subprocess.run(
        [sys.executable, "-c", code, "serve", "--repo", str(repo), "--db", str(tmp_path / "r.db")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
    assert INSTALL in done.stderr
