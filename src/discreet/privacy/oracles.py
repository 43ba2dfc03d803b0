"""ε-LDP frequency oracles: a device half (``privatise``) and a server half (sketch, estimate).

Two mechanisms, both reading one frozen :class:`OracleParams` that travels in
the signed catalog manifest:

``grr``, generalised randomised response
    Report the true value with probability ``p = e^ε / (e^ε + d - 1)``, any
    other value otherwise. Best for small domains (d < 3e^ε + 2).

``lh``, local hashing with a linear hash over GF(2)
    The device draws a random Hankel matrix ``T`` (``m`` x ``k`` bits, where
    ``2^k >= d``), hashes its value to ``T x`` (``m`` bits, ``g = 2^m``
    buckets) and reports the seed and that bucket under randomised response.
    Hankel matrices are a universal family: for ``x != x'``, ``Tx`` and
    ``Tx'`` collide with probability exactly ``1/g``. So the variance is exactly
    optimised local hashing's (OLH), which is within 1% of the optimum
    ``4e^ε/(e^ε-1)^2 n`` for ε in {1, 2, 4} with the best ``m``. The seed
    needs only ``m + k - 1`` bits, so a report is at most 32 bits for domains up
    to 2^20. Because the hash is linear, the server decodes with one
    Walsh-Hadamard transform of a 2^k histogram: O(n (2^m - 1) + d log d).

Every estimator is unbiased, with variance
``(n_x p (1 - p) + (n - n_x) q (1 - q)) / (p - q)^2``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]
MECHANISMS = ("grr", "lh")
MAX_PAYLOAD_BITS = 32


def _parity(values: IntArray) -> IntArray:
    """Parity of each 64-bit value (XOR folding; works on any numpy)."""
    v = values.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        v ^= v >> shift
    return v & 1


def fwht(values: FloatArray) -> FloatArray:
    """Fast Walsh-Hadamard transform (unnormalised) of a length-2^k vector."""
    out = np.array(values, dtype=np.float64)
    n = len(out)
    h = 1
    while h < n:
        view = out.reshape(-1, 2, h)
        left, right = view[:, 0, :].copy(), view[:, 1, :]
        view[:, 0, :] += right
        view[:, 1, :] = left - right
        h *= 2
    return out


@dataclass(frozen=True)
class OracleParams:
    """Everything both halves of an oracle need; JSON-serialisable and frozen.

    >>> OracleParams.choose(domain_size=17, epsilon=2.0).mechanism
    'grr'
    """

    mechanism: str
    epsilon: float
    domain_size: int
    hash_bits: int = 0

    def __post_init__(self) -> None:
        if self.mechanism not in MECHANISMS:
            raise ValueError(f"unknown mechanism {self.mechanism!r}")
        if not (0.0 < self.epsilon <= 10.0) or not math.isfinite(self.epsilon):
            raise ValueError("epsilon must be in (0, 10]")
        if not 2 <= self.domain_size <= 2**20:
            raise ValueError("the domain must have 2 to 2^20 values")
        if self.mechanism == "lh" and not 1 <= self.hash_bits <= 8:
            raise ValueError("local hashing needs 1-8 hash bits")
        if self.mechanism == "grr" and self.hash_bits != 0:
            raise ValueError("randomised response takes no hash bits")
        if self.payload_bits > MAX_PAYLOAD_BITS:
            raise ValueError(f"reports would need {self.payload_bits} bits, over 32")

    # ---- derived constants ---------------------------------------------------
    @property
    def index_bits(self) -> int:
        """``k``: bits to write a domain value."""
        return max(1, (self.domain_size - 1).bit_length())

    @property
    def buckets(self) -> int:
        """``g``: the number of values a report's noisy part can take."""
        return self.domain_size if self.mechanism == "grr" else 2**self.hash_bits

    @property
    def p(self) -> float:
        """Probability of reporting the true (hashed) value."""
        e = math.exp(self.epsilon)
        return e / (e + self.buckets - 1)

    @property
    def q(self) -> float:
        """Probability that a report supports a given value other than the true one."""
        if self.mechanism == "grr":
            return 1.0 / (math.exp(self.epsilon) + self.buckets - 1)
        return 1.0 / self.buckets

    @property
    def payload_bits(self) -> int:
        """Size of a privatised payload."""
        if self.mechanism == "grr":
            return self.index_bits
        return self.hash_bits + self.index_bits - 1 + self.hash_bits

    def variance(self, n: int | float, n_x: float | FloatArray = 0.0) -> float | FloatArray:
        """Variance of the count estimate for a value held by ``n_x`` of ``n`` users."""
        p, q = self.p, self.q
        return (n_x * p * (1 - p) + (n - n_x) * q * (1 - q)) / (p - q) ** 2

    @staticmethod
    def optimal_variance(epsilon: float) -> float:
        """The OLH optimum per user, ``4e^ε/(e^ε - 1)^2``, a benchmark for any oracle."""
        e = math.exp(epsilon)
        return 4 * e / (e - 1) ** 2

    @classmethod
    def choose(cls, domain_size: int, epsilon: float) -> OracleParams:
        """The mechanism and hash size with the least variance that fits in 32 bits."""
        candidates = [cls("grr", epsilon, domain_size)] if domain_size <= 2**20 else []
        for m in range(1, 9):
            try:
                candidates.append(cls("lh", epsilon, domain_size, m))
            except ValueError:
                break
        return min(candidates, key=lambda c: (c.variance(1), c.payload_bits))

    # ---- JSON ----------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The parameters as a JSON object."""
        out: dict[str, Any] = {
            "mechanism": self.mechanism,
            "epsilon": self.epsilon,
            "domain_size": self.domain_size,
        }
        if self.mechanism == "lh":
            out["hash_bits"] = self.hash_bits
        return out

    @classmethod
    def from_json(cls, data: Any) -> OracleParams:
        """Parse parameters; raise ``ValueError`` if malformed."""
        if not isinstance(data, dict) or not set(data) <= {
            "mechanism",
            "epsilon",
            "domain_size",
            "hash_bits",
        }:
            raise ValueError("malformed oracle parameters")
        epsilon = data["epsilon"]
        if isinstance(epsilon, bool) or not isinstance(epsilon, int | float):
            raise ValueError("epsilon must be a number")
        return cls(
            str(data["mechanism"]),
            float(epsilon),
            int(data["domain_size"]),
            int(data.get("hash_bits", 0)),
        )

    # ---- device half -----------------------------------------------------------
    def privatise(self, value: int, rng: np.random.Generator) -> int:
        """The privatised payload for one value (an integer below ``2**payload_bits``)."""
        return int(self.privatise_many(np.array([value], dtype=np.int64), rng)[0])

    def privatise_many(self, values: IntArray, rng: np.random.Generator) -> IntArray:
        """Privatise many values at once (simulations); same distribution as :meth:`privatise`."""
        values = np.asarray(values, dtype=np.int64)
        if values.size and (values.min() < 0 or values.max() >= self.domain_size):
            raise ValueError("a value is outside the domain")
        keep = rng.random(values.shape) < self.p
        if self.mechanism == "grr":
            other = rng.integers(1, self.domain_size, size=values.shape)
            return np.where(keep, values, (values + other) % self.domain_size)
        m, k = self.hash_bits, self.index_bits
        seeds = rng.integers(0, 2 ** (m + k - 1), size=values.shape, dtype=np.int64)
        hashed = self._hash(seeds, values)
        other = rng.integers(1, 2**m, size=values.shape, dtype=np.int64)
        noisy = np.where(keep, hashed, hashed ^ other)
        return (seeds << m) | noisy

    def _rows(self, seeds: IntArray) -> list[IntArray]:
        mask = (1 << self.index_bits) - 1
        return [(seeds >> j) & mask for j in range(self.hash_bits)]

    def _hash(self, seeds: IntArray, values: IntArray) -> IntArray:
        hashed = np.zeros_like(values)
        for j, row in enumerate(self._rows(seeds)):
            hashed |= _parity(row & values) << j
        return hashed

    # ---- server half -----------------------------------------------------------
    def sketch_size(self) -> int:
        """Length of the additive sketch."""
        return self.domain_size if self.mechanism == "grr" else 2**self.index_bits

    def sketch(self, payloads: IntArray) -> FloatArray:
        """The additive, mergeable sketch of a batch of payloads (add sketches to merge)."""
        payloads = np.asarray(payloads, dtype=np.int64)
        if payloads.size and (payloads.min() < 0 or payloads.max() >= 2**self.payload_bits):
            raise ValueError("a payload is out of range for these parameters")
        size = self.sketch_size()
        if self.mechanism == "grr":
            if payloads.size and payloads.max() >= self.domain_size:
                raise ValueError("a payload is out of range for these parameters")
            return np.bincount(payloads, minlength=size).astype(np.float64)
        m = self.hash_bits
        seeds, noisy = payloads >> m, payloads & ((1 << m) - 1)
        rows = self._rows(seeds)
        # Walk the 2^m - 1 non-empty subsets of hash rows in Gray-code order, so each
        # step XORs in one row; count (index, sign) pairs with one integer bincount.
        combined = np.zeros_like(seeds)
        bits = np.zeros_like(seeds)
        counts = np.zeros(2 * size, dtype=np.int64)
        for step in range(1, 2**m):
            j = (step & -step).bit_length() - 1  # the bit that flips at this step
            combined ^= rows[j]
            bits ^= (noisy >> j) & 1
            counts += np.bincount((combined << 1) | bits, minlength=2 * size)
        return (counts[0::2] - counts[1::2]).astype(np.float64)

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
        payloads = [int(p) for p in payloads]
        limit = self.domain_size if self.mechanism == "grr" else 2**self.payload_bits
        if any(not 0 <= p < limit for p in payloads):
            raise ValueError("a payload is out of range for these parameters")
        counts: dict[int, int] = {}
        if self.mechanism == "grr":
            for payload in payloads:
                counts[payload] = counts.get(payload, 0) + 1
        else:
            m, mask = self.hash_bits, (1 << self.index_bits) - 1
            for payload in payloads:
                seed, noisy = payload >> m, payload & ((1 << m) - 1)
                rows = [(seed >> j) & mask for j in range(m)]
                combined = bits = 0
                for step in range(1, 2**m):  # the same Gray-code walk as sketch()
                    j = (step & -step).bit_length() - 1
                    combined ^= rows[j]
                    bits ^= (noisy >> j) & 1
                    counts[combined] = counts.get(combined, 0) + (-1 if bits else 1)
        nonzero = sorted(c for c, v in counts.items() if v)
        return (
            np.asarray(nonzero, dtype=np.int64),
            np.asarray([counts[c] for c in nonzero], dtype=np.float64),
        )

    def sparse_limit(self) -> int:
        """The batch size from which the vectorised :meth:`sketch` is faster.

        Both walk the same ``2**hash_bits - 1`` steps; per step plain Python
        costs about 1-1.5 µs per payload and numpy 1-4 ns per sketch cell
        (``benchmarks/bench_sketch.py``), so the crossover grows with the
        sketch and not with the steps.
        """
        return 16 + self.sketch_size() // 512

    def estimate(self, sketch: FloatArray, n: int) -> FloatArray:
        """Unbiased count estimates for every domain value, from a sketch of ``n`` reports."""
        if self.mechanism == "grr":
            support = np.asarray(sketch, dtype=np.float64)
        else:
            support = (n + fwht(sketch)[: self.domain_size]) / self.buckets
        return (support - n * self.q) / (self.p - self.q)

    def standard_errors(self, estimates: FloatArray, n: int) -> FloatArray:
        """Plug-in standard errors of :meth:`estimate` (counts clipped to [0, n])."""
        counts = np.clip(estimates, 0, n)
        return np.sqrt(np.asarray(self.variance(n, counts), dtype=np.float64))
