"""Releases with and without the int8 rows (issue 15) sync, and rank the same.

Within format 1 the int8 rows are optional: a release built before issue 15
has none, installs as before and is ranked from its float32 rows alone. A
manifest that names int8 rows its release does not carry is refused, and the
previous catalog stays in use.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from discreet.catalog.manifest import QUANTISED_FILES
from discreet.catalog.reader import Catalog
from discreet.errors import CatalogInvalidError
from discreet.profile.model import Profile
from discreet.publish.publisher import PublishResult
from discreet.publish.repository import PublisherRepository
from discreet.rank.ranker import Ranker
from discreet.sync.client import sync_catalog
from discreet.sync.installed import InstalledCatalogs

TODAY = dt.date(2026, 11, 29)


def _republish(repo: PublisherRepository, folder: Path, *, keep_manifest_int8: bool) -> None:
    """Publish the current release again as v2, without its int8 rows."""
    folder.mkdir()
    for name, target in repo.current_targets().items():
        if name.removeprefix("catalog/") not in QUANTISED_FILES:
            shutil.copy(repo.target_path(target), folder / name.removeprefix("catalog/"))
    manifest = json.loads((folder / "manifest.json").read_bytes())
    manifest["catalog"]["version"] = 2
    if not keep_manifest_int8:
        del manifest["embeddings"]["int8"]
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with repo.lock():
        repo.publish_targets({p.name: p for p in folder.iterdir()})


def test_a_release_without_int8_rows_installs_and_ranks_as_with_them(
    repo: PublisherRepository,
    publish: Callable[..., PublishResult],
    home: Path,
    tmp_path: Path,
) -> None:
    publish()
    with_rows = Catalog.open(sync_catalog(home, str(repo.path), root=repo.trusted_root_path).folder)
    assert with_rows.quantised is not None
    assert all((with_rows.folder / name).exists() for name in QUANTISED_FILES)
    _republish(repo, tmp_path / "older", keep_manifest_int8=False)
    installed = sync_catalog(home, str(repo.path))
    assert installed.updated
    assert installed.version == 2
    without = InstalledCatalogs(home).open()
    assert without.quantised is None
    assert not any((without.folder / name).exists() for name in QUANTISED_FILES)
    profile = Profile.new(TODAY)
    profile.record(without.item_at(0).id, "like", TODAY)
    expected = Ranker(with_rows, first_pass_min_items=0).recommend(profile, 5, today=TODAY)
    actual = Ranker(without, first_pass_min_items=0).recommend(profile, 5, today=TODAY)
    assert len(actual) == 5
    assert [r.item_id for r in actual] == [r.item_id for r in expected]


def test_a_manifest_naming_int8_rows_its_release_lacks_is_refused(
    repo: PublisherRepository,
    publish: Callable[..., PublishResult],
    home: Path,
    tmp_path: Path,
) -> None:
    publish()
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    _republish(repo, tmp_path / "lacking", keep_manifest_int8=True)
    with pytest.raises(CatalogInvalidError, match=r"quantised\.npy"):
        sync_catalog(home, str(repo.path))
    assert InstalledCatalogs(home).open().version == 1
