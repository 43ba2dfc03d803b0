"""The attacker's side of the sync attack tests: a mirror to alter, served two ways.

The attacker controls a mirror, a copy of the served folder that the client
syncs from, as a folder or over real HTTP on loopback. The fixtures here
(``served``, ``synced_v1``) are registered in ``tests/conftest.py``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from discreet.catalog.manifest import CATALOG_FILES
from discreet.errors import (
    CatalogError,
    CatalogMetadataTamperedError,
    CatalogTamperedError,
    DiscreetError,
)
from discreet.publish.repository import PublisherRepository
from discreet.sync.client import sync_catalog
from discreet.sync.installed import InstalledCatalogs
from tests.server_support import static_folder

#: How the client reaches a folder: the source to pass to ``sync_catalog``.
Served = Callable[[Path], str]
TRANSPORTS = ("folder", "http")


@contextlib.contextmanager
def serving(transport: str) -> Iterator[Served]:
    """Reach folders directly (``folder``) or through a web server each (``http``)."""
    if transport == "folder":
        yield str
        return
    with contextlib.ExitStack() as servers:
        yield lambda folder: servers.enter_context(static_folder(folder))


@pytest.fixture(params=TRANSPORTS)
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    """Every test that takes it runs twice: from a folder, and over HTTP."""
    with serving(request.param) as reach:
        yield reach


@pytest.fixture
def synced_v1(
    repo: PublisherRepository,
    publish: Callable[..., object],
    mirror: Callable[[], Path],
    home: Path,
) -> Path:
    """The client has installed v1 from the mirror; v2 is published upstream."""
    publish()
    source = mirror()
    sync_catalog(home, str(source), root=repo.trusted_root_path)
    publish()
    return source


def current_record(home: Path) -> bytes:
    """The client's ``current.json``: which release is in use."""
    return (InstalledCatalogs(home).path / "current.json").read_bytes()


def assert_still_v1(home: Path, before: bytes) -> None:
    """Nothing changed: v1 in use, the same record, no staging left behind."""
    installed = InstalledCatalogs(home)
    assert current_record(home) == before
    assert installed.open().version == 1
    assert [p.name for p in installed.releases_dir.iterdir() if p.name.startswith(".")] == []


def stored_target(repo: PublisherRepository, mirror_dir: Path, name: str) -> Path:
    """Where the mirror stores the current release's catalog file ``name``."""
    target = repo.current_targets()[f"catalog/{name}"]
    return mirror_dir / repo.target_path(target).relative_to(repo.public)


def named_metadata(mirror_dir: Path, role: str) -> Path:
    """The snapshot or targets metadata file the mirror's timestamp (and snapshot) name."""
    meta = mirror_dir / "metadata"
    snapshot = json.loads((meta / "timestamp.json").read_bytes())["signed"]["meta"]
    version = snapshot["snapshot.json"]["version"]
    if role == "targets":
        targets = json.loads((meta / f"{version}.snapshot.json").read_bytes())["signed"]["meta"]
        version = targets["targets.json"]["version"]
    return meta / f"{version}.{role}.json"


def served_files(repo: PublisherRepository, mirror_dir: Path) -> dict[Path, type[CatalogError]]:
    """The mirror's files a sync reads, each with the error a change to it must raise."""
    files: dict[Path, type[CatalogError]] = {
        mirror_dir / "metadata" / "timestamp.json": CatalogMetadataTamperedError,
        named_metadata(mirror_dir, "snapshot"): CatalogMetadataTamperedError,
        named_metadata(mirror_dir, "targets"): CatalogMetadataTamperedError,
    }
    for name in sorted(CATALOG_FILES):
        files[stored_target(repo, mirror_dir, name)] = CatalogTamperedError
    return files


@dataclass(frozen=True)
class Flip:
    """One byte of one served file changed, and what a device with v1 installed made of it."""

    file: str
    position: int
    outcome: str  # the error's class, or "installed"
    message: str
    #: The changed file still parses as the same JSON (e.g. one blank swapped for another).
    same_json: bool


def flip_bytes(
    pristine: Path,
    scratch: Path,
    source: str,
    file: Path,
    positions: Iterable[int],
    rng: np.random.Generator,
) -> Iterator[Flip]:
    """Change each byte of ``file`` at ``positions`` in turn and sync a copy of ``pristine``.

    ``source`` reaches the folder ``file`` is in. After a refused sync the copy
    must be exactly as before (checked here); ``file`` is restored at the end.
    """
    original = file.read_bytes()
    try:
        for position in positions:
            changed = bytearray(original)
            changed[position] ^= int(rng.integers(1, 256))
            file.write_bytes(bytes(changed))
            shutil.rmtree(scratch, ignore_errors=True)
            shutil.copytree(pristine, scratch)
            before = current_record(scratch)
            try:
                sync_catalog(scratch, source, timeout=10)
            except DiscreetError as exc:
                assert_still_v1(scratch, before)
                outcome, message = type(exc).__name__, str(exc)
            else:
                outcome, message = "installed", ""
            yield Flip(file.name, position, outcome, message, _same_json(original, bytes(changed)))
    finally:
        file.write_bytes(original)


def _same_json(original: bytes, changed: bytes) -> bool:
    try:
        return bool(json.loads(original) == json.loads(changed))
    except ValueError:
        return False
