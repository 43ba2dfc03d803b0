"""The weekly ε budget holds through every product path: retention, dates, clocks, rollbacks."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discreet.engine import Engine
from discreet.errors import BudgetExhaustedError, ConsentRequiredError, CorruptStoreError
from discreet.profile.model import LedgerEntry, Profile, RetentionPolicy
from discreet.profile.session import ProfileConfig, ProfileHome
from discreet.publish.repository import PublisherRepository
from discreet.store.encrypted import EncryptedStore
from discreet.store.keys import KeyFileKey
from discreet.sync.client import sync_catalog

MONDAY = dt.date(2031, 3, 3)  # far from the system date, so only the injected clock counts
ITEMS = ("b1", "b2", "b4")


@dataclass
class Clock:
    day: dt.date = MONDAY

    def __call__(self) -> dt.date:
        return self.day


@dataclass
class Device:
    """A home with the small catalog, a key-file profile, and the ε it really spent."""

    home: Path
    key: KeyFileKey
    clock: Clock = field(default_factory=Clock)
    seen_tokens: set[bytes] = field(default_factory=set)
    spent: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    engine: Engine | None = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(7))

    @property
    def store(self) -> Path:
        return ProfileHome(self.home).store_path

    def create(self, retention: RetentionPolicy | None = None) -> None:
        shutil.rmtree(self.home / "profile", ignore_errors=True)
        retention = retention or RetentionPolicy()
        config = ProfileConfig("standard", "keyfile", str(self.key.path), retention)
        session = ProfileHome(self.home).create(self.key, config, self.clock())
        assert session is not None
        session.close()
        self.open()

    def open(self) -> Engine:
        self.engine = Engine.open(self.home, key=self.key, today=self.clock)
        return self.engine

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None

    @property
    def live(self) -> Engine:
        assert self.engine is not None
        return self.engine

    def preview(self) -> None:
        """Make this week's reports, counting the ε of every report that was really made."""
        engine = self.live
        with contextlib.suppress(BudgetExhaustedError, ConsentRequiredError):
            engine.preview_reports(self.rng)
        self.count_new_reports()

    def count_new_reports(self) -> None:
        params = self.live.reporting_parameters()
        for report in self.live._live().profile.outbox:
            if report.token not in self.seen_tokens:  # a fresh token is a fresh report
                self.seen_tokens.add(report.token)
                self.spent[report.period] += params.kinds[report.kind].oracle.epsilon

    def cap(self) -> float:
        return self.live.reporting_parameters().epsilon_per_period

    def assert_within_budget(self) -> None:
        cap = self.cap()
        assert all(total <= cap + 1e-9 for total in self.spent.values()), dict(self.spent)


@pytest.fixture
def device_factory(
    repo: PublisherRepository, publish: Callable[..., object], tmp_path: Path
) -> Iterator[Callable[[], Device]]:
    publish()
    catalog_home = tmp_path / "catalog-home"
    sync_catalog(catalog_home, str(repo.path), root=repo.trusted_root_path)
    key = KeyFileKey.create(tmp_path / "device.key")
    made: list[Device] = []

    def make() -> Device:
        home = tmp_path / f"device-{len(made)}"
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(catalog_home, home)
        device = Device(home, key)
        made.append(device)
        return device

    yield make
    for device in made:
        device.close()


@pytest.fixture
def device(device_factory: Callable[[], Device]) -> Device:
    made = device_factory()
    made.create(RetentionPolicy(days=3650))
    made.live.record("b1", "like")
    made.live.consent()
    return made


# ---- retention ---------------------------------------------------------------------


@pytest.mark.parametrize("days", [0, 1, 6])
def test_a_ledger_kept_for_less_than_a_week_is_refused(days: int) -> None:
    with pytest.raises(ValueError, match="ledger"):
        RetentionPolicy(ledger_days=days)


def test_a_short_ledger_stored_by_an_older_app_is_read_as_a_week() -> None:
    stored = {"days": 180, "max_events": 5000, "ledger_days": 1}
    assert RetentionPolicy.from_json(stored).ledger_days == 7


def test_a_short_stored_ledger_never_lets_a_week_overspend(
    device_factory: Callable[[], Device],
) -> None:
    """Regression: ledger_days=1 pruned the week's ledger daily: 14 ε against a cap of 2."""
    made = device_factory()
    made.create(RetentionPolicy.from_json({"days": 3650, "max_events": 5000, "ledger_days": 1}))
    made.live.consent()
    for offset in range(7):
        made.clock.day = MONDAY + dt.timedelta(days=offset)
        made.live.record(ITEMS[offset % 3], "like")
        made.preview()
    assert made.spent[made.live.preview_reports(made.rng).period] == pytest.approx(made.cap())
    made.assert_within_budget()


def test_this_and_last_weeks_ledger_are_never_pruned() -> None:
    profile = Profile.new(MONDAY, RetentionPolicy(ledger_days=7))
    profile.ledger.append(LedgerEntry(MONDAY, "2031-W10", "item", 1.0, "d"))
    sunday_next_week = MONDAY + dt.timedelta(days=13)
    profile.enforce_retention(sunday_next_week)
    assert [e.period for e in profile.ledger] == ["2031-W10"]
    assert profile.ledger_floor is None
    profile.enforce_retention(sunday_next_week + dt.timedelta(days=1))  # two weeks on
    assert profile.ledger == []
    assert profile.ledger_floor == "2031-W10"


# ---- dates and clocks ----------------------------------------------------------------


def test_a_future_dated_event_is_dated_today_and_keeps_the_ledger(device: Device) -> None:
    """Regression: one event dated 500 days ahead wiped the ledger (retention 3650): 4 ε."""
    device.preview()
    event = device.live.record("b2", "like", day=MONDAY + dt.timedelta(days=500))
    assert event is not None
    assert event.day == MONDAY
    assert len(device.live.ledger()) == 2
    device.preview()
    device.assert_within_budget()


def test_a_clock_that_jumps_ahead_and_back_cannot_reopen_a_week(device: Device) -> None:
    """Regression: a clock 401 days ahead pruned the ledger; back home, the week reported again."""
    device.preview()
    device.clock.day = MONDAY + dt.timedelta(days=401)
    device.live.record("b2", "like")
    device.clock.day = MONDAY + dt.timedelta(days=2)
    with pytest.raises(BudgetExhaustedError, match="clock"):
        device.live.preview_reports(device.rng)
    device.count_new_reports()
    device.assert_within_budget()
    device.clock.day = MONDAY + dt.timedelta(days=7)  # next week: reports resume
    device.preview()
    assert device.spent["2031-W11"] > 0


# ---- rollbacks of the profile file -------------------------------------------------


def test_copying_the_backup_over_the_profile_keeps_the_ledger(device: Device) -> None:
    """Regression: profile.dsc.bak copied over profile.dsc forgot this week's reports: 4 ε."""
    device.preview()
    device.close()
    device.store.unlink()
    shutil.copyfile(device.store.with_name("profile.dsc.bak"), device.store)
    device.open()
    assert len(device.live.ledger()) == 2
    device.preview()
    device.assert_within_budget()


def test_a_restore_does_not_undo_a_revocation(device: Device) -> None:
    """Regression: 'profile restore' brought back consent and the revoked reports."""
    device.preview()
    assert device.live.revoke_consent() == 2
    device.close()
    device.store.unlink()  # not through the hard link: the backup stays intact
    device.store.write_bytes(b"damaged")
    with pytest.raises(CorruptStoreError):
        device.open()
    EncryptedStore.restore_backup(device.store)  # what 'discreet profile restore' does
    engine = device.open()
    assert engine.queued_reports() == 0
    assert {e.status for e in engine.ledger()} == {"withdrawn"}
    with pytest.raises(ConsentRequiredError):
        engine.preview_reports(device.rng)
    engine.consent()
    device.preview()
    device.assert_within_budget()


def test_kiosk_forget_keeps_the_weeks_spent_budget(device_factory: Callable[[], Device]) -> None:
    made = device_factory()
    with Engine.open(made.home, kiosk=True, idle_seconds=None, today=made.clock) as kiosk:
        kiosk.record("b1", "like")
        kiosk.consent()
        first = kiosk.preview_reports(made.rng)
        kiosk.erase_session()
        assert kiosk.export().to_json()["profile"]["events"] == []
        assert kiosk.queued_reports() == 0
        kiosk.record("b2", "like")
        kiosk.consent()
        again = kiosk.preview_reports(made.rng)  # this week's reports were made
        assert again.reports == ()
        assert again.epsilon_spent == first.epsilon_spent == 2.0
        assert sum(e.epsilon for e in kiosk.ledger()) == first.epsilon_spent


# ---- any sequence of product calls -----------------------------------------------------

OPERATIONS = st.one_of(
    st.tuples(st.just("record"), st.sampled_from(ITEMS), st.integers(-30, 600)),
    st.tuples(st.just("preview")),
    st.tuples(st.just("preview")),
    st.tuples(st.just("revoke")),
    st.tuples(st.just("consent")),
    st.tuples(st.just("restore_backup")),
    st.tuples(st.just("restore_after_damage")),
    st.tuples(st.just("retention"), st.integers(7, 30), st.integers(1, 3650)),
    st.tuples(st.just("clock"), st.integers(-450, 450)),
)


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(OPERATIONS, min_size=1, max_size=20))
def test_no_sequence_of_product_calls_overspends_a_week(
    device_factory: Callable[[], Device], operations: list[tuple[object, ...]]
) -> None:
    made = device_factory()
    made.create(RetentionPolicy(days=3650))
    made.live.record("b1", "like")
    made.live.consent()  # most sequences should get as far as spending
    for operation in operations:
        name = operation[0]
        engine = made.live
        if name == "record":
            item, offset = operation[1], operation[2]
            assert isinstance(item, str)
            assert isinstance(offset, int)
            engine.record(item, "like", day=made.clock() + dt.timedelta(days=offset))
        elif name == "preview":
            made.preview()
        elif name == "revoke":
            engine.revoke_consent()
        elif name == "consent":
            engine.consent()
        elif name in ("restore_backup", "restore_after_damage"):
            made.close()
            backup = made.store.with_name("profile.dsc.bak")
            if backup.exists():
                made.store.unlink()  # the backup may be a hard link to it
                if name == "restore_backup":
                    shutil.copyfile(backup, made.store)
                else:
                    made.store.write_bytes(b"damaged")
                    with pytest.raises(CorruptStoreError):
                        made.open()
                    EncryptedStore.restore_backup(made.store)
            made.open()
            made.count_new_reports()  # a rollback may bring back old outbox entries
        elif name == "retention":
            ledger_days, days = operation[1], operation[2]
            assert isinstance(ledger_days, int)
            assert isinstance(days, int)
            profile = engine._live().profile
            profile.retention = RetentionPolicy(days=days, ledger_days=ledger_days)
            profile.enforce_retention(made.clock())
            engine._live().save()
        elif name == "clock":
            offset = operation[1]
            assert isinstance(offset, int)
            made.clock.day = made.clock.day + dt.timedelta(days=offset)
        made.assert_within_budget()
    made.close()
