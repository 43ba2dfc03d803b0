"""The profile model: events, retention, user controls, consent and the privacy ledger."""

from discreet.profile.export import ProfileExport
from discreet.profile.model import (
    Consent,
    Event,
    EventKind,
    LedgerEntry,
    Profile,
    RetentionPolicy,
)
from discreet.profile.schema import PROFILE_FIELDS, FieldSpec, data_card

__all__ = [
    "PROFILE_FIELDS",
    "Consent",
    "Event",
    "EventKind",
    "FieldSpec",
    "LedgerEntry",
    "Profile",
    "ProfileExport",
    "RetentionPolicy",
    "data_card",
]
