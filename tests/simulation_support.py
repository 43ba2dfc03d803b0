"""The simulation's draws as they were first written, for the tests that pin the faster code
to them and for ``benchmarks/bench_eval.py``, which times both."""

from __future__ import annotations

from typing import Any

import numpy as np


def first_distinct(
    totals: np.ndarray[Any, Any], sizes: np.ndarray[Any, Any], k: int, rng: np.random.Generator
) -> np.ndarray[Any, Any]:
    """``simulation._distinct`` as first written: every pending row sorted again each round."""
    active = np.arange(k) < sizes[:, None]
    out = np.where(active, rng.integers(0, np.maximum(totals, 1)[:, None], active.shape), -1)
    pending = np.arange(len(out))
    while len(pending):
        block = out[pending]
        order = np.argsort(block * k + np.arange(k), axis=1)
        ranked = np.take_along_axis(block, order, axis=1)
        repeated = np.zeros(block.shape, dtype=bool)
        repeated[:, 1:] = (ranked[:, 1:] == ranked[:, :-1]) & (ranked[:, 1:] >= 0)
        rows, places = np.nonzero(repeated)
        owners = pending[rows]
        out[owners, order[rows, places]] = rng.integers(0, totals[owners])
        pending = np.unique(owners)
    return out


def first_pair_entries(
    i: np.ndarray[Any, Any], j: np.ndarray[Any, Any], m: int
) -> np.ndarray[Any, Any]:
    """``simulation.pair_entries`` as first written (a division instead of a shift)."""
    return i * (2 * m - i - 1) // 2 + (j - i - 1)
