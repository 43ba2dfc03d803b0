"""The profile model: retention, cap, controls, consent, schema and migrations."""

from __future__ import annotations

import datetime as dt
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from discreet.catalog.taxonomy import Taxonomy
from discreet.errors import CorruptStoreError, UnsupportedFormatError
from discreet.profile.migrations import migrate
from discreet.profile.model import EventKind, LedgerEntry, PendingReport, Profile, RetentionPolicy
from discreet.profile.schema import data_card, stored_field_names
from tests.conftest import TAXONOMY

DAY = dt.date(2026, 11, 29)
TAX = Taxonomy.from_json(TAXONOMY)


def test_events_keep_only_item_kind_and_day() -> None:
    profile = Profile.new(DAY)
    event = profile.record("b1", "like", DAY)
    assert (event.item, event.kind, event.day) == ("b1", EventKind.LIKE, DAY)
    assert profile.to_json()["events"] == [["b1", "like", "2026-11-29"]]
    with pytest.raises(ValueError):
        profile.record("b1", "stare", DAY)
    with pytest.raises(ValueError):
        profile.record("", "like", DAY)


def test_retention_and_cap() -> None:
    profile = Profile.new(DAY, RetentionPolicy(days=30, max_events=3))
    for offset in (40, 20, 10, 5, 1):
        profile.record(f"i{offset}", "view", DAY - dt.timedelta(days=offset))
    assert [e.item for e in profile.events] == ["i10", "i5", "i1"]
    profile.enforce_retention(DAY + dt.timedelta(days=25))
    assert [e.item for e in profile.events] == ["i1"]
    with pytest.raises(ValueError):
        RetentionPolicy(days=0)


def test_sensitive_items_need_an_opt_in_for_their_category() -> None:
    profile = Profile.new(DAY)
    assert profile.admits(["fiction"], TAX)
    assert not profile.admits(["health"], TAX)
    assert not profile.admits(["sleep"], TAX)  # sensitive through its parent
    assert not profile.admits(["fiction", "sleep"], TAX)
    profile.sensitive_opt_in.add("sleep")
    assert profile.admits(["sleep"], TAX)
    assert not profile.admits(["health"], TAX)
    profile.sensitive_opt_in = {"health"}
    assert profile.admits(["sleep"], TAX)  # opting in to the parent covers its children


def test_consent_covers_exactly_the_parameters_shown() -> None:
    profile = Profile.new(DAY)
    consent = profile.grant({"epsilon": 1.0, "kinds": ["category"]}, DAY)
    assert consent.covers({"kinds": ["category"], "epsilon": 1.0})
    assert not consent.covers({"epsilon": 2.0, "kinds": ["category"]})
    assert not consent.covers({"epsilon": 1.0, "kinds": ["category", "item"]})
    profile.revoke()
    assert profile.consent is None


def _everything_filled_in() -> Profile:
    """A profile with something in every field, so that every member is stored."""
    profile = Profile.new(DAY)
    profile.record("b1", "like", DAY)
    profile.muted.add("cooking")
    profile.paused = True
    profile.sensitive_opt_in.add("health")
    profile.grant({"epsilon": 1.0}, DAY)
    profile.ledger.append(LedgerEntry(DAY, "2026-W48", "category", 1.0, "ab" * 32))
    profile.outbox.append(PendingReport("2026-W48", "category", bytes(16), bytes(16)))
    profile.outbox.append(
        PendingReport("2026-W48", "secagg", bytes(16), bytes(16), "https://leader.example")
    )
    profile.raise_floor("2026-W40")
    return profile


def test_every_stored_field_and_member_is_on_the_data_card() -> None:
    document = _everything_filled_in().to_json()
    values = [*document.values(), *document["settings"].values(), *document["controls"].values()]
    assert all(v not in (None, [], {}) for v in values), "an empty field hides its members"
    card = data_card(RetentionPolicy(), {})
    on_card = {f["field"] for f in card["fields"]}
    on_card |= {f"{f['field']}.{member}" for f in card["fields"] for member in f["members"]}
    stored = stored_field_names(document)
    assert "ledger.day" in stored
    assert "events.day" in stored
    assert stored == on_card


def test_a_member_the_card_does_not_declare_is_noticed() -> None:
    document = _everything_filled_in().to_json()
    document["ledger"][0]["hour"] = 13
    document["events"][0].append("12:00")
    stored = stored_field_names(document)
    assert {"ledger.hour", "events.#3"} <= stored


def test_malformed_and_newer_profiles() -> None:
    with pytest.raises(CorruptStoreError, match="not valid JSON"):
        Profile.from_bytes(b"{nope")
    with pytest.raises(CorruptStoreError, match="malformed"):
        Profile.from_json({"format_version": 1, "created": "2026-01-01"})
    with pytest.raises(UnsupportedFormatError, match="update the app"):
        Profile.from_json({"format_version": 7})


def test_migrations_run_in_order_up_to_the_current_version() -> None:
    def v1_to_v2(doc: dict[str, object]) -> dict[str, object]:
        upgraded = {k: v for k, v in doc.items() if k != "old"}
        upgraded["renamed"] = doc["old"]
        return upgraded

    def v2_to_v3(doc: dict[str, object]) -> dict[str, object]:
        return {**doc, "added": True}

    migrated = migrate(
        {"format_version": 1, "old": 5}, current=3, migrations={1: v1_to_v2, 2: v2_to_v3}
    )
    assert migrated == {"format_version": 3, "renamed": 5, "added": True}
    with pytest.raises(ValueError, match="no migration from profile format 1"):
        migrate({"format_version": 1}, current=2, migrations={})
    with pytest.raises(ValueError):
        migrate({"format_version": "1"})


ids = st.text(alphabet=string.ascii_letters + string.digits + "-_é", min_size=1, max_size=20)
days = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 1, 1))
events = st.lists(st.tuples(ids, st.sampled_from(list(EventKind)), days), max_size=60)
policies = st.builds(
    RetentionPolicy,
    days=st.integers(1, 400),
    max_events=st.integers(1, 50),
    ledger_days=st.integers(7, 400),
)


@settings(max_examples=150, deadline=None)
@given(events=events, policy=policies, muted=st.sets(ids, max_size=4), paused=st.booleans())
def test_any_profile_round_trips(
    events: list[tuple[str, EventKind, dt.date]],
    policy: RetentionPolicy,
    muted: set[str],
    paused: bool,
) -> None:
    profile = Profile.new(dt.date(2020, 1, 1), policy)
    for item, kind, day in events:
        profile.record(item, kind, day)
    profile.muted, profile.paused = muted, paused
    profile.grant({"epsilon": 2.0}, dt.date(2021, 1, 1))
    assert Profile.from_bytes(profile.to_bytes()) == profile


@settings(max_examples=150, deadline=None)
@given(events=events, policy=policies, today=days)
def test_retention_and_cap_always_hold(
    events: list[tuple[str, EventKind, dt.date]], policy: RetentionPolicy, today: dt.date
) -> None:
    profile = Profile.new(dt.date(2020, 1, 1), policy)
    for item, kind, day in events:
        profile.record(item, kind, day)
        assert len(profile.events) <= policy.max_events
        newest = max(e.day for e in profile.events)
        assert all(e.day > newest - dt.timedelta(days=policy.days) for e in profile.events)
    profile.enforce_retention(today)
    assert len(profile.events) <= policy.max_events
    assert all(e.day > today - dt.timedelta(days=policy.days) for e in profile.events)
    assert [e.day for e in profile.events] == sorted(e.day for e in profile.events)
