"""Central-DP accounting for the aggregators' noise: zCDP, and its (ε, δ) meaning.

A device contributes one report per task per ISO week. The batch's report
count is released, so neighbouring batches differ by one device's measurement
*replaced*, which moves the sum by a vector of squared L2 norm at most
``sensitivity_sq`` (two multihot vectors with at most K ones each: 2K; see
:attr:`discreet.secagg.task.Task.sensitivity_sq`). Each aggregator
adds independent discrete Gaussian noise of variance σ² to every entry of its
aggregate share, and **each aggregator's noise alone** is calibrated to the
target: the release is then (ε, δ)-DP even if the other aggregator adds no
noise, or tells its noise to an attacker (the honest one's noise is enough,
and the rest is post-processing).

The steps, each from a published result:

1. The discrete Gaussian with variance parameter σ² shifted by an integer
   vector of squared norm Δ² has Rényi divergence at most α·Δ²/(2σ²) at every
   order α (Canonne, Kamath and Steinke 2020, Proposition 5 and Theorem 14):
   the release is ρ-zCDP with ``ρ = Δ²/(2σ²)``.
2. ρ-zCDP implies (ε, δ)-DP for
   ``δ = inf over α > 1 of exp((α-1)(αρ-ε)) / (α-1) · (1-1/α)^α``
   (the same paper, Corollary 13), tighter than Bun and Steinke's
   ``ε = ρ + 2·sqrt(ρ·ln(1/δ))``.
3. zCDP composes by adding ρ: tasks released in the same week share one ρ.

:func:`calibrate` runs these backwards: the largest ρ whose δ at ε meets the
target, then the smallest integer σ² reaching it. ``tests/test_secagg_noise.py``
recomputes the result from first principles (the exact privacy-loss
distribution of the discrete Gaussian).
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

from discreet.errors import NoiseParameterError
from discreet.i18n import _
from discreet.secagg.noise import MAX_SIGMA_SQ

__all__ = ["NoisePlan", "calibrate", "delta_for", "rho_for"]


def rho_for(sensitivity_sq: int, sigma_sq: int) -> Fraction:
    """The zCDP ρ of discrete Gaussian noise σ² on a sum of squared sensitivity Δ²."""
    return Fraction(sensitivity_sq, 2 * sigma_sq)


def _log_delta(alpha: float, rho: float, epsilon: float) -> float:
    return (
        (alpha - 1) * (alpha * rho - epsilon) + alpha * math.log1p(-1 / alpha) - math.log(alpha - 1)
    )


def delta_for(rho: float, epsilon: float) -> float:
    """The δ at which ρ-zCDP is (ε, δ)-DP (Canonne, Kamath and Steinke, Corollary 13).

    The exponent is convex in α (each of its terms is), hence unimodal in
    ``log(α - 1)``, where a golden-section search finds the infimum.
    """
    if rho <= 0 or epsilon <= 0:
        raise NoiseParameterError(_("ρ and ε are positive"))
    low, high = math.log(1e-9), math.log(4.0 * (epsilon / rho + 2.0))

    def cost(t: float) -> float:
        return _log_delta(1.0 + math.exp(t), rho, epsilon)

    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    cost_a, cost_b = cost(a), cost(b)
    for _step in range(200):
        if cost_a <= cost_b:
            high, b, cost_b = b, a, cost_a
            a = high - ratio * (high - low)
            cost_a = cost(a)
        else:
            low, a, cost_a = a, b, cost_b
            b = low + ratio * (high - low)
            cost_b = cost(b)
    return min(1.0, math.exp(min(cost_a, cost_b)))


@dataclasses.dataclass(frozen=True)
class NoisePlan:
    """What one aggregator adds, and what it buys, per device per week.

    ``sigma_sq`` is the variance parameter of each aggregator's discrete Gaussian;
    the released sum carries both, so its noise per entry has variance about 2σ².
    """

    epsilon: float
    delta: float
    sensitivity_sq: int
    sigma_sq: int

    @property
    def rho(self) -> Fraction:
        """The zCDP ρ one aggregator's noise gives on its own."""
        return rho_for(self.sensitivity_sq, self.sigma_sq)

    @property
    def achieved_delta(self) -> float:
        """δ at ``epsilon`` for :attr:`rho` (at most :attr:`delta`)."""
        return delta_for(float(self.rho), self.epsilon)

    @property
    def release_variance(self) -> int:
        """An upper bound on the variance of the noise in each released entry (2σ²)."""
        return 2 * self.sigma_sq

    def to_json(self) -> dict[str, object]:
        """The plan for ``/v1/privacy`` and the collector's output."""
        return {
            "mechanism": "discrete Gaussian per aggregator (each alone suffices)",
            "epsilon": self.epsilon,
            "delta": self.delta,
            "sensitivity_sq": self.sensitivity_sq,
            "sigma_sq_per_aggregator": self.sigma_sq,
            "rho": float(self.rho),
            "achieved_delta": self.achieved_delta,
            "release_variance_per_entry": self.release_variance,
        }


def calibrate(epsilon: float, delta: float, sensitivity_sq: int) -> NoisePlan:
    """The smallest integer σ² that makes one aggregator's noise (ε, δ)-DP on its own."""
    if not (math.isfinite(epsilon) and 0 < epsilon <= 20):
        raise NoiseParameterError(_("ε is a number in (0, 20]"))
    if not 0 < delta < 1:
        raise NoiseParameterError(_("δ is a number in (0, 1); 1e-9 is usual"))
    if not 1 <= sensitivity_sq <= 1 << 20:
        raise NoiseParameterError(_("the squared sensitivity is an integer in [1, 2**20]"))
    low, high = 0.0, epsilon  # δ(ρ = ε) > any useful δ; δ(ρ → 0) → 0
    for _step in range(64):
        middle = (low + high) / 2
        if delta_for(middle, epsilon) <= delta:
            low = middle
        else:
            high = middle
    if low <= 0:
        raise NoiseParameterError(_("no noise meets that ε and δ; raise δ or ε"))
    sigma_sq = math.ceil(sensitivity_sq / (2 * low))
    if sigma_sq > MAX_SIGMA_SQ:
        raise NoiseParameterError(
            _(
                "that ε and δ need σ² = {sigma_sq} > {MAX_SIGMA_SQ}; raise ε "
                "or lower the sensitivity"
            ).format(sigma_sq=sigma_sq, MAX_SIGMA_SQ=MAX_SIGMA_SQ)
        )
    return NoisePlan(epsilon, delta, sensitivity_sq, sigma_sq)
