"""Preparation: a batch of reports in, each aggregator's output shares out, as pure functions.

Prio3 with two aggregators takes one round (DAP's ``ping-pong`` topology):

1. :func:`prepare_init` (leader and helper alike): open the aggregator's sealed
   input share, decode it with the public share, and compute its prep share;
2. :func:`helper_prepare` (the helper): its own step 1, then the leader's prep
   share and its own give the prep message, the proof's verdict, and its output share;
3. :func:`leader_finish` (the leader): the helper's prep messages give the
   leader's output shares.

Every function takes a batch and returns one outcome per report, in order, and
touches no database, clock or network: a report that fails is an outcome with a
rejection reason (:data:`REASONS`), never an exception, and never reaches an
aggregate share. So a batch can be split and run anywhere (Dask, say) and the
shares added up with :func:`aggregate`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from discreet.errors import HpkeDecryptError
from discreet.secagg import hpke
from discreet.secagg.task import Task
from discreet.secagg.upload import input_share_aad, input_share_info
from discreet.vdaf import (
    AggregateShare,
    InputShare,
    OutputShare,
    PrepShare,
    PrepState,
    PublicShare,
    VdafDecodeError,
    VdafError,
    VdafVerifyError,
)

__all__ = [
    "REASONS",
    "Finished",
    "PrepInput",
    "Prepared",
    "aggregate",
    "helper_prepare",
    "leader_finish",
    "prepare_init",
    "rejection_reason",
]

UNDECRYPTABLE = "undecryptable"
MALFORMED = "malformed"
INVALID_PROOF = "invalid_proof"
REPLAYED = "replayed"
BATCH_COLLECTED = "batch_collected"
HELPER_REJECTED = "helper_rejected"
BATCH_FULL = "batch_full"
#: Why a report can be rejected; each is counted per batch and none is ever aggregated.
REASONS = (
    UNDECRYPTABLE,
    MALFORMED,
    INVALID_PROOF,
    REPLAYED,
    BATCH_COLLECTED,
    HELPER_REJECTED,
    BATCH_FULL,
)


def rejection_reason(exc: Exception) -> str:
    """The reason a report is rejected for, from what refused it (the VDAF's errors
    mapped onto the aggregators' reasons)."""
    if isinstance(exc, HpkeDecryptError):
        return UNDECRYPTABLE
    if isinstance(exc, VdafVerifyError):
        return INVALID_PROOF
    if isinstance(exc, VdafDecodeError | VdafError):
        return MALFORMED
    raise exc


@dataclasses.dataclass(frozen=True)
class PrepInput:
    """What one aggregator holds of one report."""

    report_id: bytes
    period: str
    public_share: bytes
    sealed_share: hpke.HpkeCiphertext


@dataclasses.dataclass(frozen=True)
class Prepared:
    """Step 1's outcome for one report: a state and a prep share, or a rejection."""

    report_id: bytes
    state: PrepState | None
    prep_share: bytes
    rejection: str | None = None


@dataclasses.dataclass(frozen=True)
class Finished:
    """A report's final outcome at one aggregator: an output share, or a rejection.

    ``prep_message`` is what the helper sends back to the leader.
    """

    report_id: bytes
    out_share: OutputShare | None
    prep_message: bytes
    rejection: str | None = None


def _opened(
    task: Task, agg_id: int, keypair: hpke.HpkeKeyPair, item: PrepInput
) -> tuple[bytes, PublicShare, InputShare]:
    """The report's nonce, public share and this aggregator's opened input share; raises
    :class:`HpkeDecryptError` or :class:`VdafError` for a report to reject."""
    vdaf = task.vdaf()
    aad = input_share_aad(task, item.report_id, item.period, item.public_share)
    encoded = hpke.open_sealed(keypair, item.sealed_share, input_share_info(agg_id), aad)
    public = vdaf.decode_public_share(item.public_share)
    return item.report_id, public, vdaf.decode_input_share(agg_id, encoded)


def prepare_init(
    task: Task,
    agg_id: int,
    keypair: hpke.HpkeKeyPair,
    verify_key: bytes,
    batch: Sequence[PrepInput],
) -> list[Prepared]:
    """Step 1 for aggregator ``agg_id`` (0: leader, 1: helper) on every report of a batch.

    Each report is opened and decoded on its own; the proofs of all those that open are
    queried together (:meth:`~discreet.vdaf.Prio3.prep_init_batch`), and a report that
    fails is rejected alone.
    """
    vdaf = task.vdaf()
    out: list[Prepared | None] = []
    opened: list[tuple[int, tuple[bytes, PublicShare, InputShare]]] = []
    for item in batch:
        try:
            opened.append((len(out), _opened(task, agg_id, keypair, item)))
        except (HpkeDecryptError, VdafError) as exc:
            out.append(Prepared(item.report_id, None, b"", rejection_reason(exc)))
            continue
        out.append(None)  # filled in below
    outcomes = vdaf.prep_init_batch(verify_key, task.ctx, agg_id, [o for _, o in opened])
    for (index, (report_id, _, _)), outcome in zip(opened, outcomes, strict=True):
        if isinstance(outcome, VdafError):
            out[index] = Prepared(report_id, None, b"", rejection_reason(outcome))
        else:
            state, prep_share = outcome
            out[index] = Prepared(report_id, state, vdaf.encode_prep_share(prep_share))
    return [prepared for prepared in out if prepared is not None]


def helper_prepare(
    task: Task,
    keypair: hpke.HpkeKeyPair,
    verify_key: bytes,
    batch: Sequence[PrepInput],
    leader_prep_shares: Sequence[bytes],
) -> list[Finished]:
    """The helper's whole round: its outcome and prep message for every report (the
    proofs of the whole batch decided at once)."""
    vdaf = task.vdaf()
    out: list[Finished | None] = []
    combined: list[tuple[int, PrepState, list[PrepShare]]] = []
    for mine, leader_share in zip(
        prepare_init(task, 1, keypair, verify_key, batch), leader_prep_shares, strict=True
    ):
        if mine.state is None:
            out.append(Finished(mine.report_id, None, b"", mine.rejection))
            continue
        try:
            shares = [vdaf.decode_prep_share(leader_share), vdaf.decode_prep_share(mine.prep_share)]
        except VdafError as exc:
            out.append(Finished(mine.report_id, None, b"", rejection_reason(exc)))
            continue
        combined.append((len(out), mine.state, shares))
        out.append(None)  # filled in below
    messages = vdaf.prep_shares_to_prep_batch(task.ctx, [shares for _, _, shares in combined])
    for (index, state, _), message in zip(combined, messages, strict=True):
        report_id = batch[index].report_id
        try:
            if isinstance(message, VdafError):
                raise message
            out_share = vdaf.prep_next(task.ctx, state, message)
        except VdafError as exc:
            out[index] = Finished(report_id, None, b"", rejection_reason(exc))
            continue
        out[index] = Finished(report_id, out_share, vdaf.encode_prep_message(message))
    return [finished for finished in out if finished is not None]


def leader_finish(
    task: Task, prepared: Sequence[Prepared], helper: Mapping[bytes, bytes | str]
) -> list[Finished]:
    """The leader's outcome for every report, from the helper's answer per report id: its
    prep message, or the reason it rejected the report."""
    vdaf = task.vdaf()
    out = []
    for item in prepared:
        message = helper.get(item.report_id, HELPER_REJECTED)
        if item.state is None or isinstance(message, str):
            reason = item.rejection or str(message)
            out.append(Finished(item.report_id, None, b"", reason))
            continue
        try:
            out_share = vdaf.prep_next(task.ctx, item.state, vdaf.decode_prep_message(message))
        except VdafError as exc:
            out.append(Finished(item.report_id, None, b"", rejection_reason(exc)))
            continue
        out.append(Finished(item.report_id, out_share, message))
    return out


def aggregate(task: Task, finished: Sequence[Finished]) -> tuple[AggregateShare, int]:
    """The sum of the output shares of the accepted reports, and how many there are."""
    shares = [f.out_share for f in finished if f.out_share is not None]
    return task.vdaf().aggregate(shares), len(shares)
