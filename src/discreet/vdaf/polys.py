"""Polynomials over a field, batched over rows: the NTT and the draft's Lagrange basis.

A polynomial of degree below ``n`` (a power of two) is kept as its values at
the first ``n`` powers of the principal ``n``-th root of unity ``w``: the
draft's Lagrange basis. Every function works on the last element axis and
treats the axes before it as a batch, so the prover transforms all the wire
polynomials of a gadget in one call.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from discreet.vdaf.fields import Field, Vec

__all__ = [
    "double_evaluations",
    "extend_values",
    "inv_ntt",
    "lagrange_eval",
    "lagrange_weights",
    "log2",
    "next_power_of_2",
    "ntt",
]


def next_power_of_2(x: int) -> int:
    """The smallest power of two that is at least ``x`` (and at least 1)."""
    return 1 << max(x - 1, 0).bit_length()


def log2(n: int) -> int:
    """``log2(n)`` for a power of two ``n``."""
    if n < 1 or n & (n - 1):
        raise ValueError(f"{n} is not a power of two")
    return n.bit_length() - 1


@functools.lru_cache(maxsize=64)
def _bit_reversal(n: int) -> tuple[int, ...]:
    bits = log2(n)
    return tuple(int(f"{i:0{bits}b}"[::-1], 2) if bits else 0 for i in range(n))


def _rows(field: Field, v: Vec) -> tuple[Vec, tuple[int, ...]]:
    """``v`` as a matrix of element shape (rows, n), and its original element shape."""
    shape = field.shape(v)
    return field.reshape(v, (int(np.prod(shape[:-1], dtype=np.int64)), shape[-1])), shape


def _transform(field: Field, v: Vec, root: int) -> Vec:
    """``out[i] = sum_k v[k] * root**(i*k)`` along the last element axis (radix 2, in order)."""
    x, shape = _rows(field, v)
    rows, n = field.shape(x)
    x = x[:, list(_bit_reversal(n))]
    half = 1
    while half < n:
        x = field.reshape(x, (rows, n // (2 * half), 2, half))
        even, odd = x[:, :, 0], x[:, :, 1]
        if half > 1:  # the first stage's only twiddle is 1
            step = pow(root, n // (2 * half), field.modulus)
            odd = field.mul(odd, _powers_from_one(field, step, half))
        x = np.stack([field.add(even, odd), field.sub(even, odd)], axis=2)
        half *= 2
    return field.reshape(x, shape)


def _powers_from_one(field: Field, base: int, count: int) -> Vec:
    """``base**i`` for ``i < count``."""
    rest = field.powers(field.from_ints([base]), count - 1)[0] if count > 1 else field.zeros((0,))
    return field.concat([field.from_ints([1]), rest])


def _pad(field: Field, v: Vec, n: int) -> Vec:
    shape = field.shape(v)
    if shape[-1] == n:
        return v
    padded = field.zeros((*shape[:-1], n))
    padded[(slice(None),) * (len(shape) - 1) + (slice(0, shape[-1]),)] = v
    return padded


def ntt(field: Field, coeffs: Vec, n: int, coset: bool = False) -> Vec:
    """The draft's ``Field.ntt``: the values at ``w_n**i``, or at ``s * w_n**i`` with
    ``s = w_2n`` when ``coset``. Coefficients (lowest degree first) may be fewer than ``n``.
    """
    coeffs = _pad(field, coeffs, n)
    if coset:
        coeffs = field.mul(coeffs, field.root_powers(2 * n)[:n])
    return _transform(field, coeffs, field.root(n))


def inv_ntt(field: Field, values: Vec, n: int) -> Vec:
    """The draft's ``Field.inv_ntt``: the coefficients from the values at ``w_n**i``."""
    coeffs = _transform(field, _pad(field, values, n), field.inv(field.root(n)))
    return field.mul(coeffs, field.scalar(field.inv(n)))


def double_evaluations(field: Field, values: Vec) -> Vec:
    """The draft's ``double_evaluations``: the values at all ``2n``-th roots, in order."""
    shape = field.shape(values)
    n = shape[-1]
    coeffs = _transform(field, values, field.inv(field.root(n)))
    # The coset shift and the 1/n of the inverse transform, as one product.
    scale = field.mul(field.root_powers(2 * n)[:n], field.scalar(field.inv(n)))
    odd = _transform(field, field.mul(coeffs, scale), field.root(n))
    both = np.stack([values, odd], axis=len(shape))
    return field.reshape(both, (*shape[:-1], 2 * n))


def _prefix_products(field: Field, v: Vec) -> Vec:
    """Along the last element axis of a matrix: ``out[:, i] = v[:, 0] * ... * v[:, i-1]``
    (``out[:, 0] = 1``), by log-step scanning."""
    rows, n = field.shape(v)
    scan = v.copy()
    shift = 1
    while shift < n:
        scan[:, shift:] = field.mul(scan[:, shift:], scan[:, :-shift])
        shift *= 2
    ones = np.broadcast_to(field.scalar(1), field.zeros((rows, 1)).shape)
    return field.concat([ones, scan[:, :-1]], axis=1)


def lagrange_weights(field: Field, n: int, points: Sequence[int]) -> Vec:
    """``L_i(t)`` for the Lagrange basis of size ``n`` and each ``t`` in ``points``: element
    shape ``(len(points), n)``. A polynomial's value at ``t`` is the dot product of its row
    of weights with the polynomial's ``n`` values (the draft's ``poly_eval``).
    """
    nodes = field.root_powers(n)
    d = field.sub(nodes, field.reshape(field.from_ints(points), (len(points), 1)))
    # L_i(t) = (-1)**(n-1) / n * w**i * prod_{j != i} (w**j - t)
    before = _prefix_products(field, d)
    after = _prefix_products(field, d[:, ::-1])[:, ::-1]
    factor = (-1) ** (n - 1) * field.inv(n)
    return field.mul(field.mul(before, after), field.mul(nodes, field.scalar(factor)))


def lagrange_eval(field: Field, values: Vec, points: Sequence[int]) -> Vec:
    """The draft's ``poly_eval_batched``, one test point per row: ``values`` has element
    shape ``(..., len(points), n)`` and row ``b`` is evaluated at ``points[b]``."""
    shape = field.shape(values)
    weights = lagrange_weights(field, shape[-1], points)
    return field.sum(field.mul(values, weights), axis=len(shape) - 1)


@functools.lru_cache(maxsize=32)
def _extension_matrix(field: Field, m: int, n: int) -> Vec:
    """The weights that give a degree-below-``m`` polynomial's values at ``w**k``
    (``m <= k < n``) from its values at ``w**i`` (``i < m``), computed once per shape.

    Barycentric interpolation through ``x_i = w**i``, ``i < m``: with
    ``prod_{j != i, j < n} (x_i - x_j) = n / x_i`` every weight costs ``O(n - m)``.
    """
    p = field.modulus
    x = field.to_ints(field.root_powers(n))
    missing = range(m, n)

    def outside(i: int) -> int:  # prod_{j >= m, j != i} (x_i - x_j)
        out = 1
        for j in missing:
            if j != i:
                out = out * (x[i] - x[j]) % p
        return out

    # 1 / w_i = x_i * outside(i) / n, where w_i = prod_{j < m, j != i} (x_i - x_j)
    inv_weights = [x[i] * outside(i) * pow(n, -1, p) % p for i in range(m)]
    flat = []
    for k in missing:
        ell = n * pow(x[k] * outside(k), -1, p) % p  # prod_{j < m} (x_k - x_j)
        flat += [ell * inv_weights[i] * pow(x[k] - x[i], -1, p) % p for i in range(m)]
    return field.reshape(field.from_ints(flat), (n - m, m))


def extend_values(field: Field, values: Vec, n: int) -> Vec:
    """The draft's ``extend_values_to_power_of_2`` along the last element axis: the ``n``
    values of the polynomial of lowest degree through the ``m`` given ones, for every row.
    """
    shape = field.shape(values)
    m = shape[-1]
    if m == n:
        return values
    rows = field.reshape(values, (*shape[:-1], 1, m))
    extension = field.sum(field.mul(_extension_matrix(field, m, n), rows), axis=len(shape))
    return field.concat([values, extension], axis=len(shape) - 1)
