"""``kill -9`` during ingestion: every acknowledged batch survives, no batch is partial."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from http.client import HTTPException
from pathlib import Path

import numpy as np

from discreet.protocol.params import ReportingParams
from discreet.protocol.report import Report, period_of
from discreet.protocol.wire import encode_batch
from discreet.publish.repository import PublisherRepository
from tests.server_support import free_port, http, start_service_process


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
    for _ in range(5):
        port = free_port()
        server = start_service_process(repo.path, db, port)
        stop = threading.Event()

        def send_batches(port: int = port, stop: threading.Event = stop) -> None:
            nonlocal sent_tokens
            while not stop.is_set():
                payloads = oracle.privatise_many(rng.integers(0, oracle.domain_size, 100), rng)
                batch = [
                    (
                        secrets.token_bytes(16),
                        Report("item", oracle.mechanism, 1, period, int(p)).to_bytes(),
                    )
                    for p in payloads
                ]
                sent_tokens += len(batch)
                try:
                    status, _, _ = http(
                        "POST", f"http://127.0.0.1:{port}/v1/reports", encode_batch(batch)
                    )
                except (OSError, HTTPException):
                    return  # the service died under us, perhaps mid-answer
                if status == 200:
                    acknowledged.extend(t for t, _ in batch)

        sender = threading.Thread(target=send_batches)
        sender.start()
        time.sleep(float(rng.uniform(0.3, 0.8)))
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
        stop.set()
        sender.join(20)
    # Restart once more: the database opens and is consistent.
    port = free_port()
    server = start_service_process(repo.path, db, port)
    try:
        assert http("GET", f"http://127.0.0.1:{port}/healthz")[0] == 200
    finally:
        server.terminate()  # SIGTERM: uvicorn shuts down gracefully, then re-raises it
        assert server.wait(20) in (0, -signal.SIGTERM)
    with sqlite3.connect(db) as conn:
        stored = {row[0] for row in conn.execute("SELECT token FROM tokens")}
        (n,) = conn.execute("SELECT COALESCE(SUM(n), 0) FROM sketches").fetchone()
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(acknowledged) > 500, "too few batches went through to test anything"
    assert set(acknowledged) <= stored, "an acknowledged batch was lost"
    assert n == len(stored), "a sketch counts reports its tokens do not account for"
    assert len(stored) % 100 == 0, "a batch was stored in part"
    assert len(stored) <= sent_tokens
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "shutdown folds the WAL back in"
