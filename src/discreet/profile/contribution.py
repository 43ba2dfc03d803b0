"""The device's weekly contributions in the secure-aggregation mode.

Once per ISO week and task, with consent to the catalog's exact
``secure_aggregation`` section (tasks, top-M list, aggregators' endpoints and
HPKE configs, budget, padding):

1. the distinct items engaged with this week, minus those in a sensitive or
   muted category (the candidates of the LDP item report), that the task
   counts;
2. popularity: padded with "none" up to the section's ``pad_length``, then K =
   the task's ``max_weight`` slots drawn uniformly without replacement: each
   item drawn is a one in a multihot vector over the task's entries (the LDP
   item report's padding trick, with K draws instead of one);
   co-occurrence: the candidates among the task's top-M items, padded the same
   way, and K pairs of slots drawn (:func:`sample_pairs`): each pair of items
   drawn is a one in a vector over the M(M-1)/2 pairs (:func:`pair_index`);
3. sharded with Prio3 (a proof that it has at most K ones), each input share
   sealed with HPKE to its aggregator (:func:`discreet.secagg.upload.make_report`);
4. entered in the ledger (kind ``secagg`` or ``secagg-pairs``, the task's ε
   and δ, the digest of the exact bytes) and queued in the outbox with its
   destination (the task's URL at the leader) before anything can send it: a
   queued contribution goes where it was made for, even if the manifest
   changes meanwhile.

One weekly budget covers both modes and both tasks: the ledger sums every
entry of the week, LDP reports and contributions alike, so a week that spent
its ε in one mode cannot spend it again in the other, and the section's
``epsilon_per_period`` is at least the sum of its tasks' ε. The week's
releases compose under basic composition: a device whose week holds entries
(ε₁, δ₁), …, (εₙ, δₙ) is (Σεᵢ, Σδᵢ)-DP for that week (the zCDP ρ's of the two
aggregated tasks also add up, which is tighter; the ledger states the sums).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from discreet.catalog.reader import Catalog
from discreet.errors import BudgetExhaustedError, ConsentRequiredError
from discreet.i18n import _
from discreet.profile.model import (
    SECAGG_KIND,
    SECAGG_PAIRS_KIND,
    LedgerEntry,
    PendingReport,
    Profile,
)
from discreet.profile.reports import reportable_rows, spent
from discreet.protocol.randomness import production_rng
from discreet.protocol.report import period_of
from discreet.secagg.mode import SecureAggregation
from discreet.secagg.task import COOCCURRENCE, Task, pair_count
from discreet.secagg.upload import make_report


def task_entries(catalog: Catalog, section: SecureAggregation, rows: list[int]) -> list[int]:
    """The task's entries (sorted) that count these catalog rows; rows it does not count
    are left out."""
    labels = section.task.labels
    return _positions(catalog, labels, rows) if labels else sorted(rows)


def top_positions(catalog: Catalog, task: Task, rows: list[int]) -> list[int]:
    """The positions (sorted) in a co-occurrence task's top-M list of these catalog rows;
    rows outside the list are left out."""
    return _positions(catalog, task.top_items, rows)


def _positions(catalog: Catalog, names: Sequence[str], rows: list[int]) -> list[int]:
    """The positions (sorted) in ``names`` of these catalog rows' ids; others left out."""
    index = {name: i for i, name in enumerate(names)}
    ids = catalog.ids
    return sorted(index[ids[row]] for row in rows if ids[row] in index)


def pair_items(task: Task, entry: int) -> tuple[str, str]:
    """The two top items a co-occurrence entry counts (the inverse of :func:`pair_index`)."""
    m, a = len(task.top_items), 0
    while entry >= m - a - 1:
        entry -= m - a - 1
        a += 1
    return task.top_items[a], task.top_items[a + 1 + entry]


def sample_entries(
    candidates: list[int], max_weight: int, pad_length: int, rng: np.random.Generator
) -> list[int]:
    """Up to ``max_weight`` candidates: that many slots drawn uniformly without
    replacement from the candidates padded with "none" to ``pad_length``."""
    slots = max(pad_length, len(candidates))
    drawn = rng.choice(slots, size=min(max_weight, slots), replace=False)
    return sorted(candidates[int(slot)] for slot in drawn if slot < len(candidates))


def pair_index(i: int, j: int, m: int) -> int:
    """The entry of the unordered pair {i, j} of top-M positions (i ≠ j, both below
    ``m``) in a co-occurrence vector of m(m-1)/2 entries, row by row: (0, 1), (0, 2),
    …, (0, m-1), (1, 2), …

    >>> [pair_index(0, 1, 4), pair_index(2, 0, 4), pair_index(1, 2, 4), pair_index(2, 3, 4)]
    [0, 1, 3, 5]
    """
    a, b = min(i, j), max(i, j)
    if a == b or a < 0 or b >= m:
        raise ValueError(_("no pair ({i}, {j}) among {m} items").format(i=i, j=j, m=m))
    return a * (2 * m - a - 1) // 2 + (b - a - 1)


def sample_pairs(
    candidates: list[int], m: int, max_weight: int, pad_length: int, rng: np.random.Generator
) -> list[int]:
    """Up to ``max_weight`` co-occurrence entries (see :func:`pair_index`) among the
    candidates, which are distinct top-M positions below ``m``.

    The candidates are padded with "none" to ``pad_length`` slots (P = the larger of
    the two), and ``max_weight`` of the C(P, 2) pairs of slots are drawn uniformly
    without replacement; a drawn pair counts when both its slots hold items. Each
    pair of items a device holds is drawn with the same probability,
    ``max_weight / C(P, 2)``, however short its history, so light users do not
    dominate the sum, and heavy ones are only scaled down past ``pad_length``: the
    item report's padding trick, applied to pairs.
    """
    n = len(candidates)
    slots = max(pad_length, n)
    total = pair_count(slots)
    if total == 0 or n < 2:
        return []
    drawn = rng.choice(total, size=min(max_weight, total), replace=False)
    # Slot pairs are numbered b(b-1)/2 + a (a < b), so those among the first n slots,
    # the ones holding items, are exactly the numbers below n(n-1)/2.
    held = pair_count(n)
    chosen = []
    for t in (int(x) for x in drawn if x < held):
        b = (1 + math.isqrt(1 + 8 * t)) // 2
        a = t - b * (b - 1) // 2
        chosen.append(pair_index(candidates[a], candidates[b], m))
    return sorted(chosen)


def describe_contribution(section: SecureAggregation) -> list[str]:
    """The secure-aggregation terms in words, as shown before a user consents."""
    task = section.task
    lines = [
        _(
            "At most one contribution per week, spending at most "
            "ε={epsilon_per_period:g} per week in total (in either "
            "reporting mode):"
        ).format(epsilon_per_period=section.epsilon_per_period),
        _(
            "  up to {max_weight} items you engaged with this week "
            "(padded to {pad_length} with 'none' before they are drawn), "
            "as a vector of {length} zeros and ones,"
        ).format(max_weight=task.max_weight, pad_length=section.pad_length, length=task.length),
    ]
    pairs = section.cooccurrence
    if pairs is not None:
        lines[0] = _(
            "At most one contribution per task per week, spending at most ε={budget} per week "
            "in total (in either reporting mode):"
        ).format(budget=f"{section.epsilon_per_period:g}")
        lines.append(
            _(
                "  and up to {k} pairs of them among the {m} items listed below, as a vector "
                "of {length} zeros and ones, ({epsilon}, {delta})-DP of its own:"
            ).format(
                k=pairs.max_weight,
                m=len(pairs.top_items),
                length=pairs.length,
                epsilon=f"{pairs.epsilon:g}",
                delta=f"{pairs.delta:g}",
            )
        )
        lines.append("    " + ", ".join(pairs.top_items))
    return [
        *lines,
        _("  split into two shares, one sealed to each aggregator, which must not collude:"),
        _("    leader {leader} (HPKE key {value}…)").format(
            leader=section.leader, value=task.leader_config.public_key.hex()[:16]
        ),
        _("    helper {helper} (HPKE key {value}…)").format(
            helper=section.helper, value=task.helper_config.public_key.hex()[:16]
        ),
        _(
            "  the week's sum is released with noise: ({epsilon:g}, "
            "{delta:g})-DP per device per week, over at least "
            "{min_batch_size} devices."
        ).format(epsilon=task.epsilon, delta=task.delta, min_batch_size=task.min_batch_size),
        *(
            []
            if pairs is None
            else [
                _(
                    "  Both together: ({epsilon}, {delta})-DP per device per week (the two "
                    "releases' ε and δ add up)."
                ).format(
                    epsilon=f"{task.epsilon + pairs.epsilon:g}",
                    delta=f"{task.delta + pairs.delta:g}",
                )
            ]
        ),
        _("No identifier, no time finer than the week, nothing from sensitive categories."),
    ]


@dataclass(frozen=True)
class PairsPreview:
    """This week's co-occurrence contribution: the exact bytes queued, and its cost."""

    data: bytes
    epsilon: float
    delta: float
    leader: str
    #: The pairs of items set to one (``None`` when the contribution was made earlier).
    pairs: tuple[tuple[str, str], ...] | None

    def to_json(self) -> dict[str, Any]:
        """The preview as JSON: the bytes in hex, their size, the pairs they hold."""
        return {
            "leader": self.leader,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "size": len(self.data),
            "bytes_hex": self.data.hex(),
            "pairs": None if self.pairs is None else [list(pair) for pair in self.pairs],
        }


@dataclass(frozen=True)
class ContributionPreview:
    """This week's contribution: the exact bytes queued for the leader, and its cost."""

    period: str
    data: bytes
    epsilon: float
    delta: float
    epsilon_spent: float
    epsilon_cap: float
    leader: str
    #: The items set to one (``None`` when the contribution was made earlier).
    items: tuple[str, ...] | None
    #: The co-occurrence contribution, when the catalog asks for one.
    cooccurrence: PairsPreview | None = None

    def to_json(self) -> dict[str, Any]:
        """The preview as JSON: the bytes in hex, their size, what they hold."""
        pairs = {} if self.cooccurrence is None else {"cooccurrence": self.cooccurrence.to_json()}
        return {
            **pairs,
            "period": self.period,
            "mode": "secure-aggregation",
            "leader": self.leader,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "epsilon_spent": self.epsilon_spent,
            "epsilon_cap": self.epsilon_cap,
            "size": len(self.data),
            "bytes_hex": self.data.hex(),
            "items": None if self.items is None else list(self.items),
        }


def require_consent(profile: Profile, section: SecureAggregation) -> None:
    """Raise :class:`ConsentRequiredError` unless the profile consented to exactly
    ``section``: its task, its parameters and its two aggregators."""
    if profile.consent is None or not profile.consent.covers(section.consent_terms()):
        raise ConsentRequiredError(
            _(
                "secure-aggregation contributions need your consent to this "
                "catalog's exact task and aggregators; review them with "
                "'discreet report consent'"
            )
        )


def contribution_kind(task: Task) -> str:
    """The ledger's and the outbox's kind for a task's contributions."""
    return SECAGG_PAIRS_KIND if task.kind == COOCCURRENCE else SECAGG_KIND


def prepare_contribution(
    profile: Profile,
    catalog: Catalog,
    section: SecureAggregation,
    today: dt.date,
    rng: np.random.Generator | None = None,
) -> ContributionPreview:
    """Make this week's contributions (once per task), charge the budget, queue the
    exact bytes, each with the leader URL of its task.

    Raises :class:`ConsentRequiredError` without consent to exactly this
    section, and :class:`BudgetExhaustedError` when the week's budget (in
    either mode) has no room for the ε of the tasks not yet contributed to;
    then nothing is made.
    """
    require_consent(profile, section)
    period = period_of(today)
    if profile.ledger_floor is not None and period <= profile.ledger_floor:
        raise BudgetExhaustedError(
            _(
                "the ledger of {period} was pruned (the clock went back, or "
                "was ahead), so its privacy budget is unknown; contributions "
                "resume after {ledger_floor}"
            ).format(period=period, ledger_floor=profile.ledger_floor)
        )
    made = {e.kind for e in profile.ledger if e.period == period}
    todo = [task for task in section.tasks if contribution_kind(task) not in made]
    cost = sum(task.epsilon for task in todo)
    if todo and spent(profile, period) + cost > section.epsilon_per_period + 1e-12:
        left = section.epsilon_per_period - spent(profile, period)
        raise BudgetExhaustedError(
            _(
                "this week's privacy budget is spent ({left:g} of "
                "{epsilon_per_period:g} left); contributions resume next week"
            ).format(left=left, epsilon_per_period=section.epsilon_per_period)
        )
    rng = rng or production_rng()
    rows = reportable_rows(profile, catalog, period) if todo else []
    chosen: dict[str, list[int]] = {}
    for task in todo:
        if task.kind == COOCCURRENCE:
            positions = top_positions(catalog, task, rows)
            ones = sample_pairs(
                positions, len(task.top_items), task.max_weight, section.pad_length, rng
            )
        else:
            entries = task_entries(catalog, section, rows)
            ones = sample_entries(entries, task.max_weight, section.pad_length, rng)
        _queue(profile, task, section.leader_url(task), period, today, ones)
        chosen[task.kind] = ones
    labels = section.task.labels or catalog.ids
    items = chosen.get(section.task.kind)
    pairs = section.cooccurrence
    return _preview(
        profile,
        section,
        period,
        None if items is None else tuple(labels[e] for e in items),
        None
        if pairs is None or pairs.kind not in chosen
        else tuple(pair_items(pairs, e) for e in chosen[pairs.kind]),
    )


def _queue(
    profile: Profile, task: Task, leader: str, period: str, today: dt.date, ones: list[int]
) -> None:
    """Shard, seal, ledger and queue one task's contribution."""
    measurement = [False] * task.length
    for entry in ones:
        measurement[entry] = True
    data = make_report(task, period, measurement).encode()
    kind = contribution_kind(task)
    digest = hashlib.sha256(data).hexdigest()
    profile.ledger.append(LedgerEntry(today, period, kind, task.epsilon, digest, delta=task.delta))
    token = secrets.token_bytes(16)
    profile.outbox.append(PendingReport(period, kind, data, token, destination=leader))


def _queued(profile: Profile, period: str, kind: str) -> bytes:
    """The bytes of the week's contribution of ``kind`` still in the outbox (or none)."""
    queued = [r for r in profile.outbox if r.period == period and r.kind == kind]
    return queued[0].data if queued else b""


def _preview(
    profile: Profile,
    section: SecureAggregation,
    period: str,
    items: tuple[str, ...] | None,
    pairs: tuple[tuple[str, str], ...] | None,
) -> ContributionPreview:
    task, cooccurrence = section.task, section.cooccurrence
    return ContributionPreview(
        period,
        _queued(profile, period, SECAGG_KIND),
        task.epsilon,
        task.delta,
        spent(profile, period),
        section.epsilon_per_period,
        section.leader_url(task),
        items,
        None
        if cooccurrence is None
        else PairsPreview(
            _queued(profile, period, SECAGG_PAIRS_KIND),
            cooccurrence.epsilon,
            cooccurrence.delta,
            section.leader_url(cooccurrence),
            pairs,
        ),
    )
