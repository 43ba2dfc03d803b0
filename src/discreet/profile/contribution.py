"""The device's weekly contribution in the secure-aggregation mode.

Once per ISO week, with consent to the catalog's exact ``secure_aggregation``
section (task, aggregators' endpoints and HPKE configs, budget, padding):

1. the distinct items engaged with this week, minus those in a sensitive or
   muted category (the candidates of the LDP item report), that the task
   counts;
2. padded with "none" up to the section's ``pad_length``, then K = the
   task's ``max_weight`` slots drawn uniformly without replacement: each item
   drawn is a one in a multihot vector over the task's entries (the LDP item
   report's padding trick, with K draws instead of one);
3. sharded with Prio3 (a proof that it has at most K ones), each input share
   sealed with HPKE to its aggregator (:func:`discreet.secagg.upload.make_report`);
4. entered in the ledger (kind ``secagg``, the task's ε and δ, the digest of
   the exact bytes) and queued in the outbox before anything can send it.

One weekly budget covers both modes: the ledger sums every entry of the week,
LDP reports and contributions alike, so a week that spent its ε in one mode
cannot spend it again in the other.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets
from dataclasses import dataclass
from typing import Any

import numpy as np

from discreet.catalog.reader import Catalog
from discreet.errors import BudgetExhaustedError, ConsentRequiredError
from discreet.i18n import _
from discreet.profile.model import SECAGG_KIND, LedgerEntry, PendingReport, Profile
from discreet.profile.reports import reportable_rows, spent
from discreet.protocol.randomness import production_rng
from discreet.protocol.report import period_of
from discreet.secagg.mode import SecureAggregation
from discreet.secagg.upload import make_report


def task_entries(catalog: Catalog, section: SecureAggregation, rows: list[int]) -> list[int]:
    """The task's entries (sorted) that count these catalog rows; rows it does not count
    are left out."""
    labels = section.task.labels
    if not labels:
        return sorted(rows)
    index = {label: i for i, label in enumerate(labels)}
    ids = catalog.ids
    return sorted(index[ids[row]] for row in rows if ids[row] in index)


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
    total = slots * (slots - 1) // 2
    if total == 0 or n < 2:
        return []
    drawn = rng.choice(total, size=min(max_weight, total), replace=False)
    # Slot pairs are numbered b(b-1)/2 + a (a < b), so those among the first n slots,
    # the ones holding items, are exactly the numbers below n(n-1)/2.
    held = n * (n - 1) // 2
    chosen = []
    for t in (int(x) for x in drawn if x < held):
        b = (1 + math.isqrt(1 + 8 * t)) // 2
        a = t - b * (b - 1) // 2
        chosen.append(pair_index(candidates[a], candidates[b], m))
    return sorted(chosen)


def describe_contribution(section: SecureAggregation) -> list[str]:
    """The secure-aggregation terms in words, as shown before a user consents."""
    task = section.task
    return [
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
        _("No identifier, no time finer than the week, nothing from sensitive categories."),
    ]


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

    def to_json(self) -> dict[str, Any]:
        """The preview as JSON: the bytes in hex, their size, what they hold."""
        return {
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


def prepare_contribution(
    profile: Profile,
    catalog: Catalog,
    section: SecureAggregation,
    today: dt.date,
    rng: np.random.Generator | None = None,
) -> ContributionPreview:
    """Make this week's contribution (once), charge the budget, queue the exact bytes.

    Raises :class:`ConsentRequiredError` without consent to exactly this
    section, and :class:`BudgetExhaustedError` when the week's budget (in
    either mode) has no room for the task's ε.
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
    task = section.task
    made = next((e for e in profile.ledger if e.period == period and e.kind == SECAGG_KIND), None)
    if made is not None:
        queued = [r for r in profile.outbox if r.period == period and r.kind == SECAGG_KIND]
        data = queued[0].data if queued else b""
        return _preview(profile, section, period, data, None)
    if spent(profile, period) + task.epsilon > section.epsilon_per_period + 1e-12:
        left = section.epsilon_per_period - spent(profile, period)
        raise BudgetExhaustedError(
            _(
                "this week's privacy budget is spent ({left:g} of "
                "{epsilon_per_period:g} left); contributions resume next week"
            ).format(left=left, epsilon_per_period=section.epsilon_per_period)
        )
    rng = rng or production_rng()
    entries = task_entries(catalog, section, reportable_rows(profile, catalog, period))
    chosen = sample_entries(entries, task.max_weight, section.pad_length, rng)
    measurement = [False] * task.length
    for entry in chosen:
        measurement[entry] = True
    data = make_report(task, period, measurement).encode()
    profile.ledger.append(
        LedgerEntry(
            today,
            period,
            SECAGG_KIND,
            task.epsilon,
            hashlib.sha256(data).hexdigest(),
            delta=task.delta,
        )
    )
    profile.outbox.append(PendingReport(period, SECAGG_KIND, data, secrets.token_bytes(16)))
    labels = task.labels or catalog.ids
    return _preview(profile, section, period, data, tuple(labels[e] for e in chosen))


def _preview(
    profile: Profile,
    section: SecureAggregation,
    period: str,
    data: bytes,
    items: tuple[str, ...] | None,
) -> ContributionPreview:
    return ContributionPreview(
        period,
        data,
        section.task.epsilon,
        section.task.delta,
        spent(profile, period),
        section.epsilon_per_period,
        section.leader,
        items,
    )
