"""The server's report store: only sums at rest, nothing that pairs two reports."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from discreet.errors import UnsupportedFormatError
from discreet.protocol.params import ReportingParams
from discreet.protocol.report import Report
from discreet.server.storage import IngestResult, ReportStore

PERIOD = "2026-W49"
LAST_WEEK = "2026-W48"
CATEGORIES = ("fiction", "cooking", "travel")
#: A category report through randomised response, an item report through local hashing.
REPORTING = ReportingParams.default_for(CATEGORIES, item_count=5_000, epsilon=1.0)
ITEM_IDS = [f"i{n}" for n in range(5_000)]


def _store(path: Path) -> ReportStore:
    store = ReportStore(path, rng=np.random.default_rng(0))
    store.register_catalog(1, REPORTING, ITEM_IDS)
    return store


def _report(kind: str, period: str, payload: int) -> Report:
    return Report(kind, REPORTING.kinds[kind].oracle.mechanism, 1, period, payload)


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file in the database's folder, as an attacker copying it would get it."""
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


#: Two devices' reports: a category report each, and an item report each (of last
#: week: a device offline for a while sends several weeks at once).
CATEGORY_A, CATEGORY_B = _report("category", PERIOD, 1), _report("category", PERIOD, 3)
ITEM_A, ITEM_B = _report("item", LAST_WEEK, 0x1234), _report("item", LAST_WEEK, 0xABCD)
TOKENS = [bytes([n]) * 16 for n in range(1, 5)]


@pytest.mark.parametrize("requests", ["one request per device", "one request per report"])
def test_the_database_never_pairs_two_reports_of_one_request_or_device(
    tmp_path: Path, requests: str
) -> None:
    """The same reports, paired into devices two ways, leave byte-identical databases.

    Device A sends (CATEGORY_A, ITEM_A) and device B (CATEGORY_B, ITEM_B); in the
    other world A sends (CATEGORY_A, ITEM_B) and B (CATEGORY_B, ITEM_A), with the
    same tokens in the same order. If anything at rest (a row per request, rows in
    arrival order, a write-ahead log) told which item report came with which
    category report, the files would differ.
    """
    worlds = {
        "paired": [CATEGORY_A, ITEM_A, CATEGORY_B, ITEM_B],
        "swapped": [CATEGORY_A, ITEM_B, CATEGORY_B, ITEM_A],
    }
    assert worlds["paired"] != worlds["swapped"]
    running: dict[str, dict[str, bytes]] = {}  # the folder while the service runs
    closed: dict[str, dict[str, bytes]] = {}
    counted = []
    for world, reports in worlds.items():
        folder = tmp_path / world
        folder.mkdir()
        store = _store(folder / "reports.db")
        try:
            pairs = list(zip(TOKENS, reports, strict=True))
            if requests == "one request per device":
                batches = [pairs[:2], pairs[2:]]
            else:
                batches = [[pair] for pair in pairs]
            for batch in batches:
                assert store.ingest(batch).accepted == len(batch)
            running[world] = _folder_bytes(folder)
            counted.append(store.consistency())
        finally:
            store.close()
        closed[world] = _folder_bytes(folder)
    assert closed["paired"] == closed["swapped"], "the database tells which reports came together"
    assert running["paired"] == running["swapped"]
    assert list(running["paired"]) == ["reports.db"], "a journal or log outlived its commit"
    assert running == closed
    assert counted == [{"reports": 4, "tokens": 4}] * 2
    # The rows themselves: one per sketch and one per token, nothing else.
    with sqlite3.connect(tmp_path / "paired" / "reports.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM sketches").fetchone() == (2,)
        token_columns = [row[1] for row in conn.execute("PRAGMA table_info(tokens)")]
        assert token_columns == ["token"]


def test_the_sums_are_exactly_the_sketch_of_every_report(tmp_path: Path) -> None:
    """Single reports (cells rewritten one by one) and big batches (the whole vector) add up."""
    rng = np.random.default_rng(11)
    store = _store(tmp_path / "reports.db")
    try:
        for kind in ("category", "item"):
            oracle = REPORTING.kinds[kind].oracle
            payloads: list[int] = []
            for size in (1, 1, 3, 400, 1, 2_000, 1):
                batch = oracle.privatise_many(rng.integers(0, oracle.domain_size, size), rng)
                payloads += [int(p) for p in batch]
                reports = [(rng.bytes(16), _report(kind, PERIOD, int(p))) for p in batch]
                assert store.ingest(reports).accepted == size
            sketch = store.sketch(PERIOD, kind, 1)
            assert sketch is not None
            assert sketch.n == len(payloads)
            np.testing.assert_array_equal(sketch.vector, oracle.sketch(np.asarray(payloads)))
        assert store.consistency()["reports"] == store.consistency()["tokens"]
    finally:
        store.close()


def _schema_1_database(path: Path) -> tuple[list[int], bytes]:
    """A database as the previous version wrote it: one increment per batch, in WAL mode.

    Returns the item payloads it holds and the bytes of one of its increments.
    """
    rng = np.random.default_rng(5)
    oracle = REPORTING.kinds["item"].oracle
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE catalogs (
            version INTEGER PRIMARY KEY, reporting TEXT NOT NULL, item_ids BLOB NOT NULL);
        CREATE TABLE sketches (
            id INTEGER PRIMARY KEY, period TEXT NOT NULL, kind TEXT NOT NULL,
            catalog INTEGER NOT NULL, n INTEGER NOT NULL, UNIQUE (period, kind, catalog));
        CREATE TABLE increments (
            id INTEGER PRIMARY KEY, sketch INTEGER NOT NULL REFERENCES sketches (id),
            cells BLOB NOT NULL, vals BLOB NOT NULL);
        CREATE INDEX increments_by_sketch ON increments (sketch);
        CREATE TABLE tokens (token BLOB PRIMARY KEY, sketch INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE release_noise (
            period TEXT NOT NULL, kind TEXT NOT NULL, catalog INTEGER NOT NULL,
            noise BLOB NOT NULL, PRIMARY KEY (period, kind, catalog));
        INSERT INTO meta VALUES ('schema_version', '1');
        """
    )
    payloads: list[int] = []
    conn.execute(
        "INSERT INTO catalogs VALUES (1, ?, ?)",
        (
            json.dumps(REPORTING.to_json(), sort_keys=True),
            zlib.compress(json.dumps(ITEM_IDS).encode()),
        ),
    )
    conn.execute("INSERT INTO sketches VALUES (1, ?, 'item', 1, 0)", (PERIOD,))
    increment = b""
    for _ in range(3):
        batch = [int(p) for p in oracle.privatise_many(rng.integers(0, 5_000, 2), rng)]
        payloads += batch
        cells, values = oracle.sparse_sketch(batch)
        increment = cells.astype("<u4").tobytes()
        conn.execute(
            "INSERT INTO increments (sketch, cells, vals) VALUES (1, ?, ?)",
            (increment, values.astype("<i8").tobytes()),
        )
        conn.executemany("INSERT INTO tokens VALUES (?, 1)", [(rng.bytes(16),) for _ in batch])
        conn.execute("UPDATE sketches SET n = n + 2")
    conn.close()
    return payloads, increment


def test_a_database_of_the_previous_schema_is_summed_and_keeps_no_increment(
    tmp_path: Path,
) -> None:
    db = tmp_path / "reports.db"
    payloads, increment = _schema_1_database(db)
    assert increment in db.read_bytes()  # each batch's increment, as it was stored
    store = ReportStore(db)
    try:
        sketch = store.sketch(PERIOD, "item", 1)
        assert sketch is not None
        assert sketch.n == len(payloads) == 6
        oracle = REPORTING.kinds["item"].oracle
        np.testing.assert_array_equal(sketch.vector, oracle.sketch(np.asarray(payloads)))
        assert store.consistency() == {"reports": 6, "tokens": 6}
        # Reports go on being counted, and a retried one is still recognised.
        with sqlite3.connect(db) as conn:
            (token,) = conn.execute("SELECT token FROM tokens LIMIT 1").fetchone()
        more = [(token, _report("item", PERIOD, 7)), (b"\x09" * 16, _report("item", PERIOD, 7))]
        assert (store.ingest(more).accepted, store.ingest(more).duplicates) == (1, 2)
    finally:
        store.close()
    assert increment not in db.read_bytes(), "an increment survived the upgrade"
    assert [p.name for p in tmp_path.iterdir()] == ["reports.db"]
    with sqlite3.connect(db) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        assert "increments" not in tables
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "reports.db"
    _store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    before = db.read_bytes()
    with pytest.raises(UnsupportedFormatError, match=r"newer discreet.*upgrade discreet"):
        ReportStore(db)
    assert db.read_bytes() == before


def test_a_journal_left_by_a_killed_writer_is_not_kept(tmp_path: Path) -> None:
    """A writer killed before it synced its journal leaves one SQLite does not need."""
    db = tmp_path / "reports.db"
    _store(db).close()
    stale = bytes(28) + b"the sums as they were" * 200  # a header never synced: not hot
    (tmp_path / "reports.db-journal").write_bytes(stale)
    store = ReportStore(db)
    try:
        assert [p.name for p in tmp_path.iterdir()] == ["reports.db"]
        assert store.catalogs.keys() == {1}
    finally:
        store.close()


def test_batches_waiting_for_a_commit_share_it_and_a_failure_takes_no_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path / "reports.db")
    commits: list[int] = []
    commit, write = store._commit_queued, store._ingest_locked

    def counted_commit() -> None:
        commits.append(len(store._queue))
        commit()

    def failing_write(batch: list[tuple[bytes, Report]], aggregator: object) -> object:
        if batch[0][0] == TOKENS[1]:
            write(batch, aggregator)  # type: ignore[arg-type]
            raise ValueError("this batch fails after writing")
        return write(batch, aggregator)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_commit_queued", counted_commit)
    monkeypatch.setattr(store, "_ingest_locked", failing_write)
    outcomes: dict[int, object] = {}

    def post(n: int) -> None:
        try:
            outcomes[n] = store.ingest([(TOKENS[n], CATEGORY_A), (TOKENS[n] + b"x", ITEM_A)])
        except ValueError as exc:
            outcomes[n] = exc

    try:
        with store._lock:  # a commit under way: the three batches queue up behind it
            threads = [threading.Thread(target=post, args=(n,)) for n in range(3)]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 30
            while len(store._queue) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
        for thread in threads:
            thread.join(30)
        assert commits == [3], "the waiting batches did not share one commit"
        assert outcomes[0] == outcomes[2] == IngestResult(2, 0)
        assert isinstance(outcomes[1], ValueError)
        assert store.consistency() == {"reports": 4, "tokens": 4}
        monkeypatch.setattr(store, "_ingest_locked", write)
        retried = store.ingest([(TOKENS[1], CATEGORY_A), (TOKENS[1] + b"x", ITEM_A)])
        assert retried == IngestResult(2, 0), "the failed batch left something behind"
    finally:
        store.close()
