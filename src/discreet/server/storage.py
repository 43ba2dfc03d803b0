"""The server's database: SQLite in WAL mode, reports stored only as sketch increments.

Tables:

* ``catalogs``: every published catalog version the server accepts reports
  for, with its reporting parameters and item ids (to label estimates);
* ``sketches``: one additive sketch per (period, kind, catalog version), with
  its report count;
* ``increments``: each batch's sparse increment to a sketch (cell indices and
  integer values, packed), appended in the batch's transaction and merged into
  one row once many have accumulated;
* ``tokens``: the random token of every report counted, so that a retried
  batch is not counted twice;
* ``release_noise``: with central noise, the one draw of standard Laplace
  noise per (period, kind, catalog version), made at its first release and
  reused for every later query and after restarts (averaging repeated queries
  must not cancel it).

Appending one increment per batch, rather than updating each touched cell,
keeps a batch to a handful of row writes.

A batch is one transaction: after a crash (even ``kill -9``) the database holds
every batch entirely or not at all. No table has a column for anything about
the sender: no address, no user agent, no time finer than the report's week.
"""

from __future__ import annotations

import errno
import json
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from discreet.errors import EstimateUnavailableError
from discreet.protocol.oracle import FloatArray
from discreet.protocol.params import ReportingParams
from discreet.protocol.randomness import production_rng
from discreet.protocol.report import Report
from discreet.protocol.sketch import Sketch
from discreet.server.aggregate import (
    DEFAULT_MIN_REPORTS,
    Aggregator,
    Estimates,
    below_threshold,
    unit_laplace_noise,
)

SCHEMA_VERSION = 1
COMPACT_AFTER = 256  # increments per sketch before a read merges them into one
CHECKPOINT_SECONDS = 0.5
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS catalogs (
    version INTEGER PRIMARY KEY, reporting TEXT NOT NULL, item_ids BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sketches (
    id INTEGER PRIMARY KEY, period TEXT NOT NULL, kind TEXT NOT NULL,
    catalog INTEGER NOT NULL, n INTEGER NOT NULL, UNIQUE (period, kind, catalog));
CREATE TABLE IF NOT EXISTS increments (
    id INTEGER PRIMARY KEY, sketch INTEGER NOT NULL REFERENCES sketches (id),
    cells BLOB NOT NULL, vals BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS increments_by_sketch ON increments (sketch);
CREATE TABLE IF NOT EXISTS tokens (
    token BLOB PRIMARY KEY, sketch INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS release_noise (
    period TEXT NOT NULL, kind TEXT NOT NULL, catalog INTEGER NOT NULL, noise BLOB NOT NULL,
    PRIMARY KEY (period, kind, catalog));
"""
_NOISE = np.dtype("<f8")
_CELL = np.dtype("<u4")
_VALUE = np.dtype("<i8")


@dataclass(frozen=True)
class IngestResult:
    """What a batch did."""

    accepted: int
    duplicates: int


def require_database_folder(path: str | Path) -> None:
    """Raise ``FileNotFoundError`` unless the database's folder exists (never made silently)."""
    folder = Path(path).parent
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, "the database's folder does not exist", str(folder))


class ReportStore:
    """Thread-safe access to the server database (one connection, one lock).

    The database's folder must exist; with ``create=False`` the database too.
    ``rng`` draws the central noise (by default seeded from the OS CSPRNG).

    >>> store = ReportStore("reports.db")  # doctest: +SKIP
    >>> store.ingest([(token, report)])  # doctest: +SKIP
    """

    def __init__(
        self, path: str | Path, *, create: bool = True, rng: np.random.Generator | None = None
    ) -> None:
        self.path = Path(path)
        require_database_folder(self.path)
        if not create and not self.path.is_file():
            raise FileNotFoundError(errno.ENOENT, "no report database there", str(self.path))
        # Central noise comes from the OS CSPRNG unless a test injects a generator.
        self._rng = rng if rng is not None else production_rng()
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL with synchronous=NORMAL: a crash of the process loses nothing committed;
        # a power cut may lose the last commits but never leaves a partial batch.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        # Checkpoints run in the background, so that no request waits on their fsync.
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._db.executescript(_SCHEMA)
        self._db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        self._catalogs: dict[int, ReportingParams] = {}
        self._reload_catalogs()
        self._stop = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="discreet-wal-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=5000")
        try:
            while not self._stop.wait(CHECKPOINT_SECONDS):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    def close(self) -> None:
        """Stop the checkpointer, fold the WAL into the database and close it."""
        self._stop.set()
        self._checkpointer.join()
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()

    # ---- catalogs -----------------------------------------------------------------
    def _reload_catalogs(self) -> None:
        rows = self._db.execute("SELECT version, reporting FROM catalogs").fetchall()
        self._catalogs = {int(v): ReportingParams.from_json(json.loads(r)) for v, r in rows}

    def register_catalog(
        self, version: int, reporting: ReportingParams, item_ids: Sequence[str]
    ) -> bool:
        """Accept reports for a catalog version from now on; return whether it was new."""
        with self._lock:
            if version in self._catalogs:
                return False
            blob = zlib.compress(json.dumps(list(item_ids)).encode())
            self._db.execute(
                "INSERT OR IGNORE INTO catalogs VALUES (?, ?, ?)",
                (version, json.dumps(reporting.to_json(), sort_keys=True), blob),
            )
            self._catalogs[version] = reporting
            return True

    @property
    def catalogs(self) -> dict[int, ReportingParams]:
        """The registered catalog versions and their reporting parameters."""
        return dict(self._catalogs)

    def item_ids(self, version: int) -> list[str]:
        """The item ids of a registered catalog version."""
        with self._lock:
            row = self._db.execute(
                "SELECT item_ids FROM catalogs WHERE version = ?", (version,)
            ).fetchone()
        if row is None:
            raise KeyError(version)
        ids: list[str] = json.loads(zlib.decompress(row[0]))
        return ids

    # ---- ingestion ----------------------------------------------------------------
    def ingest(self, batch: Iterable[tuple[bytes, Report]]) -> IngestResult:
        """Count a batch of (token, report) pairs in one transaction, skipping seen tokens.

        Every report is first checked against its catalog's parameters
        (:meth:`Aggregator.check`); anything invalid raises ``ValueError``
        before any write.
        """
        result = self._ingest(batch, wait=True)
        assert result is not None  # a blocking acquire always succeeds
        return result

    def try_ingest(self, batch: Iterable[tuple[bytes, Report]]) -> IngestResult | None:
        """:meth:`ingest`, or ``None`` at once, writing nothing, if another thread is writing.

        For an event loop, which must not block on the lock.
        """
        return self._ingest(batch, wait=False)

    def _ingest(self, batch: Iterable[tuple[bytes, Report]], *, wait: bool) -> IngestResult | None:
        batch = list(batch)
        aggregator = Aggregator(self._catalogs)
        for _, report in batch:
            aggregator.check(report)
        if not self._lock.acquire(blocking=wait):
            return None
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = self._ingest_locked(batch, aggregator)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        finally:
            self._lock.release()
        return result

    def _ingest_locked(
        self, batch: list[tuple[bytes, Report]], aggregator: Aggregator
    ) -> IngestResult:
        tokens = [t for t, _ in batch]
        seen: set[bytes] = set()
        for start in range(0, len(tokens), 500):
            chunk = tokens[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT token FROM tokens WHERE token IN ({marks})"  # noqa: S608 (only "?")
            seen.update(row[0] for row in self._db.execute(query, chunk))
        by_key: dict[tuple[str, str, int], list[tuple[bytes, int]]] = {}
        for token, report in batch:
            if token not in seen:
                seen.add(token)  # a token repeated inside one batch counts once too
                key = (report.period, report.kind, report.catalog_version)
                by_key.setdefault(key, []).append((token, report.payload))
        accepted = 0
        for (period, kind, catalog), entries in by_key.items():
            sketch_id = self._sketch_id(period, kind, catalog, len(entries))
            self._db.executemany(
                "INSERT INTO tokens VALUES (?, ?)", [(t, sketch_id) for t, _ in entries]
            )
            params = aggregator.params_for(kind, catalog)
            cells, values = params.sparse_sketch([p for _, p in entries])
            self._db.execute(
                "INSERT INTO increments (sketch, cells, vals) VALUES (?, ?, ?)",
                (sketch_id, cells.astype(_CELL).tobytes(), values.astype(_VALUE).tobytes()),
            )
            accepted += len(entries)
        return IngestResult(accepted, len(batch) - accepted)

    def _sketch_id(self, period: str, kind: str, catalog: int, count: int) -> int:
        row = self._db.execute(
            "INSERT INTO sketches (period, kind, catalog, n) VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO UPDATE SET n = n + excluded.n RETURNING id",
            (period, kind, catalog, count),
        ).fetchone()
        return int(row[0])

    # ---- reading ------------------------------------------------------------------
    def sketch(self, period: str, kind: str, catalog: int) -> Sketch | None:
        """The sketch of a key, or ``None`` if no report arrived for it."""
        params = Aggregator(self._catalogs).params_for(kind, catalog)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT id, n FROM sketches WHERE period = ? AND kind = ? AND catalog = ?",
                    (period, kind, catalog),
                ).fetchone()
                if row is None:
                    self._db.execute("COMMIT")
                    return None
                parts = self._db.execute(
                    "SELECT cells, vals FROM increments WHERE sketch = ?", (row[0],)
                ).fetchall()
                vector = np.zeros(params.sketch_size(), dtype=np.int64)
                for cells, vals in parts:
                    np.add.at(
                        vector,
                        np.frombuffer(cells, dtype=_CELL).astype(np.int64),
                        np.frombuffer(vals, dtype=_VALUE),
                    )
                if len(parts) > COMPACT_AFTER:
                    # Merge the increments into one row, in one transaction.
                    nonzero = np.flatnonzero(vector)
                    self._db.execute("DELETE FROM increments WHERE sketch = ?", (row[0],))
                    self._db.execute(
                        "INSERT INTO increments (sketch, cells, vals) VALUES (?, ?, ?)",
                        (
                            row[0],
                            nonzero.astype(_CELL).tobytes(),
                            vector[nonzero].astype(_VALUE).tobytes(),
                        ),
                    )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return Sketch(params, vector.astype(np.float64), int(row[1]))

    def latest_catalog(self, period: str, kind: str) -> int | None:
        """The newest catalog version with reports of ``kind`` in ``period``."""
        with self._lock:
            row = self._db.execute(
                "SELECT MAX(catalog) FROM sketches WHERE period = ? AND kind = ?", (period, kind)
            ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def estimates(
        self,
        period: str,
        kind: str,
        catalog: int | None = None,
        *,
        min_reports: int = DEFAULT_MIN_REPORTS,
        central_noise: float | None = None,
    ) -> Estimates:
        """Estimates for a key (the newest catalog by default), above the threshold only.

        With ``central_noise`` (a Laplace scale b) the noise of the release is
        drawn once, at its first query above the threshold, and kept in the
        database: every later query, and every query after a restart, gets the
        same noise (see :meth:`Aggregator.estimates`).
        """
        if catalog is None:
            catalog = self.latest_catalog(period, kind)
        if catalog is None or catalog not in self._catalogs:
            # Worded as for a few reports: "none yet" would tell 0 from 1.
            raise below_threshold(period, kind, min_reports)
        if kind not in self._catalogs[catalog].kinds:
            raise EstimateUnavailableError(f"catalog v{catalog} takes no {kind} reports")
        aggregator = Aggregator(self._catalogs)
        sketch = self.sketch(period, kind, catalog)
        noise = None
        if sketch is not None:
            aggregator.sketches[(period, kind, catalog)] = sketch
            if central_noise and sketch.n >= min_reports:
                noise = self.release_noise(period, kind, catalog, sketch.oracle.domain_size)
        return aggregator.estimates(
            period, kind, catalog, min_reports=min_reports, central_noise=central_noise, noise=noise
        )

    def release_noise(self, period: str, kind: str, catalog: int, size: int) -> FloatArray:
        """The ``size`` standard Laplace draws of a release: drawn and stored at the first call."""
        key = (period, kind, catalog)
        with self._lock:
            query = "SELECT noise FROM release_noise WHERE period = ? AND kind = ? AND catalog = ?"
            row = self._db.execute(query, key).fetchone()
            if row is None:
                drawn = unit_laplace_noise(size, self._rng).astype(_NOISE)
                # INSERT OR IGNORE, then read back: another process's draw, if first, wins.
                self._db.execute(
                    "INSERT OR IGNORE INTO release_noise VALUES (?, ?, ?, ?)",
                    (*key, drawn.tobytes()),
                )
                row = self._db.execute(query, key).fetchone()
        return np.frombuffer(row[0], dtype=_NOISE).astype(np.float64)

    def consistency(self) -> list[dict[str, Any]]:
        """Per sketch: its count and the number of tokens counted for it (always equal)."""
        with self._lock:
            sketches = self._db.execute(
                "SELECT id, period, kind, catalog, n FROM sketches"
            ).fetchall()
            tokens = dict(
                self._db.execute("SELECT sketch, COUNT(*) FROM tokens GROUP BY sketch").fetchall()
            )
        return [
            {"period": p, "kind": k, "catalog": c, "n": n, "tokens": tokens.get(i, 0)}
            for i, p, k, c, n in sketches
        ]
