"""Shared fixtures: small real input files, a real TUF repository, a client home."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from discreet.publish.publisher import PublishResult, publish_catalog
from discreet.publish.repository import PublisherRepository

# The suite speaks English wherever it runs (processes it starts inherit this); the
# tests of Spanish ask for it themselves.
os.environ["DISCREET_LANG"] = "en"

#: The attack tests' fixtures (``served``, ``synced_v1``), for every module.
pytest_plugins = ["tests.attack_support"]

TAXONOMY = {
    "format_version": 1,
    "categories": [
        {"id": "fiction", "label": "Fiction"},
        {"id": "cooking", "label": "Cooking"},
        {"id": "travel", "label": "Travel"},
        {"id": "health", "label": "Health", "sensitive": True},
        {"id": "sleep", "label": "Sleep", "parent": "health"},
    ],
}

ITEMS = [
    {
        "id": "b1",
        "title": "The Orchard",
        "text": "A quiet novel about apples, grief and a family farm.",
        "categories": ["fiction"],
        "created": "2024-01-02",
        "language": "en",
    },
    {
        "id": "b2",
        "title": "Winter Soups",
        "text": "Slow soups and stews for cold evenings, with bread.",
        "categories": ["cooking"],
        "language": "en",
    },
    {
        "id": "b3",
        "title": "Sleep Well",
        "text": "A gentle guide to sleeping better and waking rested.",
        "categories": ["sleep"],
        "language": "en",
    },
    {
        "id": "b4",
        "title": "The Kitchen Year",
        "text": "A cook's year of seasonal vegetables, soups and breads.",
        "categories": ["cooking", "fiction"],
    },
    {
        "id": "b5",
        "title": "Rails Across Asia",
        "text": "A long train journey from Istanbul to Beijing.",
        "categories": ["travel"],
        "created": "2022-06-30",
    },
    {
        "id": "b6",
        "title": "The Lighthouse Keeper",
        "text": "A novel of storms, letters and a lonely island.",
        "categories": ["fiction"],
    },
    {
        "id": "b7",
        "title": "Street Food Journeys",
        "text": "Travel and cooking through the night markets of Asia.",
        "categories": ["travel", "cooking"],
    },
    {
        "id": "b8",
        "title": "Breathing Space",
        "text": "Calm breathing exercises for stress and better health.",
        "categories": ["health"],
    },
]


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    """A valid items file (JSONL) and taxonomy file (JSON)."""
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps(i) + "\n" for i in ITEMS), encoding="utf-8")
    taxonomy = tmp_path / "taxonomy.json"
    taxonomy.write_text(json.dumps(TAXONOMY), encoding="utf-8")
    return items, taxonomy


@pytest.fixture
def repo(tmp_path: Path) -> PublisherRepository:
    """A fresh, empty TUF repository."""
    return PublisherRepository.init(tmp_path / "repo")


@pytest.fixture
def publish(repo: PublisherRepository, inputs: tuple[Path, Path]) -> Callable[..., PublishResult]:
    """Publish the small catalog (again) into ``repo``; keyword arguments go to publish_catalog."""

    def _publish(**kwargs: object) -> PublishResult:
        return publish_catalog(repo, inputs[0], inputs[1], **kwargs)  # type: ignore[arg-type]

    return _publish


@pytest.fixture
def release(
    repo: PublisherRepository, publish: Callable[..., PublishResult], tmp_path: Path
) -> Path:
    """The files of a real published release, in a folder of their own."""
    publish()
    folder = tmp_path / "release"
    folder.mkdir()
    for name, target in repo.current_targets().items():
        shutil.copy(repo.target_path(target), folder / name.removeprefix("catalog/"))
    return folder


@pytest.fixture
def mirror(tmp_path: Path, repo: PublisherRepository) -> Callable[[], Path]:
    """Copy the served folder to a mirror that a test (the attacker) may alter."""
    target = tmp_path / "mirror"

    def _copy() -> Path:
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(repo.public, target)
        return target

    return _copy


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A client home folder."""
    return tmp_path / "home"


@pytest.fixture
def cli_home(
    repo: PublisherRepository,
    publish: Callable[..., PublishResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A client home with the small catalog installed; the CLI finds it and a passphrase
    through the environment."""
    from discreet.sync.client import sync_catalog

    publish()
    home = tmp_path / "client"
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    monkeypatch.setenv("DISCREET_HOME", str(home))
    monkeypatch.setenv("DISCREET_PASSPHRASE", "a long enough passphrase")
    return home


class MemoryKeyring:
    """An in-memory keyring backend, standing in for the OS one."""

    priority = 1

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.secrets[(service, username)]


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> MemoryKeyring:
    import keyring

    memory = MemoryKeyring()
    monkeypatch.setattr(keyring, "get_password", memory.get_password)
    monkeypatch.setattr(keyring, "set_password", memory.set_password)
    monkeypatch.setattr(keyring, "delete_password", memory.delete_password)
    return memory
