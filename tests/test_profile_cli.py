"""The profile commands, non-interactively, through ``main(argv)``."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from discreet.cli import main
from discreet.store import Argon2Params, EncryptedStore, PassphraseKey
from tests.conftest import MemoryKeyring


@pytest.fixture
def client(cli_home: Path) -> Path:
    """The shared CLI home (see conftest)."""
    return cli_home


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_record_export_erase(client: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "init")[0] == 0
    assert _run(capsys, "like", "b1")[0] == 0
    assert _run(capsys, "dislike", "b2")[0] == 0
    code, out, _ = _run(capsys, "record", "b5", "--kind", "purchase", "--json")
    assert code == 0
    assert json.loads(out)["recorded"] is True
    code, out, _ = _run(capsys, "like", "b3", "--json")  # b3 is in 'sleep', under 'health'
    assert json.loads(out) == {
        "recorded": False,
        "reason": "the item is in a sensitive category you have not opted in to",
    }
    code, _, err = _run(capsys, "like", "no-such-item")
    assert code == 1
    assert "not in the installed catalog" in err
    assert "no-such-item" not in err
    code, out, _ = _run(capsys, "profile", "export")
    exported = json.loads(out)
    assert [e[:2] for e in exported["profile"]["events"]] == [
        ["b1", "like"],
        ["b2", "dislike"],
        ["b5", "purchase"],
    ]
    assert {f["field"] for f in exported["fields"]} >= {"events", "consent", "ledger"}
    out_file = client / "export.json"
    assert _run(capsys, "profile", "export", "--out", str(out_file))[0] == 0
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    out_file.unlink()
    for file in (client / "profile").iterdir():
        for item in (b"b1", b"b2", b"b5"):
            assert b'"' + item + b'"' not in file.read_bytes()
    code, _, err = _run(capsys, "profile", "erase")
    assert code == 1
    assert "--yes" in err
    code, out, _ = _run(capsys, "profile", "erase", "--yes", "--json")
    removed = json.loads(out)["removed"]
    assert any(r.endswith("profile.dsc") for r in removed)
    assert sorted(p.name for p in (client / "profile").iterdir()) == ["profile.dsc.lock"]
    assert _run(capsys, "like", "b1")[0] == 1


def test_wrong_passphrase_and_missing_passphrase(
    client: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(capsys, "init")
    monkeypatch.setenv("DISCREET_PASSPHRASE", "not the one")
    code, _, err = _run(capsys, "like", "b1")
    assert code == 1
    assert err.startswith("discreet: error: wrong passphrase")
    monkeypatch.delenv("DISCREET_PASSPHRASE")
    code, _, err = _run(capsys, "like", "b1")
    assert code == 1
    assert "set DISCREET_PASSPHRASE or pass --passphrase-file" in err
    secret = client / "pass.txt"
    secret.write_text("a long enough passphrase\n", encoding="utf-8")
    assert _run(capsys, "like", "b1", "--passphrase-file", str(secret))[0] == 0


def test_passphrase_change(
    client: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(capsys, "init")
    _run(capsys, "like", "b1")
    monkeypatch.setenv("DISCREET_NEW_PASSPHRASE", "a brand new passphrase")
    code, out, _ = _run(capsys, "passphrase", "change")
    assert code == 0
    assert "old one no longer opens" in out
    assert _run(capsys, "like", "b2")[0] == 1  # the old passphrase fails now
    monkeypatch.setenv("DISCREET_PASSPHRASE", "a brand new passphrase")
    code, out, _ = _run(capsys, "profile", "export")
    assert code == 0
    assert len(json.loads(out)["profile"]["events"]) == 1


def test_keyfile_profile_and_privacy_card(
    client: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISCREET_PASSPHRASE")
    keyfile = client.parent / "kiosk.key"
    code, out, _ = _run(capsys, "init", "--keyfile", str(keyfile), "--retention-days", "30")
    assert code == 0
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    assert _run(capsys, "like", "b1")[0] == 0
    code, out, _ = _run(capsys, "privacy", "--json")
    card = json.loads(out)
    events = next(f for f in card["fields"] if f["field"] == "events")
    assert events["retention"].startswith("30 days")
    assert str(keyfile) in card["storage"]["key"]
    code, text, _ = _run(capsys, "privacy")
    assert "what leaves this device:" in text
    code, _, err = _run(capsys, "passphrase", "change")
    assert code == 1
    assert "key file" in err or "keyfile" in err


def test_privacy_card_states_the_passphrase_cost(
    client: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "init")[0] == 0
    code, out, _ = _run(capsys, "privacy", "--json")
    assert code == 0
    cost = Argon2Params()  # what the CLI wraps a new profile's key with
    assert json.loads(out)["storage"]["key"] == (
        f"a passphrase, stretched with Argon2id ({cost.memory_kib // 1024} MiB, "
        f"{cost.iterations} passes, {cost.lanes} lane)"
    )


def test_kiosk_init_keeps_nothing(client: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "init", "--kiosk")
    assert code == 0
    assert "memory only" in out
    settings = ["config.json", "config.json.bak"]  # the settings and their copy, nothing more
    assert sorted(p.name for p in (client / "profile").iterdir()) == settings
    code, _, err = _run(capsys, "like", "b1")
    assert code == 1
    assert "kiosk mode" in err
    assert _run(capsys, "init")[0] == 1  # a profile home exists already


def test_damaged_profile_is_set_aside_and_restored(
    client: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "init")
    _run(capsys, "like", "b1")
    _run(capsys, "like", "b2")
    store = client / "profile" / "profile.dsc"
    data = bytearray(store.read_bytes())
    data[-3] ^= 0x10
    store.write_bytes(bytes(data))
    code, _, err = _run(capsys, "like", "b4")
    assert code == 1
    assert "set aside" in err
    assert "discreet profile restore" in err
    assert _run(capsys, "profile", "restore")[0] == 0
    code, out, _ = _run(capsys, "profile", "export")
    assert [e[0] for e in json.loads(out)["profile"]["events"]] == ["b1"]


def _advice(err: str) -> list[list[str]]:
    """The commands an error message tells the user to run, in order."""
    return [command.split() for command in re.findall(r"'discreet ([^']+)'", err)]


def test_malformed_profile_advice_restores_the_previous_save(
    client: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "init")
    _run(capsys, "like", "b1")
    _run(capsys, "like", "b2")
    store = client / "profile" / "profile.dsc"
    # A save that authenticates but cannot be read (say, written by a buggy build).
    with EncryptedStore.open(store, PassphraseKey("a long enough passphrase")) as raw:
        raw.save(b'{"format_version": 1}')
    code, _, err = _run(capsys, "like", "b4")
    assert code == 1
    assert "malformed" in err
    advice = _advice(err)
    assert advice == [["profile", "restore"]]
    code, out, err = _run(capsys, *advice[0])  # exactly what the message said
    assert (code, err) == (0, "")
    code, out, _ = _run(capsys, "profile", "export")
    assert code == 0
    assert [e[0] for e in json.loads(out)["profile"]["events"]] == ["b1", "b2"]
    (aside,) = store.parent.glob("profile.dsc.damaged-*")  # set aside, never deleted
    with EncryptedStore.open(aside, PassphraseKey("a long enough passphrase")) as kept:
        assert kept.load() == b'{"format_version": 1}'


def test_damaged_profile_without_a_backup_advice_starts_again(
    client: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "init")  # the first save has no previous one to back it up
    store = client / "profile" / "profile.dsc"
    data = bytearray(store.read_bytes())
    data[-3] ^= 0x10
    store.write_bytes(bytes(data))
    code, _, err = _run(capsys, "like", "b1")
    assert code == 1
    assert "no backup exists" in err
    advice = _advice(err)
    assert advice == [["profile", "erase"], ["init"]]
    for command in advice:
        extra = ["--yes"] if command == ["profile", "erase"] else []  # no terminal to confirm
        code, _, err = _run(capsys, *command, *extra)
        assert (code, err) == (0, "")
    assert _run(capsys, "like", "b1")[0] == 0


def test_two_keyring_profiles_do_not_share_a_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], memory_keyring: MemoryKeyring
) -> None:
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    assert _run(capsys, "init", "--keyring", "--home", first)[0] == 0
    assert _run(capsys, "init", "--keyring", "--home", second)[0] == 0
    assert len(memory_keyring.secrets) == 2
    assert _run(capsys, "profile", "erase", "--yes", "--home", first)[0] == 0
    code, out, err = _run(capsys, "profile", "export", "--home", second)
    assert code == 0, err
    assert json.loads(out)["profile"]["events"] == []


def test_the_data_card_names_every_file_the_profile_keeps(
    client: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A privacy officer reading the card learns of the budget record too."""
    assert _run(capsys, "init")[0] == 0
    assert _run(capsys, "like", "b1")[0] == 0
    assert _run(capsys, "like", "b2")[0] == 0  # a second save leaves a backup
    code, out, _ = _run(capsys, "privacy", "--json")
    assert code == 0
    storage = json.loads(out)["storage"]
    folder = client / "profile"
    kept = sorted(
        p.name
        for p in folder.iterdir()
        if p.name.startswith("profile.dsc") and p.suffix != ".lock"  # the lock holds no data
    )
    assert {"profile.dsc", "profile.dsc.bak", "profile.dsc.budget"} <= set(kept)
    described = " ".join(str(v) for v in storage.values())
    for name in kept:
        assert name in described, name


@pytest.mark.parametrize(
    "content", [b"[]", b'"x"', b'{"format_version": "1", "mode": "standard"}', b"[" * 100_000]
)
def test_malformed_settings_are_one_line_not_a_traceback(
    client: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    """Regression (issue 11): ``config.json`` holding ``[]`` raised AttributeError."""
    assert _run(capsys, "init")[0] == 0
    for settings in ("config.json", "config.json.bak"):  # the copy too, or it stands in
        (client / "profile" / settings).write_bytes(content)
    for argv in (("privacy",), ("recommend",), ("ledger",)):
        code, out, err = _run(capsys, *argv)
        assert code == 1, argv
        assert out == ""
        assert "config.json is damaged, and so is its copy" in err
        assert "the profile itself is untouched" in err
        assert len(err.strip().splitlines()) == 1


def test_init_keyring_without_a_usable_keyring_says_what_to_do(
    client: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (issue 11): a machine with no keyring backend gave a traceback."""
    import keyring
    from keyring.backends import fail

    monkeypatch.setattr(keyring.core, "_keyring_backend", fail.Keyring())
    code, _, err = _run(capsys, "init", "--keyring")
    assert code == 1
    assert "keyring is not usable" in err
    assert "--keyfile" in err
    assert len(err.strip().splitlines()) == 1
    assert not (client / "profile" / "profile.dsc").exists()


def test_the_keyring_extra_missing_is_a_missing_dependency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from discreet.errors import MissingDependencyError
    from discreet.store import KeyringKey

    monkeypatch.setitem(sys.modules, "keyring", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'discreet\[keyring\]'"):
        KeyringKey.fresh("app").derive_new()


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """Make ``folder`` really read-only: a read-only bind mount as root, permissions otherwise."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for p in modes:
            p.chmod(modes[p] & ~0o222)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_home_still_reads(client: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Regression (issue 11): the lock needed write access, so even reading failed."""
    assert _run(capsys, "init")[0] == 0
    assert _run(capsys, "like", "b1")[0] == 0
    _, before, _ = _run(capsys, "profile", "export")
    with _read_only(client):
        with pytest.raises(OSError):
            (client / "probe").write_bytes(b"")  # the folder really is read-only
        for argv in (("recommend", "-k", "2"), ("explain", "b2"), ("privacy",), ("ledger",)):
            code, out, err = _run(capsys, *argv)
            assert code == 0, (argv, err)
            assert out
        code, exported, _ = _run(capsys, "profile", "export")
        assert code == 0
        assert json.loads(exported)["profile"] == json.loads(before)["profile"]
        code, out, err = _run(capsys, "like", "b2")
        assert code == 1
        assert "read-only" in err
        assert len(err.strip().splitlines()) == 1
    assert _run(capsys, "like", "b2")[0] == 0  # writable again: nothing was damaged
