"""The draft's Field128, ``2**66 * 4611686018427387897 + 1``, as two ``uint64`` words.

The prime is ``p = 2**128 - 28 * 2**64 + 1``, so ``2**128 = 28 * 2**64 - 1``
modulo ``p``: a product is folded back below ``2**128`` with additions and
multiplications by 28 only. Multiplication works on 32-bit limbs held in
64-bit integers, whose partial products and signed column sums cannot
overflow. Numpy arrays of Python ints were measured as the alternative
(``benchmarks/bench_vdaf.py``): the words are several times faster.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from discreet.vdaf.fields import MASK32, SHIFT32, Field, Vec

__all__ = ["FIELD128", "Field128"]

_P = 2**66 * 4611686018427387897 + 1
_P_LOW = np.uint64(_P & (2**64 - 1))  # 1
_P_HIGH = np.uint64(_P >> 64)  # 2**64 - 28
_ONE = np.uint64(1)
_LIMB = np.int64(0xFFFF_FFFF)
_SHIFT = np.int64(32)


def _sub_words(
    a0: Vec, a1: Vec, b0: Vec | np.uint64, b1: Vec | np.uint64
) -> tuple[Vec, Vec, npt.NDArray[np.bool_]]:
    """``a - b`` on 128-bit words, wrapping, and whether it borrowed."""
    low = a0 - b0
    borrow_low = a0 < b0
    high = a1 - b1 - borrow_low.astype(np.uint64)
    borrow = (a1 < b1) | ((a1 == b1) & borrow_low)
    return low, high, borrow


def _add_p_where(low: Vec, high: Vec, where: npt.NDArray[np.bool_]) -> tuple[Vec, Vec]:
    """``(low, high) + p`` (wrapping) where ``where`` holds."""
    # p's low word is 1: the low word carries exactly when it was all ones.
    plus_low = low + _P_LOW
    plus_high = high + _P_HIGH + (plus_low == 0).astype(np.uint64)
    return np.where(where, plus_low, low), np.where(where, plus_high, high)


def _stack(low: Vec, high: Vec) -> Vec:
    return np.stack([low, high], axis=-1)


def _carry(columns: list[npt.NDArray[np.int64]]) -> npt.NDArray[np.int64]:
    """Normalise four signed 32-bit columns in place; return the carry out of the top."""
    carry = columns[0] >> _SHIFT
    columns[0] = columns[0] & _LIMB
    for k in (1, 2, 3):
        columns[k] = columns[k] + carry
        carry = columns[k] >> _SHIFT
        columns[k] = columns[k] & _LIMB
    return carry


class Field128(Field):
    """The draft's Field128; vectors carry a trailing axis of two words (low, high)."""

    name = "Field128"
    modulus = _P
    encoded_size = 16
    generator = pow(7, 4611686018427387897, _P)
    gen_order = 2**66
    word_shape = (2,)

    def from_ints(self, values: Sequence[int]) -> Vec:
        reduced = np.array([v % _P for v in values] or [0], dtype=object)[: len(values)]
        low = (reduced & (2**64 - 1)).astype(np.uint64)
        high = (reduced >> 64).astype(np.uint64)
        return _stack(low, high)

    def from_uint64(self, values: npt.NDArray[np.uint64]) -> Vec:
        return _stack(values.astype(np.uint64), np.zeros_like(values, dtype=np.uint64))

    def to_ints(self, v: Vec) -> list[int]:
        flat = v.reshape(-1, 2)
        joined = flat[:, 0].astype(object) + (flat[:, 1].astype(object) << 64)
        out: list[int] = joined.tolist()
        return out

    def _overflows(self, v: Vec) -> npt.NDArray[np.bool_]:
        low, high = v[..., 0], v[..., 1]
        overflows: npt.NDArray[np.bool_] = (high > _P_HIGH) | ((high == _P_HIGH) & (low >= _P_LOW))
        return overflows

    def _add(self, a: Vec, b: Vec) -> Vec:
        # a + b = a - (p - b); when that borrows, a + b < p already.
        c0, c1, _ = _sub_words(
            np.broadcast_to(_P_LOW, b[..., 0].shape),
            np.broadcast_to(_P_HIGH, b[..., 1].shape),
            b[..., 0],
            b[..., 1],
        )
        low, high, borrow = _sub_words(a[..., 0], a[..., 1], c0, c1)
        return _stack(*_add_p_where(low, high, borrow))

    def _sub(self, a: Vec, b: Vec) -> Vec:
        low, high, borrow = _sub_words(a[..., 0], a[..., 1], b[..., 0], b[..., 1])
        return _stack(*_add_p_where(low, high, borrow))

    def _mul(self, a: Vec, b: Vec) -> Vec:
        x = (a[..., 0] & MASK32, a[..., 0] >> SHIFT32, a[..., 1] & MASK32, a[..., 1] >> SHIFT32)
        y = (b[..., 0] & MASK32, b[..., 0] >> SHIFT32, b[..., 1] & MASK32, b[..., 1] >> SHIFT32)
        # Column k holds the coefficient of 2**(32k) of the 256-bit product: at most
        # seven 32-bit halves of partial products, so below 2**35.
        columns: list[Vec] = [np.zeros((), dtype=np.uint64)] * 8
        for i in range(4):
            for j in range(4):
                product = x[i] * y[j]
                columns[i + j] = columns[i + j] + (product & MASK32)
                columns[i + j + 1] = columns[i + j + 1] + (product >> SHIFT32)
        c = [column.astype(np.int64) for column in columns]
        # 2**(32(k+4)) = 28 * 2**(32(k+2)) - 2**(32k): fold the top four columns down.
        for k in (7, 6, 5, 4):
            c[k - 2] = c[k - 2] + 28 * c[k]
            c[k - 4] = c[k - 4] - c[k]
        low_columns = c[:4]
        # Three rounds of carrying and folding the carry bring the value into
        # [0, 2**128): the second carry is in {-1, 0, 1}, the third is zero.
        for _ in range(2):
            top = _carry(low_columns)
            low_columns[2] = low_columns[2] + 28 * top
            low_columns[0] = low_columns[0] - top
        _carry(low_columns)
        low = (low_columns[0] | (low_columns[1] << _SHIFT)).astype(np.uint64)
        high = (low_columns[2] | (low_columns[3] << _SHIFT)).astype(np.uint64)
        reduced_low, reduced_high, borrow = _sub_words(low, high, _P_LOW, _P_HIGH)
        return _stack(np.where(borrow, low, reduced_low), np.where(borrow, high, reduced_high))


FIELD128 = Field128()
