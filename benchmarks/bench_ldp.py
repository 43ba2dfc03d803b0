"""Frequency oracles on Zipf(1.1) data: discreet side by side with pure-ldp.

For each oracle: MSE/n (mean squared error of the count estimates over the
domain, divided by n) and its ratio to the OLH optimum 4e^ε/(e^ε-1)^2, report
bits, client µs per report on the device path (one report at a time), and
server decoding seconds (sketch + estimate). pure-ldp runs in its own venv
(``benchmarks/setup_pureldp.sh``); its OLH decoder is O(n d) in Python, so it
only runs where that finishes in reasonable time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time

import numpy as np

from _harness import HERE, table
from discreet.protocol import choose_oracle, optimal_variance

PURE_LDP = HERE / ".venv-pureldp" / "bin" / "python"


def _zipf(d: int, n: int, rng: np.random.Generator) -> np.ndarray:
    weights = 1.0 / np.arange(1, d + 1) ** 1.1
    return rng.choice(d, size=n, p=weights / weights.sum())


def discreet_row(d: int, n: int, epsilon: float) -> dict[str, object]:
    rng = np.random.default_rng(0)
    params = choose_oracle(d, epsilon)
    values = _zipf(d, n, rng)
    truth = np.bincount(values, minlength=d)
    device = values[:2000]
    start = time.perf_counter()
    for v in device:
        params.privatise(int(v), rng)
    client_us = (time.perf_counter() - start) / len(device) * 1e6
    payloads = params.privatise_many(values, rng)
    start = time.perf_counter()
    estimates = params.estimate(params.sketch(payloads), n)
    decode_s = time.perf_counter() - start
    mse = float(np.mean((estimates - truth) ** 2))
    return _row(
        f"discreet {params.mechanism} (m={params.hash_bits})",
        d,
        n,
        epsilon,
        mse / n,
        params.payload_bits,
        client_us,
        decode_s,
    )


def pure_ldp_row(oracle: str, d: int, n: int, epsilon: float) -> dict[str, object]:
    done = subprocess.run(
        [str(PURE_LDP), str(HERE / "_pureldp_case.py"), oracle, str(d), str(n), str(epsilon)],
        capture_output=True,
        text=True,
        check=True,
    )
    r = json.loads(done.stdout.strip().splitlines()[-1])
    return _row(oracle, d, n, epsilon, r["mse_per_n"], r["bits"], r["client_us"], r["decode_s"])


def _row(
    oracle: str, d: int, n: int, eps: float, mse_n: float, bits: int, us: float, decode: float
) -> dict[str, object]:
    return {
        "oracle": oracle,
        "d": d,
        "n": n,
        "eps": eps,
        "mse_per_n": mse_n,
        "x_optimum": mse_n / optimal_variance(eps),
        "report_bits": bits,
        "client_us": us,
        "decode_s": decode,
    }


def main(quick: bool = False) -> str:
    ds = (10**3, 10**4) if quick else (10**3, 10**4, 10**5)
    ns = (10**5,) if quick else (10**5, 10**6)
    rows = [discreet_row(d, n, e) for e in (1.0, 3.0) for d in ds for n in ns]
    if PURE_LDP.exists():
        for e in (1.0, 3.0):
            rows += [pure_ldp_row("pure-ldp HR", d, 10**5, e) for d in ds]
            rows.append(pure_ldp_row("pure-ldp OLH", 10**3, 10**4, e))
    else:
        rows.append({"oracle": "pure-ldp: run benchmarks/setup_pureldp.sh to compare"})
    return table(
        "frequency oracles on Zipf(1.1); x_optimum = (MSE/n) / (4e^ε/(e^ε-1)^2)",
        rows,
        [
            "oracle",
            "d",
            "n",
            "eps",
            "mse_per_n",
            "x_optimum",
            "report_bits",
            "client_us",
            "decode_s",
        ],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    print(main(parser.parse_args().quick))
