"""A device's reports travel apart: one request each, its own delay, its own connection."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from discreet.engine import Engine
from discreet.profile.model import LedgerEntry, PendingReport, Profile
from discreet.profile.reports import prepare_reports
from discreet.profile.session import ProfileConfig, ProfileHome
from discreet.publish.repository import PublisherRepository
from discreet.store.keys import KeyFileKey
from discreet.sync.client import InstalledCatalogs, sync_catalog
from discreet.sync.reports import send_reports
from tests.crash_support import forkserver, run_and_kill, send_queued_reports
from tests.server_support import running_service

TODAY = dt.date(2026, 3, 2)


@dataclass
class KeepAliveServer:
    """A loopback HTTP/1.1 server that keeps connections open and counts them."""

    url: str = ""
    connections: int = 0
    #: (connection number, request body) per request, in arrival order.
    requests: list[tuple[int, bytes]] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)
    #: Set when a request has arrived.
    arrived: threading.Event = field(default_factory=threading.Event)
    #: Cleared, every answer waits until it is set again.
    answer: threading.Event = field(default_factory=threading.Event)


@contextmanager
def keep_alive_server() -> Iterator[KeepAliveServer]:
    state = KeepAliveServer()
    state.answer.set()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive unless the client asks otherwise

        def setup(self) -> None:
            super().setup()
            state.connections += 1
            self.number = state.connections

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append((self.number, body))
            state.timeline.append("request")
            state.arrived.set()
            assert state.answer.wait(30)
            answer = b'{"accepted": 1, "duplicates": 0}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _queued_profile() -> Profile:
    """Both kinds of report for two weeks, as a device back from a fortnight offline has."""
    profile = Profile.new(TODAY)
    for n, (period, kind) in enumerate(
        [
            ("2026-W09", "category"),
            ("2026-W09", "item"),
            ("2026-W10", "category"),
            ("2026-W10", "item"),
        ]
    ):
        data = bytes([n + 1]) * 16
        profile.outbox.append(PendingReport(period, kind, data, bytes([0xA0 + n]) * 16))
        digest = hashlib.sha256(data).hexdigest()
        profile.ledger.append(LedgerEntry(TODAY, period, kind, 1.0, digest))
    return profile


@pytest.mark.usefixtures("direct")
def test_each_report_goes_alone_after_its_own_delay_on_a_fresh_connection() -> None:
    profile = _queued_profile()
    queued = list(profile.outbox)
    with keep_alive_server() as server:
        delays: list[float] = []

        def sleep(seconds: float) -> None:
            delays.append(seconds)
            server.timeline.append("delay")

        result = send_reports(
            profile, server.url, max_delay=30.0, rng=np.random.default_rng(4), sleep=sleep
        )
    assert (result.sent, result.rejected) == (4, 0)
    assert [e.status for e in profile.ledger] == ["sent"] * 4
    # One request per report, each on its own connection although the server keeps them open.
    bodies = [json.loads(body)["reports"] for _, body in server.requests]
    assert bodies == [[{"token": r.token.hex(), "report": r.data.hex()}] for r in queued]
    assert [number for number, _ in server.requests] == [1, 2, 3, 4]
    assert server.connections == 4
    # Each after a delay of its own: four distinct draws within [0, 30 s), before each request.
    assert server.timeline == ["delay", "request"] * 4
    assert delays == pytest.approx(list(np.random.default_rng(4).uniform(0, 30.0, 4)))
    assert len(set(delays)) == 4
    assert all(0 <= d < 30.0 for d in delays)


@pytest.fixture
def direct(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy between the tests and their loopback servers."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_a_report_withdrawn_during_its_delay_is_not_sent() -> None:
    """A kiosk's "forget" replaces the profile mid-way: what it withdrew stays unsent."""
    current = [_queued_profile()]
    forgotten = current[0]
    sent: list[bytes | None] = []

    class Counting:
        def request(self, method: str, url: str, body: bytes | None, *args: object) -> object:
            sent.append(body)
            raise AssertionError("a withdrawn report was sent")

    def forget(seconds: float) -> None:
        current[0] = Profile.new(TODAY)  # the forget, while the first report waits

    result = send_reports(
        lambda: current[0],
        "http://service.example",
        rng=np.random.default_rng(0),
        sleep=forget,
        transport=Counting(),  # type: ignore[arg-type]
    )
    assert (result.sent, result.rejected, sent) == (0, 0, [])
    assert len(forgotten.outbox) == 4  # the old profile was left alone, never settled


@pytest.fixture
def device(
    repo: PublisherRepository, publish: Callable[..., object], tmp_path: Path
) -> tuple[Path, KeyFileKey]:
    """A device's home and key, with a catalog synced and both reports of this week queued."""
    publish()
    home = tmp_path / "device"
    with running_service(repo, tmp_path / "sync.db") as service:
        sync_catalog(home, service.url, root=repo.trusted_root_path)
    catalog = InstalledCatalogs(home).open()
    key = KeyFileKey.create(tmp_path / "device.key")
    today = dt.date.today()
    session = ProfileHome(home).create(
        key, ProfileConfig("standard", "keyfile", str(key.path)), today
    )
    assert session is not None
    session.record(catalog, "b1", "like", today)
    params = catalog.manifest.reporting
    session.profile.grant(params.to_json(), today)
    prepare_reports(session.profile, catalog, params, today, np.random.default_rng(1))
    assert len(session.profile.outbox) == 2
    session.save()
    session.close()
    return home, key


def test_a_crash_between_two_reports_loses_none_and_sends_none_twice(
    repo: PublisherRepository, device: tuple[Path, KeyFileKey], tmp_path: Path
) -> None:
    home, key = device
    with running_service(repo, tmp_path / "reports.db") as service:
        # The device sends its first report, saves, and is killed before the second.
        killed = run_and_kill(
            forkserver(), send_queued_reports, str(home), str(key.path), service.url, pause_at=1
        )
        assert killed.paused
        assert killed.steps == ["saved"]
        assert service.store.consistency() == {"reports": 1, "tokens": 1}
        with Engine.open(home, key=key) as engine:
            assert [e.status for e in engine.ledger()] == ["sent", "pending"]
            assert engine.queued_reports() == 1
            result = engine.send_reports(service.url, max_delay=0)
            assert (result.sent, result.duplicates) == (1, 0), "the first report went twice"
            assert [e.status for e in engine.ledger()] == ["sent", "sent"]
        assert service.store.consistency() == {"reports": 2, "tokens": 2}


@pytest.mark.usefixtures("direct")
def test_the_engine_answers_while_a_report_is_on_its_way(device: tuple[Path, KeyFileKey]) -> None:
    """The delays and the exchanges run without the engine's lock: the app is not held up."""
    home, key = device
    with keep_alive_server() as server, Engine.open(home, key=key) as engine:
        server.answer.clear()  # the service takes its time
        sender = threading.Thread(
            target=engine.send_reports, args=(server.url,), kwargs={"max_delay": 0}
        )
        sender.start()
        try:
            assert server.arrived.wait(30), "no report was sent"
            answered: list[int] = []
            probe = threading.Thread(target=lambda: answered.append(engine.queued_reports()))
            probe.start()
            probe.join(10)
            assert answered == [2], "the engine was held while a report was on its way"
        finally:
            server.answer.set()
            sender.join(30)
        assert engine.queued_reports() == 0
        assert len(server.requests) == 2
