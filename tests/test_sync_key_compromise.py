"""An attacker holding some of the publisher's online keys still cannot move a device back.

Each test steals keys from the publisher's key folder and signs metadata with
them into the mirror. With every key, only the checks of content remain (see
``test_signed_but_hostile_content_is_rejected``); with fewer, TUF's ordering of
roles and versions holds, and the previous catalog stays in use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import time_machine
from securesystemslib.signer import Signer
from tuf.api.metadata import Metadata, MetaFile, TargetFile

from discreet.errors import (
    CatalogExpiredError,
    CatalogMetadataTamperedError,
    CatalogRollbackError,
    CatalogSignatureError,
)
from discreet.publish.repository import PublisherRepository, utc_now
from discreet.sync.client import sync_catalog
from tests.attack_support import Served, assert_still_v1, current_record, named_metadata


def _resign(
    path: Path, signer: Signer, change: Callable[[Any], None], to: Path | None = None
) -> Path:
    """Change ``path``'s signed content, sign it with ``signer`` alone, write it (to ``to``)."""
    metadata: Metadata[Any] = Metadata.from_bytes(path.read_bytes())
    change(metadata.signed)
    metadata.signatures.clear()
    metadata.sign(signer)
    target = to or path
    target.write_bytes(metadata.to_bytes())
    return target


def _meta_file(path: Path) -> MetaFile:
    data = path.read_bytes()
    version = int(path.name.split(".")[0])
    return MetaFile(version, len(data), {"sha256": hashlib.sha256(data).hexdigest()})


def _fresh_timestamp(snapshot: Path | None = None) -> Callable[[Any], None]:
    """A newer timestamp, valid for a day, naming ``snapshot`` (or the same one)."""

    def change(timestamp: Any) -> None:
        timestamp.version += 1
        timestamp.expires = utc_now() + dt.timedelta(days=1)
        if snapshot is not None:
            timestamp.snapshot_meta = _meta_file(snapshot)

    return change


def test_a_stolen_timestamp_key_cannot_roll_the_snapshot_back(
    repo: PublisherRepository,
    synced_v1: Path,
    mirror: Callable[[], Path],
    home: Path,
    served: Served,
) -> None:
    before = current_record(home)
    source = mirror()
    meta = source / "metadata"
    older = _fresh_timestamp(meta / "1.snapshot.json")
    _resign(meta / "timestamp.json", repo.keys.load("timestamp"), older)
    with pytest.raises(CatalogRollbackError, match="rollback"):
        sync_catalog(home, served(source))
    assert_still_v1(home, before)


def test_a_stolen_timestamp_key_cannot_keep_a_release_fresh_past_its_expiry(
    repo: PublisherRepository,
    synced_v1: Path,
    mirror: Callable[[], Path],
    home: Path,
    served: Served,
) -> None:
    """A freeze attack with the timestamp key ends when the snapshot it names expires."""
    before = current_record(home)
    source = mirror()
    stolen = repo.keys.load("timestamp")
    with time_machine.travel(utc_now() + dt.timedelta(days=8), tick=False):
        _resign(source / "metadata" / "timestamp.json", stolen, _fresh_timestamp())
        with pytest.raises(CatalogExpiredError, match="freeze"):
            sync_catalog(home, served(source))
    assert_still_v1(home, before)


def test_a_stolen_targets_key_alone_cannot_change_the_release(
    repo: PublisherRepository,
    synced_v1: Path,
    mirror: Callable[[], Path],
    home: Path,
    served: Served,
) -> None:
    before = current_record(home)
    source = mirror()
    evil = TargetFile.from_data("catalog/items.jsonl", b'{"id": "x", "title": "evil"}\n')
    _resign(
        named_metadata(source, "targets"),
        repo.keys.load("targets"),
        lambda targets: targets.targets.update({evil.path: evil}),
    )
    with pytest.raises(CatalogMetadataTamperedError, match="targets metadata"):
        sync_catalog(home, served(source))
    assert_still_v1(home, before)


def test_stolen_snapshot_and_timestamp_keys_cannot_roll_the_targets_back(
    repo: PublisherRepository,
    synced_v1: Path,
    mirror: Callable[[], Path],
    home: Path,
    served: Served,
) -> None:
    before = current_record(home)
    source = mirror()
    meta = source / "metadata"
    named = named_metadata(source, "snapshot")
    version = int(named.name.split(".")[0]) + 1

    def older_targets(snapshot: Any) -> None:
        snapshot.version = version
        snapshot.expires = utc_now() + dt.timedelta(days=7)
        snapshot.meta["targets.json"] = _meta_file(meta / "1.targets.json")

    forged = _resign(
        named, repo.keys.load("snapshot"), older_targets, to=meta / f"{version}.snapshot.json"
    )
    _resign(meta / "timestamp.json", repo.keys.load("timestamp"), _fresh_timestamp(forged))
    with pytest.raises(CatalogRollbackError, match="rollback"):
        sync_catalog(home, served(source))
    assert_still_v1(home, before)


def test_a_revoked_timestamp_key_no_longer_signs(
    repo: PublisherRepository,
    synced_v1: Path,
    mirror: Callable[[], Path],
    home: Path,
    served: Served,
) -> None:
    """After the publisher rotates a stolen key, metadata signed with it is foreign."""
    stolen = repo.keys.load("timestamp")
    with repo.lock():
        repo.rotate_key("timestamp")
    assert sync_catalog(home, served(mirror())).version == 2  # the device follows the rotation
    before = current_record(home)
    source = mirror()
    _resign(source / "metadata" / "timestamp.json", stolen, _fresh_timestamp())
    with pytest.raises(CatalogSignatureError, match="not signed by the keys this device trusts"):
        sync_catalog(home, served(source))
    assert current_record(home) == before
