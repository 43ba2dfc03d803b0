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

from discreet.protocol.mechanisms import mechanism_code, mechanism_name

REPORT_VERSION = 1
REPORT_BYTES = 16
#: The kinds of report, by wire code: what a device may say about its week.
KIND_CODES = {"category": 1, "item": 2}
KINDS = tuple(KIND_CODES)
_LAYOUT = struct.Struct(">BBBBIII")
_KIND_NAMES = {code: name for name, code in KIND_CODES.items()}


def period_of(day: dt.date) -> str:
    """The ISO week of ``day``, as ``2026-W48``."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def period_code(period: str) -> int:
    """``2026-W48`` as the integer 202648; raise ``ValueError`` if malformed."""
    if not isinstance(period, str):
        raise ValueError(f"not an ISO week like 2026-W48: {period!r}")
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
    """One privatised report.

    >>> data = Report("item", "lh", 3, "2026-W48", 12345).to_bytes()
    >>> len(data), Report.from_bytes(data).payload
    (16, 12345)
    """

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
            KIND_CODES[self.kind],
            mechanism_code(self.mechanism),
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
        if kind not in _KIND_NAMES:
            raise ValueError("unknown report kind")
        return cls(
            _KIND_NAMES[kind],
            mechanism_name(mechanism),
            catalog,
            period_from_code(period),
            payload,
        )
