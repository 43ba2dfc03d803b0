"""The helper's HTTP app: it prepares the leader's jobs and releases its share once.

Routes (every one but ``/healthz`` needs the leader's bearer token):

* ``PUT /v1/secagg/jobs/{job_id}``: a batch of reports (the helper's sealed input
  shares and the leader's prep shares); answers a prep message or a rejection
  reason per report. A job id answers the same bytes every time it is asked with
  the same request (the leader's retries are idempotent) and 409 with another.
* ``POST /v1/secagg/aggregate_share``: the helper's noisy aggregate share for a
  week, sealed to the collector, once the report count and checksum match its
  own and reach the minimum batch size; a second collection is refused.
* ``GET /v1/privacy``: the task and its noise, as JSON; ``GET /healthz``.

The helper never learns a measurement: it sees its own input shares, which are
uniformly random on their own, and the leader's prep shares.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from discreet.errors import (
    BatchCollectedError,
    BatchTooSmallError,
    HpkeDecryptError,
    SecureAggregationError,
)
from discreet.i18n import _
from discreet.protocol.report import period_code
from discreet.secagg import hpke
from discreet.secagg.partitions import Preparation
from discreet.secagg.prepare import REPLAYED, PrepInput, rejection_reason
from discreet.secagg.task import AggregatorSecrets, Task, b64, unb64
from discreet.server.metrics import AggregatorMetrics
from discreet.server.secagg._http import (
    authorised,
    error,
    noisy_sealed_share,
    read_body,
    release_response,
    role_app,
)
from discreet.server.secagg.store import AggregatorStore

__all__ = ["create_helper_app"]


class Helper:
    """The helper's handlers over its store."""

    def __init__(
        self,
        task: Task,
        keypair: hpke.HpkeKeyPair,
        secrets: AggregatorSecrets,
        store: AggregatorStore,
        cluster: Any = None,
    ) -> None:
        if secrets.verify_key is None or secrets.aggregator_token is None:
            raise SecureAggregationError(_("the helper's secrets need a verify key and a token"))
        self.task, self.keypair, self.store = task, keypair, store
        self.preparation = Preparation(task, keypair, secrets.verify_key, cluster)
        self.verify_key, self.token = secrets.verify_key, secrets.aggregator_token
        self._lock = threading.Lock()  # one job or release at a time
        self.metrics = AggregatorMetrics("helper")

    async def job(self, request: Request) -> Response:
        """An aggregation job from the leader.
        ---
        summary: Prepare the leader's job of reports (the leader's bearer token)
        parameters:
          - {name: job_id, in: path, required: true, description: the hash of its reports}
        requestBody:
          required: true
          content: {application/json: {schema: {type: object}}}
        responses:
          200: {description: each report's prep message or rejection}
          400: {description: malformed}
          401: {description: no leader's token}
          409: {description: the job id was run with another request}
          413: {description: too large}
        """
        if not authorised(request, self.token):
            return error(401, "the leader's bearer token is required")
        body = await read_body(request)
        if body is None:
            return error(413, "the job is too large; send fewer reports per job")
        job_id = request.path_params["job_id"]
        try:
            answer = await run_in_threadpool(self._run_job, job_id, body)
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            return error(400, f"the job is malformed ({exc})")
        if answer is None:
            return error(409, f"job {job_id} was already run with another request")
        return Response(answer, media_type="application/json")

    def _run_job(self, job_id: str, body: bytes) -> bytes | None:
        request_hash = hashlib.sha256(body).digest()
        with self._lock:
            done = self.store.job_response(job_id, request_hash)
            if done is not None:
                return done or None
            data = json.loads(body)
            period = data["period"]
            period_code(period)
            items = data["reports"]
            ids = [unb64(item["id"], 16) for item in items]
            refusals = self.store.fresh(ids, period)
            seen: set[bytes] = set()
            fresh_items, leader_shares, results, rejected = [], [], {}, []
            for report_id, refusal, item in zip(ids, refusals, items, strict=True):
                refusal = refusal or (REPLAYED if report_id in seen else None)
                seen.add(report_id)
                try:
                    sealed = hpke.HpkeCiphertext.decode(unb64(item["sealed_share"]))
                except HpkeDecryptError as exc:
                    refusal = refusal or rejection_reason(exc)
                if refusal is not None:
                    results[report_id] = {"id": item["id"], "rejected": refusal}
                    rejected.append((report_id, refusal))
                    continue
                public = unb64(item["public_share"])
                fresh_items.append(PrepInput(report_id, period, public, sealed))
                leader_shares.append(unb64(item["leader_prep_share"]))
            finished, share = self.preparation.helper(fresh_items, leader_shares)
            accepted = []
            for outcome in finished:
                entry: dict[str, str] = {"id": b64(outcome.report_id)}
                if outcome.rejection is None:
                    entry["prep_message"] = b64(outcome.message)
                    accepted.append(outcome.report_id)
                else:
                    entry["rejected"] = outcome.rejection
                    rejected.append((outcome.report_id, outcome.rejection))
                results[outcome.report_id] = entry
            response = json.dumps({"results": [results[r] for r in ids]}).encode()
            self.store.record_job(
                period, accepted, rejected, share, job=(job_id, request_hash, response)
            )
            self.metrics.job_done(len(accepted), len(rejected))
            return response

    async def aggregate_share(self, request: Request) -> Response:
        """The leader's request for the helper's share of a week.
        ---
        summary: Release the helper's noisy aggregate share, sealed to the collector
        requestBody:
          required: true
          content: {application/json: {schema: {type: object}}}
        responses:
          200: {description: the sealed share}
          400: {description: "malformed, or the batch is below the minimum size"}
          401: {description: no leader's token}
          409: {description: "released before, or the aggregators disagree on the batch"}
        """
        if not authorised(request, self.token):
            return error(401, "the leader's bearer token is required")
        body = await read_body(request, 4096)
        try:
            data = json.loads(body or b"")
            period, collection_id = data["period"], data["collection_id"]
            period_code(period)
            reports, check = int(data["report_count"]), unb64(data["checksum"], 32)
            if not isinstance(collection_id, str):
                raise TypeError("collection_id is text")
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            return error(400, f"the request is malformed ({exc})")
        return await release_response(
            functools.partial(self._release, period, collection_id, reports, check)
        )

    def _release(self, period: str, collection_id: str, reports: int, check: bytes) -> bytes:
        with self._lock:
            release = self.store.release(period)
            if release is not None and release.response is not None:
                if release.collection_id == collection_id:
                    return release.response  # the leader's retry: the same bytes
                raise BatchCollectedError(
                    _("the batch for {period} was already collected").format(period=period)
                )
            batch = self.store.batch(period)
            if (batch.reports, batch.checksum) != (reports, check):
                raise SecureAggregationError(
                    _(
                        "the aggregators disagree on the batch for {period} (helper: "
                        "{reports} reports); aggregate the pending reports first"
                    ).format(period=period, reports=batch.reports)
                )
            if batch.reports < self.task.min_batch_size:
                raise BatchTooSmallError(
                    _(
                        "the batch for {period} has fewer than {min_batch_size} "
                        "valid reports and is not released"
                    ).format(period=period, min_batch_size=self.task.min_batch_size)
                )
            sealed = noisy_sealed_share(self.task, self.store, 1, batch, collection_id)
            response = json.dumps(
                {"share": b64(sealed), "reports": batch.reports, "rejected": batch.rejected}
            ).encode()
            self.store.finish_release(period, response)
            return response


def create_helper_app(
    task: Task,
    keypair: hpke.HpkeKeyPair,
    secrets: AggregatorSecrets,
    store: AggregatorStore,
    cluster: Any = None,
) -> Starlette:
    """The helper's ASGI app; with ``cluster`` (a ``distributed.Client``) it prepares
    each job's reports as Dask tasks."""
    helper = Helper(task, keypair, secrets, store, cluster)

    return role_app(
        task,
        "helper",
        [
            Route("/v1/secagg/jobs/{job_id}", helper.job, methods=["PUT"]),
            Route("/v1/secagg/aggregate_share", helper.aggregate_share, methods=["POST"]),
        ],
        helper.metrics,
    )
