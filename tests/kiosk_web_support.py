"""The kiosk page as a real process on loopback, and a plain HTTP client for it.

The process runs ``python -m discreet kiosk --web --port 0`` over a home the
shipped catalog was synced into, with its own empty ``HOME`` and ``TMPDIR``,
so that a test can check afterwards that nothing was written anywhere.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from discreet.demo_data import publish_demo_catalog
from discreet.publish.repository import PublisherRepository
from discreet.sync.client import sync_catalog

#: How long the page process has to announce its URL (imports, catalog, port).
START_DEADLINE = 60.0


def demo_home(folder: Path) -> Path:
    """``folder/home``, with the shipped catalog published and synced into it."""
    repo = PublisherRepository.init(folder / "repo")
    publish_demo_catalog(repo)
    home = folder / "home"
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    return home


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


@dataclass
class PageProcess:
    """A running ``discreet kiosk --web``: its URL and the folders it must leave alone."""

    url: str
    process: subprocess.Popen[str]
    home: Path
    user_home: Path
    scratch: Path
    output: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        """The loopback port the page listens on."""
        return int(urlsplit(self.url).port or 0)


@contextlib.contextmanager
def kiosk_page(home: Path, folder: Path, *, idle: float = 300.0) -> Iterator[PageProcess]:
    """Run the page over ``home``; ``folder`` gets the process's empty HOME and TMPDIR."""
    user_home = folder / "user-home"
    scratch = folder / "tmp"
    user_home.mkdir(parents=True)
    scratch.mkdir()
    env = {
        **os.environ,
        "DISCREET_HOME": str(home),
        "HOME": str(user_home),
        "TMPDIR": str(scratch),
        "DISCREET_LANG": "en",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "discreet", "kiosk", "--web", "--port", "0", "--idle", str(idle)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        output: list[str] = []
        deadline = time.monotonic() + START_DEADLINE
        url = None
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            found = re.search(r"http://127\.0\.0\.1:\d+", line)
            url = found.group(0) if found else None
        assert url is not None, f"the page did not start: {''.join(output)}"
        yield PageProcess(url, process, home, user_home, scratch, output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@dataclass(frozen=True)
class Answer:
    """One HTTP response."""

    status: int
    headers: http.client.HTTPMessage
    body: str

    @property
    def location(self) -> str:
        """Where a redirect goes."""
        return self.headers.get("location", "")

    def cookie(self) -> str | None:
        """The ``visit`` cookie's value this response sets, if any (``""`` if it clears it)."""
        for header in self.headers.get_all("set-cookie") or []:
            name, _, rest = header.partition("=")
            if name == "visit":
                return rest.split(";")[0].strip('"')
        return None


def call(
    page: PageProcess,
    method: str,
    path: str,
    *,
    form: Mapping[str, str] | None = None,
    cookie: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """One request to the page, as a same-origin browser would send it (unless ``headers``)."""
    sent = {"Host": f"127.0.0.1:{page.port}"}
    body = None
    if form is not None:
        body = urlencode(form).encode()
        sent["Content-Type"] = "application/x-www-form-urlencoded"
        sent["Origin"] = page.url
    if cookie:
        sent["Cookie"] = f"visit={cookie}"
    sent.update(headers or {})
    connection = http.client.HTTPConnection("127.0.0.1", page.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read().decode())
    finally:
        connection.close()


def item_ids(page_html: str) -> list[str]:
    """The items a visit screen shows, in order (from their like forms)."""
    return re.findall(r'<input type="hidden" name="item" value="([^"]*)">', page_html)
