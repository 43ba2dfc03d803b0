"""Real processes killed mid-write, and two real processes writing at once.

The children come from :mod:`tests.crash_support`: they report each step of a
save, and can be told to stop dead at one, so that kills land where the test
says rather than where the scheduler happens to put them.
"""

from __future__ import annotations

from pathlib import Path

from discreet.profile.session import ProfileConfig, ProfileHome
from discreet.store.keys import KeyFileKey
from tests.crash_support import DAY, SAVE_STEPS, forkserver, kill_saves, new_profile_home

PAUSED_KILLS_PER_STEP = 6
FREE_KILLS = 60


def test_killed_saves_never_lose_a_committed_event(tmp_path: Path) -> None:
    """Real ``kill -9`` between every two steps of a save, then at unplanned moments.

    Paused kills interrupt each step of the save a fixed number of times,
    whatever the load; free-running kills add moments nobody chose.
    ``scripts/hostile/device_store_kills.py`` runs the same at a larger scale.
    """
    campaign = kill_saves(
        tmp_path, paused_per_step=PAUSED_KILLS_PER_STEP, free=FREE_KILLS, seed=2026
    )
    assert len(campaign.interrupted) == len(SAVE_STEPS)
    assert set(campaign.interrupted.values()) == {PAUSED_KILLS_PER_STEP}
    assert campaign.free_kills == FREE_KILLS
    assert campaign.orphans_removed > 0, "some kills left a half-written save to clean up"


def _writer(home: str, keyfile: str, name: str, rounds: int) -> None:
    for i in range(rounds):
        # The other writer may hold the profile: wait for the lock (up to a generous deadline).
        with ProfileHome(home).open(KeyFileKey(keyfile), lock_timeout=60) as session:
            session.profile.record(f"{name}-{i}", "like", DAY)
            session.save()


def test_two_writers_are_serialised_and_lose_no_update(tmp_path: Path) -> None:
    home, key = new_profile_home(tmp_path)
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
    home, key = new_profile_home(tmp_path)
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
    assert sorted(p.name for p in home.folder.iterdir()) == ["config.json", "config.json.bak"]
    card = home.data_card()
    assert card["storage"]["location"] == "memory only; nothing is written to disk"
