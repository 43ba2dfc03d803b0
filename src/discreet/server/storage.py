"""The server's database: SQLite in WAL mode, reports stored only as sketch increments.

Tables:

* ``catalogs``: every published catalog version the server accepts reports
  for, with its reporting parameters and item ids (to label estimates);
* ``sketches`` and ``cells``: one sparse, additive sketch per (period, kind,
  catalog version), as a report count and integer cells;
* ``tokens``: the random token of every report counted, so that a retried
  batch is not counted twice.

A batch is one transaction: after a crash (even ``kill -9``) the database holds
every batch entirely or not at all. No table has a column for anything about
the sender: no address, no user agent, no time finer than the report's week.
"""

from __future__ import annotations

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
from discreet.privacy.aggregate import DEFAULT_MIN_REPORTS, Aggregator, Estimates, Sketch
from discreet.privacy.params import ReportingParams
from discreet.privacy.report import Report

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS catalogs (
    version INTEGER PRIMARY KEY, reporting TEXT NOT NULL, item_ids BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sketches (
    period TEXT NOT NULL, kind TEXT NOT NULL, catalog INTEGER NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (period, kind, catalog)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cells (
    period TEXT NOT NULL, kind TEXT NOT NULL, catalog INTEGER NOT NULL,
    cell INTEGER NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (period, kind, catalog, cell)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tokens (
    token BLOB PRIMARY KEY, period TEXT NOT NULL, kind TEXT NOT NULL, catalog INTEGER NOT NULL
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class IngestResult:
    """What a batch did."""

    accepted: int
    duplicates: int


class ReportStore:
    """Thread-safe access to the server database (one connection, one lock).

    >>> store = ReportStore("reports.db")  # doctest: +SKIP
    >>> store.ingest([(token, report)])  # doctest: +SKIP
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL with synchronous=NORMAL: a crash of the process loses nothing committed;
        # a power cut may lose the last commits but never leaves a partial batch.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        self._catalogs: dict[int, ReportingParams] = {}
        self._reload_catalogs()

    def close(self) -> None:
        """Close the database."""
        with self._lock:
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

        Every report must already have been checked against its catalog
        (:meth:`check`); anything invalid raises ``ValueError`` before any write.
        """
        batch = list(batch)
        aggregator = Aggregator(self._catalogs)
        for _, report in batch:
            aggregator.check(report)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = self._ingest_locked(batch, aggregator)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
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
        fresh: list[tuple[bytes, Report]] = []
        for token, report in batch:
            if token not in seen:
                seen.add(token)  # a token repeated inside one batch counts once too
                fresh.append((token, report))
        self._db.executemany(
            "INSERT INTO tokens VALUES (?, ?, ?, ?)",
            [(t, r.period, r.kind, r.catalog_version) for t, r in fresh],
        )
        by_key: dict[tuple[str, str, int], list[int]] = {}
        for _, report in fresh:
            by_key.setdefault((report.period, report.kind, report.catalog_version), []).append(
                report.payload
            )
        for (period, kind, catalog), payloads in by_key.items():
            params = aggregator.params_for(kind, catalog)
            sketch = params.sketch(np.asarray(payloads, dtype=np.int64))
            cells = np.flatnonzero(sketch)
            self._db.executemany(
                "INSERT INTO cells VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE "
                "SET value = value + excluded.value",
                [(period, kind, catalog, int(c), int(sketch[c])) for c in cells],
            )
            self._db.execute(
                "INSERT INTO sketches VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE "
                "SET n = n + excluded.n",
                (period, kind, catalog, len(payloads)),
            )
        return IngestResult(len(fresh), len(batch) - len(fresh))

    # ---- reading ------------------------------------------------------------------
    def sketch(self, period: str, kind: str, catalog: int) -> Sketch | None:
        """The sketch of a key, or ``None`` if no report arrived for it."""
        params = Aggregator(self._catalogs).params_for(kind, catalog)
        with self._lock:
            row = self._db.execute(
                "SELECT n FROM sketches WHERE period = ? AND kind = ? AND catalog = ?",
                (period, kind, catalog),
            ).fetchone()
            cells = self._db.execute(
                "SELECT cell, value FROM cells WHERE period = ? AND kind = ? AND catalog = ?",
                (period, kind, catalog),
            ).fetchall()
        if row is None:
            return None
        vector = np.zeros(params.sketch_size(), dtype=np.float64)
        if cells:
            index, values = np.array(cells, dtype=np.int64).T
            vector[index] = values
        return Sketch(params, vector, int(row[0]))

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
        rng: np.random.Generator | None = None,
    ) -> Estimates:
        """Estimates for a key (the newest catalog by default), above the threshold only."""
        if catalog is None:
            catalog = self.latest_catalog(period, kind)
        if catalog is None or catalog not in self._catalogs:
            raise EstimateUnavailableError(f"no {kind} reports for {period} yet")
        if kind not in self._catalogs[catalog].kinds:
            raise EstimateUnavailableError(f"catalog v{catalog} takes no {kind} reports")
        aggregator = Aggregator(self._catalogs)
        sketch = self.sketch(period, kind, catalog)
        if sketch is not None:
            aggregator.sketches[(period, kind, catalog)] = sketch
        return aggregator.estimates(
            period, kind, catalog, min_reports=min_reports, central_noise=central_noise, rng=rng
        )

    def consistency(self) -> list[dict[str, Any]]:
        """Per sketch: its count and the number of tokens counted for it (always equal)."""
        with self._lock:
            sketches = self._db.execute("SELECT period, kind, catalog, n FROM sketches").fetchall()
            tokens = {
                (p, k, c): n
                for p, k, c, n in self._db.execute(
                    "SELECT period, kind, catalog, COUNT(*) FROM tokens GROUP BY 1, 2, 3"
                )
            }
        return [
            {"period": p, "kind": k, "catalog": c, "n": n, "tokens": tokens.get((p, k, c), 0)}
            for p, k, c, n in sketches
        ]
