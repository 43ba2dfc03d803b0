"""What crosses the wire between the parties of secure aggregation.

:func:`call` is a JSON request from one party to another (the leader to the
helper, the collector to the leader), retried on network errors and 5xx
answers, that raises the error class an answer's ``code`` names. The
aggregate shares are sealed to the collector with :func:`aggregate_share_info`
and :func:`aggregate_share_aad`.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from discreet.errors import (
    AggregatorError,
    BatchCollectedError,
    BatchTooSmallError,
    SecureAggregationError,
)
from discreet.i18n import _
from discreet.secagg.task import Task

__all__ = ["ATTEMPTS", "ERROR_CODES", "aggregate_share_aad", "aggregate_share_info", "call"]

#: Attempts at a call to the other party, with a doubling pause between them.
ATTEMPTS = 4

#: The ``code`` of an error answer, to the exception :func:`call` raises for it.
ERROR_CODES: dict[str, type[SecureAggregationError]] = {
    "batch_collected": BatchCollectedError,
    "batch_too_small": BatchTooSmallError,
}


def aggregate_share_aad(task: Task, period: str, reports: int) -> bytes:
    """The associated data an aggregate share is sealed to the collector with."""
    return task.task_id + period.encode("ascii") + reports.to_bytes(8, "big")


def aggregate_share_info(agg_id: int) -> bytes:
    """HPKE's ``info`` for aggregator ``agg_id``'s aggregate share."""
    return b"discreet secagg aggregate share" + bytes([agg_id])


class _TransientError(Exception):
    """A network error or a 5xx answer: worth another attempt."""


def call(url: str, body: dict[str, Any], token: str, *, method: str = "POST") -> Any:
    """A JSON request to the other party, retried on network errors and 5xx answers.

    Raises :class:`AggregatorError` with the other party's one-line error if it refuses,
    or if it is still unreachable after :data:`ATTEMPTS` attempts.
    """
    if not url.startswith(("http://", "https://")):
        raise AggregatorError(_("{url} is not an http(s) URL; check the address").format(url=url))
    data = json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    pause, attempt = 0.2, 1
    while True:
        try:
            request = urllib.request.Request(url, data, headers, method=method)  # noqa: S310
            return _call_once(request)
        except _TransientError as exc:
            if attempt >= ATTEMPTS:
                raise AggregatorError(
                    _("{url} failed {ATTEMPTS} times ({exc})").format(
                        url=url, ATTEMPTS=ATTEMPTS, exc=exc
                    )
                ) from None
        time.sleep(pause)
        pause, attempt = pause * 2, attempt + 1


def _call_once(request: urllib.request.Request) -> Any:
    try:
        with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            raw = exc.read()
        message, code = _message(raw, exc.code)
        if exc.code >= 500:
            raise _TransientError(message) from None
        raise ERROR_CODES.get(code, AggregatorError)(message) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise _TransientError(str(exc)) from None


def _message(raw: bytes, status: int) -> tuple[str, str]:
    try:
        data = json.loads(raw)
        return str(data["error"]), str(data.get("code", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"the other party answered HTTP {status}", ""
