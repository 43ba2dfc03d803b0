"""The declared schema of the profile: every stored field, what it holds, why, for how long.

The data card (``discreet privacy``) and the export document are generated
from this declaration, and a test checks that the profile stores exactly the
fields declared here, down to each member of its records: nothing is kept that
the card does not explain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from discreet.i18n import N_, _
from discreet.profile.model import RetentionPolicy


@dataclass(frozen=True)
class FieldSpec:
    """One stored field of the profile.

    ``members`` names what each record of the field holds (for a field that is a
    record, or a list of records), in stored order.
    """

    name: str
    holds: str
    purpose: str
    retention: str
    members: tuple[str, ...] = ()

    def render(self, policy: RetentionPolicy) -> dict[str, Any]:
        """The field with the policy's numbers filled in, in the language in use."""
        values = {
            "days": policy.days,
            "max_events": f"{policy.max_events:,}",
            "ledger_days": policy.ledger_days,
        }
        return {
            "field": self.name,
            "holds": _(self.holds).format(**values),
            "members": list(self.members),
            "purpose": _(self.purpose).format(**values),
            "retention": _(self.retention).format(**values),
        }


UNTIL_ERASED = N_("until you erase the profile")

PROFILE_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "format_version",
        N_("the layout version of this record"),
        N_("to read your profile correctly after an app update"),
        UNTIL_ERASED,
    ),
    FieldSpec(
        "created",
        N_("the day the profile was created (no time of day)"),
        N_("to show you how old your profile is"),
        UNTIL_ERASED,
    ),
    FieldSpec(
        "settings.retention",
        N_(
            "how long history is kept ({days} days), its cap ({max_events} events) "
            "and how long the ledger is kept ({ledger_days} days)"
        ),
        N_("to apply the limits below"),
        UNTIL_ERASED,
        ("days", "max_events", "ledger_days"),
    ),
    FieldSpec(
        "events",
        N_(
            "for each interaction: the item id, its kind (view, click, like, dislike, "
            "purchase, dismiss) and the day. No time of day, place, device or account. "
            "Items in sensitive categories are not recorded unless you opted in to that category"
        ),
        N_(
            "to recommend items like the ones you engaged with, to push away what you "
            "disliked, and to leave out what you have already seen or dismissed"
        ),
        N_("{days} days, and at most {max_events} events (the oldest go first)"),
        ("item", "kind", "day"),
    ),
    FieldSpec(
        "controls.muted",
        N_("the categories you muted"),
        N_("to keep them out of your interests and your recommendations"),
        N_("until you unmute them"),
    ),
    FieldSpec(
        "controls.paused",
        N_("whether personalisation is paused"),
        N_("while paused, nothing new is recorded and recommendations are not personalised"),
        N_("until you resume"),
    ),
    FieldSpec(
        "controls.sensitive_opt_in",
        N_("the sensitive categories (such as health or religion) you allowed into your profile"),
        N_("without your opt-in, activity in sensitive categories is not kept at all"),
        N_("until you withdraw the opt-in"),
    ),
    FieldSpec(
        "consent",
        N_("whether you agreed to private reports, on which day, and the exact parameters shown"),
        N_("so that nothing is ever reported without your agreement to those exact parameters"),
        N_("until you revoke it"),
        ("granted_on", "parameters", "digest"),
    ),
    FieldSpec(
        "ledger",
        N_(
            "each private report: the day it was made (no time of day), its period, kind, "
            "privacy cost (epsilon and delta), a digest of the exact bytes sent, whether it was "
            "sent, and the service's reason if it refused it"
        ),
        N_("so that you can audit every byte that left this device and the privacy budget spent"),
        N_("{ledger_days} days"),
        ("day", "period", "kind", "epsilon", "digest", "status", "reason", "delta"),
    ),
    FieldSpec(
        "outbox",
        N_(
            "private reports made but not yet sent: the exact bytes (already randomised), "
            "their kind and period, and a random token per report that lets the server "
            "ignore a retried duplicate; each is sent alone, after a random delay of its own; a "
            "secure-aggregation contribution also keeps the address it is to be sent to"
        ),
        N_("so that what is sent is exactly what you could inspect with 'discreet report preview'"),
        N_("until sent"),
        ("period", "kind", "data", "token", "destination"),
    ),
    FieldSpec(
        "ledger_floor",
        N_(
            "the latest week whose ledger entries were removed (by the ledger's retention, "
            "or after the clock moved far ahead), if any"
        ),
        N_("so that no report is made for a week whose privacy budget is no longer known"),
        UNTIL_ERASED,
    ),
)

WHAT_LEAVES = N_(
    "Nothing, unless you opt in to private reports. With consent, at most one report per kind "
    "and period leaves the device: a category or item, randomised with local differential "
    "privacy so that no single report reveals what you did, with no identifier, no time finer "
    "than the period, and never anything from a sensitive category."
)


def stored_field_names(document: Mapping[str, Any]) -> set[str]:
    """Every field a profile document stores, in the schema's dotted notation.

    A field that is a record, or a list of records, also gives ``field.member``
    for each member of each record. Records stored as arrays (events) are named
    by position after the declared ``members``; a position beyond them shows up
    as ``field.#N``.
    """
    fields: dict[str, Any] = {}
    for key, value in document.items():
        if key in ("settings", "controls") and isinstance(value, dict):
            fields.update({f"{key}.{inner}": inner_value for inner, inner_value in value.items()})
        else:
            fields[key] = value
    declared = {spec.name: spec.members for spec in PROFILE_FIELDS}
    names = set(fields)
    for name, value in fields.items():
        records = value if isinstance(value, list) else [value]
        for record in records:
            if isinstance(record, dict):
                names.update(f"{name}.{member}" for member in record)
            elif isinstance(record, list):
                members = declared.get(name, ())
                names.update(
                    f"{name}.{members[i] if i < len(members) else f'#{i}'}"
                    for i in range(len(record))
                )
    return names


def data_card(policy: RetentionPolicy, storage: dict[str, str]) -> dict[str, Any]:
    """The data card: what is kept, why, for how long, where and how it is protected."""
    return {
        "summary": _(
            "Your profile stays on this device. It is used only to rank "
            "the catalog for you, and you can view, export or erase it "
            "at any time."
        ),
        "fields": [spec.render(policy) for spec in PROFILE_FIELDS],
        "storage": storage,
        "leaves_the_device": _(WHAT_LEAVES),
        "your_controls": [
            _("discreet profile export: everything kept, as documented JSON"),
            _("discreet profile erase: destroy the keys and the files"),
            _("discreet interests mute|unmute CATEGORY: shape what is used"),
            _("discreet ledger: every report that left the device"),
        ],
    }
