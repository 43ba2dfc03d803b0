"""An aggregator in a process of its own on a free loopback port: for the demo."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from discreet.errors import RepositoryError
from discreet.i18n import _
from discreet.secagg.task import LEADER, TaskFiles

__all__ = ["AggregatorProcess"]

_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)$")
_START_SECONDS = 60.0


class AggregatorProcess:
    """``discreet serve --role ROLE --port 0`` with the task's files (or several tasks'
    folders), its own database, and its error output in ``log``; the URL is known once
    the process is entered.

    >>> with AggregatorProcess("helper", files, db, log) as helper:  # doctest: +SKIP
    ...     print(helper.url)
    """

    def __init__(
        self,
        role: str,
        files: TaskFiles | Sequence[TaskFiles],
        db: Path,
        log: Path,
        *,
        helper_url: str | None = None,
    ) -> None:
        self.role = role
        self.url = ""
        self._args = [
            sys.executable, "-m", "discreet", "serve", "--port", "0", "--role", role,
            "--db", str(db),
        ]  # fmt: skip
        if isinstance(files, TaskFiles):
            self._args += ["--task", str(files.task), "--key", str(files.keys[role])]
            self._args += ["--secrets", str(files.secrets[role])]
        else:  # several tasks, each from its folder
            for task in files:
                self._args += ["--task", str(task.task.parent)]
        if role == LEADER and helper_url is not None:
            self._args += ["--helper", helper_url]
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> AggregatorProcess:
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(self._args, stdout=subprocess.PIPE, stderr=log)
        assert self._process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_drain, args=(self._process.stdout, lines), daemon=True).start()
        deadline = time.monotonic() + _START_SECONDS
        while not self.url:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.__exit__()
                raise RepositoryError(
                    _("the {role} did not start; see {log}").format(role=self.role, log=self._log)
                )
            if match := _LISTENING.match(line):
                self.url = match.group(1)
        return self

    def __exit__(self, *exc: object) -> None:
        process = self._process
        if process is None:
            return
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(20)


def _drain(stdout: IO[bytes], lines: queue.Queue[str | None]) -> None:
    """Read the process's output to the end (so it never blocks), one line at a time."""
    with stdout:
        for line in stdout:
            lines.put(line.decode(errors="replace").rstrip())
    lines.put(None)  # the process has gone
