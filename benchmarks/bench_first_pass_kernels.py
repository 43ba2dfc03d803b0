"""Candidate kernels for the ranking's first pass at 1M x 64, against the float32 floor, one run.

Each kernel scores one query against every row (or returns its top 2,200),
single-threaded, on the same data: the float32 floor (``E @ v`` on one BLAS
thread), simsimd's int8 dot product, and, when installed, faiss's 8-bit
scalar quantiser and 4-bit PQ fast scan and usearch's exact int8 search. Only
simsimd is a dependency of discreet; to measure the others, run this file
with an interpreter that has them (``pip install numpy threadpoolctl simsimd
usearch faiss-cpu`` in a scratch virtualenv). It needs numpy alone otherwise,
and ``recall`` is the share of the exact top 10 among each kernel's 2,200 best.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

CANDIDATES = 2_200


def _median_ms(action: Callable[[], Any], repeat: int) -> float:
    action()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return float(np.median(samples))


def _top(scores: np.ndarray[Any, Any]) -> set[int]:
    return set(np.argpartition(-scores, CANDIDATES)[:CANDIDATES].tolist())


def rows(n: int, repeat: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, 64), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    query = vectors[rng.choice(n, 50)].sum(axis=0)
    query = (query / np.linalg.norm(query)).astype(np.float32)
    truth = set(np.argsort(-(vectors @ query))[:10].tolist())
    scale = np.abs(vectors).max(axis=1) / 127
    codes = np.rint(vectors / scale[:, None]).astype(np.int8)
    query8 = np.rint(query * 127).astype(np.int8)
    kernels: dict[str, tuple[str, Callable[[], set[int]]]] = {
        "float32 floor (numpy BLAS)": ("-", lambda: _top(vectors @ query)),
    }
    if importlib.util.find_spec("simsimd"):
        import simsimd

        out = np.empty((1, n), dtype=np.float32)

        def simsimd_i8() -> set[int]:
            simsimd.cdist(query8[None, :], codes, metric="dot", out=out)
            return _top(out[0] * scale)

        kernels["simsimd int8 dot (per-row scale)"] = ("0.6 MB", simsimd_i8)
    if importlib.util.find_spec("faiss"):
        import faiss

        faiss.omp_set_num_threads(1)
        direct = faiss.IndexScalarQuantizer(
            64, faiss.ScalarQuantizer.QT_8bit_direct_signed, faiss.METRIC_INNER_PRODUCT
        )
        direct.train(vectors[:50_000] * 127)
        direct.add(vectors * 127)
        fast = faiss.IndexPQFastScan(64, 32, 4, faiss.METRIC_INNER_PRODUCT)
        fast.train(vectors[:50_000])
        fast.add(vectors)
        kernels["faiss SQ 8-bit direct signed"] = (
            "18.8 MB",
            lambda: set(direct.search(query[None, :] * 127, CANDIDATES)[1][0].tolist()),
        )
        kernels["faiss PQ 32x4-bit fast scan"] = (
            "18.8 MB",
            lambda: set(fast.search(query[None, :], CANDIDATES)[1][0].tolist()),
        )
    if importlib.util.find_spec("usearch"):
        from usearch.index import MetricKind, search

        kernels["usearch exact int8"] = (
            "2.3 MB + numkong 10.6 MB",
            lambda: set(
                search(
                    codes, query8, CANDIDATES, MetricKind.IP, exact=True, threads=1
                ).keys.tolist()
            ),
        )
    measured = []
    with threadpool_limits(limits=1, user_api="blas"):
        for name, (wheel, kernel) in kernels.items():
            ms = _median_ms(kernel, repeat)
            found = kernel()
            measured.append(
                {"kernel": name, "wheel": wheel, "p50_ms": ms, "recall": len(truth & found) / 10}
            )
    for row in measured:
        row["x_floor"] = row["p50_ms"] / measured[0]["p50_ms"]
    return measured


def main(quick: bool = False, as_json: bool = False) -> str:
    n = 100_000 if quick else 1_000_000
    measured = rows(n, 5 if quick else 15)
    if as_json:
        return json.dumps({"benchmark": "bench_first_pass_kernels", "rows": measured}, indent=1)
    from _harness import table

    return table(
        f"first-pass kernels, {n:,} x 64, one thread, top {CANDIDATES:,} (selection included)",
        measured,
        ["kernel", "wheel", "p50_ms", "x_floor", "recall"],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    print(main(options.quick, options.json))
