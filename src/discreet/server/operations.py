"""What every app we serve offers its operator: ``/openapi.json``, ``/docs`` and ``/metrics``.

The OpenAPI description is generated from the routes by Starlette's
``SchemaGenerator``: each handler's docstring carries its part of the
description in YAML after a ``---`` line. ``/docs`` renders that description
as one HTML page on the server, with no script and no asset from elsewhere
(its Content-Security-Policy forbids any), so that it works offline.
``/metrics`` is the Prometheus text exposition of the app's own registry
(see :mod:`discreet.server.metrics`); each request is timed by
:class:`~discreet.server.metrics.RequestTiming`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.schemas import SchemaGenerator

from discreet import __version__
from discreet.server.metrics import AppMetrics, RequestTiming

#: The docs page loads nothing: no script, no style sheet, no font, no image.
DOCS_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}"
    "code,pre{font-family:ui-monospace,monospace}h2{margin-top:2rem;font-size:1.1rem}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;"
    "text-align:left;vertical-align:top}"
)


def openapi_schema(title: str, description: str, routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3 description of ``routes``, from their handlers' docstrings."""
    generator = SchemaGenerator(
        {
            "openapi": "3.0.3",
            "info": {"title": title, "version": __version__, "description": description},
        }
    )
    return generator.get_schema(list(routes))


def docs_page(schema: dict[str, Any]) -> str:
    """One self-contained HTML page describing every operation in ``schema``."""
    info = schema["info"]
    parts = [
        "<!doctype html><html lang='en'><meta charset='utf-8'>",
        f"<title>{html.escape(info['title'])}</title><style>{_STYLE}</style>",
        f"<h1>{html.escape(info['title'])} <small>{html.escape(info['version'])}</small></h1>",
        f"<p>{html.escape(info.get('description', ''))}</p>",
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a> (OpenAPI 3).</p>",
    ]
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            parts.append(f"<h2><code>{html.escape(method.upper())} {html.escape(path)}</code></h2>")
            parts.append(f"<p>{html.escape(operation.get('summary', ''))}</p>")
            if operation.get("description"):
                parts.append(f"<p>{html.escape(operation['description'])}</p>")
            parts.extend(_parameters(operation.get("parameters", [])))
            parts.extend(_responses(operation.get("responses", {})))
    return "\n".join(parts) + "\n</html>\n"


def _parameters(parameters: list[dict[str, Any]]) -> list[str]:
    if not parameters:
        return []
    rows = [
        f"<tr><td><code>{html.escape(p['name'])}</code></td><td>{html.escape(p['in'])}</td>"
        f"<td>{'yes' if p.get('required') else 'no'}</td>"
        f"<td>{html.escape(p.get('description', ''))}</td></tr>"
        for p in parameters
    ]
    head = "<tr><th>parameter</th><th>in</th><th>required</th><th>meaning</th></tr>"
    return [f"<table>{head}{''.join(rows)}</table>"]


def _responses(responses: dict[Any, dict[str, Any]]) -> list[str]:
    items = [
        f"<li><code>{html.escape(str(status))}</code> {html.escape(r.get('description', ''))}</li>"
        for status, r in responses.items()
    ]
    return [f"<ul>{''.join(items)}</ul>"] if items else []


def operated_app(
    routes: Sequence[BaseRoute],
    metrics: AppMetrics,
    *,
    title: str,
    description: str,
    **starlette: Any,
) -> Starlette:
    """A Starlette app of ``routes`` plus ``/openapi.json``, ``/docs`` and ``/metrics``.

    Every request is timed into ``metrics``; ``starlette`` is passed on to
    :class:`~starlette.applications.Starlette` (lifespan, exception handlers).
    """

    async def openapi(request: Request) -> Response:
        """The service's OpenAPI description.
        ---
        summary: This description, as OpenAPI 3 JSON
        responses:
          200: {description: the OpenAPI document}
        """
        return JSONResponse(schema)

    async def docs(request: Request) -> Response:
        """The service's description as a page for people.
        ---
        summary: This description, as an HTML page that loads nothing else
        responses:
          200: {description: the page}
        """
        return HTMLResponse(page, headers={"Content-Security-Policy": DOCS_POLICY})

    async def exposition(request: Request) -> Response:
        """The Prometheus metrics.
        ---
        summary: Counts, sizes and durations in the Prometheus text format
        description: Nothing in them identifies a device, a client or a request.
        responses:
          200: {description: the Prometheus text exposition}
        """
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    every = [
        *routes,
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Route("/metrics", exposition, methods=["GET"]),
    ]
    schema = openapi_schema(title, description, every)  # the handlers above read these two
    page = docs_page(schema)
    timing = Middleware(RequestTiming, metrics=metrics, routes=every)
    return Starlette(routes=every, middleware=[timing], **starlette)
