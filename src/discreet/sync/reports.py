"""Sending queued reports: after a random delay, over HTTP(S), counted once.

Reports wait in the encrypted outbox until a server answers 2xx; only then
are they removed and their ledger entries marked sent. A network failure or
a 5xx leaves them queued for the next attempt (the server ignores a retried
report by its token). A 4xx means the server will never take them (a stale
week, say): they are dropped and their ledger entries marked rejected.
The exchange goes through the device's one HTTP client
(:mod:`discreet.sync.http`): its retries, its timeouts, and proxies from the
standard environment variables (``https_proxy``, ...).
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
from discreet.profile.model import Profile
from discreet.protocol.wire import encode_batch
from discreet.sync.http import DeviceHttpClient, RetryPolicy, Transport, csprng_generator


@dataclass(frozen=True)
class SendResult:
    """What one attempt did."""

    sent: int
    duplicates: int
    rejected: int
    reason: str = ""


def _mark(profile: Profile, digests: set[str], status: str) -> None:
    profile.ledger = [
        dataclasses.replace(e, status=status)
        if e.digest in digests and e.status == "pending"
        else e
        for e in profile.ledger
    ]


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

    Save the profile afterwards. Raises :class:`SourceUnavailableError` when the
    service cannot be reached; the reports then stay queued. ``rng`` draws the
    delay and the retries' jitter (by default from the OS CSPRNG); ``transport``
    replaces the network (see :class:`~discreet.sync.http.DeviceHttpClient`).
    """
    if not url.startswith(("http://", "https://")):
        raise SourceUnavailableError(f"reports are sent to an http(s) address, not {url!r}")
    if not profile.outbox:
        return SendResult(0, 0, 0)
    rng = rng if rng is not None else csprng_generator()
    if max_delay > 0:
        sleep(float(rng.uniform(0, max_delay)))  # decorrelate sending from activity
    client = DeviceHttpClient(
        transport=transport,
        policy=RetryPolicy(attempts=attempts),
        timeout=timeout,
        rng=rng,
        sleep=sleep,
    )
    body = encode_batch([(r.token, r.data) for r in profile.outbox])
    digests = {hashlib.sha256(r.data).hexdigest() for r in profile.outbox}
    try:
        reply = client.request(
            "POST",
            url.rstrip("/") + "/v1/reports",
            body=body,
            headers={"Content-Type": "application/json"},
        )
    except SourceUnavailableError as exc:
        raise SourceUnavailableError(
            f"cannot reach the report service ({exc}); the reports stay queued for next time"
        ) from exc
    if reply.refused:
        profile.outbox = []
        _mark(profile, digests, "rejected")
        return SendResult(0, 0, len(digests), _reason(reply.body))
    answer = _json_object(reply.body or b"{}") if reply.ok and not reply.oversized else None
    if answer is None:
        # Not the service's answer (a captive portal, say): nothing says it took them.
        raise SourceUnavailableError(
            f"the report service gave an unexpected answer (HTTP {reply.status}); "
            "the reports stay queued for next time"
        )
    profile.outbox = []
    _mark(profile, digests, "sent")
    return SendResult(_count(answer, "accepted"), _count(answer, "duplicates"), 0)


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
    return str(answer.get("error", "")) if answer else ""
