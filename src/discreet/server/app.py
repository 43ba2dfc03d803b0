"""The publisher's HTTP service (ASGI, Starlette): catalog files, reports, estimates.

Routes:

* ``GET /metadata/{file}``: TUF metadata, ``Cache-Control: no-cache``;
* ``GET /targets/catalog/{file}``: content-addressed catalog files, immutable, ETag;
* ``POST /v1/reports``: a batch of reports (see :mod:`discreet.protocol.wire`);
* ``GET /v1/estimates?period=&kind=[&catalog=]``: estimates above the threshold;
* ``GET /v1/privacy``: what the service collects, generated from the reporting parameters;
* ``GET /healthz``;
* ``GET /openapi.json``, ``GET /docs``, ``GET /metrics``: for the operator (see
  :mod:`discreet.server.operations`).

The service records nothing about clients: it writes no access log, and no
handler reads the client address or the user agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from discreet.catalog.manifest import Manifest
from discreet.catalog.reader import parse_jsonl
from discreet.errors import EstimateUnavailableError, RepositoryError
from discreet.i18n import _, from_accept_language, use
from discreet.protocol.wire import Limits, WireError, decode_batch
from discreet.publish.repository import PublisherRepository
from discreet.server.aggregate import DEFAULT_MIN_REPORTS, labels_for
from discreet.server.metrics import ReportMetrics, reason_of
from discreet.server.operations import operated_app
from discreet.server.storage import ReportStore

# Names, numbers and weeks are matched whole and in ASCII: ``\d`` and ``str.isdigit``
# also accept digits such as "²" or "٣", which ``int`` then refuses.
_METADATA_NAME = re.compile(r"(?:[0-9]{1,10}\.)?[a-z]{1,20}\.json", re.ASCII)
_TARGET_NAME = re.compile(r"[0-9a-f]{64}\.[a-z]+\.[a-z]+", re.ASCII)
_PERIOD = re.compile(r"[0-9]{4}-W[0-9]{2}", re.ASCII)
_NUMBER = re.compile(r"[0-9]{1,10}", re.ASCII)
#: Catalog versions travel in four bytes (see :mod:`discreet.protocol.report`).
_MAX_CATALOG = 2**32 - 1
#: A report naming an unknown catalog makes the service look for a new release in the
#: repository, at most this often: a flood of such reports costs one scan per interval.
RESCAN_SECONDS = 2.0


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _routing_error(request: Request, exc: Exception) -> Response:
    """No such route, or not that method: the same JSON error as every other refusal."""
    assert isinstance(exc, HTTPException)
    message = "no such endpoint" if exc.status_code == 404 else str(exc.detail).lower()
    return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)


def register_repository_catalogs(store: ReportStore, repo: PublisherRepository) -> list[int]:
    """Register the repository's current catalog with the store; return the new versions."""
    target = repo.current_targets().get("catalog/manifest.json")
    if target is None:
        return []
    manifest = Manifest.from_json(json.loads(repo.target_path(target).read_bytes()))
    reporting = manifest.reporting
    if not reporting.enabled or manifest.version in store.catalogs:
        return []
    items = repo.current_targets()["catalog/items.jsonl"]
    ids = [record["id"] for record in parse_jsonl(repo.target_path(items).read_bytes())]
    return [manifest.version] if store.register_catalog(manifest.version, reporting, ids) else []


class Service:
    """State shared by the handlers."""

    def __init__(
        self,
        repo: PublisherRepository,
        store: ReportStore,
        *,
        limits: Limits,
        min_reports: int,
        today: Callable[[], dt.date],
        rescan_seconds: float = RESCAN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        central_noise: float | None = None,
    ) -> None:
        self.repo = repo
        self.store = store
        self.limits = limits
        self.min_reports = min_reports
        self.central_noise = central_noise
        self.today = today
        self.metrics = ReportMetrics(store.path, repo.expiries_of)
        self.rescan_seconds = rescan_seconds
        self._clock = clock
        self._last_scan: float | None = None

    def rescan(self) -> None:
        """Pick up a newly published catalog (at most once every ``rescan_seconds``)."""
        now = self._clock()
        if self._last_scan is not None and now - self._last_scan < self.rescan_seconds:
            return
        self._last_scan = now
        register_repository_catalogs(self.store, self.repo)

    # ---- catalog files --------------------------------------------------------
    async def metadata(self, request: Request) -> Response:
        """A TUF metadata file.
        ---
        summary: A signed TUF metadata file (root, targets, snapshot, timestamp)
        description: Served with Cache-Control no-cache; timestamp.json is the newest release.
        parameters:
          - {name: name, in: path, required: true, description: "e.g. timestamp.json, 2.root.json"}
        responses:
          200: {description: the metadata file}
          404: {description: no such metadata}
        """
        name = request.path_params["name"]
        path = self.repo.metadata_dir / name
        if not _METADATA_NAME.fullmatch(name) or not path.is_file():
            return _error(404, "no such metadata")
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    async def target(self, request: Request) -> Response:
        """A catalog file.
        ---
        summary: A content-addressed catalog file, immutable, with an ETag
        parameters:
          - {name: name, in: path, required: true, description: "<sha256>.<file name>"}
        responses:
          200: {description: the file}
          304: {description: not modified (If-None-Match)}
          404: {description: no such target}
        """
        name = request.path_params["name"]
        path = self.repo.targets_dir / "catalog" / name
        if not _TARGET_NAME.fullmatch(name) or not path.is_file():
            return _error(404, "no such target")
        etag = f'"{name.split(".", 1)[0]}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        headers = {"Cache-Control": "public, max-age=31536000, immutable", "ETag": etag}
        return FileResponse(path, headers=headers)

    # ---- reports --------------------------------------------------------------
    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        limit = self.limits.max_body_bytes
        too_big = WireError(413, f"the body may be at most {limit} bytes")
        if declared is not None and (
            not _NUMBER.fullmatch(declared.strip()) or int(declared) > limit
        ):
            raise too_big
        chunks, size = [], 0
        try:
            async with asyncio.timeout(self.limits.body_timeout):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise too_big
                    chunks.append(chunk)
        except TimeoutError:
            raise WireError(408, "the body arrived too slowly") from None
        except ClientDisconnect:
            raise WireError(400, "the body was cut short") from None
        return b"".join(chunks)

    async def reports(self, request: Request) -> Response:
        """A batch of reports.
        ---
        summary: Take a batch of locally private reports
        description: >-
          A JSON object {"format_version": 1, "reports": [{"token": HEX, "report": HEX}]},
          each report 16 bytes; the batch is taken whole or refused whole.
        requestBody:
          required: true
          content: {application/json: {schema: {type: object}}}
        responses:
          200: {description: "taken: {accepted, duplicates}"}
          400: {description: "not JSON, or cut short"}
          408: {description: the body arrived too slowly}
          413: {description: too many bytes or reports}
          422: {description: "a report is invalid, or names a week or catalog not taken"}
        """
        try:
            batch = decode_batch(await self._body(request), self.today(), self.limits)
            known = self.store.catalogs
            if any(r.catalog_version not in known for _, r in batch):
                await run_in_threadpool(self.rescan)
            # Each commit waits for the disk (see ReportStore), so never on the event loop.
            result = await run_in_threadpool(self.store.ingest, batch)
        except WireError as exc:
            self.metrics.batches_rejected.labels(reason_of(exc.status)).inc()
            return _error(exc.status, str(exc))
        except ValueError as exc:
            self.metrics.batches_rejected.labels(reason_of(422)).inc()
            return _error(422, str(exc))
        self.metrics.batch_size.observe(len(batch))
        self.metrics.reports_accepted.inc(result.accepted)
        self.metrics.reports_duplicate.inc(result.duplicates)
        return JSONResponse({"accepted": result.accepted, "duplicates": result.duplicates})

    # ---- estimates and statements --------------------------------------------
    async def estimates(self, request: Request) -> Response:
        """Published estimates.
        ---
        summary: Estimates of a week's popularity, only above the report threshold
        parameters:
          - {name: period, in: query, required: true, description: "ISO week, e.g. 2026-W48"}
          - {name: kind, in: query, required: true, description: "category or item"}
          - {name: catalog, in: query, required: false, description: "catalog version"}
        responses:
          200: {description: the estimates with their standard errors}
          404: {description: too few reports (no count is disclosed)}
          422: {description: a parameter is malformed}
        """
        period = request.query_params.get("period", "")
        kind = request.query_params.get("kind", "")
        catalog_text = request.query_params.get("catalog")
        if kind not in ("category", "item") or not _PERIOD.fullmatch(period):
            return _error(422, "give period=YYYY-Www and kind=category|item")
        catalog = None
        if catalog_text is not None:
            if not _NUMBER.fullmatch(catalog_text) or int(catalog_text) > _MAX_CATALOG:
                return _error(422, f"catalog must be a version number up to {_MAX_CATALOG}")
            catalog = int(catalog_text)
        try:
            estimates = await run_in_threadpool(
                functools.partial(
                    self.store.estimates,
                    period,
                    kind,
                    catalog,
                    min_reports=self.min_reports,
                    central_noise=self.central_noise,
                )
            )
            reporting = self.store.catalogs[estimates.catalog_version]
            ids = await run_in_threadpool(self.store.item_ids, estimates.catalog_version)
        except EstimateUnavailableError as exc:
            return _error(404, str(exc))
        return JSONResponse(estimates.document(labels_for(kind, reporting, ids)))

    async def privacy(self, request: Request) -> Response:
        """The privacy statement.
        ---
        summary: What the service collects, stores and publishes
        responses:
          200: {description: "the statement, generated from the reporting parameters"}
        """
        # The human text in the reader's language (Accept-Language); the keys never change.
        with use(from_accept_language(request.headers.get("accept-language", ""))) as lang:
            statement = privacy_statement(self.store, self.min_reports, self.central_noise)
        return JSONResponse(
            statement, headers={"Content-Language": lang, "Vary": "Accept-Language"}
        )

    async def health(self, request: Request) -> Response:
        """Liveness.
        ---
        summary: Whether the service answers
        responses:
          200: {description: 'the JSON object {"status": "ok"}'}
        """
        return JSONResponse({"status": "ok"})


def privacy_statement(
    store: ReportStore, min_reports: int, central_noise: float | None = None
) -> dict[str, Any]:
    """What the service collects, generated from the catalogs' reporting parameters.

    The sentences are in the language in use (:func:`discreet.i18n.use`).
    """
    catalogs = store.catalogs
    newest = max(catalogs) if catalogs else None
    reporting = catalogs[newest].to_json() if newest is not None else {}
    return {
        "format_version": 1,
        "collects": _(
            "only ε-locally-differentially-private reports that devices send with "
            "their users' consent: 16 bytes each, holding a format version, report kind, "
            "mechanism, catalog version, ISO week and a randomised payload"
        ),
        "does_not_collect": [
            _("client IP addresses (no access log is written)"),
            _("user agents or any other request header"),
            _("identifiers, accounts, cookies, or times finer than the week"),
        ],
        "stores": _(
            "only sums: one additive sketch per (week, kind, catalog version), to "
            "which each report is added when it arrives, and each report's random token (to "
            "ignore retries) with nothing else; nothing stored pairs two reports, whether they "
            "came in one request or from one device"
        ),
        "publishes": _("estimates with standard errors, only from {min_reports} reports on").format(
            min_reports=min_reports
        ),
        "threshold": {
            "min_reports": min_reports,
            "protects_against": _(
                "not sybil reports: anyone can post reports of their own "
                "until the threshold is reached and then read the few other reports back from "
                "the estimates. What protects each device's report is local differential "
                "privacy (the epsilon in reporting_parameters), and secure aggregation will. "
                "Below the threshold no count is disclosed, not even whether it is zero."
            ),
        },
        "central_noise": {
            "laplace_scale": central_noise,
            "drawn": _(
                "once per (week, kind, catalog version), kept, and added to every "
                "figure of that release; the standard errors are computed from the noised "
                "estimates only"
            ),
        }
        if central_noise
        else None,
        "reporting_parameters": reporting,
        "catalog_version": newest,
    }


def create_app(
    repo: PublisherRepository,
    store: ReportStore,
    *,
    limits: Limits | None = None,
    min_reports: int = DEFAULT_MIN_REPORTS,
    today: Callable[[], dt.date] = dt.date.today,
    close_store_on_shutdown: bool = False,
    rescan_seconds: float = RESCAN_SECONDS,
    central_noise: float | None = None,
) -> Starlette:
    """The ASGI application over a repository and a report store.

    With ``close_store_on_shutdown`` the store is closed (its WAL folded into
    the database) when the server shuts down gracefully. A catalog published
    while the service runs is taken up by the first report that names it, at
    most one repository scan per ``rescan_seconds``. ``central_noise`` is the
    scale of the Laplace noise added to published estimates, drawn once per
    release and kept in the store (see :meth:`ReportStore.estimates`).
    """
    if central_noise is not None and not (0 < central_noise < float("inf")):
        raise ValueError("central noise must be a positive, finite Laplace scale")
    if not repo.metadata_dir.is_dir():
        raise RepositoryError(
            _("{path} has no served folder; run 'discreet publish init'").format(path=repo.path)
        )
    register_repository_catalogs(store, repo)
    service = Service(
        repo,
        store,
        limits=limits or Limits(),
        min_reports=min_reports,
        today=today,
        rescan_seconds=rescan_seconds,
        central_noise=central_noise,
    )
    routes = [
        Route("/healthz", service.health),
        Route("/metadata/{name}", service.metadata),
        Route("/targets/catalog/{name}", service.target),
        Route("/v1/reports", service.reports, methods=["POST"]),
        Route("/v1/estimates", service.estimates),
        Route("/v1/privacy", service.privacy),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if close_store_on_shutdown:
            store.close()

    app = operated_app(
        routes,
        service.metrics,
        title="discreet report service",
        description="Signed catalogs, locally private reports and the estimates made from them.",
        lifespan=lifespan,
        exception_handlers={HTTPException: _routing_error},
    )
    # Paths are matched whole: no redirect to the path without (or with) a final
    # slash, which would also rebuild the URL from a query that may not be UTF-8.
    app.router.redirect_slashes = False
    return app
