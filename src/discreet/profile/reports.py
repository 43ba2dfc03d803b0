"""The device side of private reports: what may be reported, sampling, consent and budget.

Per period (an ISO week) a device makes at most one report per kind:

* ``category``: one category engaged with during the period, sampled
  uniformly from the distinct categories engaged with (or "none");
* ``item``: one item, sampled the same way from the distinct items engaged
  with, after padding with "none" up to the public ``pad_length``.

Sensitive and muted categories, and every item in one, are never candidates.
Each report is entered in the encrypted ledger (period, kind, ε, digest of
its exact bytes) and queued in the outbox before anything can send it, and
no sequence of calls can spend more than ``epsilon_per_period`` in a period.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from discreet.catalog.reader import Catalog
from discreet.errors import BudgetExhaustedError, ConsentRequiredError
from discreet.i18n import _
from discreet.profile.model import CONTRIBUTION_KINDS, LedgerEntry, PendingReport, Profile
from discreet.protocol.params import KindParams, ReportingParams
from discreet.protocol.randomness import production_rng
from discreet.protocol.report import REPORT_BYTES, Report, period_of


def _in_period(day: dt.date, period: str) -> bool:
    return period_of(day) == period


def reportable_rows(profile: Profile, catalog: Catalog, period: str) -> list[int]:
    """Catalog rows of the distinct items engaged with in ``period``, in first-seen order,
    leaving out every item in a sensitive or muted category."""
    excluded = set(catalog.taxonomy.sensitive_ids) | set(profile.muted)
    rows: list[int] = []
    seen_items: set[str] = set()
    for event in profile.events:
        if not _in_period(event.day, period) or event.item in seen_items:
            continue
        seen_items.add(event.item)
        try:
            row = catalog.index_of(event.item)
        except KeyError:
            continue  # no longer in this catalog
        if any(c in excluded for c in catalog.item_at(row).categories):
            continue
        rows.append(row)
    return rows


def candidate_values(
    profile: Profile, catalog: Catalog, kind: str, params: KindParams, period: str
) -> list[int]:
    """Domain indices (``0`` is "none") the device may report for ``kind`` in ``period``."""
    rows = reportable_rows(profile, catalog, period)
    if kind == "item":
        return sorted(row + 1 for row in rows)
    categories: list[str] = []
    for row in rows:
        categories.extend(c for c in catalog.item_at(row).categories if c not in categories)
    index = {c: i for i, c in enumerate(params.categories, start=1)}
    return sorted(index[c] for c in categories if c in index)


def sample_value(candidates: list[int], pad_length: int, rng: np.random.Generator) -> int:
    """Uniformly one candidate, after padding with "none" (0) up to ``pad_length``."""
    slots = max(pad_length, len(candidates))
    choice = int(rng.integers(0, slots))
    return candidates[choice] if choice < len(candidates) else 0


def spent(profile: Profile, period: str) -> float:
    """ε already spent in ``period``, from the ledger."""
    return sum(e.epsilon for e in profile.ledger if e.period == period)


@dataclass(frozen=True)
class Preview:
    """What is queued to be sent this period, and what the budget did not allow."""

    period: str
    reports: tuple[PendingReport, ...]
    epsilon_spent: float
    epsilon_cap: float
    blocked: tuple[str, ...] = ()
    #: The ε each kind of report costs under the catalog's parameters.
    epsilon_by_kind: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The preview as JSON: every queued report's exact bytes, decoded field by field."""
        reports = []
        for pending in self.reports:
            decoded = Report.from_bytes(pending.data)
            reports.append(
                {
                    "kind": pending.kind,
                    "period": pending.period,
                    "epsilon": self.epsilon_by_kind.get(pending.kind),
                    "bytes_hex": pending.data.hex(),
                    "fields": {
                        "version": decoded.version,
                        "kind": decoded.kind,
                        "mechanism": decoded.mechanism,
                        "catalog_version": decoded.catalog_version,
                        "period": decoded.period,
                        "payload": decoded.payload,
                    },
                }
            )
        return {
            "period": self.period,
            "epsilon_spent": self.epsilon_spent,
            "epsilon_cap": self.epsilon_cap,
            "blocked": list(self.blocked),
            "reports": reports,
        }


def describe_parameters(params: ReportingParams) -> list[str]:
    """The reporting parameters in words, as shown before a user consents."""
    lines = [
        _(
            "At most one report of each kind per {period}, spending at "
            "most ε={epsilon_per_period:g} per {period} in total:"
        ).format(period=params.period, epsilon_per_period=params.epsilon_per_period),
    ]
    for kind, kp in sorted(params.kinds.items()):
        o = kp.oracle
        what = (
            _("one of {n_categories} non-sensitive categories you engaged with").format(
                n_categories=len(kp.categories)
            )
            if kind == "category"
            else _("one item you engaged with (padded to {pad_length} with 'none')").format(
                pad_length=kp.pad_length
            )
        )
        lines.append(
            _(
                "  {kind}: {what}, randomised with {mechanism} at "
                "ε={epsilon:g} ({payload_bits}-bit payload in a "
                "{REPORT_BYTES}-byte report)"
            ).format(
                kind=kind,
                what=what,
                mechanism=o.mechanism,
                epsilon=o.epsilon,
                payload_bits=o.payload_bits,
                REPORT_BYTES=REPORT_BYTES,
            )
        )
    lines.append(
        _("No identifier, no time finer than the week, nothing from sensitive categories.")
    )
    return lines


def prepare_reports(
    profile: Profile,
    catalog: Catalog,
    params: ReportingParams,
    today: dt.date,
    rng: np.random.Generator | None = None,
) -> Preview:
    """Make this period's reports (once per kind), charge the budget, queue the exact bytes.

    Kinds whose ε no longer fits in the period's budget are left out and
    listed in ``blocked``. Raises :class:`ConsentRequiredError` without consent
    to exactly ``params``, and :class:`BudgetExhaustedError` when a kind is
    still due but nothing fits.
    """
    if not params.enabled:
        raise ConsentRequiredError(_("this catalog does not ask for reports; nothing will be sent"))
    if profile.consent is None or not profile.consent.covers(params.to_json()):
        raise ConsentRequiredError(
            _(
                "reporting needs your consent to this catalog's exact "
                "parameters; review them with 'discreet report consent'"
            )
        )
    rng = rng or production_rng()
    period = period_of(today)
    if profile.ledger_floor is not None and period <= profile.ledger_floor:
        raise BudgetExhaustedError(
            _(
                "the ledger of {period} was pruned (the clock went back, or "
                "was ahead), so its privacy budget is unknown; reports "
                "resume after {ledger_floor}"
            ).format(period=period, ledger_floor=profile.ledger_floor)
        )
    done = {e.kind for e in profile.ledger if e.period == period}
    blocked: list[str] = []
    made = 0
    for kind, kind_params in sorted(params.kinds.items()):
        if kind in done:
            continue  # at most one report per kind and period
        epsilon = kind_params.oracle.epsilon
        if spent(profile, period) + epsilon > params.epsilon_per_period + 1e-12:
            blocked.append(kind)
            continue
        candidates = candidate_values(profile, catalog, kind, kind_params, period)
        value = sample_value(candidates, kind_params.pad_length, rng)
        payload = kind_params.oracle.privatise(value, rng)
        report = Report(kind, kind_params.oracle.mechanism, catalog.version, period, payload)
        data = report.to_bytes()
        profile.ledger.append(
            LedgerEntry(today, period, kind, epsilon, hashlib.sha256(data).hexdigest())
        )
        profile.outbox.append(PendingReport(period, kind, data, secrets.token_bytes(16)))
        made += 1
    if blocked and not made:
        left = params.epsilon_per_period - spent(profile, period)
        raise BudgetExhaustedError(
            _(
                "this period's privacy budget is spent ({left:g} of "
                "{epsilon_per_period:g} left); reports resume next period"
            ).format(left=left, epsilon_per_period=params.epsilon_per_period)
        )
    queued = tuple(
        r for r in profile.outbox if r.period == period and r.kind not in CONTRIBUTION_KINDS
    )
    return Preview(
        period,
        queued,
        spent(profile, period),
        params.epsilon_per_period,
        tuple(blocked),
        {kind: kp.oracle.epsilon for kind, kp in params.kinds.items()},
    )
