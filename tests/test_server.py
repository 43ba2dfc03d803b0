"""The service over real HTTP: the whole loop, hostile input, limits, privacy of the logs."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discreet.catalog.reader import Catalog
from discreet.errors import SourceUnavailableError
from discreet.profile.reports import prepare_reports
from discreet.profile.session import ProfileConfig, ProfileHome, ProfileSession
from discreet.protocol.report import Report, period_of
from discreet.protocol.wire import Limits, encode_batch
from discreet.publish.publisher import publish_catalog
from discreet.publish.repository import PublisherRepository
from discreet.server.app import Service
from discreet.server.storage import ReportStore
from discreet.store.keys import KeyFileKey
from discreet.sync.client import sync_catalog
from discreet.sync.installed import InstalledCatalogs
from discreet.sync.reports import send_reports
from tests.clock_support import ManualClock
from tests.server_support import http, refused_port, running_service

TODAY = dt.date.today()


def _reports(catalog: Catalog, n: int, rng: np.random.Generator) -> list[tuple[bytes, bytes]]:
    """``n`` valid category reports for this week, as (token, bytes)."""
    oracle = catalog.manifest.reporting.kinds["category"].oracle
    payloads = oracle.privatise_many(rng.integers(0, oracle.domain_size, n), rng)
    return [
        (
            secrets.token_bytes(16),
            Report(
                "category", oracle.mechanism, catalog.version, period_of(TODAY), int(p)
            ).to_bytes(),
        )
        for p in payloads
    ]


@pytest.fixture
def served(
    repo: PublisherRepository, publish: Callable[..., object], tmp_path: Path
) -> tuple[PublisherRepository, Path]:
    publish()
    return repo, tmp_path / "reports.db"


def test_the_whole_loop_over_http(
    served: tuple[PublisherRepository, Path], inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, db = served
    with running_service(repo, db, min_reports=1, rescan_seconds=0) as service:
        # A device syncs over HTTP, records, consents and sends through the real code.
        home = tmp_path / "device"
        assert sync_catalog(home, service.url, root=repo.trusted_root_path).version == 1
        catalog = InstalledCatalogs(home).open()
        key = KeyFileKey.create(tmp_path / "device.key")
        session = ProfileHome(home).create(
            key, ProfileConfig("standard", "keyfile", str(key.path)), TODAY
        )
        assert session is not None
        for item in ("b1", "b2", "b5"):
            session.record(catalog, item, "like", TODAY)
        params = catalog.manifest.reporting
        session.profile.grant(params.to_json(), TODAY)
        prepare_reports(session.profile, catalog, params, TODAY, np.random.default_rng(1))
        result = send_reports(session.profile, service.url, max_delay=0)
        session.save()
        assert (result.sent, result.duplicates) == (2, 0)
        assert session.profile.outbox == []
        assert {e.status for e in session.profile.ledger} == {"sent"}
        session.close()
        # Many more devices, simulated through the same oracle, make estimates possible.
        rng = np.random.default_rng(2)
        batch = _reports(catalog, 300, rng)
        status, _, answer = http("POST", service.url + "/v1/reports", encode_batch(batch))
        assert (status, answer) == (200, {"accepted": 300, "duplicates": 0})
        item_oracle = params.kinds["item"].oracle
        payloads = item_oracle.privatise_many(rng.integers(1, 9, 400), rng)
        items = [
            (
                secrets.token_bytes(16),
                Report("item", item_oracle.mechanism, 1, period_of(TODAY), int(p)).to_bytes(),
            )
            for p in payloads
        ]
        assert http("POST", service.url + "/v1/reports", encode_batch(items))[0] == 200
        status, _, estimates = http(
            "GET", f"{service.url}/v1/estimates?period={period_of(TODAY)}&kind=item"
        )
        assert status == 200
        assert estimates["reports"] == 401
        assert set(estimates["estimates"]) == {"b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8"}
        # The estimates feed the next catalog, which the device syncs over HTTP.
        popularity = tmp_path / "popularity.json"
        popularity.write_text(json.dumps(estimates), encoding="utf-8")
        assert (
            publish_catalog(repo, inputs[0], inputs[1], popularity_path=popularity).manifest.version
            == 2
        )
        assert sync_catalog(home, service.url).version == 2
        assert InstalledCatalogs(home).open().manifest.popularity_source == "estimates"
        # Reports naming the new catalog are accepted once it is published.
        newer = [(t, r[:4] + (2).to_bytes(4, "big") + r[8:]) for t, r in _reports(catalog, 3, rng)]
        assert http("POST", service.url + "/v1/reports", encode_batch(newer))[0] == 200
        assert 2 in service.store.catalogs


def test_a_new_catalog_is_looked_for_at_most_once_per_interval(
    served: tuple[PublisherRepository, Path], inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, db = served
    clock = ManualClock()
    store = ReportStore(db)
    try:
        service = Service(
            repo,
            store,
            limits=Limits(),
            min_reports=1,
            today=dt.date.today,
            rescan_seconds=2.0,
            clock=clock,
        )
        service.rescan()  # the first look is immediate
        assert set(store.catalogs) == {1}
        publish_catalog(repo, inputs[0], inputs[1])
        clock.advance(1.9)
        service.rescan()
        assert set(store.catalogs) == {1}, "looked again within the interval"
        clock.advance(0.1)
        service.rescan()
        assert set(store.catalogs) == {1, 2}
    finally:
        store.close()


def test_retried_batches_count_once(served: tuple[PublisherRepository, Path]) -> None:
    repo, db = served
    with running_service(repo, db) as service:
        installed = _catalog_of(repo)
        batch = _reports(installed, 50, np.random.default_rng(3))
        body = encode_batch(batch)
        assert http("POST", service.url + "/v1/reports", body)[2] == {
            "accepted": 50,
            "duplicates": 0,
        }
        assert http("POST", service.url + "/v1/reports", body)[2] == {
            "accepted": 0,
            "duplicates": 50,
        }
        doubled = encode_batch(
            batch[:5] + batch[:5] + _reports(installed, 2, np.random.default_rng(4))
        )
        assert http("POST", service.url + "/v1/reports", doubled)[2] == {
            "accepted": 2,
            "duplicates": 10,
        }
        assert service.store.consistency() == {"reports": 52, "tokens": 52}


class _WatchedLock:
    """A lock that tells when a thread starts waiting for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.waiting = threading.Event()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self._lock.acquire(blocking=False):
            return True
        if not blocking:
            return False
        self.waiting.set()
        return self._lock.acquire(timeout=timeout)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def test_a_busy_store_never_blocks_the_event_loop(
    served: tuple[PublisherRepository, Path],
) -> None:
    """A batch waits for a busy store in a thread, never on the event loop."""
    repo, db = served
    with running_service(repo, db) as service:
        installed = _catalog_of(repo)
        small = _reports(installed, 3, np.random.default_rng(5))
        parsed = [(token, Report.from_bytes(data)) for token, data in small]
        assert service.store.ingest(parsed[:1]).accepted == 1
        lock = _WatchedLock()
        service.store._lock = lock  # type: ignore[assignment]
        assert lock.acquire()  # another writer, mid-transaction
        answer: list[tuple[int, dict[str, str], object]] = []
        poster = threading.Thread(
            target=lambda: answer.append(
                http("POST", service.url + "/v1/reports", encode_batch(small[1:]))
            )
        )
        try:
            poster.start()
            assert lock.waiting.wait(30), "the batch never reached the store"
            assert http("GET", service.url + "/healthz")[0] == 200  # the loop is free
            assert not answer, "the batch was written while the store was held"
        finally:
            lock.release()
        poster.join(10)
        status, _, body = answer[0]
        assert status == 200
        assert body == {"accepted": 2, "duplicates": 0}
        assert service.store.consistency() == {"reports": 3, "tokens": 3}


def _catalog_of(repo: PublisherRepository) -> Catalog:
    folder = repo.path / "view"
    if not folder.exists():
        folder.mkdir()
        for name, target in repo.current_targets().items():
            (folder / name.removeprefix("catalog/")).write_bytes(
                repo.target_path(target).read_bytes()
            )
    return Catalog.open(folder)


@pytest.mark.parametrize(
    ("mutate", "status", "message"),
    [
        (lambda d: {**d, "extra": 1}, 422, "exactly 'format_version' and 'reports'"),
        (lambda d: {**d, "format_version": 2}, 422, "unsupported batch format"),
        (lambda d: {**d, "reports": []}, 422, "non-empty list"),
        (lambda d: {**d, "reports": [{**d["reports"][0], "ip": "x"}]}, 422, "exactly 'token'"),
        (lambda d: {**d, "reports": [{**d["reports"][0], "token": "ab"}]}, 422, "token must be 32"),
        (lambda d: {**d, "reports": [{**d["reports"][0], "report": "00" * 15}]}, 422, "must be 32"),
    ],
)
def test_malformed_batches_are_refused_with_json_errors(
    served: tuple[PublisherRepository, Path],
    mutate: Callable[[dict[str, object]], dict[str, object]],
    status: int,
    message: str,
) -> None:
    repo, db = served
    with running_service(repo, db) as service:
        good = json.loads(encode_batch(_reports(_catalog_of(repo), 1, np.random.default_rng(5))))
        got, _, answer = http(
            "POST", service.url + "/v1/reports", json.dumps(mutate(good)).encode()
        )
        assert got == status
        assert message in answer["error"]
        assert service.store.consistency() == {"reports": 0, "tokens": 0}


def test_wrong_period_mechanism_or_catalog_is_refused(
    served: tuple[PublisherRepository, Path],
) -> None:
    repo, db = served
    catalog = _catalog_of(repo)
    with running_service(repo, db) as service:
        token, report = _reports(catalog, 1, np.random.default_rng(6))[0]
        parsed = Report.from_bytes(report)
        cases = {
            "stale period": Report(
                parsed.kind,
                parsed.mechanism,
                1,
                period_of(TODAY - dt.timedelta(weeks=5)),
                parsed.payload,
            ),
            "future period": Report(
                parsed.kind,
                parsed.mechanism,
                1,
                period_of(TODAY + dt.timedelta(weeks=2)),
                parsed.payload,
            ),
            "never published": Report(
                parsed.kind, parsed.mechanism, 77, parsed.period, parsed.payload
            ),
            "mechanism": Report(
                parsed.kind, "grr" if parsed.mechanism == "lh" else "lh", 1, parsed.period, 0
            ),
        }
        for expected, bad in cases.items():
            status, _, answer = http(
                "POST", service.url + "/v1/reports", encode_batch([(token, bad.to_bytes())])
            )
            assert status == 422, expected
            assert expected in answer["error"]
        unknown_mechanism = report[:2] + b"\x09" + report[3:]
        status, _, answer = http(
            "POST", service.url + "/v1/reports", encode_batch([(token, unknown_mechanism)])
        )
        assert status == 422
        assert service.store.consistency() == {"reports": 0, "tokens": 0}


def test_oversized_bodies_get_413(served: tuple[PublisherRepository, Path]) -> None:
    repo, db = served
    limits = Limits(max_body_bytes=10_000, max_reports=20)
    with running_service(repo, db, limits=limits) as service:
        status, _, _ = http("POST", service.url + "/v1/reports", b"x" * 20_000)
        assert status == 413
        many = encode_batch(_reports(_catalog_of(repo), 21, np.random.default_rng(7)))
        assert len(many) < 10_000
        assert http("POST", service.url + "/v1/reports", many)[0] == 413
        # A chunked body with no declared length is cut off as it streams in.
        with socket.create_connection(("127.0.0.1", service.port)) as raw:
            raw.sendall(
                b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"y" * 4000
            for _ in range(4):
                raw.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            raw.sendall(b"0\r\n\r\n")
            assert raw.recv(100).startswith(b"HTTP/1.1 413")


def test_slow_and_truncated_bodies_do_not_hang_the_service(
    served: tuple[PublisherRepository, Path],
) -> None:
    repo, db = served
    with running_service(repo, db, limits=Limits(body_timeout=0.5)) as service:
        slow = socket.create_connection(("127.0.0.1", service.port))
        slow.sendall(b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        started = time.monotonic()
        assert http("GET", service.url + "/healthz")[0] == 200  # others are served meanwhile
        slow.settimeout(5)
        assert slow.recv(100).startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < 4
        slow.close()
        cut = socket.create_connection(("127.0.0.1", service.port))
        cut.sendall(b'POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"form')
        cut.shutdown(socket.SHUT_WR)  # the client gives up mid-body
        cut.settimeout(10)
        assert cut.recv(100) == b"", "the service did not drop the cut-off request"
        cut.close()
        assert http("GET", service.url + "/healthz")[0] == 200
        assert service.store.consistency() == {"reports": 0, "tokens": 0}


def test_catalog_files_have_the_right_cache_headers(
    served: tuple[PublisherRepository, Path],
) -> None:
    repo, db = served
    with running_service(repo, db) as service:
        status, headers, _ = http("GET", service.url + "/metadata/timestamp.json")
        assert status == 200
        assert headers["cache-control"] == "no-cache"
        target = repo.target_path(repo.current_targets()["catalog/manifest.json"]).name
        status, headers, _ = http("GET", f"{service.url}/targets/catalog/{target}")
        assert status == 200
        assert "immutable" in headers["cache-control"]
        etag = headers["etag"]
        assert (
            http("GET", f"{service.url}/targets/catalog/{target}", headers={"If-None-Match": etag})[
                0
            ]
            == 304
        )
        for bad in (
            "/metadata/..%2Fkeys%2Froot.pem",
            "/metadata/9.root.json",
            "/targets/catalog/nope",
        ):
            assert http("GET", service.url + bad)[0] == 404


def test_privacy_statement_and_no_client_data_stored(
    served: tuple[PublisherRepository, Path],
) -> None:
    repo, db = served
    with running_service(repo, db) as service:
        statement = http("GET", service.url + "/v1/privacy")[2]
        assert statement["reporting_parameters"]["epsilon_per_period"] == 2.0
        assert "client IP addresses (no access log is written)" in statement["does_not_collect"]
        batch = encode_batch(_reports(_catalog_of(repo), 10, np.random.default_rng(8)))
        agent = "Spy-Agent/9.9 (unique-fingerprint-xyz)"
        assert http("POST", service.url + "/v1/reports", batch, {"User-Agent": agent})[0] == 200
    columns = {
        column
        for (table,) in sqlite3.connect(db).execute(
            "SELECT name FROM sqlite_master WHERE type='table'"
        )
        for column in (row[1] for row in sqlite3.connect(db).execute(f"PRAGMA table_info({table})"))
    }
    assert {"token", "period", "kind", "counts"} <= columns  # the schema was read
    assert not {c for c in columns if any(w in c for w in ("ip", "addr", "agent", "host", "time"))}
    for file in db.parent.glob("reports.db*"):
        data = file.read_bytes()
        assert b"127.0.0.1" not in data
        assert b"unique-fingerprint" not in data


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats(allow_nan=False)
            | st.text(max_size=40),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=10), inner, max_size=4)
            ),
            max_leaves=20,
        ).map(lambda v: json.dumps(v).encode()),
        st.builds(
            lambda token, report: json.dumps(
                {"format_version": 1, "reports": [{"token": token, "report": report}]}
            ).encode(),
            st.text(alphabet="0123456789abcdef", min_size=30, max_size=34),
            st.text(alphabet="0123456789abcdef", min_size=30, max_size=34),
        ),
    )
)
def test_fuzzed_reports_never_cause_a_5xx(
    fuzz_service: tuple[str, Callable[[], dict[str, int]]], body: bytes
) -> None:
    url, consistency = fuzz_service
    status, _, answer = http(
        "POST", url + "/v1/reports", body, {"Content-Type": "application/json"}
    )
    assert status < 500, answer
    if status != 200:
        assert isinstance(answer, dict)
        assert "error" in answer
    counted = consistency()
    assert counted["reports"] == counted["tokens"]


@pytest.fixture(scope="module")
def fuzz_service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Callable[[], dict[str, int]]]]:
    from tests.conftest import ITEMS, TAXONOMY

    folder = tmp_path_factory.mktemp("fuzz")
    items, taxonomy = folder / "items.jsonl", folder / "taxonomy.json"
    items.write_text("".join(json.dumps(i) + "\n" for i in ITEMS), encoding="utf-8")
    taxonomy.write_text(json.dumps(TAXONOMY), encoding="utf-8")
    repo = PublisherRepository.init(folder / "repo")
    publish_catalog(repo, items, taxonomy)
    with running_service(repo, folder / "fuzz.db") as service:
        yield service.url, service.store.consistency


def _queued_session(home: Path, tmp_path: Path, seed: int) -> ProfileSession:
    """A device's profile with a like recorded, consent given and its reports queued."""
    key = KeyFileKey.create(tmp_path / "k.key")
    session = ProfileHome(home).create(
        key, ProfileConfig("standard", "keyfile", str(key.path)), TODAY
    )
    assert session is not None
    catalog = InstalledCatalogs(home).open()
    session.record(catalog, "b1", "like", TODAY)
    params = catalog.manifest.reporting
    session.profile.grant(params.to_json(), TODAY)
    prepare_reports(session.profile, catalog, params, TODAY, np.random.default_rng(seed))
    return session


def test_offline_client_keeps_working(
    served: tuple[PublisherRepository, Path], tmp_path: Path
) -> None:
    repo, db = served
    home = tmp_path / "device"
    with running_service(repo, db) as service:
        sync_catalog(home, service.url, root=repo.trusted_root_path)
        url = service.url
    # The service is gone now.
    with pytest.raises(SourceUnavailableError):
        sync_catalog(home, url, timeout=2)
    assert InstalledCatalogs(home).open().version == 1
    session = _queued_session(home, tmp_path, 9)
    queued = list(session.profile.outbox)
    with refused_port() as port, pytest.raises(SourceUnavailableError, match="stay queued"):
        send_reports(
            session.profile,
            f"http://127.0.0.1:{port}",
            max_delay=0,
            attempts=2,
            sleep=lambda s: None,
        )
    assert session.profile.outbox == queued
    assert {e.status for e in session.profile.ledger} == {"pending"}
    session.close()


def test_sync_and_send_go_through_the_environment_proxy(
    served: tuple[PublisherRepository, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.server_support import forwarding_proxy

    repo, db = served
    with running_service(repo, db) as service, forwarding_proxy() as (proxy, seen):
        for name in ("http_proxy", "HTTP_PROXY"):
            monkeypatch.setenv(name, proxy)
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        home = tmp_path / "device"
        assert sync_catalog(home, service.url, root=repo.trusted_root_path).version == 1
        assert any(url.startswith(service.url + "/metadata/") for url in seen)
        assert any(url.startswith(service.url + "/targets/catalog/") for url in seen)
        session = _queued_session(home, tmp_path, 0)
        assert send_reports(session.profile, service.url, max_delay=0).sent == 2
        assert seen[-1] == service.url + "/v1/reports"
        session.close()


@contextmanager
def _broken_server(answer: bytes) -> Iterator[str]:
    """A loopback server that reads one request, writes ``answer`` and hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                with connection:
                    connection.recv(1 << 16)
                    connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        listener.close()
        thread.join(5)
        assert not thread.is_alive()


BROKEN_ANSWERS = {
    "truncated body": b'HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n{"accepted": 2',
    "no body": b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n",
    "not HTTP": b"SMTP ready\r\n",
    "empty": b"",
}


def test_a_broken_answer_keeps_the_reports_queued(
    served: tuple[PublisherRepository, Path], tmp_path: Path
) -> None:
    repo, db = served
    home = tmp_path / "device"
    with running_service(repo, db) as service:
        sync_catalog(home, service.url, root=repo.trusted_root_path)
    session = _queued_session(home, tmp_path, 4)
    queued = list(session.profile.outbox)
    assert queued
    for name, answer in BROKEN_ANSWERS.items():
        with _broken_server(answer) as url, pytest.raises(SourceUnavailableError) as caught:
            send_reports(session.profile, url, max_delay=0, attempts=2, sleep=lambda s: None)
        assert "stay queued" in str(caught.value), name
        assert session.profile.outbox == queued, name
        assert {e.status for e in session.profile.ledger} == {"pending"}, name
    session.close()
