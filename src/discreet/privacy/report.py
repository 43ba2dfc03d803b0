"""The report record: 16 bytes, the same size whatever the value, with nothing to link.

Layout (big-endian)::

    version (1) | kind (1) | mechanism (1) | reserved, zero (1)
    | catalog version (4) | period: ISO year * 100 + ISO week (4) | payload (4)

That is all a report holds: no identifier, no time finer than the week, no
text. Two reports of one device in different periods share only public
fields, and the payload is fresh randomness each time.
"""

from __future__ import annotations

import datetime as dt
import functools
import struct
from dataclasses import dataclass

from discreet.privacy.oracles import MECHANISMS

REPORT_VERSION = 1
REPORT_BYTES = 16
_LAYOUT = struct.Struct(">BBBBIII")
_KIND_CODES = {"category": 1, "item": 2}
_MECHANISM_CODES = {name: code for code, name in enumerate(MECHANISMS, start=1)}
_KIND_NAMES = {code: name for name, code in _KIND_CODES.items()}
_MECHANISM_NAMES = {code: name for name, code in _MECHANISM_CODES.items()}


def period_of(day: dt.date) -> str:
    """The ISO week of ``day``, as ``2026-W48``."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def period_code(period: str) -> int:
    """``2026-W48`` as the integer 202648; raise ``ValueError`` if malformed."""
    try:
        year_text, week_text = period.split("-W")
        year, week = int(year_text), int(week_text)
        dt.date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ValueError(f"not an ISO week like 2026-W48: {period!r}") from None
    return year * 100 + week


@functools.lru_cache(maxsize=256)
def period_from_code(code: int) -> str:
    """The inverse of :func:`period_code`."""
    period = f"{code // 100}-W{code % 100:02d}"
    period_code(period)
    return period


@dataclass(frozen=True)
class Report:
    """One privatised report."""

    kind: str
    mechanism: str
    catalog_version: int
    period: str
    payload: int
    version: int = REPORT_VERSION

    def to_bytes(self) -> bytes:
        """The 16 bytes that leave the device."""
        return _LAYOUT.pack(
            self.version,
            _KIND_CODES[self.kind],
            _MECHANISM_CODES[self.mechanism],
            0,
            self.catalog_version,
            period_code(self.period),
            self.payload,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Report:
        """Parse and check a report; raise ``ValueError`` for anything malformed."""
        if len(data) != REPORT_BYTES:
            raise ValueError(f"a report is {REPORT_BYTES} bytes, not {len(data)}")
        version, kind, mechanism, reserved, catalog, period, payload = _LAYOUT.unpack(data)
        if version != REPORT_VERSION or reserved != 0:
            raise ValueError("unsupported report version")
        if kind not in _KIND_NAMES or mechanism not in _MECHANISM_NAMES:
            raise ValueError("unknown report kind or mechanism")
        return cls(
            _KIND_NAMES[kind],
            _MECHANISM_NAMES[mechanism],
            catalog,
            period_from_code(period),
            payload,
        )
