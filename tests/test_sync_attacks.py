"""Each TUF attack gets its own error, and the previous catalog stays in use.

The attacker controls a mirror: a copy of the served folder that the client
syncs from. The publisher's own repository is never altered by these tests.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import time_machine
from tuf.api.metadata import Metadata, Root

from discreet.errors import (
    CatalogExpiredError,
    CatalogInvalidError,
    CatalogMixAndMatchError,
    CatalogOversizedError,
    CatalogRejectedError,
    CatalogRollbackError,
    CatalogSignatureError,
    CatalogTamperedError,
)
from discreet.publish.keys import generate_signer
from discreet.publish.repository import PublisherRepository, utc_now
from discreet.sync.client import sync_catalog
from discreet.sync.installed import InstalledCatalogs


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


def _assert_still_v1(home: Path, before: bytes) -> None:
    installed = InstalledCatalogs(home)
    assert (installed.path / "current.json").read_bytes() == before
    assert installed.open().version == 1
    assert [p.name for p in installed.releases_dir.iterdir() if p.name.startswith(".")] == []


def _current(home: Path) -> bytes:
    return (InstalledCatalogs(home).path / "current.json").read_bytes()


def _stored_target(repo: PublisherRepository, mirror_dir: Path, name: str) -> Path:
    target = repo.current_targets()[f"catalog/{name}"]
    return mirror_dir / repo.target_path(target).relative_to(repo.public)


def test_tampered_target_is_rejected(
    repo: PublisherRepository, synced_v1: Path, mirror: Callable[[], Path], home: Path
) -> None:
    before = _current(home)
    source = mirror()
    stored = _stored_target(repo, source, "embeddings.npy")
    size = stored.stat().st_size
    stored.write_bytes(np.random.default_rng(1).bytes(size))  # same length, arbitrary content
    with pytest.raises(CatalogTamperedError, match="previous catalog stays in use"):
        sync_catalog(home, str(source))
    _assert_still_v1(home, before)


def test_tampered_metadata_signature_is_rejected(
    synced_v1: Path, mirror: Callable[[], Path], home: Path
) -> None:
    before = _current(home)
    source = mirror()
    timestamp = source / "metadata" / "timestamp.json"
    doc = json.loads(timestamp.read_bytes())
    doc["signed"]["expires"] = "2099-01-01T00:00:00Z"  # signed bytes change, signature does not
    timestamp.write_text(json.dumps(doc))
    with pytest.raises(CatalogSignatureError):
        sync_catalog(home, str(source))
    _assert_still_v1(home, before)


def test_root_signed_by_an_attacker_is_rejected(
    repo: PublisherRepository, synced_v1: Path, mirror: Callable[[], Path], home: Path
) -> None:
    before = _current(home)
    source = mirror()
    root = Metadata[Root].from_bytes(repo.trusted_root_path.read_bytes())
    attacker, _ = generate_signer()
    for keyid in list(root.signed.roles["root"].keyids):
        root.signed.revoke_key(keyid, "root")
    root.signed.add_key(attacker.public_key, "root")
    root.signed.version = 2
    root.sign(attacker)
    (source / "metadata" / "2.root.json").write_bytes(root.to_bytes())
    with pytest.raises(CatalogSignatureError):
        sync_catalog(home, str(source))
    _assert_still_v1(home, before)


def test_rollback_to_older_metadata_is_rejected(
    repo: PublisherRepository,
    publish: Callable[..., object],
    mirror: Callable[[], Path],
    home: Path,
    tmp_path: Path,
) -> None:
    publish()
    old = tmp_path / "old-release"
    shutil.copytree(repo.public, old)
    publish()
    source = mirror()
    sync_catalog(home, str(source), root=repo.trusted_root_path)
    before = _current(home)
    assert InstalledCatalogs(home).open().version == 2
    with pytest.raises(CatalogRollbackError):
        sync_catalog(home, str(old))
    assert _current(home) == before
    assert InstalledCatalogs(home).open().version == 2


def test_expired_timestamp_signed_in_the_past_is_rejected(
    repo: PublisherRepository,
    publish: Callable[..., object],
    mirror: Callable[[], Path],
    home: Path,
) -> None:
    publish()
    sync_catalog(home, str(mirror()), root=repo.trusted_root_path)
    before = _current(home)
    publish(now=utc_now() - dt.timedelta(days=3))  # expiries are now in the past
    with pytest.raises(CatalogExpiredError, match="freeze"):
        sync_catalog(home, str(mirror()))
    _assert_still_v1(home, before)


def test_frozen_mirror_is_detected_when_the_client_clock_moves_on(
    repo: PublisherRepository,
    publish: Callable[..., object],
    mirror: Callable[[], Path],
    home: Path,
) -> None:
    publish()
    frozen = mirror()
    sync_catalog(home, str(frozen), root=repo.trusted_root_path)
    before = _current(home)
    # The mirror keeps serving the same, once valid, timestamp: two days later it has expired.
    with (
        time_machine.travel(utc_now() + dt.timedelta(days=2), tick=False),
        pytest.raises(CatalogExpiredError),
    ):
        sync_catalog(home, str(frozen))
    _assert_still_v1(home, before)


def test_endless_target_data_is_cut_off(
    repo: PublisherRepository, synced_v1: Path, mirror: Callable[[], Path], home: Path
) -> None:
    before = _current(home)
    source = mirror()
    stored = _stored_target(repo, source, "items.jsonl")
    with stored.open("ab") as f:
        f.write(b"x" * (8 << 20))
    with pytest.raises(CatalogOversizedError, match="endless data"):
        sync_catalog(home, str(source))
    _assert_still_v1(home, before)


def test_endless_metadata_is_cut_off(
    synced_v1: Path, mirror: Callable[[], Path], home: Path
) -> None:
    before = _current(home)
    source = mirror()
    (source / "metadata" / "timestamp.json").write_bytes(b" " * (1 << 20))
    with pytest.raises(CatalogOversizedError):
        sync_catalog(home, str(source))
    _assert_still_v1(home, before)


def test_signed_release_over_the_device_limit_is_refused(
    synced_v1: Path, mirror: Callable[[], Path], home: Path
) -> None:
    before = _current(home)
    with pytest.raises(CatalogOversizedError, match="over this device's limit"):
        sync_catalog(home, str(mirror()), max_release_bytes=1000)
    _assert_still_v1(home, before)


def test_mix_and_match_metadata_is_rejected(
    repo: PublisherRepository, synced_v1: Path, mirror: Callable[[], Path], home: Path
) -> None:
    before = _current(home)
    source = mirror()
    meta = source / "metadata"
    # The snapshot points at targets v3; serve v2's targets under that name.
    assert (meta / "3.targets.json").exists()
    (meta / "3.targets.json").write_bytes((meta / "2.targets.json").read_bytes())
    with pytest.raises(CatalogMixAndMatchError):
        sync_catalog(home, str(source))
    _assert_still_v1(home, before)


def test_signed_but_hostile_content_is_rejected(
    repo: PublisherRepository, synced_v1: Path, home: Path, tmp_path: Path
) -> None:
    """A compromised build may sign anything: a pickled array must never be loaded."""
    before = _current(home)
    release = tmp_path / "hostile"
    release.mkdir()
    for name, target in repo.current_targets().items():
        shutil.copy(repo.target_path(target), release / name.removeprefix("catalog/"))
    np.save(release / "embeddings.npy", np.array([{"x": 1}] * 8, dtype=object), allow_pickle=True)
    with repo.lock():
        repo.publish_targets({p.name: p for p in release.iterdir()})
    with pytest.raises(CatalogInvalidError):
        sync_catalog(home, str(repo.path))
    _assert_still_v1(home, before)


def test_every_attack_error_is_a_rejection() -> None:
    for cls in (
        CatalogTamperedError,
        CatalogSignatureError,
        CatalogRollbackError,
        CatalogExpiredError,
        CatalogOversizedError,
        CatalogMixAndMatchError,
        CatalogInvalidError,
    ):
        assert issubclass(cls, CatalogRejectedError)


def test_items_split_across_lines_are_rejected(tmp_path: Path) -> None:
    """One record per line, always: a record spread over lines cannot shift row look-ups."""
    from discreet.catalog.reader import parse_jsonl

    assert parse_jsonl(b'{"id": "a"}\n{"id": "b"}\n') == [{"id": "a"}, {"id": "b"}]
    for hostile in (
        b'{"x": [1\n2]}\n{"y": 1}\n',
        b'{"a": 1} {"b": 2}\n',
        b'{"a": 1}\n\n{"b": 2}\n',
    ):
        with pytest.raises(ValueError):
            parse_jsonl(hostile)


def test_release_asking_to_report_a_sensitive_topic_is_rejected(
    repo: PublisherRepository, synced_v1: Path, home: Path, tmp_path: Path
) -> None:
    """Even a validly signed catalog cannot make devices report sensitive categories."""
    before = _current(home)
    release = tmp_path / "greedy"
    release.mkdir()
    for name, target in repo.current_targets().items():
        shutil.copy(repo.target_path(target), release / name.removeprefix("catalog/"))
    manifest = json.loads((release / "manifest.json").read_bytes())
    categories = manifest["reporting"]["kinds"]["category"]
    categories["categories"] = [*categories["categories"][:-1], "health"]
    (release / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with repo.lock():
        repo.publish_targets({p.name: p for p in release.iterdir()})
    with pytest.raises(CatalogInvalidError, match="sensitive"):
        sync_catalog(home, str(repo.path))
    _assert_still_v1(home, before)
