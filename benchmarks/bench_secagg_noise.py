"""The aggregators' exact discrete Gaussian noise: whole arrays at once against one draw
at a time, and against numpy's (inexact, not cryptographic) float Gaussian.

For σ² calibrated to ε = 1, δ = 1e-9 and K = 20 or 50 ones per device, CPU seconds
(``time.process_time``, median of a few runs) to draw one aggregate share's noise
(10^3, 10^4 and 5*10^4 entries) with :func:`discreet.secagg.noise.discrete_gaussian`
on numpy arrays; the same algorithm called once per entry (measured on 2,000
entries and scaled); and ``numpy.random.Generator.normal`` as a floor.
"""

from __future__ import annotations

import numpy as np

from _harness import median_cpu_seconds, table
from discreet.secagg.accounting import calibrate
from discreet.secagg.noise import discrete_gaussian


def row(ones: int, size: int, runs: int) -> dict[str, object]:
    sigma_sq = calibrate(1.0, 1e-9, ones).sigma_sq
    arrays = median_cpu_seconds(lambda: discrete_gaussian(sigma_sq, size), runs)
    scalar_n = 2_000
    one_at_a_time = median_cpu_seconds(
        lambda: [discrete_gaussian(sigma_sq, 1) for _ in range(scalar_n)], 1
    ) * (size / scalar_n)
    rng = np.random.default_rng(0)
    floats = median_cpu_seconds(lambda: rng.normal(0.0, sigma_sq**0.5, size), runs)
    return {
        "K": ones,
        "sigma_sq": sigma_sq,
        "entries": size,
        "arrays_s": round(arrays, 3),
        "one_at_a_time_s": round(one_at_a_time, 2),
        "speed_up": round(one_at_a_time / arrays, 1),
        "numpy_float_s": round(floats, 4),
    }


def main(quick: bool = False) -> str:
    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 50_000)
    rows = [row(ones, size, 3) for ones in (20, 50) for size in sizes]
    columns = list(rows[0])
    return table("exact discrete Gaussian noise for one aggregate share (CPU s)", rows, columns)


if __name__ == "__main__":
    print(main())
