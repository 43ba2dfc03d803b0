"""Prometheus metrics of the services: counts, sizes and durations, nothing about a device.

Each app has a registry of its own (not prometheus-client's global one), so that
two services in one process, as in the tests and the demo, keep separate counts.
Every label takes its values from a short fixed list (a route's template, an
HTTP method and status, a reason code, a role): no path as requested, no token,
no address, no user agent, no time finer than the scrape.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from discreet.errors import DiscreetError

#: The reason code of a refused request, from its HTTP status (the label of a rejection).
REASONS = {
    400: "malformed",
    401: "unauthorised",
    408: "too_slow",
    409: "conflict",
    413: "too_large",
    422: "invalid",
}
#: The label of a request that matched no route (404 and the like).
UNMATCHED = "unmatched"
#: The methods labelled as themselves; any other a client sends is counted as "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
_BATCH_SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
_DURATIONS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def reason_of(status: int) -> str:
    """The reason code of a refusal with HTTP ``status`` ("other" if none is defined)."""
    return REASONS.get(status, "other")


class AppMetrics:
    """The metrics every app has: requests by route, method and status, and their durations."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.duration = Histogram(
            "discreet_http_request_duration_seconds",
            "Time from a request's headers to the end of its response, by route and method",
            ["route", "method"],
            buckets=_DURATIONS,
            registry=self.registry,
        )
        self.responses = Counter(
            "discreet_http_responses",
            "Responses by route and HTTP status",
            ["route", "status"],
            registry=self.registry,
        )


class ReportMetrics(AppMetrics):
    """The report service's metrics: reports, batches, the database and the metadata."""

    def __init__(self, database: Path, expiries: Callable[[], dict[str, Any]]) -> None:
        super().__init__()
        self.reports_accepted = Counter(
            "discreet_reports_accepted",
            "Reports added to the sums",
            registry=self.registry,
        )
        self.reports_duplicate = Counter(
            "discreet_reports_duplicate",
            "Reports ignored as retries of a report already counted",
            registry=self.registry,
        )
        self.batches_rejected = Counter(
            "discreet_report_batches_rejected",
            "Batches of reports refused whole, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "discreet_report_batch_size",
            "Reports in each batch taken",
            buckets=_BATCH_SIZES,
            registry=self.registry,
        )
        size = Gauge(
            "discreet_database_bytes",
            "Size of the report database file",
            registry=self.registry,
        )
        size.set_function(lambda: _file_size(database))
        self.registry.register(_ExpiryCollector(expiries))


class AggregatorMetrics(AppMetrics):
    """An aggregator's metrics: uploads taken and refused, aggregation jobs."""

    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role
        self.uploads_accepted = Counter(
            "discreet_secagg_uploads_accepted",
            "Device reports stored by the leader",
            registry=self.registry,
        )
        self.uploads_rejected = Counter(
            "discreet_secagg_uploads_rejected",
            "Device reports refused by the leader, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.jobs = Counter(
            "discreet_secagg_jobs",
            "Aggregation jobs run, by role",
            ["role"],
            registry=self.registry,
        )
        self.prepared = Counter(
            "discreet_secagg_prepared_reports",
            "Reports prepared in jobs, by role and outcome (valid or rejected)",
            ["role", "outcome"],
            registry=self.registry,
        )

    def job_done(self, valid: int, rejected: int) -> None:
        """Count one job and its reports' outcomes."""
        self.jobs.labels(self.role).inc()
        self.prepared.labels(self.role, "valid").inc(valid)
        self.prepared.labels(self.role, "rejected").inc(rejected)


def _file_size(path: Path) -> float:
    try:
        return float(path.stat().st_size)
    except OSError:
        return float("nan")


class _ExpiryCollector(Collector):
    """The expiry time of each role's published metadata, read at every scrape."""

    def __init__(self, expiries: Callable[[], dict[str, Any]]) -> None:
        self._expiries = expiries

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "discreet_metadata_expiry_timestamp_seconds",
            "When each role's published TUF metadata expires (Unix time)",
            labels=["role"],
        )
        try:
            expiries = self._expiries()
        except (DiscreetError, OSError, ValueError):
            expiries = {}  # a repository being rewritten: no sample this scrape
        for role, when in sorted(expiries.items()):
            family.add_metric([role], when.timestamp())
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("discreet_metadata_expiry_timestamp_seconds", "", labels=["role"])


class RequestTiming:
    """ASGI middleware: each request's duration and status, labelled by its route's template."""

    def __init__(self, app: ASGIApp, metrics: AppMetrics, routes: list[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    def _route(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match != Match.NONE:
                return str(getattr(route, "path", UNMATCHED))
        return UNMATCHED

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in METHODS else "other"
        route = self._route(scope)
        status = 500  # if the app fails before it answers

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.duration.labels(route, method).observe(time.perf_counter() - start)
            self.metrics.responses.labels(route, str(status)).inc()
