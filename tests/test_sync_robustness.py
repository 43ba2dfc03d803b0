"""Sync under a full disk, after a killed process, and against newer formats."""

from __future__ import annotations

import datetime as dt
import errno
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from discreet._fs import canonical_json, npy_bytes
from discreet.catalog.build import items_jsonl
from discreet.catalog.items import Item
from discreet.catalog.manifest import CATALOG_FILES, Manifest
from discreet.catalog.reader import verify_catalog_folder
from discreet.errors import InsufficientSpaceError, UnsupportedFormatError
from discreet.publish.repository import PublisherRepository
from discreet.sync.client import sync_catalog
from discreet.sync.installed import InstalledCatalogs
from tests.conftest import TAXONOMY
from tests.crash_support import Killed, forkserver, run_and_kill, sync_once


def test_full_disk_during_download_keeps_the_previous_catalog(
    repo: PublisherRepository,
    publish: Callable[..., object],
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publish()
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    before = (InstalledCatalogs(home).path / "current.json").read_bytes()
    publish()

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("tuf.ngclient.updater.shutil.copyfileobj", disk_full)
    with pytest.raises(InsufficientSpaceError, match="free some space"):
        sync_catalog(home, str(repo.path))
    installed = InstalledCatalogs(home)
    assert (installed.path / "current.json").read_bytes() == before
    assert installed.open().version == 1
    assert not list(installed.releases_dir.glob(".incoming-*"))
    monkeypatch.undo()
    assert sync_catalog(home, str(repo.path)).version == 2


def test_stale_staging_from_a_killed_sync_is_cleaned(
    repo: PublisherRepository, publish: Callable[..., object], home: Path
) -> None:
    publish()
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    stale = InstalledCatalogs(home).releases_dir / ".incoming-deadbeef"
    stale.mkdir()
    (stale / "embeddings.npy").write_bytes(b"partial")
    publish()
    sync_catalog(home, str(repo.path))
    assert not stale.exists()


def test_records_from_a_newer_app_are_refused(
    repo: PublisherRepository, publish: Callable[..., object], home: Path
) -> None:
    publish()
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    current = InstalledCatalogs(home).path / "current.json"
    record = json.loads(current.read_bytes())
    current.write_text(json.dumps({**record, "format_version": 99}), encoding="utf-8")
    with pytest.raises(UnsupportedFormatError, match="update the app"):
        InstalledCatalogs(home).open()


def _large_release(folder: Path, n: int) -> dict[str, Path]:
    """A valid release of ``n`` items written directly (no embedding fit), version 2."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    vectors = rng.standard_normal((n, 64), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    (folder / "embeddings.npy").write_bytes(npy_bytes(vectors))
    (folder / "popularity.npy").write_bytes(npy_bytes(np.full(n, 1 / n, dtype=np.float32)))
    items = [Item(f"x{i}", f"Item {i}", categories=("fiction",)) for i in range(n)]
    (folder / "items.jsonl").write_bytes(items_jsonl(items))
    (folder / "taxonomy.json").write_bytes(canonical_json(TAXONOMY))
    when = dt.datetime.now(dt.UTC)
    manifest = Manifest("big", 2, when, n, 64, {}, "uniform", len(TAXONOMY["categories"]))
    (folder / "manifest.json").write_bytes(canonical_json(manifest.to_json()))
    return {p.name: p for p in folder.iterdir()}


def test_sync_killed_at_every_step_never_breaks_the_installed_catalog(
    repo: PublisherRepository, publish: Callable[..., object], tmp_path: Path
) -> None:
    """Real ``kill -9`` between every two steps of a sync, then at unplanned moments.

    The children come from :mod:`tests.crash_support`: each reports every step
    of its sync, and is killed exactly before the step the test chose.
    """
    publish()
    pristine = tmp_path / "pristine-home"
    sync_catalog(pristine, str(repo.path), root=repo.trusted_root_path)
    with repo.lock():
        repo.publish_targets(_large_release(tmp_path / "big", 1_000))
    ctx = forkserver()
    source = str(repo.path)

    def run(name: str, **kill: int) -> tuple[Path, Killed]:
        home = tmp_path / name
        shutil.copytree(pristine, home)
        return home, run_and_kill(ctx, sync_once, str(home), source, until="done", **kill)

    # The steps of an uninterrupted sync, in order: the states to kill it in.
    _, reference = run("reference")
    assert reference.messages[-1] == "done"
    steps = reference.steps
    switch = steps.index("replace current.json")  # once done, v2 is the catalog in use
    assert 0 < switch < len(steps) - 1, "kills land on both sides of the switch"
    downloads = {s.removeprefix("half-written ") for s in steps if s.startswith("half-written")}
    assert set(CATALOG_FILES) <= downloads, "a kill mid-download is among the states"

    def check(home: Path) -> int:
        installed = InstalledCatalogs(home)
        catalog = installed.open()  # always opens: the old or the new release, never a mix
        verify_catalog_folder(catalog.folder)
        assert sync_catalog(home, source).version == 2  # and the next sync recovers
        assert not list(installed.releases_dir.glob(".incoming-*"))
        return catalog.version

    for pause_at in range(1, len(steps) + 1):
        home, killed = run(f"paused-{pause_at}", pause_at=pause_at)
        assert killed.paused
        assert killed.steps == steps[:pause_at], "the sync took another path"
        expected = 2 if pause_at - 1 > switch else 1
        assert check(home) == expected, steps[pause_at - 1]
    # Kills that land wherever a running child happens to be.
    rng = np.random.default_rng(7)
    for attempt, kill_after in enumerate(rng.integers(1, len(steps) + 1, size=10)):
        home, _ = run(f"free-{attempt}", kill_after=int(kill_after))
        assert check(home) in (1, 2)
