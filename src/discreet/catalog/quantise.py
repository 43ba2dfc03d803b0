"""The int8 copy of a catalog's embeddings, for the ranker's first pass.

Each row ``e`` is stored as ``codes = round(e / s)`` with its own scale
``s = max|e| / 127``, so ``e ≈ s * codes`` to within ``s / 2`` per component
(a row of zeros has scale 0). A quarter of the bytes of the float32 rows:
the first pass reads these, and only a few hundred candidates are then scored
again, exactly, from the float32 rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Int8Array = np.ndarray[Any, np.dtype[np.int8]]
FloatArray = np.ndarray[Any, np.dtype[np.float32]]
#: The largest code: symmetric, so that -codes is a code too.
LEVELS = 127


def quantise(vectors: np.ndarray[Any, Any], block: int = 65_536) -> tuple[Int8Array, FloatArray]:
    """The int8 codes and per-row float32 scales of ``vectors`` (n x dim), in blocks."""
    codes = np.empty(vectors.shape, dtype=np.int8)
    scales = np.empty(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), block):
        chunk = np.asarray(vectors[start : start + block], dtype=np.float32)
        scale = np.abs(chunk).max(axis=1, initial=0.0) / np.float32(LEVELS)
        safe = np.where(scale > 0, scale, np.float32(1.0))
        codes[start : start + block] = np.rint(chunk / safe[:, None])
        scales[start : start + block] = scale
    return codes, scales
