"""What the leader's and the helper's apps share: bearer tokens, JSON bodies, errors, and
releasing a noisy aggregate share sealed to the collector."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse

from discreet.secagg import hpke
from discreet.secagg.noise import add_noise, discrete_gaussian
from discreet.secagg.task import Task
from discreet.secagg.wire import aggregate_share_aad, aggregate_share_info
from discreet.server.secagg.store import AggregatorStore, Batch
from discreet.vdaf import AggregateShare

#: The largest request body either aggregator reads (a job of 500 reports of 50,000 entries).
MAX_BODY = 64 << 20


def error(status: int, message: str, code: str = "refused") -> JSONResponse:
    """A one-line JSON error; ``code`` names the error class the caller raises."""
    return JSONResponse({"error": message, "code": code}, status_code=status)


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
