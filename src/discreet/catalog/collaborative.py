"""The collaborative target: item-item neighbour lists learnt from the private aggregates.

An optional file of a catalog release, ``collaborative.npz`` (read with
``allow_pickle=False``), holding three arrays over the M items the
co-occurrence task counted:

* ``rows``: int32 (M,), their catalog rows, distinct;
* ``neighbours``: int32 (M, K), for each, the catalog rows of its K
  neighbours (``-1`` pads a shorter list);
* ``weights``: float16 (M, K), how much engaging with the item speaks for
  each neighbour (0 beside ``-1``).

At M = 1,000 and K = 50 that is 0.3 MB; the publisher refuses anything over
:data:`MAX_BYTES` (1 MB). The manifest names the file and says what it was
built from (the model card): the aggregates, their ε and δ, and how many
devices contributed.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from discreet.errors import CatalogInvalidError
from discreet.i18n import _

#: The size budget of the target, checked when it is written and when it is read.
MAX_BYTES = 1_000_000
_ARRAYS = ("neighbours", "rows", "weights")


@dataclass(frozen=True)
class Neighbours:
    """Neighbour lists over catalog rows (see the module docstring)."""

    rows: np.ndarray[Any, np.dtype[np.int32]]
    neighbours: np.ndarray[Any, np.dtype[np.int32]]
    weights: np.ndarray[Any, np.dtype[np.float16]]

    def to_bytes(self) -> bytes:
        """The ``.npz`` file (uncompressed, no pickles); raise ``ValueError`` over budget."""
        buffer = io.BytesIO()
        np.savez(buffer, rows=self.rows, neighbours=self.neighbours, weights=self.weights)
        data = buffer.getvalue()
        if len(data) > MAX_BYTES:
            raise ValueError(
                _(
                    "the collaborative target is {size} bytes, over the budget of {budget}; "
                    "lower M or K"
                ).format(size=f"{len(data):,}", budget=f"{MAX_BYTES:,}")
            )
        return data

    @classmethod
    def load(cls, path: Path, item_count: int) -> Neighbours:
        """Read and check the target; raise :class:`CatalogInvalidError` if it is malformed."""
        try:
            if path.stat().st_size > MAX_BYTES:
                raise CatalogInvalidError(
                    _("{name} is over {budget} bytes").format(
                        name=path.name, budget=f"{MAX_BYTES:,}"
                    )
                )
            with np.load(path, allow_pickle=False) as archive:
                if sorted(archive.files) != sorted(_ARRAYS):
                    raise CatalogInvalidError(
                        _("{name} must hold {arrays}").format(
                            name=path.name, arrays=", ".join(_ARRAYS)
                        )
                    )
                arrays = {name: archive[name] for name in _ARRAYS}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise CatalogInvalidError(
                _("{name} is not a valid archive ({exc})").format(name=path.name, exc=exc)
            ) from None
        rows, neighbours, weights = (arrays[name] for name in ("rows", "neighbours", "weights"))
        m = len(rows)
        if rows.dtype != np.int32 or rows.ndim != 1 or neighbours.dtype != np.int32:
            raise CatalogInvalidError(
                _("{name}: rows and neighbours must be int32").format(name=path.name)
            )
        if neighbours.ndim != 2 or neighbours.shape[0] != m or weights.shape != neighbours.shape:
            raise CatalogInvalidError(
                _("{name}: neighbours and weights must be (M, K)").format(name=path.name)
            )
        if weights.dtype != np.float16 or not np.isfinite(weights).all():
            raise CatalogInvalidError(
                _("{name}: weights must be finite float16").format(name=path.name)
            )
        if len(np.unique(rows)) != m or (m and (rows.min() < 0 or rows.max() >= item_count)):
            raise CatalogInvalidError(
                _("{name}: rows must be distinct catalog rows").format(name=path.name)
            )
        if neighbours.size and (neighbours.min() < -1 or neighbours.max() >= item_count):
            raise CatalogInvalidError(
                _("{name}: neighbours must be catalog rows or -1").format(name=path.name)
            )
        if (weights[neighbours == -1] != 0).any():
            raise CatalogInvalidError(
                _("{name}: a padding neighbour has a weight").format(name=path.name)
            )
        return cls(rows, neighbours, weights)

    def position(self, item_count: int) -> np.ndarray[Any, np.dtype[np.int64]]:
        """For every catalog row, its position in :attr:`rows`, or -1."""
        where = np.full(item_count, -1, dtype=np.int64)
        where[self.rows] = np.arange(len(self.rows))
        return where
