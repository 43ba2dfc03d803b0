"""Real processes killed mid-write, and two real processes writing at once.

The children come from :mod:`tests.crash_support`: they report each step of a
save, and can be told to stop dead at one, so that kills land where the test
says rather than where the scheduler happens to put them.
"""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np

from discreet.profile.session import ProfileConfig, ProfileHome
from discreet.store.keys import KeyFileKey
from tests.crash_support import DAY, Killed, forkserver, run_and_kill, save_forever

#: The steps of one save, in order, as a child reports them (see ``tests.crash_support``).
SAVE_STEPS = (
    # the budget record first, so that it is never older than the profile
    "half-written temporary file",
    "fsync",
    "chmod .profile.dsc.budget.tmp",
    "replace profile.dsc.budget",
    "fsync",
    # then the profile
    "half-written temporary file",
    "fsync",
    "chmod .profile.dsc.tmp",
    "link .profile.dsc.bak.tmp",
    "replace profile.dsc.bak",
    "replace profile.dsc",
    "fsync",
)
COMMIT = SAVE_STEPS.index("replace profile.dsc")  # once this step is done, the save is visible
PAUSED_KILLS_PER_STEP = 6
FREE_KILLS = 60


def _new_home(tmp_path: Path) -> tuple[Path, KeyFileKey]:
    key = KeyFileKey.create(tmp_path / "profile.key")
    home = tmp_path / "home"
    session = ProfileHome(home).create(
        key, ProfileConfig("standard", "keyfile", str(key.path)), DAY
    )
    assert session is not None
    session.close()
    return home, key


def _committed(killed: Killed, before: int) -> tuple[int, list[str]]:
    """The last count the child reported saved, and the steps of the save after it."""
    committed, steps = before, []
    for message in killed.messages:
        if message.startswith("saved "):
            committed, steps = int(message.removeprefix("saved ")), []
        elif message.startswith("step "):
            steps.append(message.removeprefix("step "))
    return committed, steps


def _stored(home: Path, key: KeyFileKey) -> int:
    with ProfileHome(home).open(key) as session:  # always opens: never a torn file
        items = [e.item for e in session.profile.events]
    assert items == [f"item-{i}" for i in range(1, len(items) + 1)]
    return len(items)


def test_killed_saves_never_lose_a_committed_event(tmp_path: Path) -> None:
    """Real ``kill -9`` between every two steps of a save, then at unplanned moments.

    Paused kills interrupt each step of the save a fixed number of times,
    whatever the load; free-running kills add moments nobody chose.
    """
    home, key = _new_home(tmp_path)
    ctx = forkserver()
    rng = np.random.default_rng(2026)
    stored = 0
    # Pause at each step of the child's first, second or third save, every step equally often.
    plan = [
        save * len(SAVE_STEPS) + step + 1
        for step in range(len(SAVE_STEPS))
        for save in range(3)
        for _ in range(PAUSED_KILLS_PER_STEP // 3)
    ]
    interrupted: collections.Counter[str] = collections.Counter()
    for pause_at in rng.permutation(plan):
        killed = run_and_kill(ctx, save_forever, str(home), str(key.path), pause_at=int(pause_at))
        assert killed.paused
        committed, steps = _committed(killed, stored)
        stored = _stored(home, key)
        assert steps == list(SAVE_STEPS[: len(steps)]), "the save protocol changed"
        at = len(steps) - 1  # the step it stopped before
        assert stored == committed + (1 if at > COMMIT else 0), (SAVE_STEPS[at], stored, committed)
        interrupted[f"{at}: {SAVE_STEPS[at]}"] += 1
    assert len(interrupted) == len(SAVE_STEPS)
    assert set(interrupted.values()) == {PAUSED_KILLS_PER_STEP}
    for kill_after in rng.integers(1, 3 * len(SAVE_STEPS), size=FREE_KILLS):
        killed = run_and_kill(
            ctx, save_forever, str(home), str(key.path), kill_after=int(kill_after)
        )
        committed, _ = _committed(killed, stored)
        stored = _stored(home, key)
        assert stored in (committed, committed + 1), (stored, committed)


def _writer(home: str, keyfile: str, name: str, rounds: int) -> None:
    for i in range(rounds):
        # The other writer may hold the profile: wait for the lock (up to a generous deadline).
        with ProfileHome(home).open(KeyFileKey(keyfile), lock_timeout=60) as session:
            session.profile.record(f"{name}-{i}", "like", DAY)
            session.save()


def test_two_writers_are_serialised_and_lose_no_update(tmp_path: Path) -> None:
    home, key = _new_home(tmp_path)
    ctx = forkserver()
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
