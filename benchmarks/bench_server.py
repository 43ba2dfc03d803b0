"""Report ingestion throughput over real HTTP, next to a trivial endpoint on the same server.

The service runs as ``discreet serve`` in its own process (uvicorn, one
worker, SQLite with a rollback journal: every commit waits for the disk, and
requests arriving meanwhile share the next commit). A bounded load generator
on loopback (threads with keep-alive connections, each run capped in requests
and in seconds) posts pre-built batches with fresh tokens, so no report is a
duplicate, then hits ``/healthz`` the same way for comparison.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from _harness import table
from bench_build import generated_items
from discreet.catalog.embedding import EmbeddingParams
from discreet.protocol.report import Report, period_of
from discreet.protocol.wire import encode_batch
from discreet.publish.publisher import publish_catalog
from discreet.publish.repository import PublisherRepository

THREADS = 8
SECONDS = 4.0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _load(
    port: int, requests: list[tuple[str, str, bytes | None]], seconds: float
) -> dict[str, float]:
    """Send ``requests`` from THREADS keep-alive connections for at most ``seconds``."""
    lock = threading.Lock()
    cursor = iter(requests)
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        nonlocal failures
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < deadline:
            with lock:
                item = next(cursor, None)
            if item is None:
                break
            method, path, body = item
            start = time.perf_counter()
            headers = {"Content-Type": "application/json"} if body else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            with lock:
                latencies.append(time.perf_counter() - start)
                failures += response.status != 200
        conn.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    return {
        "requests": len(latencies),
        "failures": failures,
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(latencies, 50) * 1000),
        "p99_ms": float(np.percentile(latencies, 99) * 1000),
    }


def main(quick: bool = False) -> str:
    seconds = 1.5 if quick else SECONDS
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        items, taxonomy = generated_items(10_000)
        (folder / "items.jsonl").write_text(
            "".join(json.dumps(i.to_json()) + "\n" for i in items), encoding="utf-8"
        )
        (folder / "taxonomy.json").write_text(json.dumps(taxonomy.to_json()), encoding="utf-8")
        repo = PublisherRepository.init(folder / "repo")
        result = publish_catalog(
            repo,
            folder / "items.jsonl",
            folder / "taxonomy.json",
            params=EmbeddingParams(vectorizer="hashing"),
        )
        oracle = result.manifest.reporting.kinds["item"].oracle
        port = _free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "discreet",
                "serve",
                "--repo",
                str(repo.path),
                "--db",
                str(folder / "reports.db"),
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait(port)
            rng = np.random.default_rng(0)
            period = period_of(dt.date.today())
            rows = []
            trivial = _load(port, [("GET", "/healthz", None)] * 100_000, seconds)
            rows.append({"endpoint": "GET /healthz", "batch": "-", **trivial, "reports_per_s": "-"})
            for batch in (1, 100, 1000):
                count = max(50, int(40_000 / batch) if not quick else int(8_000 / batch))
                payloads = oracle.privatise_many(
                    rng.integers(0, oracle.domain_size, count * batch), rng
                )
                reports = [
                    Report("item", oracle.mechanism, 1, period, int(p)).to_bytes() for p in payloads
                ]
                bodies = [
                    encode_batch(
                        [(secrets.token_bytes(16), r) for r in reports[i * batch : (i + 1) * batch]]
                    )
                    for i in range(count)
                ]
                measured = _load(port, [("POST", "/v1/reports", b) for b in bodies], seconds)
                rows.append(
                    {
                        "endpoint": "POST /v1/reports",
                        "batch": batch,
                        **measured,
                        "reports_per_s": measured["requests_per_s"] * batch,
                        "vs_healthz": measured["requests_per_s"] / trivial["requests_per_s"],
                    }
                )
        finally:
            server.terminate()
            server.wait(20)
    return table(
        f"report ingestion over HTTP on loopback ({THREADS} client threads, {seconds:g} s per row, "
        "server in its own process)",
        rows,
        [
            "endpoint",
            "batch",
            "requests",
            "failures",
            "requests_per_s",
            "reports_per_s",
            "vs_healthz",
            "p50_ms",
            "p99_ms",
        ],
    )


def _wait(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the service did not start")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    print(main(parser.parse_args().quick))
