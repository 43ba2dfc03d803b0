"""Prime fields of the draft, with vectors as numpy arrays of ``uint64`` words.

A field vector of shape ``S`` is an array of shape ``S + field.word_shape``:
Field64 keeps one word per element (shape ``S``), Field128 two little-endian
words (shape ``S + (2,)``, low word first), so that element axes always come
first and ``v[i]``, ``v[a:b]`` and fancy indexing on the leading axes work the
same for both. Every element is kept reduced (``< MODULUS``). Arithmetic is
whole-array numpy: no Python loop over entries. Scalars in the protocol's
control flow (a test point, ``1/SHARES``) are plain ``int``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from discreet.vdaf.errors import VdafDecodeError

__all__ = ["FIELD64", "Field", "Field64", "Vec", "mul64"]

Vec: TypeAlias = npt.NDArray[np.uint64]

MASK32 = np.uint64(0xFFFF_FFFF)
SHIFT32 = np.uint64(32)


def mul64(a: Vec, b: Vec) -> tuple[Vec, Vec]:
    """The full 128-bit products ``a * b`` as (high, low) 64-bit words."""
    a0, a1 = a & MASK32, a >> SHIFT32
    b0, b1 = b & MASK32, b >> SHIFT32
    low_low = a0 * b0
    low_high = a0 * b1
    high_low = a1 * b0
    middle = (low_low >> SHIFT32) + (low_high & MASK32) + (high_low & MASK32)
    high = a1 * b1 + (low_high >> SHIFT32) + (high_low >> SHIFT32) + (middle >> SHIFT32)
    return high, a * b


class Field(ABC):
    """A prime field of the draft (section "Finite Fields"), acting on whole vectors."""

    name: str
    modulus: int
    encoded_size: int
    generator: int
    gen_order: int
    word_shape: tuple[int, ...]

    def __init__(self) -> None:
        if self.modulus.bit_length() != 8 * self.encoded_size:
            # The XOF's mask ``next_power_of_2(MODULUS) - 1`` is then all ones.
            raise AssertionError("the field's modulus must fill its encoding")
        self._root_powers: dict[int, Vec] = {}

    def __repr__(self) -> str:
        return self.name

    # Shapes ---------------------------------------------------------------

    def shape(self, v: Vec) -> tuple[int, ...]:
        """The element shape of ``v`` (without the word axis)."""
        return tuple(v.shape[: v.ndim - len(self.word_shape)])

    def reshape(self, v: Vec, shape: Sequence[int]) -> Vec:
        """``v`` with element shape ``shape``."""
        return v.reshape((*shape, *self.word_shape))

    def zeros(self, shape: Sequence[int]) -> Vec:
        """A vector of zeros with element shape ``shape``."""
        return np.zeros((*shape, *self.word_shape), dtype=np.uint64)

    def concat(self, parts: Sequence[Vec], axis: int = 0) -> Vec:
        """The vectors one after another along element axis ``axis`` (a non-negative index)."""
        return np.concatenate(parts, axis=axis)

    # Conversions ----------------------------------------------------------

    @abstractmethod
    def from_ints(self, values: Sequence[int]) -> Vec:
        """A 1-D vector of ``values`` reduced modulo the prime (negatives are negations)."""

    @abstractmethod
    def from_uint64(self, values: npt.NDArray[np.uint64]) -> Vec:
        """Elements from 64-bit integers that are already below the modulus."""

    @abstractmethod
    def to_ints(self, v: Vec) -> list[int]:
        """The elements of ``v``, flattened, as Python ints."""

    def scalar(self, value: int) -> Vec:
        """One element, broadcastable against any vector."""
        return self.from_ints([value]).reshape(self.word_shape)

    def encode(self, v: Vec) -> bytes:
        """The draft's ``encode_vec``: each element little-endian, ``ENCODED_SIZE`` bytes."""
        return np.ascontiguousarray(v, dtype="<u8").tobytes()

    def decode(self, data: bytes) -> Vec:
        """The draft's ``decode_vec``; raises :class:`VdafDecodeError` on any deviation."""
        if len(data) % self.encoded_size:
            raise VdafDecodeError(
                f"a {self.name} vector takes a multiple of {self.encoded_size} bytes"
            )
        v = self._words(data)
        if self._overflows(v).any():
            raise VdafDecodeError(f"a {self.name} element is not below the modulus")
        return v

    def accept(self, data: bytes) -> Vec:
        """The candidates in ``data`` that are below the modulus, in order (rejection sampling)."""
        v = self._words(data)
        return v[~self._overflows(v)]

    def _words(self, data: bytes) -> Vec:
        words = np.frombuffer(data, dtype="<u8").astype(np.uint64)
        return words.reshape(-1, *self.word_shape)

    @abstractmethod
    def _overflows(self, v: Vec) -> npt.NDArray[np.bool_]:
        """Which elements of ``v`` are not reduced."""

    # Arithmetic -----------------------------------------------------------

    def add(self, a: Vec, b: Vec) -> Vec:
        """``a + b``, elementwise, with numpy broadcasting on the element axes."""
        return self._elementwise(self._add, a, b)

    def sub(self, a: Vec, b: Vec) -> Vec:
        """``a - b``, elementwise."""
        return self._elementwise(self._sub, a, b)

    def mul(self, a: Vec, b: Vec) -> Vec:
        """``a * b``, elementwise."""
        return self._elementwise(self._mul, a, b)

    def _elementwise(self, op: Callable[[Vec, Vec], Vec], a: Vec, b: Vec) -> Vec:
        shape = np.broadcast_shapes(a.shape, b.shape)
        if len(shape) > len(self.word_shape):
            return op(a, b)
        # Single elements: numpy warns when scalars wrap around, arrays wrap silently.
        one = (1, *self.word_shape)
        return op(a.reshape(one), b.reshape(one)).reshape(shape)

    @abstractmethod
    def _add(self, a: Vec, b: Vec) -> Vec: ...

    @abstractmethod
    def _sub(self, a: Vec, b: Vec) -> Vec: ...

    @abstractmethod
    def _mul(self, a: Vec, b: Vec) -> Vec: ...

    def neg(self, a: Vec) -> Vec:
        """``-a``, elementwise."""
        return self.sub(self.zeros(()), a)

    def sum(self, v: Vec, axis: int = 0) -> Vec:
        """The sum along element axis ``axis`` (a non-negative index), by pairwise halving."""
        v = np.moveaxis(v, axis, 0)
        if v.shape[0] == 0:
            return self.zeros(self.shape(v)[1:])
        while v.shape[0] > 1:
            half = v.shape[0] // 2
            paired = self.add(v[:half], v[half : 2 * half])
            v = np.concatenate([paired, v[2 * half :]], axis=0) if v.shape[0] % 2 else paired
        return v.reshape(v.shape[1:])

    def dot(self, matrix: Vec, v: Vec) -> Vec:
        """``matrix @ v`` for a matrix of element shape (rows, n) and a vector of length n."""
        return self.sum(self.mul(matrix, v), axis=1)

    def powers(self, base: Vec, count: int) -> Vec:
        """``base**1 .. base**count`` for each element of a 1-D ``base``: shape (len, count)."""
        out = self.zeros((self.shape(base)[0], count))
        out[:, 0] = base
        filled = 1
        while filled < count:
            step = min(filled, count - filled)
            out[:, filled : filled + step] = self.mul(out[:, :step], out[:, filled - 1 : filled])
            filled += step
        return out

    def inv(self, value: int) -> int:
        """The inverse of a non-zero element."""
        return pow(value, -1, self.modulus)

    def root(self, n: int) -> int:
        """The draft's principal ``n``-th root of unity, ``gen**(GEN_ORDER / n)``."""
        if n < 1 or n & (n - 1) or self.gen_order % n:
            raise ValueError(f"{self.name} has no principal {n}-th root of unity")
        return pow(self.generator, self.gen_order // n, self.modulus)

    def root_powers(self, n: int) -> Vec:
        """``root(n)**i`` for ``i < n`` (cached)."""
        if n not in self._root_powers:
            first = self.from_ints([1])
            if n == 1:
                self._root_powers[n] = first
            else:
                rest = self.powers(self.from_ints([self.root(n)]), n - 1)[0]
                self._root_powers[n] = self.concat([first, rest])
        return self._root_powers[n]


class Field64(Field):
    """The draft's Field64: ``2**32 * 4294967295 + 1``, one word per element."""

    name = "Field64"
    modulus = 2**32 * 4294967295 + 1
    encoded_size = 8
    generator = pow(7, 4294967295, 2**32 * 4294967295 + 1)
    gen_order = 2**32
    word_shape = ()

    _P = np.uint64(2**32 * 4294967295 + 1)
    _EPSILON = np.uint64(2**32 - 1)  # 2**64 modulo the prime

    def from_ints(self, values: Sequence[int]) -> Vec:
        return np.array([v % self.modulus for v in values], dtype=np.uint64)

    def from_uint64(self, values: npt.NDArray[np.uint64]) -> Vec:
        return values.astype(np.uint64)

    def to_ints(self, v: Vec) -> list[int]:
        out: list[int] = v.ravel().tolist()
        return out

    def _overflows(self, v: Vec) -> npt.NDArray[np.bool_]:
        return v >= self._P

    def _add(self, a: Vec, b: Vec) -> Vec:
        complement = self._P - b  # in [1, p]: a + b = a - (p - b)
        out = a - complement
        return np.where(a < complement, out + self._P, out)

    def _sub(self, a: Vec, b: Vec) -> Vec:
        out = a - b
        return np.where(a < b, out + self._P, out)

    def _mul(self, a: Vec, b: Vec) -> Vec:
        high, low = mul64(a, b)
        # low + 2**64 * high, with 2**64 = 2**32 - 1 and 2**96 = -1 modulo p.
        high_low, high_high = high & MASK32, high >> SHIFT32
        t0 = low - high_high
        t0 = np.where(low < high_high, t0 - self._EPSILON, t0)
        t1 = (high_low << SHIFT32) - high_low
        out = t0 + t1
        out = np.where(out < t1, out + self._EPSILON, out)
        return np.where(out >= self._P, out - self._P, out)


FIELD64 = Field64()
