"""The server's database: SQLite, holding only sums of reports, never a report.

Tables:

* ``catalogs``: every published catalog version the server accepts reports
  for, with its reporting parameters and item ids (to label estimates);
* ``sketches``: one additive sketch per (period, kind, catalog version): a
  fixed-size vector of little-endian 64-bit integers, the report count first,
  then the sketch's cells;
* ``tokens``: the random token of every report counted, so that a retried
  report is not counted twice. A token is all a row holds: it says nothing of
  the report's kind, week or content;
* ``release_noise``: with central noise, the one draw of standard Laplace
  noise per (period, kind, catalog version), made at its first release and
  reused for every later query and after restarts (averaging repeated queries
  must not cancel it).

**Nothing pairs two reports.** A request's reports are added into the sums
in the transaction that acknowledges them, in place: each sketch's vector
keeps its size and its place in the file, and only the cells a report touches
change (a report of local hashing touches ``2^m - 1`` of them, a report of
randomised response one). So the file holds no row per report or per
request, no order of arrival beyond which sketch got its first report, and
nothing from which one report's contribution could be told apart from
another's: the database after two requests ``(a, b)`` and ``(c, d)`` is the
same, byte for byte, as after ``(a, d)`` and ``(c, b)`` with the same tokens.
The journal is a rollback journal, deleted at every commit, not a write-ahead
log, which would keep each commit's pages (and so each request's increment)
until a checkpoint; and ``secure_delete`` zeroes anything SQLite frees. What
lies beyond SQLite (blocks the file system freed, backups taken between two
requests) is the operator's to protect.

A request is committed entirely or not at all, and acknowledged only once
committed: after a crash (even ``kill -9``) the database holds every
acknowledged request entirely and any other not at all. Requests that arrive
while a commit waits for the disk share the next transaction (a group commit),
each in a savepoint of its own. No table
has a column for anything about the sender: no address, no user agent, no time
finer than the report's week.
"""

from __future__ import annotations

import contextlib
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

from discreet.errors import EstimateUnavailableError, UnsupportedFormatError
from discreet.i18n import _
from discreet.protocol.oracle import FloatArray, FrequencyOracle, IntArray
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
from discreet.server.sketch_merge import merge_sketches

SCHEMA_VERSION = 2
#: A batch touching more than one cell in this many is added to the whole vector at once:
#: rewriting one cell from Python costs about as much as rewriting a few hundred in numpy.
_DENSE_SHARE = 256
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS catalogs (
    version INTEGER PRIMARY KEY, reporting TEXT NOT NULL, item_ids BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sketches (
    id INTEGER PRIMARY KEY, period TEXT NOT NULL, kind TEXT NOT NULL,
    catalog INTEGER NOT NULL, counts BLOB NOT NULL, UNIQUE (period, kind, catalog));
CREATE TABLE IF NOT EXISTS tokens (token BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS release_noise (
    period TEXT NOT NULL, kind TEXT NOT NULL, catalog INTEGER NOT NULL, noise BLOB NOT NULL,
    PRIMARY KEY (period, kind, catalog));
"""
_NOISE = np.dtype("<f8")
_COUNT = np.dtype("<i8")
_CELL_BYTES = _COUNT.itemsize


@dataclass(frozen=True)
class IngestResult:
    """What a batch did."""

    accepted: int
    duplicates: int


@dataclass
class _Waiting:
    """A checked batch waiting for its commit, and then its outcome."""

    batch: list[tuple[bytes, Report]]
    result: IngestResult | None = None
    error: BaseException | None = None
    done: bool = False


def require_database_folder(path: str | Path) -> None:
    """Raise ``FileNotFoundError`` unless the database's folder exists (never made silently)."""
    folder = Path(path).parent
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, "the database's folder does not exist", str(folder))


def require_database(path: str | Path) -> None:
    """Raise ``FileNotFoundError`` unless a database file is there: a mistyped path is
    not read (or backed up) as a new, empty database."""
    if not Path(path).is_file():
        raise FileNotFoundError(errno.ENOENT, _("no report database there"), str(path))


class ReportStore:
    """Thread-safe access to the server database (one connection, one lock).

    The database's folder must exist; with ``create=False`` the database too.
    ``rng`` draws the central noise (by default seeded from the OS CSPRNG).
    A database written by the previous schema (one appended increment per
    batch) is upgraded when opened: its increments are summed, and the file
    is rebuilt so that none of them is left in it.

    >>> store = ReportStore("reports.db")  # doctest: +SKIP
    >>> store.ingest([(token, report)])  # doctest: +SKIP
    """

    def __init__(
        self, path: str | Path, *, create: bool = True, rng: np.random.Generator | None = None
    ) -> None:
        self.path = Path(path)
        require_database_folder(self.path)
        if not create:
            require_database(self.path)
        # Central noise comes from the OS CSPRNG unless a test injects a generator.
        self._rng = rng if rng is not None else production_rng()
        self._lock = threading.Lock()  # the connection; held by the thread that commits
        self._queue_lock = threading.Lock()
        self._queue: list[_Waiting] = []  # checked batches waiting for the next commit
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout=5000")
        version = self._schema_version()
        if version > SCHEMA_VERSION:
            self._db.close()
            raise UnsupportedFormatError(
                _(
                    "{path} was written by a newer discreet (schema {version}); upgrade discreet"
                ).format(path=self.path, version=version)
            )
        # A rollback journal, deleted at each commit (see the module docstring), synced
        # at each commit: a crash, even a power cut, never loses an acknowledged request.
        (mode,) = self._db.execute("PRAGMA journal_mode=DELETE").fetchone()
        if mode != "delete":
            self._db.close()
            raise UnsupportedFormatError(
                _(
                    "{path} is open in another process in write-ahead-log mode "
                    "(an older discreet?); stop that process and try again"
                ).format(path=self.path)
            )
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute("PRAGMA cache_size=-65536")  # 64 MiB: the largest sketch is 8 MiB
        self._discard_stale_journal()
        if version < SCHEMA_VERSION:
            _upgrade_from_increments(self._db)
        _create_tables(self._db)
        self._catalogs: dict[int, ReportingParams] = {}
        self._reload_catalogs()

    def _discard_stale_journal(self) -> None:
        """Have SQLite reuse and delete a journal that a killed writer left behind.

        SQLite rolls back a journal the database needs (a hot one) as soon as
        anyone reads, but one whose writer was killed before it synced its
        header is not needed, and stays until the next write: it holds pages
        as they were then, from which a later copy could tell what was added
        since. Rewriting the header's ``user_version`` (unchanged) is such a write.
        """
        (user_version,) = self._db.execute("PRAGMA user_version").fetchone()
        self._db.execute(f"PRAGMA user_version = {int(user_version)}")

    def _schema_version(self) -> int:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        if self._db.execute(query).fetchone() is None:
            return SCHEMA_VERSION  # a new database
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return SCHEMA_VERSION if row is None else int(row[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    # ---- catalogs -----------------------------------------------------------------
    def _reload_catalogs(self) -> None:
        self._catalogs = _registered_catalogs(self._db)

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
        """Count a batch of (token, report) pairs, skipping seen tokens; return once committed.

        Every report is first checked against its catalog's parameters
        (:meth:`Aggregator.check`); anything invalid raises ``ValueError``
        before any write. The reports are added into their sketches' sums in
        place; nothing records which reports came together. Batches that
        arrive while a commit waits for the disk are committed together in the
        next transaction (a group commit: one disk wait for all of them), each
        entirely or, if the transaction fails, not at all.
        """
        waiting = _Waiting(list(batch))
        aggregator = Aggregator(self._catalogs)
        for _token, report in waiting.batch:
            aggregator.check(report)
        with self._queue_lock:
            self._queue.append(waiting)
        with self._lock:
            if not waiting.done:  # else a commit made while we waited took it
                with contextlib.suppress(Exception):  # each batch's outcome is in its record
                    self._commit_queued()
        if waiting.error is not None:
            raise waiting.error
        assert waiting.result is not None
        return waiting.result

    def _commit_queued(self) -> None:
        """Commit every batch queued so far in one transaction (under ``_lock``).

        Each batch is written in a savepoint of its own, so that one that
        fails (it cannot, once checked, but if it did) takes no other with it.
        """
        with self._queue_lock:
            group, self._queue = self._queue, []
        aggregator = Aggregator(self._catalogs)  # it knows every catalog the batches passed
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for waiting in group:
                self._db.execute("SAVEPOINT batch")
                try:
                    waiting.result = self._ingest_locked(waiting.batch, aggregator)
                except Exception as exc:
                    self._db.execute("ROLLBACK TO batch")
                    waiting.error = exc
                self._db.execute("RELEASE batch")
            self._db.execute("COMMIT")
        except BaseException as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            for waiting in group:
                waiting.result, waiting.error = None, exc
            raise
        finally:
            for waiting in group:
                waiting.done = True

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
        fresh: list[bytes] = []
        by_key: dict[tuple[str, str, int], list[int]] = {}
        for token, report in batch:
            if token not in seen:
                seen.add(token)  # a token repeated inside one batch counts once too
                fresh.append(token)
                key = (report.period, report.kind, report.catalog_version)
                by_key.setdefault(key, []).append(report.payload)
        self._db.executemany("INSERT INTO tokens VALUES (?)", [(t,) for t in fresh])
        for (period, kind, catalog), payloads in by_key.items():
            oracle = aggregator.params_for(kind, catalog)
            cells, values = oracle.sparse_sketch(payloads)
            self._add(self._sketch_row(period, kind, catalog, oracle), len(payloads), cells, values)
        return IngestResult(len(fresh), len(batch) - len(fresh))

    def _sketch_row(self, period: str, kind: str, catalog: int, oracle: FrequencyOracle) -> int:
        """The rowid of a key's sketch, made (all zeros, at its final size) if new."""
        key = (period, kind, catalog)
        query = "SELECT id FROM sketches WHERE period = ? AND kind = ? AND catalog = ?"
        row = self._db.execute(query, key).fetchone()
        if row is None:
            size = (1 + oracle.sketch_size()) * _CELL_BYTES
            row = self._db.execute(
                "INSERT INTO sketches (period, kind, catalog, counts) "
                "VALUES (?, ?, ?, zeroblob(?)) RETURNING id",
                (*key, size),
            ).fetchone()
        return int(row[0])

    def _add(self, rowid: int, count: int, cells: IntArray, values: FloatArray) -> None:
        """Add ``count`` reports, whose sketch is ``values`` at ``cells``, to a sketch in place.

        Only the bytes of the count and of the cells touched are rewritten,
        unless the batch touches so many cells that rewriting the vector is cheaper.
        """
        positions = np.concatenate(([0], cells + 1)).astype(np.int64)  # the count is cell 0
        amounts = np.concatenate(([count], values)).astype(np.int64)
        with self._db.blobopen("sketches", "counts", rowid) as blob:
            if len(positions) * _DENSE_SHARE > len(blob) // _CELL_BYTES:
                vector = np.frombuffer(blob.read(), dtype=_COUNT).copy()
                vector[positions] += amounts  # the cells are distinct
                blob.seek(0)
                blob.write(vector.tobytes())
                return
            for position, amount in zip(positions.tolist(), amounts.tolist(), strict=True):
                blob.seek(position * _CELL_BYTES)
                total = int.from_bytes(blob.read(_CELL_BYTES), "little", signed=True) + amount
                blob.seek(position * _CELL_BYTES)
                blob.write(total.to_bytes(_CELL_BYTES, "little", signed=True))

    # ---- reading ------------------------------------------------------------------
    def sketch(self, period: str, kind: str, catalog: int) -> Sketch | None:
        """The sketch of a key, or ``None`` if no report arrived for it."""
        oracle = Aggregator(self._catalogs).params_for(kind, catalog)
        with self._lock:
            row = self._db.execute(
                "SELECT counts FROM sketches WHERE period = ? AND kind = ? AND catalog = ?",
                (period, kind, catalog),
            ).fetchone()
        if row is None:
            return None
        vector = np.frombuffer(row[0], dtype=_COUNT)
        return Sketch(oracle, vector[1:].astype(np.float64), int(vector[0]))

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
        merged: Sequence[str | Path] = (),
        client: Any = None,
    ) -> Estimates:
        """Estimates for a key (the newest catalog by default), above the threshold only.

        With ``merged`` (other servers' databases) the estimates are those of the
        sum of this database's sketch and theirs, merged range by range on
        ``client`` if given (see :mod:`discreet.server.sketch_merge`).

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
            raise EstimateUnavailableError(
                _("catalog v{catalog} takes no {kind} reports").format(catalog=catalog, kind=kind)
            )
        aggregator = Aggregator(self._catalogs)
        sketch = (
            merge_sketches(
                [self.path, *merged],
                aggregator.params_for(kind, catalog),
                (period, kind, catalog),
                client=client,
            )
            if merged
            else self.sketch(period, kind, catalog)
        )
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

    def consistency(self) -> dict[str, int]:
        """The reports the sketches count, and the tokens stored (always equal)."""
        with self._lock:
            (tokens,) = self._db.execute("SELECT COUNT(*) FROM tokens").fetchone()
            rows = self._db.execute("SELECT counts FROM sketches").fetchall()
        reports = sum(int(np.frombuffer(c, dtype=_COUNT, count=1)[0]) for (c,) in rows)
        return {"reports": reports, "tokens": int(tokens)}


def _create_tables(db: sqlite3.Connection) -> None:
    """The tables of :data:`SCHEMA_VERSION`, statement by statement (no implicit commit)."""
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))


def _registered_catalogs(db: sqlite3.Connection) -> dict[int, ReportingParams]:
    rows = db.execute("SELECT version, reporting FROM catalogs").fetchall()
    return {int(v): ReportingParams.from_json(json.loads(r)) for v, r in rows}


def _upgrade_from_increments(db: sqlite3.Connection) -> None:
    """Schema 1 to 2: sum each sketch's appended increments; keep only the tokens.

    One transaction, then ``VACUUM``, which rebuilds the file so that neither
    the increments (each one a batch's reports together) nor the order in
    which tokens arrived is left in it.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        catalogs = _registered_catalogs(db)
        db.execute("ALTER TABLE sketches RENAME TO sketches_v1")
        db.execute("ALTER TABLE tokens RENAME TO tokens_v1")
        _create_tables(db)
        old = db.execute("SELECT id, period, kind, catalog, n FROM sketches_v1 ORDER BY id")
        for rowid, period, kind, catalog, n in old.fetchall():
            oracle = Aggregator(catalogs).params_for(kind, catalog)
            vector = np.zeros(1 + oracle.sketch_size(), dtype=np.int64)
            vector[0] = n
            parts = db.execute("SELECT cells, vals FROM increments WHERE sketch = ?", (rowid,))
            for cells, vals in parts:
                np.add.at(
                    vector,
                    np.frombuffer(cells, dtype="<u4").astype(np.int64) + 1,
                    np.frombuffer(vals, dtype="<i8"),
                )
            db.execute(
                "INSERT INTO sketches VALUES (?, ?, ?, ?, ?)",
                (rowid, period, kind, catalog, vector.astype(_COUNT).tobytes()),
            )
        db.execute("INSERT INTO tokens SELECT token FROM tokens_v1 ORDER BY token")
        for table in ("increments", "sketches_v1", "tokens_v1"):
            db.execute(f"DROP TABLE {table}")
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    db.execute("VACUUM")
