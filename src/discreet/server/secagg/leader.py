"""The leader's HTTP app: devices upload to it, it drives preparation, the collector asks it.

Routes:

* ``PUT /v1/secagg/reports``: one device's report (:class:`~discreet.secagg.upload.UploadReport`
  bytes). 201 once stored; 400 if malformed; 422 unless it names this ISO week or
  one of the two before (as the LDP service); 409 if its id was seen before with
  other bytes (a replay; a device's identical retry is answered 201 again and kept
  once), its week's release has started, or the week holds the task's ``max_uploads``
  reports (what bounds the leader's storage; code ``batch_full``): a device drops a
  refused contribution. The leader keeps the helper's sealed share, which it cannot
  open, until it forwards it.
* ``POST /v1/secagg/collect`` (the collector's bearer token): ``{"period": "2026-W50"}``.
  The leader prepares every pending report of the week with the helper, in jobs
  of :data:`JOB_SIZE` (a job's id is the hash of its reports, so a retry after a
  crash is the same job), then asks the helper for its share and answers both
  noisy aggregate shares, each sealed to the collector. 400 below the minimum
  batch size (nothing is released); 409 if the week was released before.
* ``GET /v1/privacy``, ``GET /healthz``.

The leader sees the public shares, its own input shares (random on their own),
and the helper's prep messages: no measurement.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import secrets
import threading
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from discreet.errors import (
    AggregatorError,
    BatchCollectedError,
    BatchTooSmallError,
    ReportMalformedError,
    SecureAggregationError,
)
from discreet.i18n import _
from discreet.protocol.report import period_code
from discreet.protocol.wire import Limits, accepted_periods
from discreet.secagg import hpke
from discreet.secagg.partitions import Preparation
from discreet.secagg.prepare import BATCH_FULL, REASONS, PrepInput
from discreet.secagg.task import AggregatorSecrets, Task, b64, unb64
from discreet.secagg.upload import UploadReport
from discreet.secagg.wire import call
from discreet.server.metrics import AggregatorMetrics, reason_of
from discreet.server.secagg._http import (
    authorised,
    error,
    noisy_sealed_share,
    read_body,
    release_response,
    role_app,
)
from discreet.server.secagg.store import AggregatorStore

__all__ = ["JOB_SIZE", "create_leader_app"]

#: Reports per aggregation job sent to the helper.
JOB_SIZE = 500
#: The largest report the leader takes (a 50,000-entry multihot report is ~1 MB).
MAX_REPORT = 4 << 20


class Leader:
    """The leader's handlers over its store."""

    def __init__(
        self,
        task: Task,
        keypair: hpke.HpkeKeyPair,
        secrets: AggregatorSecrets,
        store: AggregatorStore,
        helper_url: str,
        today: Callable[[], dt.date] = dt.date.today,
        cluster: Any = None,
    ) -> None:
        if (
            secrets.verify_key is None
            or secrets.aggregator_token is None
            or secrets.collector_token is None
        ):
            raise SecureAggregationError(
                _("the leader's secrets need a verify key, the helper's token and the collector's")
            )
        self.task, self.keypair, self.store = task, keypair, store
        self.preparation = Preparation(task, keypair, secrets.verify_key, cluster)
        self.secrets = secrets
        self.helper_url = helper_url.rstrip("/")
        self.today, self.limits = today, Limits()
        self.metrics = AggregatorMetrics("leader")
        self._lock = threading.Lock()  # one collection at a time

    async def upload(self, request: Request) -> Response:
        """One device's report.
        ---
        summary: Take one device's report (UploadReport bytes)
        requestBody:
          required: true
          content: {application/octet-stream: {schema: {type: string, format: binary}}}
        responses:
          201: {description: stored}
          400: {description: not the report encoding}
          409: {description: "a replay, or its week's release has started"}
          413: {description: too large for this task}
          422: {description: it names neither this ISO week nor one of the two before}
        """
        answer = await self._upload(request)
        if answer.status_code == 201:
            self.metrics.uploads_accepted.inc()
        else:
            self.metrics.uploads_rejected.labels(reason_of(answer.status_code)).inc()
        return answer

    async def _upload(self, request: Request) -> Response:
        body = await read_body(request, MAX_REPORT)
        if body is None:
            return error(413, "the report is too large for this task")
        try:
            report = UploadReport.decode(body)
        except ReportMalformedError as exc:
            return error(400, str(exc))
        if report.period not in accepted_periods(self.today(), self.limits):
            return error(
                422,
                f"report refused: a report names this ISO week or one of the "
                f"{self.limits.past_periods} before it",
            )
        reason = await run_in_threadpool(
            self.store.add_report, report.report_id, report.period, body, self.task.max_uploads
        )
        if reason == BATCH_FULL:
            message = _(
                "report refused: the week {period} already holds {count} reports, this "
                "task's cap; send next week's contribution next week"
            ).format(period=report.period, count=self.task.max_uploads)
            return error(409, message, BATCH_FULL)
        if reason is not None:
            return error(409, f"report refused: {reason}")
        return JSONResponse({"accepted": True}, status_code=201)

    async def collect(self, request: Request) -> Response:
        """The collector's request for a week's aggregate.
        ---
        summary: Release a week's two noisy aggregate shares, sealed to the collector
        description: Needs the collector's bearer token; a week is released once.
        requestBody:
          required: true
          content: {application/json: {schema: {type: object}}}
        responses:
          200: {description: both sealed shares}
          400: {description: "malformed, or the batch is below the minimum size"}
          401: {description: no collector's token}
          409: {description: the week was released before}
          502: {description: the helper refused or is unreachable}
        """
        if not authorised(request, self.secrets.collector_token):
            return error(401, "the collector's bearer token is required")
        try:
            data = json.loads(await read_body(request, 4096) or b"")
            period = data["period"]
            period_code(period)
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            return error(400, f"the request is malformed ({exc}); send {{'period': '2026-W50'}}")
        return await release_response(functools.partial(self._collect, period))

    def _collect(self, period: str) -> bytes:
        with self._lock:
            release = self.store.release(period)
            if release is not None and release.response is not None:
                raise BatchCollectedError(
                    _("the batch for {period} was already collected; it is released once").format(
                        period=period
                    )
                )
            while release is None and (bodies := self.store.pending(period, JOB_SIZE)):
                # A retried collection keeps the batch its release started with.
                self._run_job(period, [UploadReport.decode(b) for b in bodies])
            batch = self.store.batch(period)
            if batch.reports < self.task.min_batch_size:
                raise BatchTooSmallError(
                    _(
                        "the batch for {period} has fewer than {min_batch_size} "
                        "valid reports and is not released"
                    ).format(period=period, min_batch_size=self.task.min_batch_size)
                )
            collection_id = release.collection_id if release else secrets.token_urlsafe(16)
            # The noise is drawn and kept first: from here on the week takes no report.
            mine = noisy_sealed_share(self.task, self.store, 0, batch, collection_id)
            helper = call(
                f"{self.helper_url}/v1/secagg/aggregate_share",
                {
                    "period": period,
                    "collection_id": collection_id,
                    "report_count": batch.reports,
                    "checksum": b64(batch.checksum),
                },
                self._token,
            )
            response = json.dumps(
                {
                    "task_id": b64(self.task.task_id),
                    "period": period,
                    "reports": batch.reports,
                    "rejected": {"leader": batch.rejected, "helper": helper["rejected"]},
                    "leader_share": b64(mine),
                    "helper_share": helper["share"],
                    "noise": self.task.noise_plan().to_json(),
                }
            ).encode()
            self.store.finish_release(period, response)
            return response

    @property
    def _token(self) -> str:
        token = self.secrets.aggregator_token
        if token is None:  # checked in __init__
            raise SecureAggregationError(_("the leader has no token for the helper"))
        return token

    def _run_job(self, period: str, reports: list[UploadReport]) -> None:
        mine = [PrepInput(r.report_id, period, r.public_share, r.leader_share) for r in reports]
        round_, prepared = self.preparation.leader_init(mine)
        sent = [(r, p) for r, p in zip(reports, prepared, strict=True) if p.rejection is None]
        helper: dict[bytes, bytes | str] = {}
        if sent:
            job_id = b64(hashlib.sha256(b"".join(r.report_id for r, _ in sent)).digest())
            body: dict[str, Any] = {
                "period": period,
                "reports": [
                    {
                        "id": b64(r.report_id),
                        "public_share": b64(r.public_share),
                        "sealed_share": b64(r.helper_share.encode()),
                        "leader_prep_share": b64(p.message),
                    }
                    for r, p in sent
                ],
            }
            url = f"{self.helper_url}/v1/secagg/jobs/{job_id}"
            helper = _helper_answers(call(url, body, self._token, method="PUT"))
        finished, share = self.preparation.leader_finish(round_, helper)
        accepted = [f.report_id for f in finished if f.rejection is None]
        rejected = [(f.report_id, f.rejection) for f in finished if f.rejection is not None]
        self.store.record_job(period, accepted, rejected, share)
        self.metrics.job_done(len(accepted), len(rejected))


def _helper_answers(answer: Any) -> dict[bytes, bytes | str]:
    """The helper's prep message or rejection reason per report id, from its answer to a
    job; raises :class:`AggregatorError` if the answer is not one."""
    out: dict[bytes, bytes | str] = {}
    try:
        for entry in answer["results"]:
            rejected = entry.get("rejected")
            if rejected is not None and rejected not in REASONS:
                raise ValueError(f"no rejection reason {str(rejected)[:40]!r}")
            out[unb64(entry["id"], 16)] = rejected or unb64(entry["prep_message"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AggregatorError(
            _(
                "the helper's answer to a job is malformed ({error}); "
                "check that the helper runs this version of discreet"
            ).format(error=exc)
        ) from None
    return out


def create_leader_app(
    task: Task,
    keypair: hpke.HpkeKeyPair,
    secrets: AggregatorSecrets,
    store: AggregatorStore,
    helper_url: str,
    cluster: Any = None,
) -> Starlette:
    """The leader's ASGI app; with ``cluster`` (a ``distributed.Client``) it prepares
    each job's reports as Dask tasks."""
    leader = Leader(task, keypair, secrets, store, helper_url, cluster=cluster)

    return role_app(
        task,
        "leader",
        [
            Route("/v1/secagg/reports", leader.upload, methods=["PUT"]),
            Route("/v1/secagg/collect", leader.collect, methods=["POST"]),
        ],
        leader.metrics,
    )
