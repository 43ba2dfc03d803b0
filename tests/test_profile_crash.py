"""Real processes killed mid-write, and two real processes writing at once.

Children come from a ``forkserver`` that has discreet preloaded, so that each
of the many processes costs a fork rather than an interpreter start.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from discreet.errors import StoreLockedError
from discreet.profile.session import ProfileConfig, ProfileHome
from discreet.store.keys import KeyFileKey

DAY = dt.date(2026, 11, 29)
KILLS = 200


def _context() -> multiprocessing.context.ForkServerContext:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["discreet.profile.session", "discreet.store"])
    return ctx


def _saver(home: str, keyfile: str, report: Connection) -> None:
    """Append one event per save, forever, reporting each committed count."""
    session = ProfileHome(home).open(KeyFileKey(keyfile), lock_timeout=10)
    count = len(session.profile.events)
    report.send_bytes(b"open")
    while True:
        count += 1
        session.profile.record(f"item-{count}", "view", DAY)
        session.save()
        report.send_bytes(str(count).encode())  # one small write: atomic on a pipe


def _new_home(tmp_path: Path) -> tuple[Path, KeyFileKey]:
    key = KeyFileKey.create(tmp_path / "profile.key")
    home = tmp_path / "home"
    session = ProfileHome(home).create(
        key, ProfileConfig("standard", "keyfile", str(key.path)), DAY
    )
    assert session is not None
    session.close()
    return home, key


def test_killed_saves_never_lose_a_committed_event(tmp_path: Path) -> None:
    home, key = _new_home(tmp_path)
    ctx = _context()
    rng = np.random.default_rng(2026)
    committed = 0
    seen_states: set[int] = set()
    for _ in range(KILLS):
        receiver, sender = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_saver, args=(str(home), str(key.path), sender))
        child.start()
        sender.close()
        assert receiver.poll(30)
        assert receiver.recv_bytes() == b"open"
        time.sleep(float(rng.uniform(0.0, 0.03)))  # then kill it somewhere mid-save
        child.kill()
        child.join()
        while receiver.poll():
            try:
                committed = max(committed, int(receiver.recv_bytes()))
            except EOFError:
                break
        receiver.close()
        with ProfileHome(home).open(key) as session:  # always opens: never a torn file
            stored = [e.item for e in session.profile.events]
        assert len(stored) in (committed, committed + 1), (len(stored), committed)
        assert stored == [f"item-{i}" for i in range(1, len(stored) + 1)]
        committed = len(stored)
        seen_states.add(committed)
    assert committed > 50, "the children never got to save: the test exercised nothing"
    assert len(seen_states) > KILLS // 2


def _writer(home: str, keyfile: str, name: str, rounds: int) -> None:
    for i in range(rounds):
        while True:
            try:
                session = ProfileHome(home).open(KeyFileKey(keyfile), lock_timeout=0.05)
                break
            except StoreLockedError:
                time.sleep(0.001)  # another writer has it; try again
        with session:
            session.profile.record(f"{name}-{i}", "like", DAY)
            session.save()


def test_two_writers_are_serialised_and_lose_no_update(tmp_path: Path) -> None:
    home, key = _new_home(tmp_path)
    ctx = _context()
    writers = [
        ctx.Process(target=_writer, args=(str(home), str(key.path), name, 25))
        for name in ("left", "right")
    ]
    for w in writers:
        w.start()
    for w in writers:
        w.join(timeout=120)
        assert w.exitcode == 0
    with ProfileHome(home).open(key) as session:
        items = {e.item for e in session.profile.events}
    assert items == {f"{n}-{i}" for n in ("left", "right") for i in range(25)}


def test_profile_on_disk_never_shows_an_item_id(tmp_path: Path) -> None:
    home, key = _new_home(tmp_path)
    with ProfileHome(home).open(key) as session:
        for i in range(50):
            session.profile.record(f"secret-item-{i:03d}", "purchase", DAY)
            session.save()
        session.profile.muted.add("secret-category")
        session.save()
    for file in tmp_path.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            assert b"secret-item" not in data, file
            assert b"secret-category" not in data, file


def test_kiosk_home_writes_only_its_settings(tmp_path: Path) -> None:
    home = ProfileHome(tmp_path / "home")
    assert home.create(None, ProfileConfig("kiosk", None, None), DAY) is None
    assert sorted(p.name for p in home.folder.iterdir()) == ["config.json"]
    card = home.data_card()
    assert card["storage"]["location"] == "memory only; nothing is written to disk"
