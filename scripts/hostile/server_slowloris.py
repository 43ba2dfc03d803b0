"""Slowloris at scale against a real ``discreet serve``: is the service still there?

    python scripts/hostile/server_slowloris.py [--connections 1100] [--seconds 45] [--fd-limit 1024]

The service runs in its own process with its limit of open files set to
``--fd-limit`` (soft and hard, as ``ulimit -n`` sets it) and its default
guards (10 s for request headers, at most 800 connections). An attacker, in a
process of its own, keeps ``--connections`` connections open, each having sent
half a request's headers, and opens a new one whenever the service drops one.
Meanwhile a prober asks ``GET /healthz`` and posts one report
(``POST /v1/reports``) in turn, four times a second, each on a new connection
with a 5 s timeout. The run prints what the attacker saw, every probe's outcome
and latency, the service's peak of open files, and the size of its log.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import resource
import selectors
import socket
import tempfile
import time
from pathlib import Path

from _service import one_report_body, published_repo
from tests.server_support import start_service_process

HALF_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "


def attack(port: int, connections: int, seconds: float, seen: dict[str, int]) -> None:
    """Hold ``connections`` half-sent requests for ``seconds``, reopening each one dropped."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    counts = {"opened": 0, "503": 0, "408": 0, "closed without answer": 0, "connect failed": 0}
    selector = selectors.DefaultSelector()
    held: set[socket.socket] = set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        while len(held) < connections:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=2)
                sock.sendall(HALF_REQUEST)
            except OSError:
                counts["connect failed"] += 1
                break
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
            held.add(sock)
            counts["opened"] += 1
        for key, _ in selector.select(timeout=0.2):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                answer = sock.recv(4096)
            except OSError:
                answer = b""
            status = answer[9:12].decode("ascii", "replace")
            counts[status if status in ("503", "408") else "closed without answer"] += 1
            selector.unregister(sock)
            held.discard(sock)
            sock.close()
    for sock in held:
        sock.close()
    seen.update(counts)


def probe(port: int, request: bytes) -> tuple[str, float]:
    """One request on a new connection: its status (or what went wrong) and its latency."""
    started = time.monotonic()
    answer = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            # Answered (503) and closed before the request was all sent: read the answer.
            with contextlib.suppress(OSError):
                sock.sendall(request)
            while chunk := sock.recv(4096):
                answer += chunk
    except TimeoutError:
        return "timeout", time.monotonic() - started
    except OSError as exc:
        if not answer:
            return type(exc).__name__, time.monotonic() - started
    status = answer[9:12].decode("ascii", "replace") if answer.startswith(b"HTTP/1.1 ") else "none"
    return status, time.monotonic() - started


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
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp, ctx.Manager() as manager:
        folder = Path(tmp)
        repo = published_repo(folder)
        log = folder / "stderr.log"
        with log.open("wb") as stderr:
            service = start_service_process(
                repo.path,
                folder / "reports.db",
                stderr=stderr.fileno(),
                open_files=options.fd_limit,
            )
        seen = manager.dict()
        attacker = ctx.Process(
            target=attack, args=(service.port, options.connections, options.seconds, seen)
        )
        probes: list[tuple[str, str, float]] = []
        peak_files = 0
        try:
            attacker.start()
            time.sleep(2)  # the attacker's connections first
            turn = 0
            while attacker.is_alive():
                kind = "healthz" if turn % 2 == 0 else "report"
                if kind == "healthz":
                    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                else:
                    body = one_report_body(repo)
                    request = (
                        b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                        b"Content-Type: application/json\r\nContent-Length: "
                        + str(len(body)).encode()
                        + b"\r\n\r\n"
                        + body
                    )
                outcome, latency = probe(service.port, request)
                probes.append((kind, outcome, latency))
                peak_files = max(peak_files, _open_files(service.process.pid))
                turn += 1
                time.sleep(0.25)
            attacker.join()
        finally:
            if attacker.is_alive():
                attacker.kill()
            alive = service.process.poll() is None
            service.process.terminate()
            service.process.wait(30)
        attacked = dict(seen)
        text = log.read_text(encoding="utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    print(f"attacker: {options.connections} connections held for {options.seconds:g} s: {attacked}")
    for kind in ("healthz", "report"):
        mine = [(o, lat) for k, o, lat in probes if k == kind]
        outcomes: dict[str, int] = {}
        for o, _ in mine:
            outcomes[o] = outcomes.get(o, 0) + 1
        latencies = sorted(lat for _, lat in mine)
        print(
            f"{kind}: {outcomes.get('200', 0)}/{len(mine)} answered 200 {outcomes}; latency "
            f"p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
        )
    print(
        f"service: alive at the end {alive}; peak open files {peak_files} "
        f"(limit {options.fd_limit})"
    )
    print(
        f"log: {len(lines)} lines, {len(text.encode())} bytes; "
        f"'Too many open files': {text.count('Too many open files')}"
    )
    for line in lines[:10]:
        print(f"  | {line}")


if __name__ == "__main__":
    main()
