"""The seeded endpoint fuzz of the test suite, over real HTTP against a real ``discreet serve``.

    python scripts/hostile/server_http_fuzz.py [--requests 50000] [--seed 11] [--threads 4]

The requests are drawn by the generators of ``tests/test_server_fuzz.py`` (which
calls the app in process); here they go through uvicorn, the service's guarded
protocol, its thread pool and its database, each on a connection of its own.
A declared ``Content-Length`` is always the true one (a false one only makes
the service wait out its body deadline), and a header value that would break
the request's framing (CR, LF, NUL) is left out. Prints how many requests got
each status; any 5xx, a connection closed without an answer or reset before
one, is listed.
"""

from __future__ import annotations

import argparse
import random
import socket
import tempfile
import threading
from pathlib import Path
from urllib.parse import quote

from _service import published_repo
from tests.server_support import start_service_process
from tests.test_server_fuzz import _good_batch, fuzzed_request

from discreet.server.storage import ReportStore


def _request(rng: random.Random, good: dict[str, object]) -> bytes:
    method, path, query, body, headers = fuzzed_request(rng, good)
    target = quote(path.encode("utf-8", "surrogateescape"), safe="/%").encode()
    query = quote(query, safe="=&%").encode()
    head = [f"{method} ".encode() + target + (b"?" + query if query else b"") + b" HTTP/1.1"]
    for name, value in headers:
        if name != b"content-length" and not any(c in value for c in b"\r\n\x00"):
            head.append(name + b": " + value)
    head += [b"content-length: " + str(len(body)).encode(), b"connection: close"]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def _status(port: int, request: bytes) -> str:
    """The answer's status; "none" if the service closed without one, "reset" if it reset."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(request)
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            # A service that answers before reading the whole body (413) and closes
            # resets the connection, which may take the answer with it.
            if not answer:
                return "reset"
    return answer[9:12].decode("ascii", "replace") if answer.startswith(b"HTTP/1.1 ") else "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--threads", type=int, default=4)
    options = parser.parse_args()
    rng = random.Random(options.seed)
    good = _good_batch(None)
    lock = threading.Lock()
    remaining = [options.requests]
    counts: dict[str, int] = {}
    bad: list[tuple[str, bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        repo = published_repo(folder)
        db = folder / "reports.db"
        service = start_service_process(repo.path, db)

        def worker() -> None:
            while True:
                with lock:  # drawn in order under the lock: the run is reproducible
                    if remaining[0] == 0:
                        return
                    remaining[0] -= 1
                    request = _request(rng, good)
                status = _status(service.port, request)
                with lock:
                    counts[status] = counts.get(status, 0) + 1
                    if status.startswith("5") or status in ("none", "reset"):
                        bad.append((status, request[:200]))

        try:
            threads = [threading.Thread(target=worker) for _ in range(options.threads)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            service.process.terminate()
            service.process.wait(30)
        store = ReportStore(db)
        try:
            counted = store.consistency()
        finally:
            store.close()
    total = sum(counts.values())
    fives = sum(n for s, n in counts.items() if s.startswith("5"))
    print(
        f"http fuzz: {total} requests (seed {options.seed}), statuses {dict(sorted(counts.items()))}"
    )
    print(
        f"5xx: {fives}; closed without an answer: {counts.get('none', 0)}; reset before an "
        f"answer: {counts.get('reset', 0)}; stored {counted}"
    )
    for status, request in bad[:20]:
        print(f"  {status}: {request!r}")


if __name__ == "__main__":
    main()
