"""Central-DP noise: the exact samplers against their distributions, noise in the field,
and the privacy accounting recomputed from first principles."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy import stats

from discreet.errors import NoiseParameterError
from discreet.secagg import accounting, noise
from discreet.vdaf import FIELD64, FIELD128, Field


def seeded(seed: int) -> noise.RandomBytes:
    return random.Random(seed).randbytes


def _chi_square_p(samples: np.ndarray, pmf: dict[int, float]) -> float:
    """The chi-square test's p-value of ``samples`` against ``pmf`` (tails pooled)."""
    support = [k for k, p in pmf.items() if p * samples.size >= 20]
    observed = [np.count_nonzero(samples == k) for k in support]
    expected = [pmf[k] * samples.size for k in support]
    observed.append(samples.size - sum(observed))
    expected.append(samples.size - sum(expected))
    return float(stats.chisquare(observed, expected).pvalue)


@pytest.mark.parametrize(("num", "den"), [(0, 1), (1, 3), (1, 1), (5, 2), (7, 3)])
def test_bernoulli_exp_has_the_right_frequency(num: int, den: int) -> None:
    n = 100_000
    draws = noise.bernoulli_exp(
        np.full(n, num, np.uint64), np.full(n, den, np.uint64), seeded(num * 10 + den)
    )
    p = math.exp(-num / den)
    assert abs(draws.mean() - p) <= 5 * math.sqrt(p * (1 - p) / n) + 1e-12


def test_discrete_laplace_matches_its_pmf_mean_and_variance() -> None:
    scale = 3
    x = noise.discrete_laplace(scale, 200_000, seeded(1))
    q = math.exp(-1 / scale)
    pmf = {k: (1 - q) / (1 + q) * q ** abs(k) for k in range(-60, 61)}
    assert _chi_square_p(x, pmf) > 1e-4
    variance = 2 * q / (1 - q) ** 2
    assert abs(x.mean()) < 5 * math.sqrt(variance / x.size)
    assert abs(x.var() - variance) < 5 * variance * math.sqrt(5 / x.size)


def _gaussian_pmf(sigma_sq: int) -> dict[int, float]:
    bound = 40 * math.isqrt(sigma_sq) + 40
    weights = {k: math.exp(-k * k / (2 * sigma_sq)) for k in range(-bound, bound + 1)}
    total = sum(weights.values())
    return {k: w / total for k, w in weights.items()}


def test_discrete_gaussian_matches_its_pmf() -> None:
    x = noise.discrete_gaussian(3, 200_000, seeded(2))
    assert _chi_square_p(x, _gaussian_pmf(3)) > 1e-4
    assert _chi_square_p(noise.discrete_gaussian(5, 200_000, seeded(2)), _gaussian_pmf(3)) < 1e-9


def test_discrete_gaussian_mean_and_variance_at_a_deployed_scale() -> None:
    sigma_sq = accounting.calibrate(1.0, 1e-9, 50).sigma_sq
    x = noise.discrete_gaussian(sigma_sq, 50_000, seeded(3))
    pmf = _gaussian_pmf(sigma_sq)
    variance = sum(k * k * p for k, p in pmf.items())
    assert variance <= sigma_sq  # Canonne, Kamath and Steinke, Proposition 19
    assert abs(x.mean()) < 5 * math.sqrt(variance / x.size)
    assert abs(x.var() - variance) < 5 * variance * math.sqrt(2 / x.size)


def test_the_byte_source_is_what_decides_the_draws() -> None:
    a = noise.discrete_gaussian(100, 1000, seeded(4))
    assert np.array_equal(a, noise.discrete_gaussian(100, 1000, seeded(4)))
    assert not np.array_equal(a, noise.discrete_gaussian(100, 1000, seeded(5)))
    assert not np.array_equal(
        noise.discrete_gaussian(100, 1000), noise.discrete_gaussian(100, 1000)
    )


@pytest.mark.parametrize("field", [FIELD64, FIELD128], ids=str)
def test_noise_is_added_in_the_field(field: Field) -> None:
    values = field.from_ints([0, 5, field.modulus - 1, 17])
    draws = np.array([-3, 4, 2, -17], dtype=np.int64)
    noisy = field.to_ints(noise.add_noise(field, values, draws))
    assert noisy == [field.modulus - 3, 9, 1, 0]
    with pytest.raises(NoiseParameterError):
        noise.add_noise(field, values, draws[:3])


def test_impossible_noise_parameters_are_refused() -> None:
    with pytest.raises(NoiseParameterError):
        noise.discrete_gaussian(0, 10)
    with pytest.raises(NoiseParameterError):
        noise.discrete_gaussian(noise.MAX_SIGMA_SQ + 1, 10)
    with pytest.raises(NoiseParameterError):
        noise.discrete_laplace(0, 10)
    for epsilon, delta, sensitivity in ((0, 1e-9, 1), (1, 0, 1), (1, 1, 1), (1, 1e-9, 0)):
        with pytest.raises(NoiseParameterError):
            accounting.calibrate(epsilon, delta, sensitivity)
    with pytest.raises(NoiseParameterError, match="raise ε"):
        accounting.calibrate(0.001, 1e-12, 1 << 20)


# First principles -----------------------------------------------------------


def _exact_delta(sigma_sq: int, ones: int, epsilon: float) -> float:
    """δ(ε) of the discrete Gaussian on a sum that one device moves by 1 in ``ones`` entries.

    With P the noisy sum with the device and Q without, the privacy loss at an
    output is ``ln P/Q = Σ (2 y_i - 1)/(2σ²)`` over the device's entries, y_i ~ N_Z(1, σ²),
    so it depends on ``s = Σ y_i`` only, whose law is the ``ones``-fold convolution
    of the 1-D pmf. δ(ε) = E_P[max(0, 1 - exp(ε - loss))] (the hockey-stick
    divergence); both directions are equal by symmetry.
    """
    pmf = _gaussian_pmf(sigma_sq)
    ks = np.array(sorted(pmf))
    base = np.array([pmf[k] for k in ks])
    law = base
    for _ in range(ones - 1):
        law = np.convolve(law, base)
    s = np.arange(law.size) + ones * (ks[0] + 1)  # y_i = k + 1: centred on the device's 1
    loss = (2 * s - ones) / (2 * sigma_sq)
    return float(np.sum(law * np.clip(1 - np.exp(epsilon - loss), 0, None)))


def test_renyi_divergence_is_within_the_zcdp_bound() -> None:
    """D_α(N_Z(1, σ²) || N_Z(0, σ²)) summed term by term (both share one normaliser Z)."""
    sigma_sq = 20
    k = np.arange(-2000, 2001, dtype=np.float64)
    log_z = np.log(np.sum(np.exp(-(k**2) / (2 * sigma_sq))))
    for alpha in (1.5, 2.0, 8.0, 32.0):
        exponent = -(alpha * (k - 1) ** 2 + (1 - alpha) * k**2) / (2 * sigma_sq)
        log_total = np.log(np.sum(np.exp(exponent))) - log_z
        divergence = float(log_total) / (alpha - 1)
        assert divergence <= alpha * float(accounting.rho_for(1, sigma_sq)) * (1 + 1e-9)
        assert divergence >= 0.9 * alpha / (2 * sigma_sq)  # the bound is nearly tight


def test_delta_for_is_the_infimum_over_orders() -> None:
    for rho, epsilon in ((0.01, 1.0), (0.2, 2.0), (0.001, 0.3)):
        alphas = np.exp(np.linspace(math.log(1 + 1e-6), math.log(1e5), 200_000))
        log_d = (alphas - 1) * (alphas * rho - epsilon) + alphas * np.log1p(-1 / alphas)
        brute = float(np.exp(np.min(log_d - np.log(alphas - 1))))
        assert accounting.delta_for(rho, epsilon) == pytest.approx(brute, rel=1e-4)
        bun_steinke_delta = math.exp(-((epsilon - rho) ** 2) / (4 * rho))
        assert accounting.delta_for(rho, epsilon) <= bun_steinke_delta


@pytest.mark.parametrize(("epsilon", "delta", "ones"), [(1.0, 1e-6, 4), (0.5, 1e-9, 2)])
def test_calibrated_noise_is_dp_from_first_principles(
    epsilon: float, delta: float, ones: int
) -> None:
    plan = accounting.calibrate(epsilon, delta, ones)
    assert plan.rho == pytest.approx(ones / (2 * plan.sigma_sq))
    assert plan.achieved_delta <= delta
    exact = _exact_delta(plan.sigma_sq, ones, epsilon)
    assert exact <= plan.achieved_delta
    # Smallest: one less variance no longer meets δ by the conversion.
    assert accounting.delta_for(ones / (2 * (plan.sigma_sq - 1)), epsilon) > delta
    # The exact δ of too little noise (a quarter of it) breaks the target.
    assert _exact_delta(plan.sigma_sq // 4, ones, epsilon) > delta
