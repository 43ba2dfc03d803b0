"""A byte changed in each file of a profile folder, and what the device then does.

For each file a change must be caught, with the error that names it (or put
right, for the settings and their copy), and the last good state must survive:

    profile.dsc         refused (CorruptStoreError, set aside byte for byte);
                        the backup restores the previous save
    profile.dsc.bak     unseen until used: the current profile opens; once
                        restored, refused and never offered again
    profile.dsc.budget  fails authentication, read as absent: the profile's
                        own ledger and consent stand; the next save rewrites it
    config.json(.bak)   caught (its checksum) and put back from the other copy
    the key file        refused (WrongKeyError or KeySourceError)

``tests/test_profile_flips.py`` samples it; ``scripts/hostile/device_store_flips.py``
changes every byte.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from discreet.errors import CorruptStoreError, DiscreetError, KeySourceError, WrongKeyError
from discreet.profile.model import LedgerEntry, Profile
from discreet.profile.session import BUDGET_RECORD, ProfileHome
from discreet.store.encrypted import EncryptedStore
from discreet.store.keys import KeyFileKey
from tests.crash_support import DAY, new_profile_home

PROFILE_FILES = (
    "profile.dsc",
    "profile.dsc.bak",
    "profile.dsc.budget",
    "config.json",
    "config.json.bak",
    "profile.key",
)


@dataclass(frozen=True)
class ProfileLab:
    """A profile home with history, a consent and a ledger, saved twice; and its pristine copy."""

    home: Path
    key: KeyFileKey
    pristine: Path
    current: Profile
    previous: Profile

    def path(self, name: str) -> Path:
        """Where the file ``name`` of :data:`PROFILE_FILES` is."""
        return self.key.path if name == "profile.key" else ProfileHome(self.home).folder / name

    def reset(self) -> None:
        """Put every file back as it was saved."""
        folder = ProfileHome(self.home).folder
        shutil.rmtree(folder)
        shutil.copytree(self.pristine / "profile", folder)
        shutil.copy2(self.pristine / "profile.key", self.key.path)


def profile_lab(folder: Path, events: int = 60) -> ProfileLab:
    home, key = new_profile_home(folder)
    with ProfileHome(home).open(key) as session:
        profile = session.profile
        for i in range(1, events + 1):
            day = DAY - dt.timedelta(days=i % 40)
            profile.record(f"item-{i}", "like" if i % 3 else "view", day)
        profile.grant({"epsilon": 1.0, "kinds": ["category"]}, DAY)
        for week, epsilon in (("2026-W46", 0.5), ("2026-W47", 0.5), ("2026-W48", 1.0)):
            profile.ledger.append(LedgerEntry(DAY, week, "category", epsilon, week * 4, "sent"))
        session.save()
        previous = Profile.from_bytes(profile.to_bytes())
        profile.record("item-last", "purchase", DAY)
        session.save()
        current = Profile.from_bytes(profile.to_bytes())
    pristine = folder / "pristine"
    shutil.copytree(ProfileHome(home).folder, pristine / "profile")
    shutil.copy2(key.path, pristine / "profile.key")
    return ProfileLab(home, key, pristine, current, previous)


def _same(opened: Profile, saved: Profile) -> bool:
    return opened.to_json() == saved.to_json()


def _failure(profiles: ProfileHome, key: KeyFileKey) -> DiscreetError | None:
    """What opening the profile raised, if anything."""
    try:
        profiles.open(key).close()
    except DiscreetError as exc:
        return exc
    return None


def _check_store(lab: ProfileLab, changed: bytes) -> str:
    profiles = ProfileHome(lab.home)
    refused = _failure(profiles, lab.key)
    assert isinstance(refused, CorruptStoreError), f"a changed profile.dsc gave {refused!r}"
    assert "\n" not in str(refused)
    assert "discreet profile restore" in str(refused)
    assert refused.set_aside is not None
    assert Path(refused.set_aside).read_bytes() == changed, "not set aside byte for byte"
    EncryptedStore.restore_backup(profiles.store_path)
    with profiles.open(lab.key) as session:
        assert session.profile.events == lab.previous.events, "the previous save is lost"
        assert session.profile.ledger == lab.current.ledger  # the budget record wins
    return "refused (CorruptStoreError); the backup restored the previous save"


def _check_backup(lab: ProfileLab, changed: bytes) -> str:
    profiles = ProfileHome(lab.home)
    with profiles.open(lab.key) as session:
        assert _same(session.profile, lab.current), "the current profile changed"
    # Only when it is needed can the backup be found out: the current file lost, then restored.
    os.replace(profiles.store_path, profiles.store_path.with_name("profile.dsc.damaged-lost"))
    EncryptedStore.restore_backup(profiles.store_path)
    refused = _failure(profiles, lab.key)
    assert isinstance(refused, CorruptStoreError), f"a restored changed backup gave {refused!r}"
    assert refused.backup is None
    assert "profile restore" not in str(refused)
    return "unseen until restored; then refused (CorruptStoreError), not offered again"


def _check_budget(lab: ProfileLab, changed: bytes) -> str:
    with ProfileHome(lab.home).open(lab.key) as session:
        assert _same(session.profile, lab.current), "the profile's own ledger did not stand"
        assert isinstance(session.store, EncryptedStore)
        assert session.store.load_record(BUDGET_RECORD) is None, "a changed record was read"
        session.save()
        assert session.store.load_record(BUDGET_RECORD) is not None
    return "fails authentication, read as absent; the next save rewrites it"


def _check_settings(lab: ProfileLab, changed: bytes, name: str) -> str:
    profiles = ProfileHome(lab.home)
    original = (lab.pristine / "profile" / name).read_bytes()
    assert profiles.config().configured_key() is not None
    assert lab.path(name).read_bytes() == original, "the settings were not put back"
    with profiles.open(lab.key) as session:
        assert _same(session.profile, lab.current)
    return "caught; put back as it was, from the other copy"


def _check_key(lab: ProfileLab, changed: bytes) -> str:
    profiles = ProfileHome(lab.home)
    store = profiles.store_path.read_bytes()
    refused = _failure(profiles, lab.key)
    assert profiles.store_path.read_bytes() == store, "a wrong key touched the profile"
    if refused is None:
        original = (lab.pristine / "profile.key").read_bytes()
        assert changed.strip() == original.strip(), "a changed key file opened the profile"
        return "only its trailing blank changed: the same key"
    assert isinstance(refused, WrongKeyError | KeySourceError), refused
    assert "\n" not in str(refused)
    return f"refused ({type(refused).__name__})"


CHECKS: dict[str, Callable[[ProfileLab, bytes], str]] = {
    "profile.dsc": _check_store,
    "profile.dsc.bak": _check_backup,
    "profile.dsc.budget": _check_budget,
    "config.json": lambda lab, changed: _check_settings(lab, changed, "config.json"),
    "config.json.bak": lambda lab, changed: _check_settings(lab, changed, "config.json.bak"),
    "profile.key": _check_key,
}


def flip_profile_byte(lab: ProfileLab, name: str, position: int, mask: int) -> str:
    """XOR one byte of ``name`` with ``mask``, check what follows, put everything back.

    Returns what happened, in words; raises ``AssertionError`` if it did not hold.
    """
    path = lab.path(name)
    changed = bytearray(path.read_bytes())
    changed[position] ^= mask
    path.write_bytes(bytes(changed))
    try:
        return CHECKS[name](lab, bytes(changed))
    finally:
        lab.reset()
