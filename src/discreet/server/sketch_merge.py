"""The LDP sums of several report databases merged into one sketch, range by range.

Several servers (or shards) each hold one sketch per (period, kind, catalog
version); sketches merge by addition. A sketch is cut into ranges of
:data:`RANGE_CELLS` cells; one task per range reads that range from every
database (read-only, straight from the blob) and adds them up, so that no
task holds more than a range per database. Without a cluster the tasks run
here, one after the other; with a ``distributed.Client`` they are Dask
tasks, and the databases' paths must then be readable by the workers (a
local cluster, or a shared file system).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from discreet.errors import InputError
from discreet.i18n import _
from discreet.protocol.oracle import FrequencyOracle, IntArray
from discreet.protocol.sketch import Sketch

__all__ = ["RANGE_CELLS", "merge_sketches", "read_range"]

#: Cells per range: 8 MiB of 64-bit counts.
RANGE_CELLS = 1 << 20
_COUNT = np.dtype("<i8")


def read_range(
    path: str | Path, key: tuple[str, str, int], start: int, stop: int
) -> tuple[int, IntArray] | None:
    """The size of a key's stored vector (the report count is cell 0, then the sketch's
    cells) and its cells ``start`` to ``stop - 1``, read-only; ``None`` when that
    database has no sketch for the key."""
    db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = db.execute(
            "SELECT id FROM sketches WHERE period = ? AND kind = ? AND catalog = ?", key
        ).fetchone()
        if row is None:
            return None
        with db.blobopen("sketches", "counts", row[0], readonly=True) as blob:
            cells = len(blob) // _COUNT.itemsize
            blob.seek(min(start, cells) * _COUNT.itemsize)
            data = blob.read((stop - start) * _COUNT.itemsize)
    finally:
        db.close()
    return cells, np.frombuffer(data, dtype=_COUNT).astype(np.int64)


def _summed_range(
    paths: Sequence[str], key: tuple[str, str, int], size: int, start: int, stop: int
) -> IntArray:
    total = np.zeros(stop - start, dtype=np.int64)
    for path in paths:
        found = read_range(path, key, start, stop)
        if found is not None:
            cells, part = found
            if cells != size:
                raise InputError(
                    _(
                        "{path} holds a sketch of another size for {key}; merge only "
                        "databases that took reports for the same catalog versions"
                    ).format(path=path, key=key)
                )
            total += part
    return total


def merge_sketches(
    paths: Sequence[str | Path],
    oracle: FrequencyOracle,
    key: tuple[str, str, int],
    *,
    client: Any = None,
    range_cells: int = RANGE_CELLS,
) -> Sketch:
    """The sum of the sketches of ``key`` (period, kind, catalog version) in ``paths``
    (a database without one adds nothing)."""
    names = [str(p) for p in paths]
    size = 1 + oracle.sketch_size()
    bounds = [(s, min(s + range_cells, size)) for s in range(0, size, range_cells)]
    if client is None:
        ranges = [_summed_range(names, key, size, start, stop) for start, stop in bounds]
    else:
        ranges = client.gather(
            [client.submit(_summed_range, names, key, size, a, b, pure=False) for a, b in bounds]
        )
    vector = np.concatenate(ranges)
    return Sketch(oracle, vector[1:].astype(np.float64), int(vector[0]))
