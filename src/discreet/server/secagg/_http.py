"""What the leader's and the helper's apps share: bearer tokens, JSON bodies, errors, and
releasing a noisy aggregate share sealed to the collector."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from discreet.errors import (
    AggregatorError,
    BatchCollectedError,
    BatchTooSmallError,
    SecureAggregationError,
)
from discreet.secagg import hpke
from discreet.secagg.noise import add_noise, discrete_gaussian
from discreet.secagg.task import Task
from discreet.secagg.wire import aggregate_share_aad, aggregate_share_info
from discreet.server.metrics import AggregatorMetrics
from discreet.server.operations import operated_app
from discreet.server.secagg.store import AggregatorStore, Batch
from discreet.vdaf import AggregateShare

#: The largest request body either aggregator reads (a job of 500 reports of 50,000 entries).
MAX_BODY = 64 << 20


def error(status: int, message: str, code: str = "refused") -> JSONResponse:
    """A one-line JSON error; ``code`` names the error class the caller raises."""
    return JSONResponse({"error": message, "code": code}, status_code=status)


def role_app(task: Task, role: str, routes: list[Route], metrics: AggregatorMetrics) -> Starlette:
    """An aggregator's app: its ``routes`` plus ``GET /v1/privacy`` and ``GET /healthz``,
    and the operator's ``/openapi.json``, ``/docs`` and ``/metrics``."""

    async def privacy(request: Request) -> Response:
        """The aggregator's privacy parameters.
        ---
        summary: The task, its noise and the privacy unit
        responses:
          200: {description: the statement}
        """
        return JSONResponse(
            {
                "role": role,
                "task": task.to_json(),
                "noise": task.noise_plan().to_json(),
                "unit": "one device, one week: at most max_weight ones in one report",
            }
        )

    async def healthz(request: Request) -> Response:
        """Liveness.
        ---
        summary: Whether the aggregator answers, and its role
        responses:
          200: {description: 'the JSON object {"ok": true, "role": ROLE}'}
        """
        return JSONResponse({"ok": True, "role": role})

    return operated_app(
        [
            *routes,
            Route("/v1/privacy", privacy, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        metrics,
        title=f"discreet secure-aggregation {role}",
        description="One of the two aggregators of a secure-aggregation task (DAP-shaped).",
    )


async def release_response(work: Callable[[], bytes]) -> Response:
    """Run a release (``work``, in a worker thread) and answer its bytes, or its refusal
    with the code :func:`~discreet.secagg.wire.call` turns back into the same error."""
    try:
        answer = await run_in_threadpool(work)
    except BatchCollectedError as exc:
        return error(409, str(exc), "batch_collected")
    except BatchTooSmallError as exc:
        return error(400, str(exc), "batch_too_small")
    except AggregatorError as exc:
        return error(502, str(exc))
    except SecureAggregationError as exc:
        return error(409, str(exc))
    return Response(answer, media_type="application/json")


def authorised(request: Request, token: str | None) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>`` (constant time)."""
    given = request.headers.get("authorization", "")
    return token is not None and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes | None:
    """The request's body, or ``None`` if it is larger than ``limit`` bytes."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def noisy_sealed_share(
    task: Task, store: AggregatorStore, agg_id: int, batch: Batch, collection_id: str
) -> bytes:
    """The batch's aggregate share plus this aggregator's noise (drawn once, kept in the
    database), sealed to the collector: the bytes of an :class:`HpkeCiphertext`."""
    plan = task.noise_plan()
    release = store.start_release(
        batch.period, collection_id, discrete_gaussian(plan.sigma_sq, task.length)
    )
    vdaf = task.vdaf()
    noisy = add_noise(vdaf.field, batch.share.values, release.noise)
    sealed = hpke.seal(
        task.collector_config,
        aggregate_share_info(agg_id),
        aggregate_share_aad(task, batch.period, batch.reports),
        vdaf.encode_agg_share(AggregateShare(noisy)),
    )
    return sealed.encode()
