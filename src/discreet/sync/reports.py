"""Sending queued reports: after a random delay, over HTTP(S), counted once.

Reports wait in the encrypted outbox until the service answers; the answer
decides what happens to them:

=====================================  ===========================================
answer                                 the reports
=====================================  ===========================================
2xx with the service's JSON            removed; ledger entries marked ``sent``
422 (the content is refused: a stale   dropped; ledger entries marked ``rejected``
week, an unknown catalog version)      with the service's reason
413 (too big)                          a batch is split in halves and each sent
                                       again; a single report is dropped like a 422
any other 4xx, a 1xx or 3xx left       kept queued; :class:`SourceUnavailableError`
over, a 2xx that is not the service's  names the status (a wrong ``--to`` address,
(a captive portal), an oversized       a proxy or a login page is no verdict on
answer                                 the reports)
no answer (offline, timeouts, 5xx,     kept queued; :class:`SourceUnavailableError`
408, 429, after the retries)           names the cause
=====================================  ===========================================

A 422 for a batch is split the same way, so that one stale report does not
take the others with it. Their ε is spent either way: the ledger entry was
made before anything could be sent. The exchange goes through the device's
one HTTP client (:mod:`discreet.sync.http`): its retries, its timeouts, and
proxies from the standard environment variables (``https_proxy``, ...).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from discreet.errors import SourceUnavailableError
from discreet.profile.model import PendingReport, Profile
from discreet.protocol.randomness import production_rng
from discreet.protocol.wire import encode_batch
from discreet.sync.http import (
    DeviceHttpClient,
    Reply,
    RetryPolicy,
    Transport,
)


@dataclass(frozen=True)
class SendResult:
    """What one attempt did."""

    sent: int
    duplicates: int
    rejected: int
    reason: str = ""


#: The answers that are a verdict on the reports' content (see the module docstring).
CONTENT_REFUSED = 422
TOO_BIG = 413


def _mark(profile: Profile, digests: set[str], status: str, reason: str = "") -> None:
    profile.ledger = [
        dataclasses.replace(e, status=status, reason=reason)
        if e.digest in digests and e.status == "pending"
        else e
        for e in profile.ledger
    ]


def _settle(profile: Profile, batch: list[PendingReport], status: str, reason: str = "") -> None:
    """Take ``batch`` out of the outbox and mark its ledger entries."""
    tokens = {r.token for r in batch}
    profile.outbox = [r for r in profile.outbox if r.token not in tokens]
    _mark(profile, {hashlib.sha256(r.data).hexdigest() for r in batch}, status, reason)


def send_reports(
    profile: Profile,
    url: str,
    *,
    max_delay: float = 30.0,
    timeout: float = 10.0,
    attempts: int = 3,
    rng: np.random.Generator | None = None,
    sleep: Callable[[float], None] = time.sleep,
    transport: Transport | None = None,
) -> SendResult:
    """Send the outbox to ``url`` (the service's base URL); update the profile in place.

    Save the profile afterwards, also after an error: batches settled before
    it are already out of the outbox. Raises :class:`SourceUnavailableError`
    when the service cannot be reached or its answer is no verdict on the
    reports (a wrong address, say); the reports not settled then stay queued.
    ``rng`` draws the delay and the retries' jitter (by default from the OS
    CSPRNG); ``transport`` replaces the network (see
    :class:`~discreet.sync.http.DeviceHttpClient`).
    """
    if not url.startswith(("http://", "https://")):
        raise SourceUnavailableError(f"reports are sent to an http(s) address, not {url!r}")
    if not profile.outbox:
        return SendResult(0, 0, 0)
    rng = rng if rng is not None else production_rng()
    if max_delay > 0:
        sleep(float(rng.uniform(0, max_delay)))  # decorrelate sending from activity
    client = DeviceHttpClient(
        transport=transport,
        policy=RetryPolicy(attempts=attempts),
        timeout=timeout,
        rng=rng,
        sleep=sleep,
    )
    endpoint = url.rstrip("/") + "/v1/reports"
    sent = duplicates = rejected = 0
    reasons: list[str] = []
    pending = [list(profile.outbox)]
    while pending:
        batch = pending.pop(0)
        reply = _post(client, endpoint, batch)
        if reply.status in (CONTENT_REFUSED, TOO_BIG) and not reply.oversized:
            if len(batch) > 1:
                half = len(batch) // 2
                pending[:0] = [batch[:half], batch[half:]]
                continue
            reason = _reason(reply.body) or f"HTTP {reply.status}, the service gave no reason"
            _settle(profile, batch, "rejected", reason)
            rejected += 1
            if reason not in reasons:
                reasons.append(reason)
            continue
        answer = _json_object(reply.body or b"{}") if reply.ok and not reply.oversized else None
        if answer is None:
            raise SourceUnavailableError(_not_a_verdict(endpoint, reply))
        _settle(profile, batch, "sent")
        sent += _count(answer, "accepted")
        duplicates += _count(answer, "duplicates")
    return SendResult(sent, duplicates, rejected, "; ".join(reasons))


def _post(client: DeviceHttpClient, endpoint: str, batch: list[PendingReport]) -> Reply:
    try:
        return client.request(
            "POST",
            endpoint,
            body=encode_batch([(r.token, r.data) for r in batch]),
            headers={"Content-Type": "application/json"},
        )
    except SourceUnavailableError as exc:
        raise SourceUnavailableError(
            f"cannot reach the report service ({exc}); the reports stay queued for next time"
        ) from exc


def _not_a_verdict(endpoint: str, reply: Reply) -> str:
    """Why an answer says nothing about the reports, in one line that names the cause."""
    status = reply.status
    if reply.oversized:
        cause = "an answer far longer than the service's; is this the report service?"
    elif 200 <= status < 300:
        cause = "an answer that is not the service's (a login page or a proxy, say)"
    elif status in (404, 405):
        cause = "no report service there; check the address (--to is the service's base URL)"
    elif status in (401, 403, 407):
        cause = "access refused; a proxy or firewall may be in the way"
    elif 300 <= status < 400:
        cause = "a redirect that was not followed; check the address"
    else:
        cause = _reason(reply.body) or "the service gave no reason"
    return (
        f"the report service gave an unexpected answer (HTTP {status} from {endpoint}: "
        f"{cause}); the reports stay queued for next time"
    )


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _count(answer: dict[str, Any], key: str) -> int:
    value = answer.get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _reason(body: bytes) -> str:
    """The service's ``error`` field, if its refusal has one."""
    answer = _json_object(body)
    reason = answer.get("error", "") if answer else ""
    return reason.strip()[:200] if isinstance(reason, str) else ""
