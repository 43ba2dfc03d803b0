"""The server's per-batch sketch: the vectorised walk against the plain-Python sparse count.

Each ingested batch is turned into a sketch increment. ``FrequencyOracle.sketch``
costs per sketch cell (it allocates sketch-sized arrays at every step of the
walk), so a one-report batch into a large catalog's sketch is slow;
``sparse_sketch`` counts small batches per payload instead and switches to the
vectorised walk from ``sparse_limit()``. Both are timed here on the same
payloads, for the item oracle of catalogs of 10k to 1M items.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from _harness import table
from discreet.protocol import choose_oracle


def _us(action: Callable[[], object], budget: float = 0.3) -> float:
    """Median microseconds per call, over at least 3 calls and about ``budget`` seconds."""
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < 3 or time.perf_counter() - started < budget:
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1e6)
    return float(np.median(samples))


def row(items: int, epsilon: float, batch: int) -> dict[str, object]:
    params = choose_oracle(items + 1, epsilon)
    rng = np.random.default_rng(0)
    payloads = params.privatise_many(rng.integers(0, params.domain_size, batch), rng)
    as_list = payloads.tolist()

    def dense() -> object:
        vector = params.sketch(payloads)
        cells = np.flatnonzero(vector)
        return cells, vector[cells]

    dense_us = _us(dense)
    chosen_us = _us(lambda: params.sparse_sketch(as_list))
    return {
        "items": items,
        "eps": epsilon,
        "hash_bits": params.hash_bits,
        "sketch_cells": params.sketch_size(),
        "batch": batch,
        "sparse_limit": params.sparse_limit(),
        "dense_us": round(dense_us, 1),
        "sparse_sketch_us": round(chosen_us, 1),
        "speed_up": round(dense_us / chosen_us, 1),
    }


def main(quick: bool = False) -> str:
    sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
    rows = [row(n, e, b) for n in sizes for e in (1.0, 4.0) for b in (1, 100)]
    return table(
        "sketch of one ingested batch: vectorised walk vs sparse_sketch (same payloads)",
        rows,
        [
            "items",
            "eps",
            "hash_bits",
            "sketch_cells",
            "batch",
            "sparse_limit",
            "dense_us",
            "sparse_sketch_us",
            "speed_up",
        ],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    print(main(parser.parse_args().quick))
