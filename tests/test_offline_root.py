"""The root signing key kept offline and encrypted: ``publish init --offline-root DIR``.

Root is asked for its passphrase only when it signs (a key rotation); every
other command works without it. A wrong passphrase is its own error, in one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tuf.api.metadata import Metadata, Root

from discreet.cli._keys import ROOT_PASSPHRASE_ENV
from discreet.errors import RepositoryError, RootPassphraseError
from discreet.publish.repository import PublisherRepository

PASSPHRASE = "correct horse battery staple"


def _discreet(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != ROOT_PASSPHRASE_ENV}
    return subprocess.run(
        [sys.executable, "-m", "discreet", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**environ, **env},
    )


@pytest.fixture
def offline(tmp_path: Path) -> tuple[Path, Path]:
    """A repository made by the CLI with its root key in another folder."""
    repo, root = tmp_path / "repo", tmp_path / "usb" / "root"
    passphrase_file = tmp_path / "passphrase.txt"
    passphrase_file.write_text(PASSPHRASE + "\n", encoding="utf-8")
    done = _discreet(
        "publish", "init", str(repo), "--offline-root", str(root),
        "--passphrase-file", str(passphrase_file), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["root_key"] == str(root / "root.pem")
    assert answer["root_key_encrypted"] is True
    return repo, root


def test_the_root_key_is_outside_the_repository_and_encrypted(
    offline: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, root = offline
    pem = (root / "root.pem").read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert (root / "root.pem").stat().st_mode & 0o077 == 0
    names = {p.name for p in repo.rglob("*")}
    assert "root.pem" not in names
    assert {"targets.pem", "snapshot.pem", "timestamp.pem"} <= names
    for path in repo.rglob("*"):
        if path.is_file():
            assert pem[40:80] not in path.read_bytes(), path
    # The other roles are unaffected: a release signs without any passphrase.
    opened = PublisherRepository.open(repo)
    assert opened.refresh(roles={"targets", "snapshot"})["targets"] is not None


def test_only_a_rotation_asks_for_the_passphrase_and_a_wrong_one_is_one_line(
    offline: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, _ = offline
    assert _discreet("publish", "refresh", str(repo), "--role", "targets").returncode == 0
    missing = _discreet("publish", "rotate-key", str(repo), "--role", "targets")
    assert missing.returncode == 1
    assert f"no passphrase given; set {ROOT_PASSPHRASE_ENV}" in missing.stderr
    wrong = _discreet(
        "publish", "rotate-key", str(repo), "--role", "targets",
        **{ROOT_PASSPHRASE_ENV: "not it"},
    )  # fmt: skip
    assert wrong.returncode == 1
    assert wrong.stderr.count("\n") == 1
    assert "wrong passphrase for the root key" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    assert not (repo / "public" / "metadata" / "2.root.json").exists(), "nothing was signed"
    with pytest.raises(RootPassphraseError, match="wrong passphrase"):
        PublisherRepository.open(repo, passphrase=lambda: "not it").rotate_key("targets")


def test_a_rotation_with_the_offline_root_is_signed_by_it_and_stays_encrypted(
    offline: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, root = offline
    moved = tmp_path / "elsewhere"
    root.rename(moved)  # the medium is mounted somewhere else today
    done = _discreet(
        "publish", "rotate-key", str(repo), "--role", "root", "--offline-root", str(moved),
        **{ROOT_PASSPHRASE_ENV: PASSPHRASE},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    metadata = repo / "public" / "metadata"
    first = Metadata[Root].from_bytes((metadata / "1.root.json").read_bytes())
    second = Metadata[Root].from_bytes((metadata / "2.root.json").read_bytes())
    # The old root key signed the new root, and so did the new one.
    first.signed.verify_delegate("root", second.signed_bytes, second.signatures)
    second.signed.verify_delegate("root", second.signed_bytes, second.signatures)
    new_pem = (moved / "root.pem").read_bytes()
    assert new_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert not (moved / "root.next.pem").exists()
    assert "root.pem" not in {p.name for p in repo.rglob("*")}
    # The new key opens with the same passphrase: a second rotation works.
    again = PublisherRepository.open(repo, offline_root=moved, passphrase=lambda: PASSPHRASE)
    assert again.rotate_key("targets") == 3


def test_an_offline_root_inside_the_repository_or_without_a_passphrase_is_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(RepositoryError, match="outside the repository"):
        PublisherRepository.init(
            tmp_path / "repo", offline_root=tmp_path / "repo" / "root", root_passphrase="x"
        )
    with pytest.raises(ValueError, match="needs a passphrase"):
        PublisherRepository.init(tmp_path / "repo", offline_root=tmp_path / "root")
    assert not (tmp_path / "repo").exists()
    assert not (tmp_path / "root").exists()
