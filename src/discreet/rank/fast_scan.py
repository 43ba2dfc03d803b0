"""The optional fast first pass: faiss's 4-bit product-quantiser fast scan (``discreet[fast]``).

With faiss installed and the 4-bit codes derived at install
(:mod:`discreet.catalog.nibbles`), the first pass reads 32 bytes a row,
scored from 16-entry lookup tables in SIMD registers, instead of the 64
int8 bytes of :mod:`discreet.rank.first_pass`. The popularity and freshness
terms ride along as two more 4-bit components: a row's prior is coded as a
coarse level plus a fine residual (256 steps over the prior's range), and
the query carries 1 in both, so the scan's top rows are the top rows by
``similarity + prior``. Exclusions are applied to the rows it returns; the
ranker asks for more when too few are left (:func:`search_size`).

The index is built in memory from the plain arrays (faiss's own serialised
form is never read), once per prior: at every day's change when freshness
counts. Without faiss, nothing here is used (:func:`~discreet.catalog.nibbles.fast_scan_available`).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from discreet.catalog.nibbles import LEVELS, Nibbles

FloatArray = np.ndarray[Any, np.dtype[np.float32]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]
_LOCK = threading.Lock()
#: The scan is first asked for this many rows beyond what the ranker needs (see search_size).
MARGIN = 600
#: The scan's error on a row it left out is taken to be at most this many standard deviations
#: of its errors on the rows it returned (and at least the largest of those).
SIGMAS = 6.0
#: Past this many rows asked for, the int8 first pass is as quick: the ranker uses it instead.
MAX_SEARCH = 65_536


def search_size(needed: int, excluded: int, allowed_share: float) -> int:
    """Rows to ask the scan for so that ``needed`` remain after exclusions.

    ``excluded`` rows (the history) may all rank high; of the rest, about
    ``allowed_share`` pass the category blocks.
    """
    return int((needed + MARGIN) / max(allowed_share, 1e-9)) + excluded


def prior_levels(prior: FloatArray) -> tuple[FloatArray, np.ndarray[Any, np.dtype[np.uint8]]]:
    """Two 4-bit components that add up to ``prior``, to within 1/480 of its range.

    Returns their levels (2 x 16) and each row's packed code byte.
    """
    lo, hi = float(prior.min()), float(prior.max())
    step = (hi - lo) / (LEVELS - 1)  # 0 for a constant prior: every row is coded exactly
    scaled = (prior - lo) / step if step > 0 else np.zeros_like(prior)
    coarse = np.clip(np.rint(scaled), 0, LEVELS - 1)
    fine = np.clip(np.floor((scaled - coarse + 0.5) * LEVELS), 0, LEVELS - 1)  # in [-1/2, 1/2]
    levels = np.stack(
        [lo + np.arange(LEVELS) * step, ((np.arange(LEVELS) + 0.5) / LEVELS - 0.5) * step]
    )
    code = coarse.astype(np.uint8) | (fine.astype(np.uint8) << 4)
    return levels.astype(np.float32), code


class FastScan:
    """Rows ranked by approximate ``embedding . v + prior``, from 4-bit codes (needs faiss)."""

    def __init__(self, nibbles: Nibbles, prior: FloatArray) -> None:
        import faiss

        levels, prior_code = prior_levels(prior)
        book = np.concatenate([np.asarray(nibbles.codebook), levels])
        codes = np.concatenate([np.asarray(nibbles.codes), prior_code[:, None]], axis=1)
        width = len(book)  # one component per sub-quantiser
        flat = faiss.IndexPQ(width, width, 4, faiss.METRIC_INNER_PRODUCT)
        faiss.copy_array_to_vector(np.ascontiguousarray(book).ravel(), flat.pq.centroids)
        faiss.copy_array_to_vector(codes.ravel(), flat.codes)
        flat.ntotal = len(codes)
        flat.is_trained = True
        self._index = faiss.IndexPQFastScan(flat)  # type: ignore[arg-type]  # packs the codes
        self._tail = np.ones(2, dtype=np.float32)
        self._threads = ThreadpoolController()  # faiss's OpenMP is loaded now

    @staticmethod
    def error_bound(approximate: FloatArray, exact: FloatArray) -> float:
        """How far the scan may be off on a row it left out, from its errors on ``exact``."""
        errors = approximate - exact
        return max(float(np.abs(errors).max(initial=0.0)), SIGMAS * float(errors.std()))

    def search(self, vector: FloatArray, count: int) -> tuple[IntArray, FloatArray]:
        """The ``count`` best rows by approximate score, best first, and those scores."""
        query = np.concatenate([vector, self._tail])[None, :]
        # One OpenMP thread, the app's setting restored; one scan at a time, as in blas.py.
        with _LOCK, self._threads.limit(limits=1, user_api="openmp"):
            scores, rows = self._index.search(query, count)
        keep = rows[0] >= 0
        return rows[0][keep].astype(np.int64), scores[0][keep]
