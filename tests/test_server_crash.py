"""``kill -9`` during ingestion: every acknowledged report is counted exactly once.

Several clients post batches at once, so that commits are shared (group
commit) when the kill lands. Scale it with ``DISCREET_SERVER_KILLS`` (kills,
default 5) and ``DISCREET_BATCHES_PER_KILL`` (at most this many acknowledged
batches before each kill, default 12); ``scripts/hostile/server_runs.sh`` runs
it at full scale.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import sqlite3
import threading
from collections.abc import Callable
from http.client import HTTPException
from pathlib import Path

import numpy as np

from discreet.protocol import FrequencyOracle
from discreet.protocol.params import ReportingParams
from discreet.protocol.report import Report, period_of
from discreet.protocol.wire import encode_batch
from discreet.publish.repository import PublisherRepository
from tests.server_support import http, start_service_process

KILLS = int(os.environ.get("DISCREET_SERVER_KILLS", "5"))
BATCHES_PER_KILL = int(os.environ.get("DISCREET_BATCHES_PER_KILL", "12"))
SENDERS = 3
BATCH = 100


class _Progress:
    """What every sender was acknowledged, under one condition."""

    def __init__(self) -> None:
        self.acknowledged: list[bytes] = []
        self.changed = threading.Condition()


class _Sender(threading.Thread):
    """Posts batches of item reports until the service dies, noting what was acknowledged."""

    def __init__(
        self, url: str, oracle: FrequencyOracle, period: str, seed: int, progress: _Progress
    ) -> None:
        super().__init__(name="report-sender")
        self.url, self.oracle, self.period = url, oracle, period
        self.rng = np.random.default_rng(seed)
        self.progress = progress
        self.sent: dict[bytes, int] = {}  # token -> payload, of every report posted
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                values = self.rng.integers(0, self.oracle.domain_size, BATCH)
                payloads = [int(p) for p in self.oracle.privatise_many(values, self.rng)]
                batch = {secrets.token_bytes(16): p for p in payloads}
                self.sent.update(batch)
                body = encode_batch(
                    [
                        (token, Report("item", self.oracle.mechanism, 1, self.period, p).to_bytes())
                        for token, p in batch.items()
                    ]
                )
                try:
                    status, _, _ = http("POST", f"{self.url}/v1/reports", body)
                except (OSError, HTTPException):
                    return  # the service died under us, perhaps mid-answer
                if status == 200:
                    with self.progress.changed:
                        self.progress.acknowledged.extend(batch)
                        self.progress.changed.notify_all()
        finally:
            with self.progress.changed:
                self.progress.changed.notify_all()


def _stored(db: Path) -> tuple[set[bytes], int, np.ndarray]:
    """The tokens, the reports counted and the item sketch's cells, read from the file."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        tokens = {row[0] for row in conn.execute("SELECT token FROM tokens")}
        [(counts,)] = conn.execute("SELECT counts FROM sketches WHERE kind = 'item'").fetchall()
    vector = np.frombuffer(counts, dtype="<i8")
    return tokens, int(vector[0]), vector[1:]


def _post_until_killed(
    repo: Path, db: Path, oracle: FrequencyOracle, period: str, kill: int, target: int
) -> tuple[list[bytes], dict[bytes, int]]:
    """Start the service, post from SENDERS clients, ``kill -9`` it after ``target`` batches.

    Returns the tokens acknowledged, and every report posted (token -> payload).
    """
    service = start_service_process(repo, db)
    progress = _Progress()
    senders = [
        _Sender(service.url, oracle, period, kill * SENDERS + i, progress) for i in range(SENDERS)
    ]
    for sender in senders:
        sender.start()
    try:
        # Kill once `target` batches are acknowledged, with more on their way.
        with progress.changed:
            progress.changed.wait_for(
                lambda: (
                    len(progress.acknowledged) >= BATCH * target
                    or not any(s.is_alive() for s in senders)
                ),
                timeout=120,
            )
            assert len(progress.acknowledged) >= BATCH * target, "the senders stopped early"
    finally:
        os.kill(service.process.pid, signal.SIGKILL)
        service.process.wait()
        for sender in senders:
            sender.stop.set()
            sender.join(20)
    assert not any(s.is_alive() for s in senders)
    return progress.acknowledged, {t: p for s in senders for t, p in s.sent.items()}


def test_killed_service_counts_every_acknowledged_report_exactly_once(
    repo: PublisherRepository, publish: Callable[..., object], tmp_path: Path
) -> None:
    publish()
    manifest = repo.target_path(repo.current_targets()["catalog/manifest.json"])
    reporting = ReportingParams.from_json(json.loads(manifest.read_bytes())["reporting"])
    oracle = reporting.kinds["item"].oracle
    period = period_of(dt.date.today())
    db = tmp_path / "reports.db"
    rng = np.random.default_rng(0)
    acknowledged: list[bytes] = []
    sent: dict[bytes, int] = {}
    targets = [int(k) for k in rng.integers(2, BATCHES_PER_KILL, size=KILLS)]
    for kill, target in enumerate(targets):
        acknowledged_now, sent_now = _post_until_killed(repo.path, db, oracle, period, kill, target)
        acknowledged += acknowledged_now
        sent.update(sent_now)
    # Restart once more: the database opens and is consistent.
    service = start_service_process(repo.path, db)
    try:
        assert http("GET", f"{service.url}/healthz")[0] == 200
    finally:
        service.process.terminate()  # SIGTERM: uvicorn shuts down gracefully, then re-raises it
        assert service.process.wait(20) in (0, -signal.SIGTERM)
    stored, counted, cells = _stored(db)
    assert len(acknowledged) >= BATCH * sum(targets)
    assert set(acknowledged) <= stored, "an acknowledged report was lost"
    assert stored <= set(sent)
    assert counted == len(stored), "the sums count reports their tokens do not account for"
    assert len(stored) % BATCH == 0, "a batch was stored in part"
    # The sums are exactly those of the stored reports, each counted once.
    expected = oracle.sketch(np.asarray([sent[t] for t in stored], dtype=np.int64))
    np.testing.assert_array_equal(cells, expected.astype(np.int64))
    assert [p.name for p in db.parent.glob("reports.db*")] == ["reports.db"], "a journal is left"
    print(
        f"server kills: {KILLS} kills, {len(acknowledged) // BATCH} acknowledged batches "
        f"({len(acknowledged)} reports) all counted once; {len(stored)} reports stored "
        f"of {len(sent)} posted"
    )
