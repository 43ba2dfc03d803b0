"""The draft's Field128, ``2**66 * 4611686018427387897 + 1``, as two ``uint64`` words.

The prime is ``p = 2**128 - 28 * 2**64 + 1``, so ``2**128 = 28 * 2**64 - 1``
modulo ``p``: a product is folded back below ``2**128`` with additions and
multiplications by 28 only. Multiplication works on 32-bit limbs held in
64-bit integers, whose partial products and signed column sums cannot
overflow. Numpy arrays of Python ints were measured as the alternative
(``benchmarks/bench_vdaf.py``): the words are several times faster.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

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


def _sub_mod(a0: Vec, a1: Vec, b0: Vec, b1: Vec, shape: tuple[int, ...]) -> Vec:
    """``(a - b) mod p`` for reduced 128-bit operands given as words, into a new array."""
    below, borrow, wrapped = _scratch(shape)[16:19]
    out = np.empty((*shape, 2), dtype=np.uint64)
    low, high = out[..., 0], out[..., 1]
    np.subtract(a0, b0, out=low)
    np.less(a0, b0, out=below, casting="unsafe")
    np.subtract(a1, b1, out=high)
    np.subtract(high, below, out=high)
    np.equal(a1, b1, out=borrow, casting="unsafe")
    np.multiply(borrow, below, out=borrow)
    np.less(a1, b1, out=wrapped, casting="unsafe")
    np.bitwise_or(borrow, wrapped, out=borrow)
    # Where it borrowed, add p back (wrapping): p's low word is 1, so the low word
    # carries exactly when it becomes 0.
    np.add(low, borrow, out=low)
    np.equal(low, 0, out=wrapped, casting="unsafe")
    np.multiply(wrapped, borrow, out=wrapped)
    np.multiply(borrow, _P_HIGH, out=borrow)
    np.add(high, borrow, out=high)
    np.add(high, wrapped, out=high)
    return out


def _stack(low: Vec, high: Vec) -> Vec:
    return np.stack([low, high], axis=-1)


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
        # a + b = a - (p - b), where 0 < p - b <= p; when that borrows, a + b < p.
        c0, c1, above = _scratch(b.shape[:-1])[:3]
        np.subtract(_P_LOW, b[..., 0], out=c0)
        np.subtract(_P_HIGH, b[..., 1], out=c1)
        np.greater(b[..., 0], _P_LOW, out=above, casting="unsafe")
        np.subtract(c1, above, out=c1)
        shape = np.broadcast_shapes(a.shape, b.shape)[:-1]
        return _sub_mod(a[..., 0], a[..., 1], c0, c1, shape)

    def _sub(self, a: Vec, b: Vec) -> Vec:
        shape = np.broadcast_shapes(a.shape, b.shape)[:-1]
        return _sub_mod(a[..., 0], a[..., 1], b[..., 0], b[..., 1], shape)

    def _mul(self, a: Vec, b: Vec) -> Vec:
        shape = np.broadcast_shapes(a.shape, b.shape)[:-1]
        buffers = _scratch(shape)
        x, y = buffers[0:4], buffers[4:8]
        product, half, carry = buffers[8:11]
        columns = buffers[11:19]
        for limbs, v in ((x, a), (y, b)):
            np.bitwise_and(v[..., 0], MASK32, out=limbs[0])
            np.right_shift(v[..., 0], SHIFT32, out=limbs[1])
            np.bitwise_and(v[..., 1], MASK32, out=limbs[2])
            np.right_shift(v[..., 1], SHIFT32, out=limbs[3])
        # Column k holds the coefficient of 2**(32k) of the 256-bit product: at most
        # seven 32-bit halves of partial products, so below 2**35.
        started = [False] * 8
        for i in range(4):
            for j in range(4):
                np.multiply(x[i], y[j], out=product)
                for k, op in ((i + j, np.bitwise_and), (i + j + 1, np.right_shift)):
                    if started[k]:
                        op(product, MASK32 if op is np.bitwise_and else SHIFT32, out=half)
                        np.add(columns[k], half, out=columns[k])
                    else:
                        op(product, MASK32 if op is np.bitwise_and else SHIFT32, out=columns[k])
                        started[k] = True
        c = [column.view(np.int64) for column in columns]
        signed_carry = carry.view(np.int64)
        # 2**(32(k+4)) = 28 * 2**(32(k+2)) - 2**(32k): fold the top four columns down.
        for k in (7, 6, 5, 4):
            np.multiply(c[k], 28, out=signed_carry)
            np.add(c[k - 2], signed_carry, out=c[k - 2])
            np.subtract(c[k - 4], c[k], out=c[k - 4])
        # Three rounds of carrying and folding the carry bring the value into
        # [0, 2**128): the second carry is in {-1, 0, 1}, the third is zero.
        for fold in (True, True, False):
            for k in range(4):
                if k:
                    np.add(c[k], signed_carry, out=c[k])
                np.right_shift(c[k], _SHIFT, out=signed_carry)
                np.bitwise_and(c[k], _LIMB, out=c[k])
            if fold:
                np.subtract(c[0], signed_carry, out=c[0])
                np.multiply(signed_carry, 28, out=signed_carry)
                np.add(c[2], signed_carry, out=c[2])
        low, high = columns[0], columns[2]
        np.left_shift(columns[1], SHIFT32, out=columns[1])
        np.bitwise_or(low, columns[1], out=low)
        np.left_shift(columns[3], SHIFT32, out=columns[3])
        np.bitwise_or(high, columns[3], out=high)
        # One conditional subtraction of p; its low word is 1.
        reduce = (high > _P_HIGH) | ((high == _P_HIGH) & (low != 0))
        out = np.empty((*shape, 2), dtype=np.uint64)
        out[..., 0] = low
        out[..., 1] = high
        np.subtract(low, _P_LOW, out=out[..., 0], where=reduce)
        np.subtract(high, _P_HIGH, out=out[..., 1], where=reduce)
        np.subtract(out[..., 1], _ONE, out=out[..., 1], where=reduce & (low == 0))  # borrow
        return out


_WORKSPACE = threading.local()


def _scratch(shape: tuple[int, ...]) -> list[Vec]:
    """Nineteen uint64 arrays of ``shape``, reused across calls (one buffer per thread).

    Fresh large temporaries come from mmap and fault every page in again: reusing
    one buffer halves the time of a multiplication of 50k elements. Each
    operation uses the buffers only while it runs and returns a new array.
    """
    return _buffers("words", np.uint64, 19, shape)


def _buffers(name: str, dtype: type[Any], count: int, shape: tuple[int, ...]) -> list[Any]:
    size = int(np.prod(shape, dtype=np.int64))
    buffer = getattr(_WORKSPACE, name, None)
    if buffer is None or buffer.size < count * size:
        buffer = np.empty(count * size, dtype=dtype)
        setattr(_WORKSPACE, name, buffer)
    return [buffer[i * size : (i + 1) * size].reshape(shape) for i in range(count)]


FIELD128 = Field128()
