"""The report batch on the wire: a versioned, strictly validated JSON document.

::

    {"format_version": 1,
     "reports": [{"token": "<32 hex digits>", "report": "<32 hex digits>"}, ...]}

``report`` is the 16-byte report a device's ledger holds a digest of;
``token`` is 16 fresh random bytes per report, so that a retried batch is
not counted twice. Anything else is refused.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from discreet.protocol.report import REPORT_BYTES, Report, period_code, period_of

BATCH_FORMAT_VERSION = 1
TOKEN_BYTES = 16


class WireError(ValueError):
    """A request that is refused, with the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """What one request may carry, and which periods are accepted."""

    max_body_bytes: int = 256 * 1024
    max_reports: int = 5_000
    past_periods: int = 2  # reports for the current week and the two before it
    body_timeout: float = 10.0  # seconds to receive a whole body


def encode_batch(reports: list[tuple[bytes, bytes]]) -> bytes:
    """The request body for (token, report bytes) pairs."""
    return json.dumps(
        {
            "format_version": BATCH_FORMAT_VERSION,
            "reports": [{"token": t.hex(), "report": r.hex()} for t, r in reports],
        },
        separators=(",", ":"),
    ).encode()


def _hex(value: Any, size: int, what: str) -> bytes:
    if isinstance(value, str) and len(value) == 2 * size and value.islower() | value.isdigit():
        try:
            decoded = bytes.fromhex(value)
        except ValueError:
            decoded = b""
        if len(decoded) == size:  # fromhex skips spaces: the length tells
            return decoded
    raise WireError(422, f"{what} must be {2 * size} lowercase hex digits")


def _shown(value: Any) -> str:
    """A refused value for an error message: a short scalar as JSON, else its JSON type."""
    if value is None or isinstance(value, bool | int | float):
        text = json.dumps(value)
        return text if len(text) <= 40 else "a long number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def accepted_periods(today: dt.date, limits: Limits) -> frozenset[str]:
    """The ISO weeks a report may name: this one and ``past_periods`` before it."""
    return _periods(today, limits.past_periods)


@functools.lru_cache(maxsize=8)
def _periods(today: dt.date, past: int) -> frozenset[str]:
    return frozenset(period_of(today - dt.timedelta(weeks=w)) for w in range(past + 1))


def decode_batch(body: bytes, today: dt.date, limits: Limits) -> list[tuple[bytes, Report]]:
    """Parse and validate a request body; raise :class:`WireError` with a 4xx status."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WireError(400, "the body is not JSON") from None
    except RecursionError:  # a few kilobytes of "[" are enough to reach it
        raise WireError(400, "the body is nested too deeply") from None
    if not isinstance(document, Mapping):
        raise WireError(422, "the body must be a JSON object")
    if set(document) != {"format_version", "reports"}:
        raise WireError(422, "the body must have exactly 'format_version' and 'reports'")
    version = document["format_version"]
    # Strictly the integer: true and 1.0 compare equal to 1 in Python, but are not it.
    if type(version) is not int or version != BATCH_FORMAT_VERSION:
        raise WireError(422, f"unsupported batch format {_shown(version)}")
    entries = document["reports"]
    if not isinstance(entries, list) or not entries:
        raise WireError(422, "'reports' must be a non-empty list")
    if len(entries) > limits.max_reports:
        raise WireError(413, f"at most {limits.max_reports} reports per request")
    periods = accepted_periods(today, limits)
    batch = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or set(entry) != {"token", "report"}:
            raise WireError(422, f"report #{index}: must have exactly 'token' and 'report'")
        token = _hex(entry["token"], TOKEN_BYTES, f"report #{index}: token")
        data = _hex(entry["report"], REPORT_BYTES, f"report #{index}: report")
        try:
            report = Report.from_bytes(data)
        except ValueError as exc:
            raise WireError(422, f"report #{index}: {exc}") from None
        if report.period not in periods:
            newest = max(periods, key=period_code)
            relation = "future" if period_code(report.period) > period_code(newest) else "stale"
            raise WireError(422, f"report #{index}: {relation} period {report.period}")
        batch.append((token, report))
    return batch
