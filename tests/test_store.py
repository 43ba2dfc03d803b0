"""EncryptedStore and MemoryStore: confidentiality, integrity, keys, locking, full disk."""

from __future__ import annotations

import datetime as dt
import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from discreet.errors import (
    CorruptStoreError,
    DiscreetError,
    InsufficientSpaceError,
    KeySourceError,
    StoreExistsError,
    StoreLockedError,
    StoreNotFoundError,
    UnsupportedFormatError,
    WrongKeyError,
)
from discreet.store import (
    Argon2Params,
    EncryptedStore,
    KeyFileKey,
    MemoryStore,
    PassphraseKey,
    envelope,
)
from tests.conftest import MemoryKeyring

FAST = Argon2Params(memory_kib=19 * 1024, iterations=2)  # the OWASP minimum, for speed
SECRET = b'{"events": [["item-secret-42", "like", "2026-11-01"]]}'


@pytest.fixture
def keyfile(tmp_path: Path) -> KeyFileKey:
    return KeyFileKey.create(tmp_path / "keys" / "profile.key")


@pytest.fixture
def store_path(tmp_path: Path, keyfile: KeyFileKey) -> Path:
    path = tmp_path / "profile" / "profile.dsc"
    EncryptedStore.create(path, keyfile, initial=SECRET).close()
    return path


def test_round_trip_and_no_plaintext_on_disk(store_path: Path, keyfile: KeyFileKey) -> None:
    with EncryptedStore.open(store_path, keyfile) as store:
        assert store.load() == SECRET
        store.save(SECRET + b" ")
    for file in store_path.parent.iterdir():
        if file.is_file():
            assert b"item-secret-42" not in file.read_bytes(), file
    assert stat.S_IMODE(store_path.stat().st_mode) == 0o600
    with EncryptedStore.open(store_path, keyfile) as store:
        assert store.load() == SECRET + b" "


def test_every_save_uses_a_fresh_nonce(store_path: Path, keyfile: KeyFileKey) -> None:
    nonces = set()
    with EncryptedStore.open(store_path, keyfile) as store:
        for _ in range(20):
            store.save(SECRET)
            nonces.add(envelope.parse(store_path.read_bytes()).nonce)
    assert len(nonces) == 20


def test_any_flipped_byte_is_detected_and_set_aside(store_path: Path, keyfile: KeyFileKey) -> None:
    original = store_path.read_bytes()
    for position in range(len(original)):
        tampered = bytearray(original)
        tampered[position] ^= 0x01
        store_path.write_bytes(bytes(tampered))
        with pytest.raises(CorruptStoreError) as info:
            EncryptedStore.open(store_path, keyfile)
        assert info.value.set_aside is not None
        aside = Path(info.value.set_aside)
        assert aside.read_bytes() == bytes(tampered), "the damaged bytes are kept as they were"
        aside.unlink()
        assert not store_path.exists()


def test_truncation_is_detected(store_path: Path, keyfile: KeyFileKey) -> None:
    original = store_path.read_bytes()
    for length in range(0, len(original), 7):
        store_path.write_bytes(original[:length])
        with pytest.raises(CorruptStoreError):
            EncryptedStore.open(store_path, keyfile)
        for aside in store_path.parent.glob("*.damaged-*"):
            aside.unlink()


def test_damaged_file_offers_the_backup(store_path: Path, keyfile: KeyFileKey) -> None:
    with EncryptedStore.open(store_path, keyfile) as store:
        store.save(b"second")
    data = bytearray(store_path.read_bytes())
    data[-1] ^= 0xFF
    store_path.write_bytes(bytes(data))
    with pytest.raises(CorruptStoreError, match="profile restore") as info:
        EncryptedStore.open(store_path, keyfile)
    assert info.value.backup is not None
    with pytest.raises(StoreNotFoundError, match="a backup exists"):
        EncryptedStore.open(store_path, keyfile)
    EncryptedStore.restore_backup(store_path)
    with EncryptedStore.open(store_path, keyfile) as store:
        assert store.load() == SECRET  # the previous generation


def test_a_damaged_backup_is_never_offered_twice(store_path: Path, keyfile: KeyFileKey) -> None:
    """Regression: a restored backup that failed too was offered again, and again."""
    with EncryptedStore.open(store_path, keyfile) as store:
        store.save(b"second")
    for generation in (store_path, store_path.with_name("profile.dsc.bak")):
        data = bytearray(generation.read_bytes())
        data[-1] ^= 0xFF
        generation.write_bytes(bytes(data))
    with pytest.raises(CorruptStoreError, match="profile restore") as first:
        EncryptedStore.open(store_path, keyfile)
    assert first.value.backup is not None
    EncryptedStore.restore_backup(store_path)
    with pytest.raises(CorruptStoreError, match="it was the backup, so no undamaged") as second:
        EncryptedStore.open(store_path, keyfile)
    assert second.value.backup is None
    assert "profile restore" not in str(second.value)
    with pytest.raises(CorruptStoreError, match="the backup is damaged too"):
        EncryptedStore.restore_backup(store_path)
    assert not store_path.exists()
    assert len(list(store_path.parent.glob("profile.dsc.damaged-*"))) == 2  # both kept


def test_wrong_keys(tmp_path: Path, store_path: Path) -> None:
    with pytest.raises(WrongKeyError):
        EncryptedStore.open(store_path, KeyFileKey.create(tmp_path / "other.key"))
    with pytest.raises(WrongKeyError, match="not protected by a passphrase"):
        EncryptedStore.open(store_path, PassphraseKey("guess", FAST))
    assert store_path.exists(), "a wrong key never sets the file aside"


def test_passphrase_change_rewraps_and_locks_out_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "p.dsc"
    EncryptedStore.create(path, PassphraseKey("old passphrase", FAST), initial=SECRET).close()
    with pytest.raises(WrongKeyError, match="wrong passphrase"):
        EncryptedStore.open(path, PassphraseKey("not it", FAST))
    with EncryptedStore.open(path, PassphraseKey("old passphrase", FAST)) as store:
        before = envelope.parse(path.read_bytes())
        store.rewrap(PassphraseKey("new passphrase", FAST))
    after = envelope.parse(path.read_bytes())
    assert after.header["key_id"] == before.header["key_id"]  # same data key, not re-encrypted
    assert after.header["wraps"] != before.header["wraps"]
    for file in (path, path.with_name("p.dsc.bak")):
        sealed = envelope.parse(file.read_bytes())
        with pytest.raises(WrongKeyError):
            envelope.unwrap(sealed.header, PassphraseKey("old passphrase", FAST))
    with EncryptedStore.open(path, PassphraseKey("new passphrase", FAST)) as store:
        assert store.load() == SECRET


def test_kdf_parameters_are_stored_and_checked() -> None:
    with pytest.raises(ValueError, match="OWASP"):
        Argon2Params(memory_kib=8 * 1024, iterations=1)
    key = PassphraseKey("x", FAST)
    _, public = key.derive_new()
    assert public["params"] == {"m": 19 * 1024, "t": 2, "p": 1}
    with pytest.raises(KeySourceError):
        PassphraseKey("")


def test_data_card_states_the_cost_the_passphrase_was_wrapped_with(tmp_path: Path) -> None:
    from discreet.profile.session import ProfileConfig, ProfileHome

    home = ProfileHome(tmp_path)
    session = home.create(PassphraseKey("a passphrase", FAST), ProfileConfig(), dt.date.today())
    assert session is not None
    session.close()
    stated = "a passphrase, stretched with Argon2id (19 MiB, 2 passes, 1 lane)"
    assert home.data_card()["storage"]["key"] == stated
    for file in home.folder.glob("profile.dsc*"):
        file.unlink()  # nothing to read: the card states the cost of a new wrap
    new = Argon2Params()
    assert home.data_card()["storage"]["key"] == (
        f"a passphrase, stretched with Argon2id ({new.memory_kib // 1024} MiB, "
        f"{new.iterations} passes, {new.lanes} lane)"
    )


def test_erase_shreds_and_reports(store_path: Path, keyfile: KeyFileKey) -> None:
    store = EncryptedStore.open(store_path, keyfile)
    store.save(b"again")
    removed = store.erase()
    assert str(store_path) in removed
    assert str(store_path) + ".bak" in removed
    assert not store_path.exists()
    assert [p.name for p in store_path.parent.iterdir() if not p.name.endswith(".lock")] == []
    with pytest.raises(StoreNotFoundError):
        store.load()


def test_create_refuses_to_overwrite(store_path: Path, keyfile: KeyFileKey) -> None:
    with pytest.raises(StoreExistsError):
        EncryptedStore.create(store_path, keyfile)
    with pytest.raises(KeySourceError, match="already exists"):
        KeyFileKey.create(keyfile.path)


def test_key_file_must_be_private(keyfile: KeyFileKey, store_path: Path) -> None:
    os.chmod(keyfile.path, 0o644)
    with pytest.raises(KeySourceError, match="chmod 600"):
        EncryptedStore.open(store_path, keyfile)
    os.chmod(keyfile.path, 0o600)
    keyfile.path.write_text("garbage", encoding="ascii")
    with pytest.raises(KeySourceError, match="not a discreet key file"):
        EncryptedStore.open(store_path, keyfile)


def test_newer_format_is_refused(store_path: Path, keyfile: KeyFileKey) -> None:
    with EncryptedStore.open(store_path, keyfile) as store:
        key = store._key()
        header = {**store._header, "format_version": 99}
    store_path.write_bytes(envelope.seal(header, key, SECRET))
    with pytest.raises(UnsupportedFormatError, match="update the app"):
        EncryptedStore.open(store_path, keyfile)


LOCK_HOLDER = """
import sys
from discreet.store import EncryptedStore, KeyFileKey
store = EncryptedStore.open(sys.argv[1], KeyFileKey(sys.argv[2]))
print("open", flush=True)
sys.stdin.read()  # holds the lock until it is killed
"""


def test_a_second_process_gets_a_lock_error(store_path: Path, keyfile: KeyFileKey) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(store_path), str(keyfile.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreLockedError, match="another process"):
            EncryptedStore.open(store_path, keyfile, lock_timeout=0.2)
        assert holder.poll() is None, "the holder was gone: the lock error proves nothing"
    finally:
        holder.kill()
        holder.wait()
        for pipe in (holder.stdin, holder.stdout):
            if pipe is not None:
                pipe.close()
    with EncryptedStore.open(store_path, keyfile) as store:  # the kernel released the lock
        assert store.load() == SECRET


def test_full_disk_keeps_the_previous_state(
    store_path: Path, keyfile: KeyFileKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = store_path.read_bytes()
    store = EncryptedStore.open(store_path, keyfile)
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(InsufficientSpaceError, match="previous profile is intact"):
        store.save(b"new state that does not fit")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert store_path.read_bytes() == before
    assert not [p for p in store_path.parent.iterdir() if p.name.endswith(".tmp")]
    store.close()
    with EncryptedStore.open(store_path, keyfile) as again:
        assert again.load() == SECRET


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_memory_store_wipes_when_idle_and_on_close() -> None:
    clock = _Clock()
    wiped: list[int] = []
    store = MemoryStore(idle_seconds=300, clock=clock, on_wipe=lambda: wiped.append(1))
    store.save(SECRET)
    clock.now = 299
    assert store.load() == SECRET
    clock.now = 299 + 300
    assert store.load() is None
    assert wiped == [1]
    store.save(b"x")
    assert store.erase() == ["the in-memory kiosk session"]
    store.save(b"y")
    store.close()
    assert store.load() is None
    with pytest.raises(ValueError):
        MemoryStore(idle_seconds=0)


def test_memory_store_timer_wipes_without_any_access() -> None:
    import threading

    done = threading.Event()
    store = MemoryStore(idle_seconds=0.05, on_wipe=done.set)
    store.save(SECRET)
    assert done.wait(5), "the idle timer did not wipe the session"
    assert store._payload is None
    store.close()


def test_os_keyring_source(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    backend = memory_keyring
    from discreet.store import KeyringKey

    path = tmp_path / "k.dsc"
    EncryptedStore.create(path, KeyringKey(), initial=SECRET).close()
    assert len(backend.secrets) == 1
    assert b"item-secret-42" not in path.read_bytes()
    with EncryptedStore.open(path, KeyringKey()) as store:
        assert store.load() == SECRET
        removed = store.erase()
    assert "OS keyring entry 'discreet/profile-key'" in removed
    assert backend.secrets == {}
    EncryptedStore.create(path, KeyringKey(), initial=SECRET).close()
    backend.secrets.clear()
    with pytest.raises(KeySourceError, match="missing from the OS keyring"):
        EncryptedStore.open(path, KeyringKey())


def test_each_keyring_profile_has_its_own_entry(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    backend = memory_keyring
    """Erasing one app's profile must not shred another's key (they once shared one entry)."""
    from discreet.engine import Engine
    from discreet.profile.session import ProfileConfig, ProfileHome
    from discreet.store import KeyringKey

    today = dt.date(2026, 11, 29)
    homes = {app: ProfileHome(tmp_path / app) for app in ("reader", "player")}
    for app, home in homes.items():
        session = home.create(KeyringKey.fresh(app), ProfileConfig("standard", "keyring"), today)
        assert session is not None
        session.profile.record("item-1", "like", today)
        session.save()
        session.close()
    assert {service for service, _ in backend.secrets} == {"reader", "player"}
    removed = homes["reader"].erase()
    assert any(r.startswith("OS keyring entry 'reader/profile-key-") for r in removed)
    assert {service for service, _ in backend.secrets} == {"player"}
    with Engine.open(tmp_path / "player") as engine:  # the entry named in its settings
        assert [e[0] for e in engine.export().to_json()["profile"]["events"]] == ["item-1"]
    # A settings file from before per-profile entries still opens with the shared one.
    legacy = ProfileConfig.from_json(
        {**homes["player"].config().to_json(), "keyring_entry": None}
    ).configured_key()
    assert isinstance(legacy, KeyringKey)
    assert legacy.entry_name == "discreet/profile-key"


def _opens_with(file: Path, key: PassphraseKey) -> bool:
    try:
        envelope.unwrap(envelope.parse(file.read_bytes()).header, key)
    except DiscreetError:
        return False
    return True


def test_orphans_of_killed_saves_are_removed_when_the_store_opens(tmp_path: Path) -> None:
    path = tmp_path / "p.dsc"
    old = PassphraseKey("old passphrase", FAST)
    EncryptedStore.create(path, old, initial=SECRET).close()
    orphans = [tmp_path / ".p.dsc.k3j9x_1.tmp", tmp_path / ".p.dsc.bak.tmp"]
    for orphan in orphans:
        orphan.write_bytes(path.read_bytes()[:-7])  # a save killed half-way
    (tmp_path / "unrelated.tmp").write_bytes(b"not ours")
    with EncryptedStore.open(path, old) as store:
        assert store.load() == SECRET
    assert not [o for o in orphans if o.exists()]
    assert (tmp_path / "unrelated.tmp").exists()


def test_after_a_passphrase_change_nothing_in_the_folder_opens_with_the_old_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "p.dsc"
    old, new = PassphraseKey("old passphrase", FAST), PassphraseKey("new passphrase", FAST)
    EncryptedStore.create(path, old, initial=SECRET).close()
    with EncryptedStore.open(path, old) as store:
        store.save(SECRET + b"!")
        store.save_record("budget", b"{}")
    # set aside by the layer above (authentic, unreadable content), and one altered
    readable_aside = tmp_path / "p.dsc.damaged-20261201T000000000000"
    readable_aside.write_bytes(path.read_bytes())
    altered = bytearray(path.read_bytes())
    altered[-1] ^= 1
    altered_aside = tmp_path / "p.dsc.damaged-20261201T000000000001"
    altered_aside.write_bytes(bytes(altered))
    with EncryptedStore.open(path, old) as store:
        (tmp_path / ".p.dsc.x1.tmp").write_bytes(path.read_bytes())  # killed while open
        store.rewrap(new)
    files = [f for f in tmp_path.iterdir() if not f.name.endswith(".lock")]
    assert readable_aside in files  # set-aside files are kept, never deleted
    assert altered_aside in files
    assert [f.name for f in files if _opens_with(f, old)] == []
    sealed = envelope.parse(readable_aside.read_bytes())
    assert envelope.open_payload(sealed, envelope.unwrap(sealed.header, new)) == SECRET + b"!"
    with EncryptedStore.open(path, new) as store:
        assert store.load() == SECRET + b"!"
        assert store.load_record("budget") == b"{}"
