"""Exact discrete Gaussian noise over the integers (Canonne, Kamath and Steinke 2020).

Everything is integer arithmetic on uniform draws from a byte source (the OS
CSPRNG, :func:`secrets.token_bytes`, unless a test injects a seeded one):
no floating point touches a sample, so the distribution is exactly the one the
privacy accounting assumes. The algorithms are the paper's, run on whole
numpy arrays of pending samples at once (each rejection loop keeps going only
for the entries still undecided), which draws 5·10⁴ samples in well under a
second:

* ``bernoulli_exp``: Bernoulli(exp(-n/d)) (their Algorithm 1);
* :func:`discrete_laplace`: P[x] ∝ exp(-|x|/t) for an integer scale t (Algorithm 2, s = 1);
* :func:`discrete_gaussian`: P[x] ∝ exp(-x²/(2σ²)) for an integer σ² (Algorithm 3).

σ² is an integer (at most ``MAX_SIGMA_SQ``) so that every intermediate fits in
64 bits; the calibration in :mod:`discreet.secagg.accounting` rounds up to one.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from discreet.errors import NoiseParameterError
from discreet.i18n import _
from discreet.vdaf import Field
from discreet.vdaf.fields import Vec

__all__ = [
    "MAX_SIGMA_SQ",
    "RandomBytes",
    "add_noise",
    "discrete_gaussian",
    "discrete_laplace",
]

RandomBytes = Callable[[int], bytes]
Ints = npt.NDArray[np.int64]
Words = npt.NDArray[np.uint64]
Bools = npt.NDArray[np.bool_]

#: σ ≤ 4096: ``2·σ²·t²`` times a loop counter below 2¹² stays below 2⁶⁴.
MAX_SIGMA_SQ = 1 << 24
#: The bound on ``|x|·t`` that keeps ``(|x|·t - σ²)²`` below 2⁶³: a Laplace draw beyond it
#: is more than 180 scales out even at ``MAX_SIGMA_SQ`` (probability below exp(-180)).
_MAX_SCALED = 3_000_000_000


def _uniform_below(bound: Words, randbytes: RandomBytes) -> Words:
    """Uniform integers in ``[0, bound)``, elementwise, by rejection (no modulo bias)."""
    out = np.empty(bound.shape, dtype=np.uint64)
    pending = np.arange(bound.size)
    while pending.size:
        words = np.frombuffer(randbytes(8 * pending.size), dtype=np.uint64)
        b = bound[pending]
        floor = (~b + np.uint64(1)) % b  # 2**64 mod b: draws below it would be biased
        ok = words >= floor
        out[pending[ok]] = words[ok] % b[ok]
        pending = pending[~ok]
    return out


def _bernoulli(num: Words, den: Words, randbytes: RandomBytes) -> Bools:
    """Bernoulli(num/den), elementwise, for ``0 <= num <= den``."""
    return _uniform_below(den, randbytes) < num


def _bernoulli_exp_below_one(num: Words, den: Words, randbytes: RandomBytes) -> Bools:
    """Bernoulli(exp(-num/den)) for ``num <= den``: count k while Bernoulli(γ/k) succeeds;
    the answer is whether k ends odd."""
    k = np.ones(num.shape, dtype=np.uint64)
    active = np.arange(num.size)
    while active.size:
        hit = _bernoulli(num[active], den[active] * k[active], randbytes)
        active = active[hit]
        k[active] += np.uint64(1)
    odd: Bools = (k % np.uint64(2)) == 1
    return odd


def bernoulli_exp(num: Words, den: Words, randbytes: RandomBytes) -> Bools:
    """Bernoulli(exp(-num/den)), elementwise, for any ``num >= 0`` and ``den >= 1``:
    one Bernoulli(exp(-1)) per whole unit of ``num/den``, then the fraction."""
    whole, frac = num // den, num % den
    result = np.ones(num.shape, dtype=bool)
    one = np.ones(1, dtype=np.uint64)
    step = 0
    while True:
        pending = np.flatnonzero(result & (whole > np.uint64(step)))
        if not pending.size:
            break
        result[pending] = _bernoulli_exp_below_one(
            np.broadcast_to(one, pending.shape), np.broadcast_to(one, pending.shape), randbytes
        )
        step += 1
    rest = np.flatnonzero(result)
    result[rest] = _bernoulli_exp_below_one(frac[rest], den[rest], randbytes)
    return result


def discrete_laplace(scale: int, size: int, randbytes: RandomBytes = secrets.token_bytes) -> Ints:
    """``size`` draws with P[x] ∝ exp(-|x|/scale) over the integers (``scale >= 1``)."""
    if not 1 <= scale <= MAX_SIGMA_SQ:
        raise NoiseParameterError(
            _("a discrete Laplace scale is an integer in [1, {MAX_SIGMA_SQ}]").format(
                MAX_SIGMA_SQ=MAX_SIGMA_SQ
            )
        )
    t = np.uint64(scale)
    out = np.empty(size, dtype=np.int64)
    pending = np.arange(size)
    while pending.size:
        m = pending.size
        u = _uniform_below(np.full(m, t), randbytes)
        keep = bernoulli_exp(u, np.full(m, t), randbytes)
        v = np.zeros(m, dtype=np.uint64)
        counting = np.arange(m)
        while counting.size:  # V ~ Geometric(1 - exp(-1))
            ones = np.ones(counting.size, dtype=np.uint64)
            counting = counting[bernoulli_exp(ones, ones, randbytes)]
            v[counting] += np.uint64(1)
        x = (u + t * v).astype(np.int64)
        negative = _bernoulli(np.ones(m, dtype=np.uint64), np.full(m, 2, np.uint64), randbytes)
        ok = keep & ~(negative & (x == 0))
        out[pending[ok]] = np.where(negative, -x, x)[ok]
        pending = pending[~ok]
    return out


def discrete_gaussian(
    sigma_sq: int, size: int, randbytes: RandomBytes = secrets.token_bytes
) -> Ints:
    """``size`` draws with P[x] ∝ exp(-x²/(2·sigma_sq)) over the integers.

    A discrete Laplace proposal with scale ``t = floor(σ) + 1``, accepted with
    probability exp(-(|x| - σ²/t)²/(2σ²)).
    """
    if not 1 <= sigma_sq <= MAX_SIGMA_SQ:
        raise NoiseParameterError(
            _("σ² is an integer in [1, {MAX_SIGMA_SQ}]").format(MAX_SIGMA_SQ=MAX_SIGMA_SQ)
        )
    t = math.isqrt(sigma_sq) + 1
    out = np.empty(size, dtype=np.int64)
    pending = np.arange(size)
    while pending.size:
        y = discrete_laplace(t, pending.size, randbytes)
        scaled = np.abs(y) * t
        if int(scaled.max(initial=0)) >= _MAX_SCALED:  # pragma: no cover - p < exp(-180)
            raise ArithmeticError("a Laplace draw beyond 64-bit arithmetic")
        gap = (scaled - sigma_sq).astype(np.int64)
        num = (gap * gap).astype(np.uint64)
        den = np.full(y.shape, 2 * sigma_sq * t * t, dtype=np.uint64)
        ok = bernoulli_exp(num, den, randbytes)
        out[pending[ok]] = y[ok]
        pending = pending[~ok]
    return out


def add_noise(field: Field, values: Vec, noise: Ints) -> Vec:
    """``values + noise`` in ``field`` (negative noise is subtracted modulo the prime)."""
    if field.shape(values) != noise.shape:
        raise NoiseParameterError(_("the noise has one entry per element of the aggregate share"))
    up = field.from_uint64(np.where(noise > 0, noise, 0).astype(np.uint64))
    down = field.from_uint64(np.where(noise < 0, -noise, 0).astype(np.uint64))
    return field.sub(field.add(values, up), down)
