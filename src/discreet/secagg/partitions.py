"""Preparation over partitions of a batch: in this process, or as Dask tasks.

The aggregators' work on a batch of reports is split into contiguous
partitions, and each partition goes through one of three functions, the
seam between the protocol and where it runs:

* :func:`leader_init_partition`: the leader's step 1 (its prep shares);
* :func:`leader_finish_partition`: the leader's last step, given the helper's
  answers, down to the partition's aggregate share;
* :func:`helper_partition`: the helper's whole round, down to the partition's
  aggregate share.

Each takes a partition of reports and returns one outcome per report, in
order; they call the pure functions of :mod:`discreet.secagg.prepare`.
:class:`Preparation` runs them on the whole batch in this process, or, given a
``distributed.Client``, as Dask tasks, one per partition, and merges the
partitions' aggregate shares in a task too. The leader's prep states stay on
the workers between its two steps; only prep shares, prep messages,
rejections and aggregate shares travel.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from discreet.secagg import hpke
from discreet.secagg.prepare import (
    Finished,
    Prepared,
    PrepInput,
    aggregate,
    helper_prepare,
    leader_finish,
    prepare_init,
)
from discreet.secagg.task import Task
from discreet.vdaf import AggregateShare

__all__ = [
    "LeaderRound",
    "Outcome",
    "Preparation",
    "helper_partition",
    "leader_finish_partition",
    "leader_init_partition",
]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A report's outcome as it leaves a partition: its prep message (or its prep share,
    after the leader's first step), or why it was rejected; never an output share."""

    report_id: bytes
    message: bytes
    rejection: str | None = None


def leader_init_partition(
    task: Task, keypair: hpke.HpkeKeyPair, verify_key: bytes, batch: Sequence[PrepInput]
) -> list[Prepared]:
    """The leader's step 1 on a partition."""
    return prepare_init(task, 0, keypair, verify_key, batch)


def leader_finish_partition(
    task: Task, prepared: Sequence[Prepared], helper: Mapping[bytes, bytes | str]
) -> tuple[list[Outcome], AggregateShare]:
    """The leader's last step on a partition: outcomes and the partition's aggregate share."""
    return _summed(task, leader_finish(task, prepared, helper))


def helper_partition(
    task: Task,
    keypair: hpke.HpkeKeyPair,
    verify_key: bytes,
    batch: Sequence[PrepInput],
    leader_prep_shares: Sequence[bytes],
) -> tuple[list[Outcome], AggregateShare]:
    """The helper's round on a partition: outcomes and the partition's aggregate share."""
    return _summed(task, helper_prepare(task, keypair, verify_key, batch, leader_prep_shares))


def _summed(task: Task, finished: Sequence[Finished]) -> tuple[list[Outcome], AggregateShare]:
    share, _ = aggregate(task, finished)
    return [Outcome(f.report_id, f.prep_message, f.rejection) for f in finished], share


def _prep_shares(prepared: Sequence[Prepared]) -> list[Outcome]:
    return [Outcome(p.report_id, p.prep_share, p.rejection) for p in prepared]


def _merge(task: Task, *parts: tuple[list[Outcome], AggregateShare]) -> AggregateShare:
    return task.vdaf().merge([share for _, share in parts])


@dataclasses.dataclass(frozen=True)
class LeaderRound:
    """The leader's batch between its two steps: per partition, its prep states (or, on
    Dask, the futures that hold them on the workers)."""

    partitions: list[Any]


class Preparation:
    """Runs the partition functions for one aggregator: on the whole batch in this
    process, or with ``client`` (a ``distributed.Client``) one Dask task per partition,
    as many partitions as the cluster has worker threads."""

    def __init__(
        self, task: Task, keypair: hpke.HpkeKeyPair, verify_key: bytes, client: Any = None
    ) -> None:
        self.task, self.keypair, self.verify_key = task, keypair, verify_key
        self.client = client

    def _args(self) -> list[Any]:
        """The task, key pair and verify key, sent to every worker once per step (futures:
        not kept between steps, so that a restarted cluster is simply used again)."""
        return list(
            self.client.scatter(
                [self.task, self.keypair, self.verify_key], broadcast=True, hash=False
            )
        )

    def _scatter(self, parts: list[Any]) -> list[Any]:
        """The partitions sent straight to the workers (futures), not carried in the graph."""
        return list(self.client.scatter(parts, hash=False))

    def _split(self, *columns: Sequence[Any]) -> list[tuple[Sequence[Any], ...]]:
        """The columns cut into the same contiguous partitions (one without a cluster)."""
        size = len(columns[0])
        count = 1 if self.client is None else max(1, sum(self.client.nthreads().values()))
        step = max(1, -(-size // count))
        return [tuple(c[start : start + step] for c in columns) for start in range(0, size, step)]

    def leader_init(self, batch: Sequence[PrepInput]) -> tuple[LeaderRound, list[Outcome]]:
        """Step 1: the round to finish later, and each report's prep share or rejection."""
        args = (self.task, self.keypair, self.verify_key)
        if self.client is None:
            prepared = leader_init_partition(*args, batch)
            return LeaderRound([prepared]), _prep_shares(prepared)
        on_workers = self._args()
        futures = [
            self.client.submit(leader_init_partition, *on_workers, part, pure=False)
            for part in self._scatter([list(part) for (part,) in self._split(batch)])
        ]
        shares = self.client.gather([self.client.submit(_prep_shares, f) for f in futures])
        return LeaderRound(futures), [outcome for part in shares for outcome in part]

    def leader_finish(
        self, round_: LeaderRound, helper: Mapping[bytes, bytes | str]
    ) -> tuple[list[Outcome], AggregateShare]:
        """The last step: each report's outcome, and the batch's aggregate share."""
        if self.client is None:
            (prepared,) = round_.partitions
            return leader_finish_partition(self.task, prepared, helper)
        task, answers = self.client.scatter([self.task, dict(helper)], broadcast=True, hash=False)
        parts = [
            self.client.submit(leader_finish_partition, task, f, answers, pure=False)
            for f in round_.partitions
        ]
        return self._gathered(parts)

    def helper(
        self, batch: Sequence[PrepInput], leader_prep_shares: Sequence[bytes]
    ) -> tuple[list[Outcome], AggregateShare]:
        """The helper's round: each report's outcome, and the batch's aggregate share."""
        args = (self.task, self.keypair, self.verify_key)
        if self.client is None:
            return helper_partition(*args, batch, leader_prep_shares)
        pairs = [
            (list(part), list(shares)) for part, shares in self._split(batch, leader_prep_shares)
        ]
        on_workers = self._args()
        parts = [
            self.client.submit(_helper_pair, *on_workers, pair, pure=False)
            for pair in self._scatter(pairs)
        ]
        return self._gathered(parts)

    def _gathered(self, parts: list[Any]) -> tuple[list[Outcome], AggregateShare]:
        """The partitions' outcomes in order, and their shares merged in a task."""
        if not parts:
            return [], self.task.vdaf().aggregate([])
        merged = self.client.submit(_merge, self.task, *parts)
        outcomes = self.client.gather([self.client.submit(_outcomes, p) for p in parts])
        return [o for part in outcomes for o in part], merged.result()


def _helper_pair(
    task: Task, keypair: hpke.HpkeKeyPair, verify_key: bytes, pair: tuple[Any, Any]
) -> tuple[list[Outcome], AggregateShare]:
    return helper_partition(task, keypair, verify_key, *pair)


def _outcomes(part: tuple[list[Outcome], AggregateShare]) -> list[Outcome]:
    return part[0]
