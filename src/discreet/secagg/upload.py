"""The report a device uploads to the leader, and how each input share is sealed.

A report (DAP's ``Report``, simplified) is::

    report_id (16) || period (4, e.g. 202650) || u32 len || public share
                   || u32 len || leader's sealed input share
                   || u32 len || helper's sealed input share

The report id is the Prio3 nonce, so the aggregators' replay protection and the
proof's randomness are bound to the same 16 random bytes. Each input share is
sealed with HPKE to its own aggregator: the leader stores the helper's sealed
share and forwards it, but cannot open it. Both seals bind, as associated data,
the task id, the report id, the period and the public share, so that a share
moved to another report, week or task no longer opens.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from discreet.errors import ContributionInvalidError, HpkeDecryptError, ReportMalformedError
from discreet.i18n import _
from discreet.protocol.report import period_code, period_from_code
from discreet.secagg import hpke
from discreet.secagg.task import Task
from discreet.vdaf import ShardedReport, VdafMeasurementError

__all__ = ["UploadReport", "input_share_aad", "input_share_info", "make_report", "seal_report"]

REPORT_ID_SIZE = 16
LEADER_ID, HELPER_ID = 0, 1


def input_share_info(agg_id: int) -> bytes:
    """HPKE's ``info`` for aggregator ``agg_id``'s input share (DAP's, renamed)."""
    return b"discreet secagg input share" + bytes([agg_id])


def input_share_aad(task: Task, report_id: bytes, period: str, public_share: bytes) -> bytes:
    """The associated data both input shares are sealed with."""
    return task.task_id + report_id + period_code(period).to_bytes(4, "big") + public_share


@dataclasses.dataclass(frozen=True)
class UploadReport:
    """One device's report for one task and week, as the leader receives it."""

    report_id: bytes
    period: str
    public_share: bytes
    leader_share: hpke.HpkeCiphertext
    helper_share: hpke.HpkeCiphertext

    def encode(self) -> bytes:
        """The report's bytes (see the module docstring)."""
        parts = [self.public_share, self.leader_share.encode(), self.helper_share.encode()]
        return (
            self.report_id
            + period_code(self.period).to_bytes(4, "big")
            + b"".join(len(p).to_bytes(4, "big") + p for p in parts)
        )

    @classmethod
    def decode(cls, data: bytes) -> UploadReport:
        """Parse :meth:`encode`'s bytes; raises :class:`ReportMalformedError`."""
        if len(data) < REPORT_ID_SIZE + 4:
            raise ReportMalformedError(_("a report is truncated; the device must send it again"))
        report_id = data[:REPORT_ID_SIZE]
        try:
            period = period_from_code(int.from_bytes(data[REPORT_ID_SIZE : REPORT_ID_SIZE + 4]))
        except ValueError:
            raise ReportMalformedError(_("a report names no ISO week")) from None
        at, parts = REPORT_ID_SIZE + 4, []
        for _part in range(3):
            if len(data) < at + 4:
                raise ReportMalformedError(_("a report is truncated"))
            end = at + 4 + int.from_bytes(data[at : at + 4], "big")
            if len(data) < end:
                raise ReportMalformedError(_("a report is truncated"))
            parts.append(data[at + 4 : end])
            at = end
        if at != len(data):
            raise ReportMalformedError(_("a report has trailing bytes"))
        try:
            leader, helper = (hpke.HpkeCiphertext.decode(p) for p in parts[1:])
        except HpkeDecryptError:
            raise ReportMalformedError(_("a report's sealed share is malformed")) from None
        return cls(report_id, period, parts[0], leader, helper)


def seal_report(task: Task, period: str, sharded: ShardedReport) -> UploadReport:
    """Seal each input share of an already sharded report to its aggregator."""
    vdaf = task.vdaf()
    public = vdaf.encode_public_share(sharded.public_share)
    aad = input_share_aad(task, sharded.nonce, period, public)
    sealed = [
        hpke.seal(config, input_share_info(agg_id), aad, vdaf.encode_input_share(share))
        for agg_id, (config, share) in enumerate(
            zip((task.leader_config, task.helper_config), sharded.input_shares, strict=True)
        )
    ]
    return UploadReport(sharded.nonce, period, public, sealed[0], sealed[1])


def make_report(task: Task, period: str, measurement: Sequence[bool]) -> UploadReport:
    """A device's report: shard (with a proof), then seal each share; raises
    :class:`ContributionInvalidError` if the measurement does not fit the task."""
    try:
        period_code(period)
        sharded = task.vdaf().shard(task.ctx, measurement)
    except (VdafMeasurementError, ValueError) as exc:
        raise ContributionInvalidError(
            _("the contribution does not fit the task: {exc}").format(exc=exc)
        ) from None
    return seal_report(task, period, sharded)
