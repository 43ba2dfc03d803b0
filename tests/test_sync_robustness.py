"""Sync under a full disk, after a killed process, and against newer formats."""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from discreet._fs import canonical_json, npy_bytes
from discreet.catalog.build import items_jsonl
from discreet.catalog.items import Item
from discreet.catalog.manifest import Manifest
from discreet.catalog.reader import verify_catalog_folder
from discreet.errors import InsufficientSpaceError, UnsupportedFormatError
from discreet.publish.repository import PublisherRepository
from discreet.sync.client import InstalledCatalogs, sync_catalog
from tests.conftest import TAXONOMY


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


SYNC_CHILD = """
import sys
from discreet.sync.client import sync_catalog
sync_catalog(sys.argv[1], sys.argv[2])
"""


def test_sync_killed_at_random_moments_never_breaks_the_installed_catalog(
    repo: PublisherRepository, publish: Callable[..., object], tmp_path: Path
) -> None:
    publish()
    pristine = tmp_path / "pristine-home"
    sync_catalog(pristine, str(repo.path), root=repo.trusted_root_path)
    with repo.lock():
        repo.publish_targets(_large_release(tmp_path / "big", 100_000))
    # How long an uninterrupted sync of the large release takes here.
    timing_home = tmp_path / "timing"
    shutil.copytree(pristine, timing_home)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", SYNC_CHILD, str(timing_home), str(repo.path)], check=True)
    duration = time.perf_counter() - start
    rng = np.random.default_rng(7)
    outcomes = set()
    for attempt in range(10):
        home = tmp_path / f"home-{attempt}"
        shutil.copytree(pristine, home)
        child = subprocess.Popen(
            [sys.executable, "-c", SYNC_CHILD, str(home), str(repo.path)],
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        time.sleep(float(rng.uniform(0.05, 1.1)) * duration)
        child.send_signal(signal.SIGKILL)
        child.wait()
        installed = InstalledCatalogs(home)
        catalog = installed.open()  # always opens: the old or the new release, never a mix
        assert catalog.version in (1, 2)
        if catalog.version == 2:
            verify_catalog_folder(catalog.folder)
        outcomes.add(catalog.version)
        assert sync_catalog(home, str(repo.path)).version == 2
        assert not list(installed.releases_dir.glob(".incoming-*"))
    assert 1 in outcomes, "no kill landed before the switch; the test did not exercise a crash"
