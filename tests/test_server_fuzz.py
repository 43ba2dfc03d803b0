"""Hostile requests to every endpoint get a 4xx with a JSON error, never a 5xx.

The app is called in process (see :func:`tests.server_support.asgi_request`), so
it sees inputs an HTTP parser in front of it might have refused; any exception
it raises fails the test. ``DISCREET_FUZZ_REQUESTS`` (default 1,500) and
``DISCREET_FUZZ_SEED`` (default 11) scale and vary the seeded run;
``scripts/hostile/server_runs.sh`` runs it at full scale.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from discreet.protocol.report import Report, period_of
from discreet.protocol.wire import Limits, decode_batch, encode_batch
from discreet.publish.repository import PublisherRepository
from discreet.server.app import create_app
from discreet.server.storage import ReportStore
from tests.server_support import asgi_request

TODAY = dt.date(2026, 12, 2)
PERIOD = period_of(TODAY)
REQUESTS = int(os.environ.get("DISCREET_FUZZ_REQUESTS", "1500"))
SEED = int(os.environ.get("DISCREET_FUZZ_SEED", "11"))


@pytest.fixture
def app(repo: PublisherRepository, publish: Callable[..., object], tmp_path: Path) -> Iterator[Any]:
    publish()
    store = ReportStore(tmp_path / "reports.db")
    try:
        yield create_app(repo, store, min_reports=1, today=lambda: TODAY)
    finally:
        store.close()


def _good_batch(app: Any) -> dict[str, Any]:
    token = bytes(range(16))
    report = Report("category", "grr", 1, PERIOD, 0)
    return dict(json.loads(encode_batch([(token, report.to_bytes())])))


def _error_of(status: int, answer: bytes) -> str:
    assert 400 <= status < 500, (status, answer[:200])
    message = json.loads(answer)["error"]
    assert isinstance(message, str)
    return message


# The inputs named in issue 11, and one a larger run found, each a 500 before.
NAMED = {
    "JSON nested 1,000 deep": ("POST", "/v1/reports", b"", b"[" * 1000 + b"]" * 1000),
    "a superscript digit as catalog": (
        "GET",
        "/v1/estimates",
        f"period={PERIOD}&kind=item&catalog=%C2%B2".encode(),
        b"",
    ),
    "a 5,000-digit catalog": (
        "GET",
        "/v1/estimates",
        f"period={PERIOD}&kind=item&catalog={'9' * 5000}".encode(),
        b"",
    ),
    "a metadata name over 255 characters": ("GET", "/metadata/" + "a" * 300 + ".json", b"", b""),
    # Found by the 50,000-request run: the redirect to "/v1/reports" decoded the query.
    "a query not in UTF-8, one slash off a route": ("POST", "/v1/reports/", b"x=\xff", b""),
}


@pytest.mark.parametrize("name", sorted(NAMED))
def test_the_inputs_of_issue_11_get_a_4xx(app: Any, name: str) -> None:
    method, path, query, body = NAMED[name]
    status, answer = asgi_request(app, method, path, query=query, body=body)
    _error_of(status, answer)


@pytest.mark.parametrize("version", [True, 1.0, "1", [1], None, 10**30])
def test_format_version_is_the_integer_1_and_nothing_equal_to_it(app: Any, version: object) -> None:
    document = {**_good_batch(app), "format_version": version}
    body = json.dumps(document).encode()
    status, answer = asgi_request(app, "POST", "/v1/reports", body=body)
    assert status == 422
    assert "unsupported batch format" in _error_of(status, answer)
    # The codec refuses it on its own, whoever calls it.
    with pytest.raises(ValueError, match="unsupported batch format"):
        decode_batch(body, TODAY, Limits())
    good = json.dumps(_good_batch(app)).encode()
    assert len(decode_batch(good, TODAY, Limits())) == 1


ODD_TEXT = [
    "",
    "²",
    "٣",
    "1²",
    "-1",
    "+1",
    " 1",
    "1\n",
    "0x10",
    "1e3",
    "9" * 11,
    "9" * 5000,
    "4294967296",
    "..",
    "../keys/root.pem",
    "%00",
    "\x00",
    "\udcff",
    "a" * 300,
    "é" * 200,
    "2026-W48\n",
    "٢٠٢٦-W٤٨",
    PERIOD,
    "1",
    "item",
    "category",
]


def _text(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return rng.choice(ODD_TEXT)
    alphabet = "0123456789abcdefW-._/%²٣é\x00 \n"
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 80)))


def _json_value(rng: random.Random, depth: int = 0) -> object:
    roll = rng.random()
    if depth > 3 or roll < 0.5:
        return rng.choice(
            [None, True, False, 0, 1, -1, 1.0, 1e308, 2**64, "", "00" * 16, _text(rng)]
        )
    if roll < 0.75:
        return [_json_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {_text(rng): _json_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))}


def _body(rng: random.Random, good: dict[str, Any]) -> bytes:
    roll = rng.random()
    if roll < 0.15:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
    if roll < 0.25:
        depth = rng.choice([10, 999, 1000, 5000, 60_000])
        opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
        return opener * depth + b"1" + closer * depth
    if roll < 0.6:
        document = dict(good)
        field = rng.choice(["format_version", "reports", "extra"])
        document[field] = _json_value(rng)
        if rng.random() < 0.5:
            entry = dict(good["reports"][0])
            entry[rng.choice(["token", "report", "x"])] = _json_value(rng)
            document["reports"] = [entry]
        return json.dumps(document).encode()
    return json.dumps(_json_value(rng)).encode()


def _headers(rng: random.Random) -> list[tuple[bytes, bytes]]:
    headers = [(b"host", b"test")]
    if rng.random() < 0.5:
        value = rng.choice([*ODD_TEXT, "10", "0", "99999999999999999999"])
        headers.append((b"content-length", value.encode("utf-8", "surrogateescape")))
    if rng.random() < 0.3:
        headers.append((b"if-none-match", _text(rng).encode("utf-8", "surrogateescape")))
    return headers


def _query(rng: random.Random) -> bytes:
    parts = []
    for name in ("period", "kind", "catalog"):
        if rng.random() < 0.8:
            value = _text(rng).encode("utf-8", "surrogateescape")
            parts.append(name.encode() + b"=" + bytes(value).replace(b"&", b"%26"))
    if rng.random() < 0.2:
        parts.append(rng.choice([b"%C2%B2", b"catalog=%C2%B2", b"catalog", b"%ZZ", b"=&=&"]))
    return b"&".join(parts)


PREFIXES = ["/healthz", "/metadata/", "/targets/catalog/", "/v1/reports", "/v1/estimates"]
PREFIXES += ["/v1/privacy", "/", "/v1/", "/metadata", "/targets/"]


def fuzzed_request(
    rng: random.Random, good: dict[str, Any]
) -> tuple[str, str, bytes, bytes, list[tuple[bytes, bytes]]]:
    """One hostile request to any endpoint: method, path, query, body and headers."""
    prefix = rng.choice(PREFIXES)
    path = prefix + (_text(rng) if prefix.endswith("/") else "")
    method = rng.choice(["GET", "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS"])
    if prefix == "/v1/reports" and rng.random() < 0.8:
        method = "POST"
    body = _body(rng, good) if method in ("POST", "PUT") else b""
    return method, path, _query(rng), body, _headers(rng)


def test_no_request_to_any_endpoint_causes_a_5xx(app: Any) -> None:
    rng = random.Random(SEED)  # seeded: a failure here is reproducible
    good = _good_batch(app)
    answered: dict[int, int] = {}
    for _ in range(REQUESTS):
        method, path, query, body, headers = fuzzed_request(rng, good)
        status, answer = asgi_request(app, method, path, query=query, body=body, headers=headers)
        assert status < 500, (method, path, status, answer[:200])
        answered[status] = answered.get(status, 0) + 1
    # The fuzzing reached the handlers, not only the router.
    assert {200, 404, 405, 422} <= set(answered), answered
    assert answered.get(400, 0) + answered.get(413, 0) > 0, answered
    print(f"fuzz: {REQUESTS} requests (seed {SEED}), statuses {dict(sorted(answered.items()))}")


def test_estimates_of_a_valid_key_are_still_answered(app: Any) -> None:
    batch = encode_batch(
        [
            (bytes([i] * 16), Report("category", "grr", 1, PERIOD, i % 3).to_bytes())
            for i in range(5)
        ]
    )
    assert asgi_request(app, "POST", "/v1/reports", body=batch)[0] == 200
    for catalog in (b"", b"&catalog=1", b"&catalog=0001"):
        query = f"period={PERIOD}&kind=category".encode() + catalog
        status, answer = asgi_request(app, "GET", "/v1/estimates", query=query)
        assert status == 200, answer
        assert json.loads(answer)["reports"] == 5
    assert np.isfinite(json.loads(answer)["none"]["estimate"])
