"""What the report service offers its operator: OpenAPI, an offline docs page, metrics.

Over real HTTP on loopback. The metrics are read back with prometheus-client's
own parser, and their exposition is inspected for anything that could tell a
device, a client or a request apart.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Callable
from http.client import HTTPConnection
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from discreet.catalog.manifest import Manifest
from discreet.protocol.report import Report, period_of
from discreet.protocol.wire import encode_batch
from discreet.publish.repository import PublisherRepository
from discreet.server.metrics import METHODS, REASONS, UNMATCHED
from tests.server_support import http, running_service

TODAY = dt.date.today()
ROUTES = ("/healthz", "/metadata/{name}", "/targets/catalog/{name}", "/v1/reports")


@pytest.fixture
def served(
    repo: PublisherRepository, publish: Callable[..., object], tmp_path: Path
) -> tuple[PublisherRepository, Path]:
    publish()
    return repo, tmp_path / "reports.db"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _category_reports(repo: PublisherRepository, n: int) -> list[tuple[bytes, bytes]]:
    """``n`` valid category reports for this week on the repository's catalog."""
    target = repo.current_targets()["catalog/manifest.json"]
    manifest = Manifest.from_json(json.loads(repo.target_path(target).read_bytes()))
    oracle = manifest.reporting.kinds["category"].oracle
    rng = np.random.default_rng(5)
    payloads = oracle.privatise_many(rng.integers(0, oracle.domain_size, n), rng)
    return [
        (
            secrets.token_bytes(16),
            Report(
                "category", oracle.mechanism, manifest.version, period_of(TODAY), int(p)
            ).to_bytes(),
        )
        for p in payloads
    ]


def test_openapi_and_the_docs_page_describe_every_route(
    served: tuple[PublisherRepository, Path],
) -> None:
    repo, db = served
    with running_service(repo, db) as service:
        status, _, schema = http("GET", service.url + "/openapi.json")
        assert status == 200
        assert schema["openapi"].startswith("3.")
        paths = schema["paths"]
        for route in (
            *ROUTES,
            "/v1/estimates",
            "/v1/privacy",
            "/openapi.json",
            "/docs",
            "/metrics",
        ):
            assert route in paths, route
        assert set(paths["/v1/reports"]) == {"post"}
        assert {"200", "413", "422"} <= {str(s) for s in paths["/v1/reports"]["post"]["responses"]}
        # Each response is described by one whole sentence (YAML would split one at a comma).
        for operations in paths.values():
            for operation in operations.values():
                assert operation["summary"]
                for response in operation["responses"].values():
                    assert set(response) == {"description"}, response
        assert paths["/v1/reports"]["post"]["responses"]["400"] == {
            "description": "not JSON, or cut short"
        }
        estimates = {p["name"] for p in paths["/v1/estimates"]["get"]["parameters"]}
        assert estimates == {"period", "kind", "catalog"}

        status, headers, page = http("GET", service.url + "/docs")
        assert status == 200
        assert headers["content-type"].startswith("text/html")
        assert headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"
        text = page.decode("utf-8")
        for route in paths:
            assert f"{route}</code>" in text, route
        # Nothing is loaded from anywhere: no script, no style sheet, no image, no font.
        assert not re.search(r"<script|<link|<img|src=|@import|url\(", text, re.IGNORECASE)


def test_metrics_count_reports_refusals_and_durations_and_identify_nothing(
    served: tuple[PublisherRepository, Path], tmp_path: Path
) -> None:
    repo, db = served
    batch = _category_reports(repo, 7)
    with running_service(repo, db) as service:
        assert http("POST", service.url + "/v1/reports", encode_batch(batch))[0] == 200
        assert http("POST", service.url + "/v1/reports", encode_batch(batch[:3]))[0] == 200
        assert http("POST", service.url + "/v1/reports", b"not json")[0] == 400
        assert http("POST", service.url + "/v1/reports", b"[]")[0] == 422
        assert http("GET", service.url + "/no/such/thing")[0] == 404
        # From another loopback address and with a method of its own: neither may show.
        connection = HTTPConnection(
            "127.0.0.1", service.port, timeout=10, source_address=("127.0.0.2", 0)
        )
        connection.request("BREW", "/healthz", headers={"User-Agent": "device-fingerprint-42"})
        assert connection.getresponse().status == 405
        client_port = connection.sock.getsockname()[1]
        connection.close()

        status, headers, body = http("GET", service.url + "/metrics")
        assert status == 200
        assert headers["content-type"].startswith("text/plain")
        text = body.decode("utf-8") if isinstance(body, bytes) else str(body)
        got = _samples(text)

        assert got[("discreet_reports_accepted_total", ())] == 7
        assert got[("discreet_reports_duplicate_total", ())] == 3
        rejected = "discreet_report_batches_rejected_total"
        assert got[(rejected, (("reason", "malformed"),))] == 1
        assert got[(rejected, (("reason", "invalid"),))] == 1
        assert got[("discreet_report_batch_size_count", ())] == 2
        assert got[("discreet_report_batch_size_sum", ())] == 10
        assert got[("discreet_database_bytes", ())] == db.stat().st_size > 0
        expiries = {
            dict(labels)["role"]: value
            for (name, labels), value in got.items()
            if name == "discreet_metadata_expiry_timestamp_seconds"
        }
        assert expiries == {role: when.timestamp() for role, when in repo.expiries_of().items()}
        duration = "discreet_http_request_duration_seconds_count"
        assert got[(duration, (("method", "POST"), ("route", "/v1/reports")))] == 4
        assert got[(duration, (("method", "other"), ("route", "/healthz")))] == 1
        assert (
            got[("discreet_http_responses_total", (("route", UNMATCHED), ("status", "404")))] == 1
        )

        # Every label value comes from a fixed list; nothing a client sent is in the text.
        allowed = {
            "route": {*ROUTES, "/v1/estimates", "/v1/privacy", "/openapi.json", "/docs",
                      "/metrics", UNMATCHED},
            "method": {*METHODS, "other"},
            "reason": set(REASONS.values()) | {"other"},
            "role": {"root", "targets", "snapshot", "timestamp"},
        }  # fmt: skip
        for (name, labels), _ in got.items():
            for key, value in labels:
                if key == "le" or (key == "status" and value.isdigit()):
                    continue
                assert value in allowed[key], (name, key, value)
        for token, report in batch:
            assert token.hex() not in text
            assert report.hex() not in text
        for secret in ("127.0.0.2", "BREW", "device-fingerprint-42", "/no/such", f":{client_port}"):
            assert secret not in text, secret
