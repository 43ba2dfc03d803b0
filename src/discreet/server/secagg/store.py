"""One aggregator's SQLite database: reports, batches, rejections, jobs, releases.

Every change that belongs together is one transaction, so a crash leaves the
previous state: a job's output shares, its report ids (replay protection) and
its rejection counts land together or not at all. A batch's aggregate share is
kept as the VDAF's bytes with its report count and a checksum of its report
ids (XOR of SHA-256, as DAP), so that leader and helper can check they
aggregated the same reports. A batch is released once: the release, with its
noise and the sealed share that went out, is stored and the batch refuses any
new report or other collection.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from discreet.secagg.task import Task
from discreet.vdaf import AggregateShare

__all__ = ["AggregatorStore", "Batch", "Release", "checksum"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    report_id BLOB PRIMARY KEY, period TEXT NOT NULL, body BLOB, digest BLOB
);
CREATE INDEX IF NOT EXISTS reports_pending ON reports (period) WHERE body IS NOT NULL;
CREATE TABLE IF NOT EXISTS batches (
    period TEXT PRIMARY KEY, share BLOB NOT NULL, reports INTEGER NOT NULL,
    checksum BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS rejections (
    period TEXT NOT NULL, reason TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (period, reason)
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY, request_hash BLOB NOT NULL, response BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    period TEXT PRIMARY KEY, count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS releases (
    period TEXT PRIMARY KEY, collection_id TEXT NOT NULL, noise BLOB NOT NULL,
    response BLOB
);
"""


def checksum(report_ids: Iterable[bytes], start: bytes = bytes(32)) -> bytes:
    """XOR of SHA-256 of each report id, on top of ``start``."""
    value = int.from_bytes(start, "big")
    for report_id in report_ids:
        value ^= int.from_bytes(hashlib.sha256(report_id).digest(), "big")
    return value.to_bytes(32, "big")


@dataclass(frozen=True)
class Batch:
    """A batch's state at one aggregator."""

    period: str
    share: AggregateShare
    reports: int
    checksum: bytes
    rejected: dict[str, int]


@dataclass(frozen=True)
class Release:
    """A batch's release: the collection it was for, its noise, the response that went out."""

    collection_id: str
    noise: np.ndarray
    response: bytes | None


class AggregatorStore:
    """The database of one aggregator for one task (thread-safe; one writer at a time)."""

    def __init__(self, path: Path, task: Task) -> None:
        self.path = Path(path)
        self.task = task
        self._vdaf = task.vdaf()
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = [row[1] for row in self._db.execute("PRAGMA table_info(reports)")]
        if "digest" not in columns:  # a database from before identical retries were known
            self._db.execute("ALTER TABLE reports ADD COLUMN digest BLOB")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # Reports (leader) and replay protection (both) --------------------------

    def add_report(
        self, report_id: bytes, period: str, body: bytes, max_uploads: int
    ) -> str | None:
        """Keep an uploaded report until it is aggregated; the rejection reason (counted) if
        it is a replay, its batch's release has started, or its batch already holds
        ``max_uploads`` reports. A device's identical retry of a report it sent before is
        accepted again (``None``) and kept once."""
        digest = hashlib.sha256(body).digest()
        with self._transaction() as db:
            row = db.execute(
                "SELECT digest FROM reports WHERE report_id = ?", (report_id,)
            ).fetchone()
            if row is not None and row[0] is not None and bytes(row[0]) == digest:
                return None
            reason = self._refusal(db, report_id, period)
            if reason is None and self._uploads(db, period) >= max_uploads:
                reason = "batch_full"
            if reason is None:
                db.execute(
                    "INSERT INTO reports (report_id, period, body, digest) VALUES (?, ?, ?, ?)",
                    (report_id, period, body, digest),
                )
                db.execute(
                    "INSERT INTO uploads VALUES (?, 1) "
                    "ON CONFLICT (period) DO UPDATE SET count = count + 1",
                    (period,),
                )
            else:
                self._count(db, period, {reason: 1})
        return reason

    @staticmethod
    def _uploads(db: sqlite3.Connection, period: str) -> int:
        row = db.execute("SELECT count FROM uploads WHERE period = ?", (period,)).fetchone()
        return 0 if row is None else int(row[0])

    @staticmethod
    def _refusal(db: sqlite3.Connection, report_id: bytes, period: str) -> str | None:
        released = db.execute("SELECT 1 FROM releases WHERE period = ?", (period,)).fetchone()
        if released:
            return "batch_collected"
        seen = db.execute("SELECT 1 FROM reports WHERE report_id = ?", (report_id,)).fetchone()
        return "replayed" if seen else None

    def pending(self, period: str, limit: int) -> list[bytes]:
        """Up to ``limit`` uploaded reports of ``period`` not yet aggregated."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM reports WHERE period = ? AND body IS NOT NULL LIMIT ?",
                (period, limit),
            ).fetchall()
        return [bytes(row[0]) for row in rows]

    # Aggregation ----------------------------------------------------------

    def fresh(self, report_ids: Sequence[bytes], period: str) -> list[str | None]:
        """For the helper: each report's refusal (a replay, a released batch) or ``None``."""
        with self._lock:
            return [self._refusal(self._db, r, period) for r in report_ids]

    def record_job(
        self,
        period: str,
        accepted: Sequence[bytes],
        rejected: Sequence[tuple[bytes, str]],
        share: AggregateShare,
        *,
        job: tuple[str, bytes, bytes] | None = None,
    ) -> None:
        """Add a job's aggregate share to its batch, mark its reports aggregated (their
        bodies dropped, their ids kept against replays), count its rejections, and for the
        helper keep the job's response; all in one transaction."""
        with self._transaction() as db:
            current = self._batch_row(db, period)
            total = self._vdaf.merge([current[0], share]) if current else share
            reports = (current[1] if current else 0) + len(accepted)
            check = checksum(accepted, current[2] if current else bytes(32))
            db.execute(
                "INSERT OR REPLACE INTO batches (period, share, reports, checksum) "
                "VALUES (?, ?, ?, ?)",
                (period, self._vdaf.encode_agg_share(total), reports, check),
            )
            ids = [*accepted, *(r for r, _ in rejected)]
            db.executemany(
                "INSERT INTO reports (report_id, period, body) VALUES (?, ?, NULL) "
                "ON CONFLICT (report_id) DO UPDATE SET body = NULL",
                [(r, period) for r in ids],
            )
            counts: dict[str, int] = {}
            for _, reason in rejected:
                counts[reason] = counts.get(reason, 0) + 1
            self._count(db, period, counts)
            if job is not None:
                db.execute("INSERT INTO jobs VALUES (?, ?, ?)", job)

    def job_response(self, job_id: str, request_hash: bytes) -> bytes | None:
        """A job already run: its response if the request is the same; ``b""`` if another
        request used that job id; ``None`` if the job is new."""
        with self._lock:
            row = self._db.execute(
                "SELECT request_hash, response FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
        if row is None:
            return None
        return bytes(row[1]) if bytes(row[0]) == request_hash else b""

    @staticmethod
    def _count(db: sqlite3.Connection, period: str, counts: dict[str, int]) -> None:
        db.executemany(
            "INSERT INTO rejections VALUES (?, ?, ?) "
            "ON CONFLICT (period, reason) DO UPDATE SET count = count + excluded.count",
            [(period, reason, n) for reason, n in counts.items()],
        )

    def _batch_row(
        self, db: sqlite3.Connection, period: str
    ) -> tuple[AggregateShare, int, bytes] | None:
        row = db.execute(
            "SELECT share, reports, checksum FROM batches WHERE period = ?", (period,)
        ).fetchone()
        if row is None:
            return None
        return self._vdaf.decode_agg_share(bytes(row[0])), int(row[1]), bytes(row[2])

    def batch(self, period: str) -> Batch:
        """The batch's aggregate share, report count, checksum and rejection counts."""
        with self._lock:
            row = self._batch_row(self._db, period)
            rejected = dict(
                self._db.execute(
                    "SELECT reason, count FROM rejections WHERE period = ?", (period,)
                ).fetchall()
            )
        if row is None:
            empty = self._vdaf.aggregate([])
            return Batch(period, empty, 0, bytes(32), rejected)
        return Batch(period, row[0], row[1], row[2], rejected)

    # Release --------------------------------------------------------------

    def release(self, period: str) -> Release | None:
        """The batch's release so far (``None``: never started)."""
        with self._lock:
            row = self._db.execute(
                "SELECT collection_id, noise, response FROM releases WHERE period = ?", (period,)
            ).fetchone()
        if row is None:
            return None
        noise = np.frombuffer(bytes(row[1]), dtype="<i8").astype(np.int64)
        return Release(row[0], noise, None if row[2] is None else bytes(row[2]))

    def start_release(self, period: str, collection_id: str, noise: np.ndarray) -> Release:
        """Store the noise for the batch's one release (kept if a release already started)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO releases (period, collection_id, noise) VALUES (?, ?, ?)",
                (period, collection_id, noise.astype("<i8").tobytes()),
            )
            row = db.execute(
                "SELECT collection_id, noise FROM releases WHERE period = ?", (period,)
            ).fetchone()
        return Release(row[0], np.frombuffer(bytes(row[1]), dtype="<i8").astype(np.int64), None)

    def finish_release(self, period: str, response: bytes) -> None:
        """Record what went out: from now on the batch is closed."""
        with self._transaction() as db:
            db.execute("UPDATE releases SET response = ? WHERE period = ?", (response, period))
