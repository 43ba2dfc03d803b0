"""The server's report store: increments merged into one row give the same estimates."""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from discreet.protocol.report import Report, period_of
from discreet.publish.repository import PublisherRepository
from discreet.server.app import register_repository_catalogs
from discreet.server.storage import COMPACT_AFTER, ReportStore

PERIOD = period_of(dt.date(2026, 11, 30))


def _increments(db: Path) -> int:
    with sqlite3.connect(db) as conn:  # a second reader, as the WAL allows
        (count,) = conn.execute("SELECT COUNT(*) FROM increments").fetchone()
    return int(count)


@pytest.mark.parametrize("kind", ["category", "item"])
def test_compaction_keeps_every_estimate_identical(
    repo: PublisherRepository, publish: Callable[..., object], tmp_path: Path, kind: str
) -> None:
    publish()
    db = tmp_path / "reports.db"
    store = ReportStore(db)
    try:
        assert register_repository_catalogs(store, repo) == [1]
        oracle = store.catalogs[1].kinds[kind].oracle
        rng = np.random.default_rng(11)
        payloads: list[int] = []

        def send_batch() -> None:
            batch = [
                int(p) for p in oracle.privatise_many(rng.integers(0, oracle.domain_size, 3), rng)
            ]
            payloads.extend(batch)
            reports = [Report(kind, oracle.mechanism, 1, PERIOD, p) for p in batch]
            assert store.ingest((secrets.token_bytes(16), r) for r in reports).accepted == 3

        for _ in range(COMPACT_AFTER):
            send_batch()
        store.sketch(PERIOD, kind, 1)
        assert _increments(db) == COMPACT_AFTER, "merged before the threshold"
        send_batch()  # one increment over the threshold: the next read merges them
        before = store.estimates(PERIOD, kind, 1, min_reports=1)  # from 257 increments
        assert _increments(db) == 1, "the read did not compact the increments"
        after = store.estimates(PERIOD, kind, 1, min_reports=1)  # from the merged row
        assert before.reports == after.reports == len(payloads) == 3 * (COMPACT_AFTER + 1)
        np.testing.assert_array_equal(after.values, before.values)
        np.testing.assert_array_equal(after.stderr, before.stderr)
        # The merged row holds exactly the sum of what it replaced, and appends go on.
        merged = store.sketch(PERIOD, kind, 1)
        assert merged is not None
        np.testing.assert_array_equal(merged.vector, oracle.sketch(np.asarray(payloads)))
        send_batch()
        assert _increments(db) == 2
        grown = store.sketch(PERIOD, kind, 1)
        assert grown is not None
        np.testing.assert_array_equal(grown.vector, oracle.sketch(np.asarray(payloads)))
        rows = store.consistency()
        assert rows
        assert all(row["n"] == row["tokens"] for row in rows)
    finally:
        store.close()
