"""The additive sketch a server keeps per (period, kind, catalog version).

A sketch is a vector plus a count, made with one oracle's parameters, so
sketches from several batches, processes or servers merge by addition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from discreet.protocol.oracle import FloatArray, FrequencyOracle


@dataclass
class Sketch:
    """An additive sketch of reports made with one oracle.

    >>> from discreet.protocol import RandomisedResponse
    >>> sketch = Sketch.empty(RandomisedResponse(1.0, 4))
    >>> sketch.add([1, 1, 3]); sketch.n, sketch.vector.tolist()
    (3, [0.0, 2.0, 0.0, 1.0])
    """

    oracle: FrequencyOracle
    vector: FloatArray
    n: int = 0

    @classmethod
    def empty(cls, oracle: FrequencyOracle) -> Sketch:
        """A sketch of no reports."""
        return cls(oracle, np.zeros(oracle.sketch_size(), dtype=np.float64), 0)

    def add(self, payloads: Sequence[int] | np.ndarray[Any, Any]) -> None:
        """Fold in a batch of payloads."""
        batch = np.asarray(payloads, dtype=np.int64)
        self.vector += self.oracle.sketch(batch)
        self.n += int(batch.size)

    def merge(self, other: Sketch) -> None:
        """Add another sketch made with the same parameters."""
        if other.oracle != self.oracle:
            raise ValueError("sketches with different parameters cannot be merged")
        self.vector += other.vector
        self.n += other.n
