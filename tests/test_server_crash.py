"""``kill -9`` during ingestion: every acknowledged batch survives, no batch is partial."""

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


class _Sender(threading.Thread):
    """Posts batches of 100 item reports until the service dies, noting what was acknowledged."""

    def __init__(self, url: str, oracle: FrequencyOracle, period: str, seed: int) -> None:
        super().__init__(name="report-sender")
        self.url, self.oracle, self.period = url, oracle, period
        self.rng = np.random.default_rng(seed)
        self.sent_tokens = 0
        self.acknowledged: list[bytes] = []
        self.progress = threading.Condition()
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                values = self.rng.integers(0, self.oracle.domain_size, 100)
                batch = [
                    (
                        secrets.token_bytes(16),
                        Report("item", self.oracle.mechanism, 1, self.period, int(p)).to_bytes(),
                    )
                    for p in self.oracle.privatise_many(values, self.rng)
                ]
                self.sent_tokens += len(batch)
                try:
                    status, _, _ = http("POST", f"{self.url}/v1/reports", encode_batch(batch))
                except (OSError, HTTPException):
                    return  # the service died under us, perhaps mid-answer
                if status == 200:
                    with self.progress:
                        self.acknowledged.extend(t for t, _ in batch)
                        self.progress.notify_all()
        finally:
            with self.progress:
                self.progress.notify_all()

    def wait_for_batches(self, n: int, timeout: float) -> bool:
        """Wait until ``n`` batches were acknowledged (``False`` if the sender stopped first)."""
        with self.progress:
            self.progress.wait_for(
                lambda: len(self.acknowledged) >= 100 * n or not self.is_alive(), timeout
            )
            return len(self.acknowledged) >= 100 * n


def test_killed_service_keeps_every_acknowledged_batch_whole(
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
    sent_tokens = 0
    targets = [int(k) for k in rng.integers(2, 12, size=5)]
    for seed, target in enumerate(targets):
        service = start_service_process(repo.path, db)
        sender = _Sender(service.url, oracle, period, seed)
        sender.start()
        try:
            # Kill once `target` batches are acknowledged, with the next one on its way.
            assert sender.wait_for_batches(target, timeout=120), "the sender stopped early"
        finally:
            os.kill(service.process.pid, signal.SIGKILL)
            service.process.wait()
            sender.stop.set()
            sender.join(20)
        assert not sender.is_alive()
        acknowledged += sender.acknowledged
        sent_tokens += sender.sent_tokens
    # Restart once more: the database opens and is consistent.
    service = start_service_process(repo.path, db)
    try:
        assert http("GET", f"{service.url}/healthz")[0] == 200
    finally:
        service.process.terminate()  # SIGTERM: uvicorn shuts down gracefully, then re-raises it
        assert service.process.wait(20) in (0, -signal.SIGTERM)
    with sqlite3.connect(db) as conn:
        stored = {row[0] for row in conn.execute("SELECT token FROM tokens")}
        (n,) = conn.execute("SELECT COALESCE(SUM(n), 0) FROM sketches").fetchone()
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(acknowledged) >= 100 * sum(targets)
    assert set(acknowledged) <= stored, "an acknowledged batch was lost"
    assert n == len(stored), "a sketch counts reports its tokens do not account for"
    assert len(stored) % 100 == 0, "a batch was stored in part"
    assert len(stored) <= sent_tokens
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "shutdown folds the WAL back in"
