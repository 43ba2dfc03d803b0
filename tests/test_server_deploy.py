"""The operator's service as deployed: the systemd unit's command line, settings, logs, backups.

Docker is not run here; the unit's ``ExecStart`` is, with its ``Environment=``
lines, against a copy of the shipped ``deploy/serve.toml`` pointed at a test
repository. Logs are captured from real requests sent from another loopback
address, which must appear nowhere in them.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from http.client import HTTPConnection
from pathlib import Path

import numpy as np
import pytest

from discreet.cli import build_parser
from discreet.cli._server import SERVE_SETTINGS
from discreet.errors import BackupError, ServiceConfigError
from discreet.protocol.params import ReportingParams
from discreet.protocol.report import Report
from discreet.publish.repository import PublisherRepository
from discreet.server.aggregate import DEFAULT_MIN_REPORTS
from discreet.server.backup import backup_database
from discreet.server.storage import ReportStore
from tests.server_support import ServiceProcess, http, start_listening_process

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
CLIENT = "127.0.0.2"  # the "device": a loopback address the service itself never uses


def _unit() -> tuple[list[str], dict[str, str]]:
    """The unit's ExecStart words and its Environment= settings."""
    command: list[str] = []
    environment: dict[str, str] = {}
    for line in (DEPLOY / "discreet.service").read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key == "ExecStart":
            command = shlex.split(value)
        elif key == "Environment":
            name, _, setting = value.partition("=")
            environment[name] = setting
    return command, environment


@pytest.fixture
def served(repo: PublisherRepository, publish: Callable[..., object]) -> PublisherRepository:
    publish()
    return repo


def _start_as_the_unit(
    repo: PublisherRepository, tmp_path: Path, **variables: str
) -> tuple[ServiceProcess, Path]:
    """The unit's ExecStart (its program: this interpreter's discreet) with the shipped
    settings file, pointed at ``repo``; ``variables`` are more DISCREET_SERVE_* settings."""
    command, environment = _unit()
    assert command[0].endswith("/bin/discreet")
    assert command[1] == "serve"
    config = (DEPLOY / "serve.toml").read_text(encoding="utf-8")
    db = tmp_path / "state" / "reports.db"
    db.parent.mkdir()
    config = config.replace('"/var/lib/discreet/repo"', json.dumps(str(repo.path)))
    config = config.replace('"/var/lib/discreet/reports.db"', json.dumps(str(db)))
    config = config.replace("port = 8080", "port = 0").replace(
        "min-reports = 1000", "min-reports = 1"
    )
    settings = tmp_path / "serve.toml"
    settings.write_text(config, encoding="utf-8")
    assert environment["DISCREET_SERVE_CONFIG"] == "/etc/discreet/serve.toml"
    environment["DISCREET_SERVE_CONFIG"] = str(settings)
    env = {**os.environ, **environment, **variables}
    service = start_listening_process(
        command[2:],
        command=[sys.executable, "-m", "discreet", "serve"],
        env=env,
        stderr=subprocess.PIPE,
    )
    return service, db


def _requests_from_a_device(url_port: int) -> None:
    for method, path, body in (
        ("GET", "/healthz", None),
        ("GET", "/metadata/timestamp.json", None),
        ("POST", "/v1/reports", b"not json"),
        ("GET", "/nowhere", None),
    ):
        connection = HTTPConnection("127.0.0.1", url_port, timeout=10, source_address=(CLIENT, 0))
        connection.request(method, path, body=body, headers={"User-Agent": "device-42"})
        connection.getresponse().read()
        connection.close()


def _stop(service: ServiceProcess) -> str:
    service.process.send_signal(signal.SIGTERM)
    # A graceful stop re-raises the signal as the exit status, which systemd counts clean.
    assert service.process.wait(30) == -signal.SIGTERM
    assert service.process.stderr is not None
    with service.process.stderr as stderr:
        return stderr.read().decode("utf-8")


def test_the_units_command_line_serves_docs_metrics_and_logs_json_without_addresses(
    served: PublisherRepository, tmp_path: Path
) -> None:
    service, db = _start_as_the_unit(served, tmp_path, DISCREET_SERVE_LOG_LEVEL="debug")
    try:
        for path in ("/openapi.json", "/docs", "/metrics"):
            assert http("GET", service.url + path)[0] == 200, path
        _requests_from_a_device(service.port)
        status, _, metrics = http("GET", service.url + "/metrics")
        assert status == 200
        assert b'discreet_report_batches_rejected_total{reason="malformed"} 1.0' in metrics
    finally:
        logs = _stop(service)
    assert db.is_file(), "the database is where the settings file says"
    lines = logs.splitlines()
    assert lines, "at debug level the service says something"
    for line in lines:
        entry = json.loads(line)  # JSON lines, every one of them
        assert set(entry) >= {"time", "level", "logger", "message"}
        assert entry["level"] in ("debug", "info", "warning", "error")
    assert any(json.loads(line)["level"] == "info" for line in lines)
    for secret in (CLIENT, "device-42", "/nowhere"):
        assert secret not in logs


def test_the_service_is_quiet_by_default(served: PublisherRepository, tmp_path: Path) -> None:
    service, _ = _start_as_the_unit(served, tmp_path, DISCREET_SERVE_LOG_FORMAT="text")
    try:
        _requests_from_a_device(service.port)
    finally:
        logs = _stop(service)
    assert logs == ""


def _parsed(argv: list[str], environ: dict[str, str]) -> argparse.Namespace:
    args = build_parser().parse_args(["serve", *argv])
    SERVE_SETTINGS.resolve(args, environ)
    return args


def test_a_flag_wins_over_the_environment_which_wins_over_the_file(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(
        'port = 7001\nhost = "127.0.0.9"\nmax-connections = 11\nrefresh = false\n'
        'log-level = "info"\n',
        encoding="utf-8",
    )
    env = {"DISCREET_SERVE_CONFIG": str(config), "DISCREET_SERVE_PORT": "7002"}
    env["DISCREET_SERVE_MAX_CONNECTIONS"] = "12"
    args = _parsed(["--max-connections", "13"], env)
    assert (args.port, args.host, args.max_connections) == (7002, "127.0.0.9", 13)
    assert (args.refresh, args.log_level, args.log_format) == (False, "info", "text")
    assert args.min_reports == DEFAULT_MIN_REPORTS  # no source: the default
    args = _parsed(["--config", str(config)], {"DISCREET_SERVE_REFRESH": "yes"})
    assert (args.port, args.refresh) == (7001, True)
    args = _parsed(["--no-refresh"], {"DISCREET_SERVE_REFRESH": "yes"})
    assert args.refresh is False


@pytest.mark.parametrize(
    ("file_text", "environ", "says"),
    [
        ("", {"DISCREET_SERVE_PORT": "70000"}, "DISCREET_SERVE_PORT: '70000' is not a port"),
        ("", {"DISCREET_SERVE_LOG_LEVEL": "loud"}, "DISCREET_SERVE_LOG_LEVEL: 'loud' is not one"),
        ("max-conections = 5\n", {}, "unknown setting max-conections"),
        ("port = [1]\n", {}, "port: [1] is not a text or a number"),
        ("port = 8080\nport = 1\n", {}, "is not TOML"),
    ],
)
def test_a_wrong_setting_is_one_error_naming_where_it_came_from(
    tmp_path: Path, file_text: str, environ: dict[str, str], says: str
) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(file_text, encoding="utf-8")
    with pytest.raises(ServiceConfigError, match=None) as caught:
        _parsed(["--config", str(config)], environ)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_cli_says_a_missing_config_file_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "discreet", "serve", "--config", str(tmp_path / "none.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "cannot read the config file" in done.stderr


def _filled_store(db: Path, params: ReportingParams) -> None:
    """A store with one registered catalog."""
    store = ReportStore(db)
    store.register_catalog(1, params, [f"i{n}" for n in range(8)])
    store.close()


@pytest.fixture
def reporting(served: PublisherRepository) -> ReportingParams:
    from discreet.catalog.manifest import Manifest

    target = served.current_targets()["catalog/manifest.json"]
    return Manifest.from_json(json.loads(served.target_path(target).read_bytes())).reporting


def test_a_backup_taken_during_writes_holds_whole_requests_and_the_final_sums(
    tmp_path: Path, reporting: ReportingParams
) -> None:
    db = tmp_path / "reports.db"
    _filled_store(db, reporting)
    store = ReportStore(db)
    oracle = reporting.kinds["category"].oracle
    rng = np.random.default_rng(3)
    period, per_request, requests = "2026-W48", 5, 60
    stop = threading.Event()

    def write() -> None:
        for _ in range(requests):
            payloads = oracle.privatise_many(rng.integers(0, oracle.domain_size, per_request), rng)
            store.ingest(
                [
                    (os.urandom(16), Report("category", oracle.mechanism, 1, period, int(p)))
                    for p in payloads
                ]
            )
        stop.set()

    writer = threading.Thread(target=write)
    writer.start()
    copies = []
    try:
        while not stop.is_set() or not copies:
            copy = tmp_path / f"copy-{len(copies)}.db"
            done = subprocess.run(
                [sys.executable, "-m", "discreet", "serve", "backup", str(copy), "--db", str(db)],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            assert f"backed up {db} to {copy}" in done.stdout
            copies.append(copy)
    finally:
        writer.join(60)
    final = tmp_path / "final.db"
    backup_database(db, final)
    expected = store.sketch(period, "category", 1)
    store.close()
    assert expected is not None
    assert expected.n == per_request * requests
    for copy in copies:  # each copy opens, and holds whole requests only
        restored = ReportStore(copy, create=False)
        sketch = restored.sketch(period, "category", 1)
        restored.close()
        count = 0 if sketch is None else sketch.n
        assert count % per_request == 0, count
    restored = ReportStore(final, create=False)
    got = restored.sketch(period, "category", 1)
    assert restored.catalogs == {1: reporting}
    restored.close()
    assert got is not None
    assert got.n == expected.n
    assert np.array_equal(got.vector, expected.vector)


def test_a_failed_backup_leaves_the_previous_one(tmp_path: Path) -> None:
    previous = tmp_path / "backup.db"
    previous.write_bytes(b"the previous backup")
    not_a_database = tmp_path / "notes.db"
    not_a_database.write_bytes(b"x" * 4096)
    with pytest.raises(BackupError, match="is it a report database"):
        backup_database(not_a_database, previous)
    with pytest.raises(FileNotFoundError):
        backup_database(tmp_path / "missing.db", previous)
    assert previous.read_bytes() == b"the previous backup"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.db", "notes.db"]
