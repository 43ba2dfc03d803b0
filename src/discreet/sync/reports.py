"""Sending queued reports: after a random delay, over HTTP(S), counted once.

Reports wait in the encrypted outbox until a server answers 2xx; only then
are they removed and their ledger entries marked sent. A network failure or
a 5xx leaves them queued for the next attempt (the server ignores a retried
report by its token). A 4xx means the server will never take them (a stale
week, say): they are dropped and their ledger entries marked rejected.
Proxies come from the standard environment variables (``https_proxy``, ...).
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from discreet.errors import SourceUnavailableError
from discreet.profile.model import Profile
from discreet.protocol.wire import encode_batch


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
) -> SendResult:
    """Send the outbox to ``url`` (the service's base URL); update the profile in place.

    Save the profile afterwards. Raises :class:`SourceUnavailableError` when the
    service cannot be reached; the reports then stay queued.
    """
    if not url.startswith(("http://", "https://")):
        raise SourceUnavailableError(f"reports are sent to an http(s) address, not {url!r}")
    if not profile.outbox:
        return SendResult(0, 0, 0)
    rng = rng or np.random.default_rng()
    if max_delay > 0:
        sleep(float(rng.uniform(0, max_delay)))  # decorrelate sending from activity
    body = encode_batch([(r.token, r.data) for r in profile.outbox])
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
        url.rstrip("/") + "/v1/reports",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    digests = {hashlib.sha256(r.data).hexdigest() for r in profile.outbox}
    last_error = ""
    for attempt in range(attempts):
        if attempt:
            sleep(0.5 * 2**attempt * float(rng.uniform(0.5, 1.5)))  # backoff with jitter
        try:
            # A fresh opener reads the proxy environment now (urlopen's global one caches it).
            opener = urllib.request.build_opener()
            with opener.open(request, timeout=timeout) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            reason = _reason(exc)
            if 400 <= exc.code < 500 and exc.code != 408:
                profile.outbox = []
                _mark(profile, digests, "rejected")
                return SendResult(0, 0, len(digests), reason)
            last_error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            # HTTPException: the connection broke mid-answer (IncompleteRead, BadStatusLine).
            last_error = str(getattr(exc, "reason", exc)) or type(exc).__name__
        else:
            profile.outbox = []
            _mark(profile, digests, "sent")
            return SendResult(int(answer.get("accepted", 0)), int(answer.get("duplicates", 0)), 0)
    raise SourceUnavailableError(
        f"cannot reach the report service ({last_error}); the reports stay queued for next time"
    )


def _reason(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(error.read()).get("error", ""))
    except (ValueError, OSError, AttributeError):
        return ""
    finally:
        error.close()
