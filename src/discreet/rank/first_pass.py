"""The ranking's first pass: approximate scores for every item from the int8 rows.

Scanning the float32 embeddings of a large catalog costs what reading them
costs. The first pass reads the int8 copy instead (a quarter of the bytes)
with simsimd's SIMD dot-product kernel, adds the same popularity and
freshness terms and applies the same exclusions as the exact scores, and
keeps a few hundred more candidates than the ranking needs. The ranker then
scores those candidates again, exactly, from the float32 rows: what it
returns is ordered by exact scores, and the approximation can only decide
which items are looked at.

The query is quantised as ``rint(127 * v)`` (a unit vector has no component
above 1), so an item's approximate similarity is
``scales[i] / 127 * (codes[i] . rint(127 * v))``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import simsimd

from discreet.catalog.quantise import LEVELS
from discreet.catalog.reader import Quantised
from discreet.rank.select import largest

FloatArray = np.ndarray[Any, np.dtype[np.float32]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]
#: Below this many items the float32 scan is as cheap as the first pass.
MIN_ITEMS = 50_000
#: The first pass keeps this share more candidates than asked for, and at least MARGIN more.
MARGIN_SHARE, MARGIN = 0.25, 256


def candidate_count(wanted: int) -> int:
    """How many approximate candidates to score exactly when ``wanted`` are needed."""
    return wanted + max(MARGIN, int(wanted * MARGIN_SHARE))


class FirstPass:
    """Approximate similarities to a query for every row, from int8 codes and scales."""

    def __init__(self, quantised: Quantised) -> None:
        # Plain ndarray views: an np.memmap would add a Python call per operation.
        self._codes = np.asarray(quantised.codes)
        self._scales = (np.asarray(quantised.scales) / np.float32(LEVELS)).astype(np.float32)

    def scores(self, vector: FloatArray, base: FloatArray) -> FloatArray:
        """``codes @ vector + base`` approximately, for every row (a new float32 array)."""
        query = np.rint(vector * np.float32(LEVELS)).astype(np.int8)
        out = np.empty((1, len(self._codes)), dtype=np.float32)
        simsimd.cdist(query[None, :], self._codes, metric="dot", out=out)
        approximate: FloatArray = out[0]
        simsimd.fma(approximate, self._scales, base, out=approximate)  # one pass, not two
        return approximate


def top_rows(values: FloatArray, count: int) -> IntArray:
    """The rows of the ``count`` largest finite ``values``, in no particular order.

    A strided sample gives a threshold that a little more than ``count``
    values exceed, so only those few are partitioned, not all ``n``; when the
    sample misleads (many equal values, most of them excluded), a full
    partition gives the same answer.
    """
    n = len(values)
    if count >= n:
        rows = np.arange(n)
    else:
        sample = values[:: max(1, n // 16_384)]
        above = min(len(sample), int(2 * count * len(sample) / n) + 8)
        threshold = np.partition(sample, len(sample) - above)[len(sample) - above]
        rows = np.flatnonzero(values >= threshold)
        if len(rows) < count:
            rows = largest(values, count)
        elif len(rows) > count:
            rows = rows[largest(values[rows], count)]
    return rows[np.isfinite(values[rows])]
