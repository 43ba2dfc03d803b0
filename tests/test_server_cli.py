"""Operator errors of ``discreet serve`` and ``publish estimates``, in real processes.

Everything is checked before the service is announced: a port in use, a
repository that is not there, a database folder that does not exist. Each is
one line on stderr and a documented exit code (1; 2 for arguments that do not
parse), with nothing created.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from discreet.publish.repository import PublisherRepository
from tests.server_support import http, start_service_process


def _discreet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "discreet", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_line_error(done: subprocess.CompletedProcess[str], code: int, says: str) -> None:
    assert done.returncode == code, done.stderr
    assert done.stdout == "", "announced before failing"
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert says in done.stderr


@pytest.fixture
def served(repo: PublisherRepository, publish: Callable[..., object]) -> PublisherRepository:
    publish()
    return repo


def test_a_port_in_use_is_one_line_before_anything_is_announced(
    served: PublisherRepository, tmp_path: Path
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        db = tmp_path / "reports.db"
        done = _discreet("serve", "--repo", str(served.path), "--db", str(db), "--port", str(port))
    _one_line_error(done, 1, f"cannot listen on 127.0.0.1:{port}")
    assert "--port" in done.stderr  # says what to do
    assert not db.exists()


def test_a_missing_repository_is_one_line_before_anything_is_announced(tmp_path: Path) -> None:
    db = tmp_path / "reports.db"
    done = _discreet("serve", "--repo", str(tmp_path / "nope"), "--db", str(db), "--port", "0")
    _one_line_error(done, 1, "no discreet repository at")
    assert not db.exists()
    assert not (tmp_path / "nope").exists()


def test_a_mistyped_database_folder_is_not_created(
    served: PublisherRepository, tmp_path: Path
) -> None:
    db = tmp_path / "typo" / "deeper" / "reports.db"
    done = _discreet("serve", "--repo", str(served.path), "--db", str(db), "--port", "0")
    _one_line_error(done, 1, "the database's folder does not exist")
    assert not (tmp_path / "typo").exists()
    estimates = _discreet("publish", "estimates", "--db", str(db), "--period", "2026-W48")
    _one_line_error(estimates, 1, "does not exist")
    assert not (tmp_path / "typo").exists()
    # A database that is not there is not created empty by 'publish estimates' either.
    missing = tmp_path / "reprots.db"
    estimates = _discreet("publish", "estimates", "--db", str(missing), "--period", "2026-W48")
    _one_line_error(estimates, 1, "no report database there")
    assert not missing.exists()


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_a_port_out_of_range_is_a_usage_error(
    served: PublisherRepository, tmp_path: Path, port: str
) -> None:
    db = tmp_path / "reports.db"
    done = _discreet("serve", "--repo", str(served.path), "--db", str(db), "--port", port)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert "is not a port" in done.stderr
    assert not db.exists()


def test_a_good_start_announces_the_port_actually_bound(
    served: PublisherRepository, tmp_path: Path
) -> None:
    service = start_service_process(served.path, tmp_path / "reports.db")
    try:
        assert http("GET", service.url + "/healthz")[0] == 200
        announced = [line.decode() for line in service.output]
        assert announced[0] == (
            f"serving {served.path} on {service.url} (no access log is kept)"
        ), announced
        assert announced[-1] == f"listening on {service.url}"
    finally:
        service.process.terminate()
        service.process.wait(30)
