"""One pure-ldp measurement, run inside benchmarks/.venv-pureldp (numpy<2). Prints JSON.

Usage: _pureldp_case.py ORACLE D N EPSILON
"""

from __future__ import annotations

import json
import math
import sys
import time

import numpy as np
from pure_ldp.frequency_oracles.hadamard_response import (
    HadamardResponseClient,
    HadamardResponseServer,
)
from pure_ldp.frequency_oracles.local_hashing import LHClient, LHServer


def main() -> None:
    oracle, d, n, epsilon = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    rng = np.random.default_rng(0)
    np.random.seed(0)
    weights = 1.0 / np.arange(1, d + 1) ** 1.1
    values = rng.choice(d, size=n, p=weights / weights.sum()) + 1  # pure-ldp items are 1..d
    truth = np.bincount(values - 1, minlength=d)
    if oracle == "pure-ldp OLH":
        server = LHServer(epsilon, d, use_olh=True)
        client = LHClient(epsilon, d, use_olh=True)
        bits = math.ceil(math.log2(server.g)) + 32  # the value and a 32-bit hash seed
    else:
        server = HadamardResponseServer(epsilon, d)
        client = HadamardResponseClient(epsilon, d, server.get_hash_funcs())
        bits = math.ceil(math.log2(d + 1))
    start = time.perf_counter()
    reports = [client.privatise(int(v)) for v in values]
    client_us = (time.perf_counter() - start) / n * 1e6
    start = time.perf_counter()
    server.aggregate_all(reports)
    estimates = np.asarray(server.estimate_all(range(1, d + 1), suppress_warnings=True))
    decode_s = time.perf_counter() - start
    mse = float(np.mean((estimates - truth) ** 2))
    print(
        json.dumps(
            {"mse_per_n": mse / n, "bits": bits, "client_us": client_us, "decode_s": decode_s}
        )
    )


if __name__ == "__main__":
    main()
