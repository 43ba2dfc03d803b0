"""``grr``: generalised randomised response, for small domains.

Report the true value with probability ``p = e^ε / (e^ε + d - 1)``, any other
value otherwise. Best for small domains (``d < 3e^ε + 2``); the payload is the
value itself, and the sketch is a histogram of payloads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from discreet.protocol.oracle import (
    MAX_PAYLOAD_BITS,
    FloatArray,
    FrequencyOracle,
    IntArray,
    json_integer,
    json_number,
)


@dataclass(frozen=True)
class RandomisedResponse(FrequencyOracle):
    """Generalised randomised response over ``domain_size`` values.

    >>> oracle = RandomisedResponse(epsilon=2.0, domain_size=5)
    >>> round(oracle.p, 3), oracle.payload_bits
    (0.649, 3)
    """

    mechanism: ClassVar[str] = "grr"
    code: ClassVar[int] = 1
    epsilon: float
    domain_size: int

    def __post_init__(self) -> None:
        self._check_common()
        if self.payload_bits > MAX_PAYLOAD_BITS:  # pragma: no cover - 2^20 values fit
            raise ValueError(f"reports would need {self.payload_bits} bits, over 32")

    @property
    def buckets(self) -> int:
        """Every domain value is a bucket."""
        return self.domain_size

    @property
    def q(self) -> float:
        """Probability of reporting one given other value."""
        return 1.0 / (math.exp(self.epsilon) + self.buckets - 1)

    @property
    def payload_bits(self) -> int:
        """The payload is a domain value."""
        return self.index_bits

    @property
    def payload_limit(self) -> int:
        """Payloads are domain values."""
        return self.domain_size

    def sketch_size(self) -> int:
        """One cell per domain value."""
        return self.domain_size

    @classmethod
    def from_fields(cls, data: Mapping[str, Any]) -> RandomisedResponse:
        """Build from ``{"mechanism": "grr", "epsilon": ..., "domain_size": ...}``."""
        if not set(data) <= {"mechanism", "epsilon", "domain_size"}:
            raise ValueError("randomised response takes epsilon and domain_size only")
        return cls(
            json_number(data["epsilon"], "epsilon"),
            json_integer(data["domain_size"], "domain_size"),
        )

    def _privatise(self, values: IntArray, rng: np.random.Generator) -> IntArray:
        keep = rng.random(values.shape) < self.p
        other = rng.integers(1, self.domain_size, size=values.shape)
        return np.where(keep, values, (values + other) % self.domain_size)

    def _sketch(self, payloads: IntArray) -> FloatArray:
        return np.bincount(payloads, minlength=self.domain_size).astype(np.float64)

    def _count_sparse(self, payload: int, counts: dict[int, int]) -> None:
        counts[payload] = counts.get(payload, 0) + 1

    def _support(self, sketch: FloatArray, n: int) -> FloatArray:
        return sketch
