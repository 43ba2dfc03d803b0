"""The contract every ε-LDP frequency oracle meets: a device half and a server half.

An oracle is a frozen, JSON-serialisable record of its parameters that
travels in the signed catalog manifest, so a device (:meth:`privatise`) and
a server (:meth:`sketch`, :meth:`estimate`) read the very same constants.
One module per mechanism implements it (:mod:`discreet.protocol.grr`,
:mod:`discreet.protocol.lh`); :mod:`discreet.protocol.mechanisms` is the only
place that knows their names.

Every estimator is unbiased, with variance
``(n_x p (1 - p) + (n - n_x) q (1 - q)) / (p - q)^2`` for a value held by
``n_x`` of ``n`` users, where ``p`` is the probability that a report supports
the true value and ``q`` that it supports any given other value.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]
#: Reports carry the payload in 4 bytes.
MAX_PAYLOAD_BITS = 32
MAX_DOMAIN = 2**20
MAX_EPSILON = 10.0


def optimal_variance(epsilon: float) -> float:
    """The OLH optimum per user, ``4e^ε/(e^ε - 1)^2``: a benchmark for any oracle."""
    e = math.exp(epsilon)
    return 4 * e / (e - 1) ** 2


def check_epsilon(epsilon: float) -> None:
    """Raise ``ValueError`` unless ``0 < epsilon <= 10``."""
    if not (0.0 < epsilon <= MAX_EPSILON) or not math.isfinite(epsilon):
        raise ValueError(f"epsilon must be in (0, {MAX_EPSILON:g}]")


def json_number(value: Any, name: str) -> float:
    """A JSON number as a float; raise ``ValueError`` for anything else (booleans too)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    return float(value)


def json_integer(value: Any, name: str) -> int:
    """A JSON integer; raise ``ValueError`` for anything else (booleans and floats too)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    return value


class FrequencyOracle(abc.ABC):
    """An ε-LDP frequency oracle over the domain ``0 .. domain_size - 1``.

    Subclasses are frozen dataclasses with ``epsilon`` and ``domain_size``
    fields (plus their own), a registry ``mechanism`` name and a one-byte wire
    ``code``.

    >>> from discreet.protocol import choose_oracle
    >>> oracle = choose_oracle(domain_size=17, epsilon=2.0)
    >>> oracle.mechanism, oracle.payload_bits
    ('grr', 5)
    """

    mechanism: ClassVar[str]
    code: ClassVar[int]
    epsilon: float
    domain_size: int

    def _check_common(self) -> None:
        check_epsilon(self.epsilon)
        if not 2 <= self.domain_size <= MAX_DOMAIN:
            raise ValueError("the domain must have 2 to 2^20 values")

    # ---- constants -------------------------------------------------------------
    @property
    def index_bits(self) -> int:
        """``k``: bits to write a domain value."""
        return max(1, (self.domain_size - 1).bit_length())

    @property
    @abc.abstractmethod
    def buckets(self) -> int:
        """``g``: the number of values a report's noisy part can take."""

    @property
    def p(self) -> float:
        """Probability of reporting the true (hashed) value."""
        e = math.exp(self.epsilon)
        return e / (e + self.buckets - 1)

    @property
    @abc.abstractmethod
    def q(self) -> float:
        """Probability that a report supports a given value other than the true one."""

    @property
    @abc.abstractmethod
    def payload_bits(self) -> int:
        """Size of a privatised payload."""

    @property
    @abc.abstractmethod
    def payload_limit(self) -> int:
        """Payloads are integers in ``[0, payload_limit)``; anything else is malformed."""

    @abc.abstractmethod
    def sketch_size(self) -> int:
        """Length of the additive sketch."""

    def variance(self, n: int | float, n_x: float | FloatArray = 0.0) -> float | FloatArray:
        """Variance of the count estimate for a value held by ``n_x`` of ``n`` users."""
        p, q = self.p, self.q
        return (n_x * p * (1 - p) + (n - n_x) * q * (1 - q)) / (p - q) ** 2

    # ---- JSON ----------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The parameters as a JSON object (``mechanism`` names the module)."""
        return {
            "mechanism": self.mechanism,
            "epsilon": self.epsilon,
            "domain_size": self.domain_size,
            **self._extra_json(),
        }

    def _extra_json(self) -> dict[str, Any]:
        return {}

    @classmethod
    @abc.abstractmethod
    def from_fields(cls, data: Mapping[str, Any]) -> FrequencyOracle:
        """Build from a JSON object already known to name this mechanism."""

    # ---- device half -----------------------------------------------------------
    def privatise(self, value: int, rng: np.random.Generator) -> int:
        """The privatised payload for one value (an integer below ``payload_limit``)."""
        return int(self.privatise_many(np.array([value], dtype=np.int64), rng)[0])

    def privatise_many(self, values: IntArray, rng: np.random.Generator) -> IntArray:
        """Privatise many values at once (simulations); same distribution as :meth:`privatise`."""
        values = np.asarray(values, dtype=np.int64)
        if values.size and (values.min() < 0 or values.max() >= self.domain_size):
            raise ValueError("a value is outside the domain")
        return self._privatise(values, rng)

    @abc.abstractmethod
    def _privatise(self, values: IntArray, rng: np.random.Generator) -> IntArray: ...

    # ---- server half -----------------------------------------------------------
    def check_payloads(self, payloads: IntArray) -> None:
        """Raise ``ValueError`` if any payload is out of range for these parameters."""
        if payloads.size and (payloads.min() < 0 or payloads.max() >= self.payload_limit):
            raise ValueError("a payload is out of range for these parameters")

    def sketch(self, payloads: IntArray) -> FloatArray:
        """The additive, mergeable sketch of a batch of payloads (add sketches to merge)."""
        payloads = np.asarray(payloads, dtype=np.int64)
        self.check_payloads(payloads)
        return self._sketch(payloads)

    @abc.abstractmethod
    def _sketch(self, payloads: IntArray) -> FloatArray: ...

    def sparse_sketch(self, payloads: Sequence[int]) -> tuple[IntArray, FloatArray]:
        """:meth:`sketch` as (cells, values) of its non-zero cells, in cell order.

        A batch smaller than :meth:`sparse_limit` is counted in plain Python,
        which costs per payload; :meth:`sketch` costs per sketch cell, so for
        one report into a 100,000-item sketch it is 500 times slower.
        """
        if len(payloads) >= self.sparse_limit():
            dense = self.sketch(np.asarray(payloads, dtype=np.int64))
            cells = np.flatnonzero(dense)
            return cells.astype(np.int64), dense[cells]
        values = [int(p) for p in payloads]
        if any(not 0 <= p < self.payload_limit for p in values):
            raise ValueError("a payload is out of range for these parameters")
        counts: dict[int, int] = {}
        for payload in values:
            self._count_sparse(payload, counts)
        nonzero = sorted(c for c, v in counts.items() if v)
        return (
            np.asarray(nonzero, dtype=np.int64),
            np.asarray([counts[c] for c in nonzero], dtype=np.float64),
        )

    @abc.abstractmethod
    def _count_sparse(self, payload: int, counts: dict[int, int]) -> None:
        """Add one payload's contribution to ``counts`` (cell -> value), as :meth:`sketch` does."""

    def sparse_limit(self) -> int:
        """The batch size from which the vectorised :meth:`sketch` is faster.

        Per sketch step plain Python costs about 1-1.5 µs per payload and numpy
        1-4 ns per sketch cell (``benchmarks/bench_sketch.py``), so the
        crossover grows with the sketch.
        """
        return 16 + self.sketch_size() // 512

    def estimate(self, sketch: FloatArray, n: int) -> FloatArray:
        """Unbiased count estimates for every domain value, from a sketch of ``n`` reports."""
        support = self._support(np.asarray(sketch, dtype=np.float64), n)
        return (support - n * self.q) / (self.p - self.q)

    @abc.abstractmethod
    def _support(self, sketch: FloatArray, n: int) -> FloatArray:
        """How many of the ``n`` reports support each domain value."""

    def standard_errors(self, estimates: FloatArray, n: int) -> FloatArray:
        """Plug-in standard errors of :meth:`estimate` (counts clipped to [0, n])."""
        counts = np.clip(estimates, 0, n)
        return np.sqrt(np.asarray(self.variance(n, counts), dtype=np.float64))
