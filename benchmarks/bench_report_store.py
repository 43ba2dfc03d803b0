"""Adding reports to the stored sums: one report per commit, alone or with group commit, vs batches.

The store keeps one fixed-size vector of counts per (week, kind, catalog) and
adds every report into it in place, in the transaction that acknowledges it,
so that no report or request is ever a row (see ``discreet.server.storage``).
A report of local hashing changes ``2^m - 1`` cells wherever they are (so
about as many pages are written and journaled), and a report of randomised
response one cell: the cost per report follows ``m`` more than the catalog's
size. Each commit waits for the disk (a rollback journal, synchronous=FULL):
one writer pays that wait per report, concurrent writers share it (group
commit), and a batch pays it once. All three are timed here on the same store,
for the category oracle of a 16-category catalog and the item oracles of
catalogs of 10k and 1M items, at ε 1 (m = 2) and 4 (m = 6).
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from _harness import table
from discreet.protocol import FrequencyOracle, choose_oracle
from discreet.protocol.params import KindParams, ReportingParams
from discreet.protocol.report import Report
from discreet.server.storage import ReportStore

PERIOD = "2026-W10"
WRITERS = 8


def _reports(oracle: FrequencyOracle, kind: str, n: int) -> list[tuple[bytes, Report]]:
    rng = np.random.default_rng(0)
    payloads = oracle.privatise_many(rng.integers(0, oracle.domain_size, n), rng)
    return [
        (secrets.token_bytes(16), Report(kind, oracle.mechanism, 1, PERIOD, int(p)))
        for p in payloads
    ]


def _per_second(
    store: ReportStore, batches: list[list[tuple[bytes, Report]]], writers: int
) -> float:
    """Reports per second ingesting ``batches`` from ``writers`` threads."""
    cursor = iter(batches)
    lock = threading.Lock()

    def writer() -> None:
        while True:
            with lock:
                batch = next(cursor, None)
            if batch is None:
                return
            store.ingest(batch)

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(len(b) for b in batches) / (time.perf_counter() - started)


def row(folder: Path, kind: str, domain: int, epsilon: float, n: int) -> dict[str, object]:
    oracle = choose_oracle(domain, epsilon)
    categories = tuple(f"c{i}" for i in range(domain - 1)) if kind == "category" else ()
    reporting = ReportingParams({kind: KindParams(oracle, 1, categories)}, "week", 10.0)
    store = ReportStore(folder / f"{kind}-{domain}-{epsilon}.db")
    try:
        store.register_catalog(1, reporting, [f"i{i}" for i in range(domain - 1)])
        store.ingest(_reports(oracle, kind, 1))  # the sketch's row is made once
        reports = _reports(oracle, kind, 3 * n)
        alone = _per_second(store, [[r] for r in reports[:n]], 1)
        grouped = _per_second(store, [[r] for r in reports[n : 2 * n]], WRITERS)
        batched = _per_second(store, [reports[i : i + 100] for i in range(2 * n, 3 * n, 100)], 1)
    finally:
        store.close()
    return {
        "kind": kind,
        "domain": domain,
        "eps": epsilon,
        "mechanism": oracle.mechanism,
        "cells_per_report": oracle.buckets - 1 if oracle.mechanism == "lh" else 1,
        "sketch_KiB": round((1 + oracle.sketch_size()) * 8 / 1024, 1),
        "alone_per_s": alone,
        f"{WRITERS}_writers_per_s": grouped,
        "batch_100_per_s": batched,
    }


def main(quick: bool = False) -> str:
    n = 200 if quick else 1_000
    cases = [("category", 17, 1.0), ("item", 10_001, 1.0), ("item", 10_001, 4.0)]
    if not quick:
        cases.append(("item", 1_000_001, 4.0))
    # Beside the benchmarks, on the disk the repository is on: /tmp may be in memory.
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parent) as tmp:
        rows = [row(Path(tmp), kind, domain, eps, n) for kind, domain, eps in cases]
    return table(
        f"reports added to the stored sums ({n} per column; {WRITERS} writers: group commit)",
        rows,
        [
            "kind",
            "domain",
            "eps",
            "mechanism",
            "cells_per_report",
            "sketch_KiB",
            "alone_per_s",
            f"{WRITERS}_writers_per_s",
            "batch_100_per_s",
        ],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    print(main(parser.parse_args().quick))
