"""The largest values of an array, chosen the same way on every machine.

numpy's ``partition`` and ``argpartition`` may leave equal values in a
different order from one CPU to another (they use SIMD sorting networks where
the CPU has them), so which of several equal values fell inside a cut used to
depend on the machine: a ranking, or an evaluation figure, could change with
the hardware. Here equal values are kept by position, the lower index first,
as a stable sort would keep them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

IntArray = np.ndarray[Any, np.dtype[np.int64]]


def largest(values: np.ndarray[Any, Any], count: int) -> IntArray:
    """The indices of the ``count`` largest of ``values``, in increasing index order.

    The cut falls at the ``count``-th largest value, which is the same on every
    machine; of the values equal to it, those of lowest index are kept. The
    result is the set of the first ``count`` indices of a stable sort by
    decreasing value, at the cost of a partition.
    """
    n = len(values)
    if count >= n:
        return np.arange(n, dtype=np.int64)
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    kth = np.partition(values, n - count)[n - count]
    above = np.flatnonzero(values > kth)
    tied = np.flatnonzero(values == kth)[: count - len(above)]
    return np.sort(np.concatenate([above, tied])).astype(np.int64)


def best_first(values: np.ndarray[Any, Any], count: int) -> IntArray:
    """The indices of the ``count`` largest of ``values``, best first, equal values by
    index: the first ``count`` of a stable sort by decreasing value."""
    rows = largest(values, count)
    return rows[np.argsort(-values[rows], kind="stable")]


def largest_per_column(matrix: np.ndarray[Any, Any], count: int) -> np.ndarray[Any, Any]:
    """A boolean mask of each column's ``count`` largest entries, equal values by row
    (the lowest rows kept), as :func:`largest` chooses them."""
    rows = matrix.shape[0]
    if count >= rows:
        return np.ones(matrix.shape, dtype=bool)
    kth = np.partition(matrix, rows - count, axis=0)[rows - count]
    above: np.ndarray[Any, np.dtype[np.bool_]] = matrix > kth
    tied = matrix == kth
    room = count - above.sum(axis=0)
    mask: np.ndarray[Any, np.dtype[np.bool_]] = above | (
        tied & (np.cumsum(tied, axis=0, dtype=np.int32) <= room)
    )
    return mask
