"""Slowloris at scale against a real ``discreet serve``: is the service still there?

    python scripts/hostile/slowloris.py [--connections 1100] [--seconds 45] [--fd-limit 1024]

The service runs in its own process with its file descriptor limit lowered to
``--fd-limit`` and its default guards (10 s for request headers, at most 800
connections). One client keeps ``--connections`` connections open, each having
sent half a request's headers, and opens a new one whenever the service drops
one. Meanwhile a prober asks ``GET /healthz`` and posts one report
(``POST /v1/reports``) in turn, four times a second, each with a 5 s timeout.
The run prints what the attacker saw, every probe's outcome and latency, the
service's peak of open files, and the size of its log.
"""

from __future__ import annotations

import argparse
import http.client
import resource
import selectors
import socket
import tempfile
import threading
import time
from pathlib import Path

from _service import one_report_body, published_repo
from tests.server_support import start_service_process

HALF_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "


def _probe(port: int, body: bytes | None) -> tuple[str, float]:
    """One request: its outcome ("200", "503", "timeout", ...) and its latency in seconds."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        if body is None:
            conn.request("GET", "/healthz")
        else:
            conn.request("POST", "/v1/reports", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        outcome = str(response.status)
    except TimeoutError:
        outcome = "timeout"
    except OSError as exc:
        outcome = type(exc).__name__
    finally:
        conn.close()
    return outcome, time.monotonic() - started


def _open_files(pid: int) -> int:
    try:
        return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1100)
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--fd-limit", type=int, default=1024)
    options = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        repo = published_repo(folder)
        log = folder / "stderr.log"
        # The service inherits the lowered limit; the attacker then takes the hard one.
        resource.setrlimit(resource.RLIMIT_NOFILE, (options.fd_limit, hard))
        with log.open("wb") as stderr:
            service = start_service_process(
                repo.path, folder / "reports.db", stderr=stderr.fileno()
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        stop = threading.Event()
        probes: list[tuple[str, str, float]] = []
        peak_files = [0]

        def prober() -> None:
            turn = 0
            while not stop.is_set():
                kind = "healthz" if turn % 2 == 0 else "report"
                outcome, latency = _probe(
                    service.port, None if kind == "healthz" else one_report_body(repo)
                )
                probes.append((kind, outcome, latency))
                peak_files[0] = max(peak_files[0], _open_files(service.process.pid))
                turn += 1
                stop.wait(0.25)

        seen = {"opened": 0, "503": 0, "408": 0, "closed without answer": 0, "connect failed": 0}
        selector = selectors.DefaultSelector()
        held: set[socket.socket] = set()
        probe_thread = threading.Thread(target=prober, daemon=True)
        try:
            probe_thread.start()
            end = time.monotonic() + options.seconds
            while time.monotonic() < end:
                while len(held) < options.connections:
                    try:
                        sock = socket.create_connection(("127.0.0.1", service.port), timeout=2)
                        sock.sendall(HALF_REQUEST)
                    except OSError:
                        seen["connect failed"] += 1
                        break
                    sock.setblocking(False)
                    selector.register(sock, selectors.EVENT_READ)
                    held.add(sock)
                    seen["opened"] += 1
                for key, _ in selector.select(timeout=0.2):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    try:
                        answer = sock.recv(4096)
                    except OSError:
                        answer = b""
                    status = answer[9:12].decode("ascii", "replace")
                    seen[status if status in ("503", "408") else "closed without answer"] += 1
                    selector.unregister(sock)
                    held.discard(sock)
                    sock.close()
        finally:
            stop.set()
            probe_thread.join(10)
            for sock in held:
                sock.close()
            alive = service.process.poll() is None
            service.process.terminate()
            service.process.wait(30)
        text = log.read_text(encoding="utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    print(f"attacker: {options.connections} connections held for {options.seconds:g} s: {seen}")
    for kind in ("healthz", "report"):
        mine = [(o, lat) for k, o, lat in probes if k == kind]
        ok = sum(o == "200" for o, _ in mine)
        latencies = sorted(lat for _, lat in mine)
        outcomes: dict[str, int] = {}
        for o, _ in mine:
            outcomes[o] = outcomes.get(o, 0) + 1
        print(
            f"{kind}: {ok}/{len(mine)} answered 200 {outcomes}; latency p50 "
            f"{latencies[len(latencies) // 2] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
        )
    print(
        f"service: alive at the end {alive}; peak open files {peak_files[0]} (limit {options.fd_limit})"
    )
    print(
        f"log: {len(lines)} lines, {len(text.encode())} bytes; "
        f"'Too many open files': {text.count('Too many open files')}"
    )
    for line in lines[:10]:
        print(f"  | {line}")


if __name__ == "__main__":
    main()
