"""``lh``: local hashing with a linear hash over GF(2), for large domains.

The device draws a random Hankel matrix ``T`` (``m`` x ``k`` bits, where
``2^k >= d``), hashes its value to ``T x`` (``m`` bits, ``g = 2^m`` buckets)
and reports the seed and that bucket under randomised response. Hankel
matrices are a universal family: for ``x != x'``, ``Tx`` and ``Tx'`` collide
with probability exactly ``1/g``. So the variance is exactly optimised local
hashing's (OLH), within 1% of the optimum ``4e^ε/(e^ε-1)^2 n`` for ε in
{1, 2, 4} with the best ``m``. The seed needs only ``m + k - 1`` bits, so a
payload is at most 32 bits for domains up to 2^20. Because the hash is
linear, the server decodes with one Walsh-Hadamard transform of a ``2^k``
histogram: O(n (2^m - 1) + d log d).
"""

from __future__ import annotations

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

MAX_HASH_BITS = 8


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
class LocalHashing(FrequencyOracle):
    """Local hashing into ``2**hash_bits`` buckets with a random Hankel matrix.

    >>> oracle = LocalHashing(epsilon=1.0, domain_size=1000, hash_bits=2)
    >>> oracle.buckets, oracle.payload_bits
    (4, 15)
    """

    mechanism: ClassVar[str] = "lh"
    code: ClassVar[int] = 2
    epsilon: float
    domain_size: int
    hash_bits: int

    def __post_init__(self) -> None:
        self._check_common()
        if not 1 <= self.hash_bits <= MAX_HASH_BITS:
            raise ValueError(f"local hashing needs 1-{MAX_HASH_BITS} hash bits")
        if self.payload_bits > MAX_PAYLOAD_BITS:
            raise ValueError(f"reports would need {self.payload_bits} bits, over 32")

    @property
    def buckets(self) -> int:
        """``2^m`` hash buckets."""
        return int(2**self.hash_bits)

    @property
    def q(self) -> float:
        """A report supports any other value with the collision probability ``1/g``."""
        return 1.0 / self.buckets

    @property
    def payload_bits(self) -> int:
        """The seed (``m + k - 1`` bits) then the noisy bucket (``m`` bits)."""
        return 2 * self.hash_bits + self.index_bits - 1

    @property
    def payload_limit(self) -> int:
        """Any seed and bucket."""
        return int(2**self.payload_bits)

    def sketch_size(self) -> int:
        """One cell per ``k``-bit index (the transform needs a power of two)."""
        return int(2**self.index_bits)

    def _extra_json(self) -> dict[str, Any]:
        return {"hash_bits": self.hash_bits}

    @classmethod
    def from_fields(cls, data: Mapping[str, Any]) -> LocalHashing:
        """Build from ``{"mechanism": "lh", "epsilon", "domain_size", "hash_bits"}``."""
        if set(data) != {"mechanism", "epsilon", "domain_size", "hash_bits"}:
            raise ValueError("local hashing takes epsilon, domain_size and hash_bits")
        return cls(
            json_number(data["epsilon"], "epsilon"),
            json_integer(data["domain_size"], "domain_size"),
            json_integer(data["hash_bits"], "hash_bits"),
        )

    # ---- device half -----------------------------------------------------------
    def _rows(self, seeds: IntArray) -> list[IntArray]:
        mask = (1 << self.index_bits) - 1
        return [(seeds >> j) & mask for j in range(self.hash_bits)]

    def _hash(self, seeds: IntArray, values: IntArray) -> IntArray:
        hashed = np.zeros_like(values)
        for j, row in enumerate(self._rows(seeds)):
            hashed |= _parity(row & values) << j
        return hashed

    def _privatise(self, values: IntArray, rng: np.random.Generator) -> IntArray:
        keep = rng.random(values.shape) < self.p
        m, k = self.hash_bits, self.index_bits
        seeds = rng.integers(0, 2 ** (m + k - 1), size=values.shape, dtype=np.int64)
        hashed = self._hash(seeds, values)
        other = rng.integers(1, 2**m, size=values.shape, dtype=np.int64)
        noisy = np.where(keep, hashed, hashed ^ other)
        payloads: IntArray = (seeds << m) | noisy
        return payloads

    # ---- server half -----------------------------------------------------------
    def _sketch(self, payloads: IntArray) -> FloatArray:
        m, size = self.hash_bits, self.sketch_size()
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

    def _count_sparse(self, payload: int, counts: dict[int, int]) -> None:
        m, mask = self.hash_bits, (1 << self.index_bits) - 1
        seed, noisy = payload >> m, payload & ((1 << m) - 1)
        rows = [(seed >> j) & mask for j in range(m)]
        combined = bits = 0
        for step in range(1, 2**m):  # the same Gray-code walk as _sketch()
            j = (step & -step).bit_length() - 1
            combined ^= rows[j]
            bits ^= (noisy >> j) & 1
            counts[combined] = counts.get(combined, 0) + (-1 if bits else 1)

    def _support(self, sketch: FloatArray, n: int) -> FloatArray:
        return (n + fwht(sketch)[: self.domain_size]) / self.buckets
