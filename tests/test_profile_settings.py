"""The profile's settings (``config.json``): a checksum, and a copy to put them back from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from discreet.errors import CorruptSettingsError
from discreet.profile.session import ProfileHome
from discreet.store.keys import KeyFileKey
from tests.crash_support import new_profile_home


@pytest.fixture
def home(tmp_path: Path) -> tuple[ProfileHome, KeyFileKey]:
    folder, key = new_profile_home(tmp_path)
    return ProfileHome(folder), key


@pytest.mark.parametrize("damaged", ["config.json", "config.json.bak"])
def test_a_byte_changed_anywhere_in_the_settings_is_put_back_from_the_other_copy(
    home: tuple[ProfileHome, KeyFileKey], damaged: str
) -> None:
    """Regression: a changed byte gave "no profile here yet" (then 'init', then 'erase'),
    opened with other settings, or asked a key-file profile for a passphrase."""
    profiles, key = home
    expected = profiles.config()
    path = profiles.folder / damaged
    original = path.read_bytes()
    assert profiles.config_copy_path.read_bytes() == profiles.config_path.read_bytes()
    rng = np.random.default_rng(7)
    for position in range(len(original)):
        changed = bytearray(original)
        changed[position] ^= int(rng.integers(1, 256))
        path.write_bytes(bytes(changed))
        assert profiles.config() == expected, position
        assert path.read_bytes() == original, position  # put back
    with profiles.open(key) as session:
        assert session.profile.events == []


def test_settings_damaged_with_their_copy_name_the_problem(
    home: tuple[ProfileHome, KeyFileKey],
) -> None:
    profiles, _ = home
    store = profiles.store_path.read_bytes()
    for path in (profiles.config_path, profiles.config_copy_path):
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x20
        path.write_bytes(bytes(data))
    with pytest.raises(CorruptSettingsError, match="the profile itself is untouched"):
        profiles.config()
    assert profiles.store_path.read_bytes() == store


def test_settings_written_before_they_had_a_checksum_still_read_and_gain_one(
    home: tuple[ProfileHome, KeyFileKey],
) -> None:
    profiles, _ = home
    expected = profiles.config()
    written = profiles.config_path.read_bytes()
    profiles.config_path.write_text(json.dumps(expected.to_json()), encoding="utf-8")
    profiles.config_copy_path.unlink()
    assert profiles.config() == expected
    assert profiles.config_path.read_bytes() == written
    assert profiles.config_copy_path.read_bytes() == written


def test_erasing_removes_the_settings_and_their_copy(
    home: tuple[ProfileHome, KeyFileKey],
) -> None:
    profiles, _ = home
    removed = profiles.erase()
    assert str(profiles.config_path) in removed
    assert str(profiles.config_copy_path) in removed
    assert not [p for p in profiles.folder.iterdir() if not p.name.endswith(".lock")]
