"""Build, publish and sync round trips over local folders and real HTTP on loopback."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from discreet.catalog.manifest import Notice
from discreet.catalog.reader import Catalog
from discreet.errors import (
    CatalogBusyError,
    CatalogCorruptError,
    CatalogNotInstalledError,
    NoTrustedRootError,
    SourceUnavailableError,
)
from discreet.publish.repository import PublisherRepository
from discreet.sync.client import sync_catalog
from discreet.sync.installed import InstalledCatalogs
from tests.conftest import ITEMS
from tests.server_support import static_folder


@pytest.fixture
def http_source(repo: PublisherRepository) -> Iterator[str]:
    """The served folder over real HTTP on a free loopback port."""
    with static_folder(repo.public) as url:
        yield url


def test_build_and_sync_round_trip_from_a_folder(
    repo: PublisherRepository, publish: Callable[..., object], home: Path
) -> None:
    publish()
    result = sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    assert result.updated
    assert result.version == 1
    assert result.previous_version is None
    catalog = InstalledCatalogs(home).open()
    assert len(catalog) == len(ITEMS)
    assert catalog.ids == tuple(i["id"] for i in ITEMS)
    assert catalog.item("b5").title == "Rails Across Asia"
    assert catalog.item("b5").created is not None
    assert catalog.item("b5").created.year == 2022
    assert isinstance(catalog.embeddings, np.memmap)
    assert catalog.embeddings.shape == (len(ITEMS), catalog.manifest.dim)
    np.testing.assert_allclose(np.linalg.norm(catalog.embeddings, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(catalog.popularity, 1 / len(ITEMS), rtol=1e-6)
    assert catalog.taxonomy.is_sensitive("sleep")
    with pytest.raises(KeyError):
        catalog.item("nope")


def test_sync_over_http_updates_and_keeps_one_previous_release(
    repo: PublisherRepository, publish: Callable[..., object], home: Path, http_source: str
) -> None:
    publish()
    assert sync_catalog(home, http_source, root=repo.trusted_root_path).version == 1
    again = sync_catalog(home, http_source)
    assert not again.updated
    assert again.version == 1
    notice = Notice(
        "n1", "warning", "Policy change", "We now keep logs for 7 days.", dt.date(2026, 11, 1)
    )
    publish(notices=(notice,))
    result = sync_catalog(home, http_source)
    assert result.updated
    assert (result.version, result.previous_version) == (2, 1)
    assert result.notices == (notice,)
    publish()
    sync_catalog(home, http_source)
    releases = sorted(p.name.split("-")[0] for p in InstalledCatalogs(home).releases_dir.iterdir())
    assert releases == ["2", "3"]


def test_clients_follow_root_key_rotation(
    repo: PublisherRepository, publish: Callable[..., object], home: Path
) -> None:
    publish()
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    assert repo.rotate_key("root") == 2
    assert repo.rotate_key("targets") == 3
    publish()
    result = sync_catalog(home, str(repo.path))  # still anchored on 1.root.json
    assert result.version == 2
    history = InstalledCatalogs(home).tuf_dir / "root_history"
    assert sorted(p.name for p in history.iterdir()) == [
        "1.root.json",
        "2.root.json",
        "3.root.json",
    ]
    assert not (repo.keys.path / "root.next.pem").exists()


def test_first_sync_needs_a_trusted_root(
    repo: PublisherRepository, publish: Callable[..., object], home: Path
) -> None:
    publish()
    with pytest.raises(NoTrustedRootError, match="--root"):
        sync_catalog(home, str(repo.path))
    with pytest.raises(CatalogNotInstalledError, match="discreet sync"):
        InstalledCatalogs(home).open()


def test_unreachable_sources_fail_cleanly_and_keep_the_catalog(
    repo: PublisherRepository, publish: Callable[..., object], home: Path, tmp_path: Path
) -> None:
    publish()
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    with pytest.raises(SourceUnavailableError, match="check the path"):
        sync_catalog(home, str(tmp_path / "missing"))
    with pytest.raises(SourceUnavailableError, match="cannot reach"):
        sync_catalog(home, "http://127.0.0.1:9", timeout=2)
    assert InstalledCatalogs(home).open().version == 1


def test_a_second_syncing_process_is_told_to_wait(
    repo: PublisherRepository, publish: Callable[..., object], home: Path
) -> None:
    publish()
    installed = InstalledCatalogs(home)
    with (
        installed.lock(),
        pytest.raises(CatalogBusyError, match="try again"),
        installed.lock(timeout=0.1),
    ):
        pass


def test_damaged_installed_catalog_is_reported_not_crashed(
    repo: PublisherRepository, publish: Callable[..., object], home: Path
) -> None:
    publish()
    result = sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    (result.folder / "embeddings.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(CatalogCorruptError, match="discreet sync"):
        Catalog.open(result.folder)


def test_installed_release_has_a_lookup_index_that_never_lies(
    repo: PublisherRepository, publish: Callable[..., object], home: Path
) -> None:
    from discreet.catalog.index import INDEX_FILES

    publish()
    folder = sync_catalog(home, str(repo.path), root=repo.trusted_root_path).folder
    assert all((folder / name).exists() for name in INDEX_FILES)
    catalog = Catalog.open(folder)
    for row, item in enumerate(ITEMS):
        assert catalog.index_of(item["id"]) == row
        assert catalog.item_at(row).id == item["id"]
    assert "missing" not in catalog
    assert 3 not in catalog  # type: ignore[operator]
    with pytest.raises(IndexError):
        catalog.item_at(len(ITEMS))
    # A locally edited index (rows shuffled) can only make look-ups fail, never lie.
    rows = np.load(folder / "index.rows.npy")
    np.save(folder / "index.rows.npy", np.roll(rows, 1), allow_pickle=False)
    tampered = Catalog.open(folder)
    for item in ITEMS:
        try:
            row = tampered.index_of(item["id"])
        except KeyError:
            continue
        assert tampered.item_at(row).id == item["id"]
    # Without an index the catalog still works, from an in-memory map.
    for name in INDEX_FILES:
        (folder / name).unlink()
    plain = Catalog.open(folder)
    assert plain.index_of("b5") == 4
    assert plain.item("b5").title == "Rails Across Asia"
