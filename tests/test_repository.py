"""The publisher's repository: keys, layout, expiries, failure atomicity."""

from __future__ import annotations

import datetime as dt
import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from tuf.api.metadata import Metadata, Root

from discreet.errors import (
    ItemsInvalidError,
    RepositoryBusyError,
    RepositoryExistsError,
    RepositoryNotFoundError,
)
from discreet.publish.publisher import publish_catalog
from discreet.publish.repository import Expiries, PublisherRepository


def _tree(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def test_keys_are_private_and_never_served(repo: PublisherRepository) -> None:
    assert stat.S_IMODE(repo.keys.path.stat().st_mode) == 0o700
    pems = sorted(repo.keys.path.iterdir())
    assert [p.name for p in pems] == ["root.pem", "snapshot.pem", "targets.pem", "timestamp.pem"]
    for pem in pems:
        assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    served = b"".join(_tree(repo.public).values())
    assert b"PRIVATE KEY" not in served
    assert not repo.keys.path.resolve().is_relative_to(repo.public.resolve())


def test_root_has_four_distinct_ed25519_keys(repo: PublisherRepository) -> None:
    root = Metadata[Root].from_bytes(repo.trusted_root_path.read_bytes()).signed
    keyids = [root.roles[r].keyids[0] for r in ("root", "targets", "snapshot", "timestamp")]
    assert len(set(keyids)) == 4
    assert {root.keys[k].keytype for k in keyids} == {"ed25519"}
    assert root.consistent_snapshot is True


def test_keys_can_live_outside_the_repository(tmp_path: Path) -> None:
    repo = PublisherRepository.init(tmp_path / "r", keys_dir=tmp_path / "vault" / "keys")
    assert not (tmp_path / "r" / "keys").exists()
    assert (
        PublisherRepository.open(tmp_path / "r").keys.path
        == (tmp_path / "vault" / "keys").resolve()
    )
    assert repo.keys.load("targets") is not None


def test_init_refuses_a_folder_in_use(repo: PublisherRepository, tmp_path: Path) -> None:
    with pytest.raises(RepositoryExistsError):
        PublisherRepository.init(repo.path)
    other = tmp_path / "busy"
    other.mkdir()
    (other / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(RepositoryExistsError, match="not empty"):
        PublisherRepository.init(other)
    with pytest.raises(RepositoryNotFoundError, match="publish init"):
        PublisherRepository.open(tmp_path / "nowhere")


def test_missing_key_is_a_clear_error(
    repo: PublisherRepository, publish: Callable[..., object]
) -> None:
    (repo.keys.path / "targets.pem").unlink()
    with pytest.raises(RepositoryNotFoundError, match="no targets signing key"):
        publish()


def test_expiries_follow_configuration(
    repo: PublisherRepository, publish: Callable[..., object]
) -> None:
    now = dt.datetime(2030, 5, 1, tzinfo=dt.UTC)
    publish(
        now=now, expiries=Expiries(targets=dt.timedelta(days=30), timestamp=dt.timedelta(hours=6))
    )
    expires = repo.expiries_of()
    assert expires["targets"] == now + dt.timedelta(days=30)
    assert expires["snapshot"] == now + dt.timedelta(days=7)
    assert expires["timestamp"] == now + dt.timedelta(hours=6)
    later = now + dt.timedelta(hours=5)
    refreshed = repo.refresh(now=later)
    assert refreshed["timestamp"] == later + dt.timedelta(days=1)
    assert refreshed["targets"] == expires["targets"]


def test_versions_bump_and_old_targets_are_pruned(
    repo: PublisherRepository, publish: Callable[..., object]
) -> None:
    versions = [publish().manifest.version for _ in range(3)]  # type: ignore[attr-defined]
    assert versions == [1, 2, 3]
    timestamp = json.loads((repo.metadata_dir / "timestamp.json").read_bytes())
    assert timestamp["signed"]["version"] == 4  # init + three releases
    stored = list((repo.targets_dir / "catalog").iterdir())
    # manifests differ per version; the other files are identical and shared
    assert len([p for p in stored if p.name.endswith("manifest.json")]) == 2


def test_invalid_input_leaves_the_repository_untouched(
    repo: PublisherRepository, publish: Callable[..., object], inputs: tuple[Path, Path]
) -> None:
    publish()
    before = _tree(repo.path)
    inputs[0].write_text(inputs[0].read_text(encoding="utf-8") + '{"id": "zz"}\n', encoding="utf-8")
    with pytest.raises(ItemsInvalidError, match="field 'title'"):
        publish_catalog(repo, inputs[0], inputs[1])
    assert _tree(repo.path) == before


def test_one_publisher_at_a_time(repo: PublisherRepository, publish: Callable[..., object]) -> None:
    with (
        repo.lock(),
        pytest.raises(RepositoryBusyError, match="another process"),
        repo.lock(timeout=0.1),
    ):
        pass
