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

import datetime as dt
import multiprocessing
import os
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any, BinaryIO

from discreet.engine import Engine
from discreet.profile.session import ProfileHome, ProfileSession
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
