"""Real processes killed at chosen moments: children that report each step and can stop dead.

A child reports every step of its work (each file-system change, and the middle
of every file it writes) over a pipe, as ``step NAME``. Told to pause at step
``k``, it sends ``paused`` before doing step ``k`` and blocks until the parent
``kill -9``s it: the kill lands exactly between two steps, however loaded the
machine is. With no pause the child runs on, and a kill lands wherever it lands.

Children come from one ``forkserver`` with this module (and so discreet)
preloaded, so that each costs a fork rather than an interpreter start; every
test that kills children uses :func:`forkserver`, so the preload is the same
whichever test starts the server.
"""

from __future__ import annotations

import collections
import datetime as dt
import multiprocessing
import os
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from discreet.engine import Engine
from discreet.profile.model import Profile
from discreet.profile.session import BUDGET_RECORD, ProfileConfig, ProfileHome, ProfileSession
from discreet.store import envelope
from discreet.store.encrypted import EncryptedStore
from discreet.store.keys import KeyFileKey
from discreet.sync.client import sync_catalog

DAY = dt.date(2026, 11, 29)


def forkserver() -> ForkServerContext:
    """The forkserver context, with this module preloaded."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


# ---- in the child ----------------------------------------------------------------------
class Steps:
    """Reports steps to the parent; stops dead at step ``pause_at`` (0: never)."""

    def __init__(self, report: Connection, pause_at: int) -> None:
        self.report = report
        self.pause_at = pause_at
        self.count = 0

    def __call__(self, name: str) -> None:
        self.count += 1
        self.report.send_bytes(f"step {name}".encode())  # one small write: atomic on a pipe
        if self.count == self.pause_at:
            self.report.send_bytes(b"paused")
            threading.Event().wait()  # until SIGKILL

    def before(self, call: Callable[..., Any], label: Callable[..., str]) -> Callable[..., Any]:
        """``call``, reporting the step ``label(*args)`` before doing it."""

        def reported(*args: Any, **kwargs: Any) -> Any:
            self(label(*args))
            return call(*args, **kwargs)

        return reported


class HalfWrites:
    """A writable file that writes each buffer in two halves, with a step between them."""

    def __init__(self, file: BinaryIO, steps: Steps, name: str) -> None:
        self._file, self._steps, self._name = file, steps, name

    def __enter__(self) -> HalfWrites:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def write(self, data: bytes) -> int:
        half = len(data) // 2
        self._file.write(data[:half])
        self._file.flush()
        self._steps(f"half-written {self._name}")
        return half + self._file.write(data[half:])

    def flush(self) -> None:
        self._file.flush()

    def fileno(self) -> int:
        return self._file.fileno()


_RANDOM_PARTS = (
    (re.compile(r"^(\.[\w.]+?)\.\w{8}(\.tmp)$"), r"\1\2"),  # mkstemp's temporary files
    (re.compile(r"^tmp\w{8}$"), "<temporary>"),  # NamedTemporaryFile's
    (re.compile(r"^\d+-[0-9a-f]{12}$"), "<release>"),
    (re.compile(r"^\.incoming-[0-9a-f]+$"), ".incoming-<random>"),
)


def file_name(path: object) -> str:
    """The name of a file, with its random or content-derived part replaced."""
    name = Path(str(path)).name
    for pattern, replacement in _RANDOM_PARTS:
        name = pattern.sub(replacement, name)
    return name


def _report_file_changes(steps: Steps) -> None:
    """Report every rename, link, chmod, fsync and removal, and write files in halves."""
    os.fsync = steps.before(os.fsync, lambda fd: "fsync")
    os.chmod = steps.before(os.chmod, lambda path, *a: f"chmod {file_name(path)}")
    os.link = steps.before(os.link, lambda src, dst: f"link {file_name(dst)}")
    os.replace = steps.before(os.replace, lambda src, dst: f"replace {file_name(dst)}")
    shutil.rmtree = steps.before(shutil.rmtree, lambda path, *a: f"remove {file_name(path)}")
    fdopen = os.fdopen
    os.fdopen = lambda fd, *args, **kwargs: HalfWrites(  # type: ignore[assignment]
        fdopen(fd, *args, **kwargs), steps, "temporary file"
    )

    def copy_in_halves(source: BinaryIO, destination: BinaryIO, *args: Any) -> None:
        HalfWrites(destination, steps, file_name(destination.name)).write(source.read())

    shutil.copyfileobj = copy_in_halves


def save_forever(home: str, keyfile: str, report: Connection, pause_at: int) -> None:
    """Open the profile, then append one event per save, forever, reporting ``saved N``."""
    session = ProfileHome(home).open(KeyFileKey(keyfile), lock_timeout=30)
    count = len(session.profile.events)
    _report_file_changes(Steps(report, pause_at))
    report.send_bytes(b"open")
    while True:
        count += 1
        session.profile.record(f"item-{count}", "view", DAY)
        session.save()
        report.send_bytes(f"saved {count}".encode())


def sync_once(home: str, source: str, report: Connection, pause_at: int) -> None:
    """Sync the catalog, reporting its progress messages as steps too, then ``done``."""
    steps = Steps(report, pause_at)
    _report_file_changes(steps)
    sync_catalog(home, source, progress=lambda done, total, what: steps(what))
    report.send_bytes(b"done")


def send_queued_reports(
    home: str, keyfile: str, url: str, report: Connection, pause_at: int
) -> None:
    """Send the queued reports through the engine, reporting each save as the step ``saved``."""
    engine = Engine.open(home, key=KeyFileKey(keyfile))
    steps = Steps(report, pause_at)
    save = ProfileSession.save

    def reported_save(session: ProfileSession) -> None:
        save(session)
        steps("saved")  # after the save: a pause here is a crash between two reports

    ProfileSession.save = reported_save  # type: ignore[method-assign]
    engine.send_reports(url, max_delay=0)
    report.send_bytes(b"done")


# ---- in the parent ---------------------------------------------------------------------
@dataclass
class Killed:
    """What a child reported before it was killed."""

    messages: list[str]
    paused: bool

    @property
    def steps(self) -> list[str]:
        return [m.removeprefix("step ") for m in self.messages if m.startswith("step ")]


def run_and_kill(
    ctx: ForkServerContext,
    target: Callable[..., None],
    *args: object,
    pause_at: int = 0,
    kill_after: int = 0,
    until: str | None = None,
) -> Killed:
    """Run ``target(*args, report, pause_at)`` in a child and ``kill -9`` it.

    The kill comes once the child pauses (at step ``pause_at``), on its step
    ``kill_after`` (while it runs on), or when it sends ``until``. Messages sent
    before the kill landed are all returned.
    """
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=target, args=(*args, sender, pause_at))
    child.start()
    sender.close()
    messages: list[str] = []
    paused = False
    try:
        steps = 0
        while True:
            assert receiver.poll(120), "the child went silent"
            try:
                message = receiver.recv_bytes().decode()
            except EOFError:
                break  # the child ended by itself
            if message == "paused":
                paused = True
                break
            messages.append(message)
            steps += message.startswith("step ")
            if message == until or (kill_after and steps == kill_after):
                break
    finally:
        child.kill()
        child.join()
    while receiver.poll():  # what a running child sent before the kill landed
        try:
            messages.append(receiver.recv_bytes().decode())
        except EOFError:
            break
    receiver.close()
    return Killed(messages, paused)


# ---- a campaign of kills mid-save ------------------------------------------------------
#: The steps of one save, in order, as a child reports them.
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


def new_profile_home(folder: Path) -> tuple[Path, KeyFileKey]:
    """A home in ``folder`` with an empty profile protected by a key file."""
    key = KeyFileKey.create(folder / "profile.key")
    home = folder / "home"
    session = ProfileHome(home).create(
        key, ProfileConfig("standard", "keyfile", str(key.path)), DAY
    )
    assert session is not None
    session.close()
    return home, key


def _committed(killed: Killed, before: int) -> tuple[int, list[str]]:
    """The last count the child reported saved, and the steps of the save after it."""
    committed, steps = before, list[str]()
    for message in killed.messages:
        if message.startswith("saved "):
            committed, steps = int(message.removeprefix("saved ")), []
        elif message.startswith("step "):
            steps.append(message.removeprefix("step "))
    return committed, steps


def _events(payload: bytes) -> list[str]:
    items = [e.item for e in Profile.from_bytes(payload).events]
    assert items == [f"item-{i}" for i in range(1, len(items) + 1)], "events lost or reordered"
    return items


@dataclass
class KillCampaign:
    """What a campaign of ``kill -9`` mid-save found; every check is asserted as it runs."""

    #: Paused kills by the save step they interrupted ("<index>: <step>").
    interrupted: collections.Counter[str] = field(default_factory=collections.Counter)
    free_kills: int = 0
    #: Temporary files of killed saves found before the next open (all removed by it).
    orphans_removed: int = 0
    events: int = 0

    @property
    def kills(self) -> int:
        return sum(self.interrupted.values()) + self.free_kills


def _check_after_kill(home: Path, key: KeyFileKey, campaign: KillCampaign) -> int:
    """Open the profile the kill left; check it, its backup and its budget; return its events."""
    folder = ProfileHome(home).folder
    campaign.orphans_removed += len(list(folder.glob(".profile.dsc.*tmp")))
    with ProfileHome(home).open(key) as session:  # always opens: never a torn file
        stored = len(_events(session.profile.to_bytes()))
        assert isinstance(session.store, EncryptedStore)
        if (folder / f"profile.dsc.{BUDGET_RECORD}").exists():  # from the first save on
            assert session.store.load_record(BUDGET_RECORD) is not None, "the record is torn"
    assert not list(folder.glob(".profile.dsc.*tmp")), "a killed save's leftovers survived open"
    backup = folder / "profile.dsc.bak"
    if backup.exists():  # the previous good state: it authenticates, one save behind at most
        sealed = envelope.parse(backup.read_bytes())
        payload = envelope.open_payload(sealed, envelope.unwrap(sealed.header, key))
        assert len(_events(payload)) in (stored - 1, stored), "the backup is not the last save"
    return stored


def kill_saves(folder: Path, *, paused_per_step: int, free: int, seed: int) -> KillCampaign:
    """``kill -9`` children saving a profile, between every two steps of a save, then freely.

    Paused kills interrupt each step of the first, second or third save of a
    child ``paused_per_step`` times in all (a multiple of 3); ``free`` more land
    wherever a running child is. After each, the profile must open with every
    save the child reported, its backup one save behind, and no leftovers.
    """
    assert paused_per_step % 3 == 0
    home, key = new_profile_home(folder)
    ctx = forkserver()
    rng = np.random.default_rng(seed)
    campaign = KillCampaign()
    plan = [
        save * len(SAVE_STEPS) + step + 1
        for step in range(len(SAVE_STEPS))
        for save in range(3)
        for _ in range(paused_per_step // 3)
    ]
    for pause_at in rng.permutation(plan):
        killed = run_and_kill(ctx, save_forever, str(home), str(key.path), pause_at=int(pause_at))
        assert killed.paused
        committed, steps = _committed(killed, campaign.events)
        campaign.events = _check_after_kill(home, key, campaign)
        assert steps == list(SAVE_STEPS[: len(steps)]), "the save protocol changed"
        at = len(steps) - 1  # the step it stopped before
        visible = committed + (1 if at > COMMIT else 0)
        assert campaign.events == visible, (SAVE_STEPS[at], campaign.events, committed)
        campaign.interrupted[f"{at}: {SAVE_STEPS[at]}"] += 1
    for kill_after in rng.integers(1, 3 * len(SAVE_STEPS), size=free):
        killed = run_and_kill(
            ctx, save_forever, str(home), str(key.path), kill_after=int(kill_after)
        )
        committed, _ = _committed(killed, campaign.events)
        campaign.events = _check_after_kill(home, key, campaign)
        assert campaign.events in (committed, committed + 1), (campaign.events, committed)
        campaign.free_kills += 1
    return campaign
