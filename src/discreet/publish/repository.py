"""The publisher's TUF repository: signed, versioned, expiring catalog releases.

Layout of a repository folder::

    REPO/
      repo.json              what this folder is (format version)
      keys/                  private keys, mode 0700/0600, never served
      public/                the served folder (``discreet serve`` and ``sync --from``)
        metadata/            1.root.json, 2.root.json ..., N.targets.json,
                             N.snapshot.json, timestamp.json
        targets/catalog/     <sha256>.<file>: content-addressed catalog files
      models/<catalog>/v<N>/ fitted pipeline and model card (publisher only)

Consistent snapshots are on: metadata is published under versioned names and
targets under hash-prefixed names, so a client that starts downloading while
a new release is written still sees one coherent release. ``timestamp.json``
is written last and is the commit point of every release. The snapshot and
timestamp record the length and hash of the metadata they point at, so that
metadata from different releases cannot be mixed.

Every clock-dependent method takes ``now`` so that tests and operators can sign
at an explicit time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)

from discreet._fs import (
    atomic_copy_file,
    atomic_write_bytes,
    atomic_write_json,
    exclusive_lock,
    fsync_dir,
)
from discreet.errors import (
    RepositoryBusyError,
    RepositoryError,
    RepositoryExistsError,
    RepositoryNotFoundError,
)
from discreet.i18n import _
from discreet.publish.keys import ROLES, KeyFolder, generate_signer

REPO_FORMAT_VERSION = 1
TARGET_PREFIX = "catalog/"
_VERSIONED = re.compile(r"^(\d+)\.root\.json$")


def utc_now() -> dt.datetime:
    """The current time in UTC, to the second (TUF's resolution)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Expiries:
    """How long each role's metadata stays valid after signing."""

    root: dt.timedelta = dt.timedelta(days=365)
    targets: dt.timedelta = dt.timedelta(days=7)
    snapshot: dt.timedelta = dt.timedelta(days=7)
    timestamp: dt.timedelta = dt.timedelta(days=1)

    def of(self, role: str) -> dt.timedelta:
        """The validity period of ``role``."""
        value: dt.timedelta = getattr(self, role)
        return value


@dataclass
class _State:
    root: Metadata[Root]
    targets: Metadata[Targets]
    snapshot: Metadata[Snapshot]
    timestamp: Metadata[Timestamp]
    raw: dict[str, bytes] = field(default_factory=dict)


def _hashes(data: bytes) -> dict[str, str]:
    return {"sha256": hashlib.sha256(data).hexdigest()}


class PublisherRepository:
    """A TUF repository on the publisher's disk.

    >>> repo = PublisherRepository.init("repo")  # doctest: +SKIP
    >>> repo.trusted_root_path  # give this file to clients  # doctest: +SKIP
    """

    def __init__(self, path: Path, keys: KeyFolder) -> None:
        self.path = path
        self.keys = keys

    # ---- layout -------------------------------------------------------------
    @property
    def public(self) -> Path:
        """The served folder."""
        return self.path / "public"

    @property
    def metadata_dir(self) -> Path:
        """Where signed metadata is published."""
        return self.public / "metadata"

    @property
    def targets_dir(self) -> Path:
        """Where catalog files are published."""
        return self.public / "targets"

    @property
    def models_dir(self) -> Path:
        """Publisher-only model artefacts."""
        return self.path / "models"

    @property
    def trusted_root_path(self) -> Path:
        """The first root metadata: the trust anchor to ship with client apps."""
        return self.metadata_dir / "1.root.json"

    # ---- creation -----------------------------------------------------------
    @classmethod
    def init(
        cls,
        path: str | Path,
        *,
        keys_dir: str | Path | None = None,
        offline_root: str | Path | None = None,
        root_passphrase: str | None = None,
        expiries: Expiries | None = None,
        now: dt.datetime | None = None,
    ) -> PublisherRepository:
        """Create a repository with fresh Ed25519 keys for the four roles.

        With ``offline_root`` the root key is written there, outside the
        repository folder, and must be encrypted: ``root_passphrase`` is required.
        Raises :class:`RepositoryExistsError` if ``path`` already holds one.
        """
        path = Path(path)
        root_dir = Path(offline_root) if offline_root is not None else None
        if root_dir is not None:
            if not root_passphrase:
                raise ValueError("an offline root key needs a passphrase")
            if root_dir.resolve().is_relative_to(path.resolve()):
                raise RepositoryError(
                    _(
                        "{root_dir} is inside {path}; keep the offline root outside the repository"
                    ).format(root_dir=root_dir, path=path)
                )
            if (root_dir / "root.pem").exists():
                raise RepositoryExistsError(
                    _("{root_dir} already holds a root key; choose another folder").format(
                        root_dir=root_dir
                    )
                )
        if (path / "repo.json").exists() or (path / "public").exists():
            raise RepositoryExistsError(
                _(
                    "{path} already holds a repository; choose another folder or remove it first"
                ).format(path=path)
            )
        if path.exists() and any(path.iterdir()):
            raise RepositoryExistsError(
                _("{path} is not empty; choose an empty or new folder").format(path=path)
            )
        expiries = expiries or Expiries()
        now = now or utc_now()
        keys = KeyFolder(Path(keys_dir) if keys_dir else path / "keys", root_dir=root_dir)
        path.mkdir(parents=True, exist_ok=True)
        keys.create()
        if root_dir is not None:
            root_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        repo = cls(path, keys)
        repo.metadata_dir.mkdir(parents=True)
        (repo.targets_dir / "catalog").mkdir(parents=True)
        signers = {}
        root = Root(expires=now + expiries.root, consistent_snapshot=True)
        for role in ROLES:
            signer, pem = generate_signer(root_passphrase if role == "root" else None)
            keys.save(role, pem)
            root.add_key(signer.public_key, role)
            signers[role] = signer
        root_md = Metadata(root)
        root_md.sign(signers["root"])
        root_bytes = root_md.to_bytes()
        atomic_write_bytes(repo.metadata_dir / "1.root.json", root_bytes)
        targets_md = Metadata(Targets(expires=now + expiries.targets))
        targets_md.sign(signers["targets"])
        state = _State(
            root_md,
            targets_md,
            Metadata(Snapshot(expires=now + expiries.snapshot)),
            Metadata(Timestamp(expires=now + expiries.timestamp)),
            {"root": root_bytes},
        )
        repo._commit(state, {"targets"}, now, expiries, initial=True)
        atomic_write_json(
            path / "repo.json",
            {
                "format_version": REPO_FORMAT_VERSION,
                "keys": str(keys.path.resolve()) if keys_dir else None,
                "offline_root": str(root_dir.resolve()) if root_dir else None,
                "created": now.isoformat(),
            },
        )
        return repo

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        offline_root: str | Path | None = None,
        passphrase: Callable[[], str] | None = None,
    ) -> PublisherRepository:
        """Open an existing repository; raise :class:`RepositoryNotFoundError` if there is none.

        ``offline_root`` is where the root key is now, if not where ``init`` put it;
        ``passphrase`` is called only if the (encrypted) root key is needed.
        """
        path = Path(path)
        try:
            info = json.loads((path / "repo.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise RepositoryNotFoundError(
                _(
                    "no discreet repository at {path}; create one with 'discreet "
                    "publish init {path}'"
                ).format(path=path)
            ) from None
        root_dir = offline_root or info.get("offline_root")
        keys = KeyFolder(
            Path(info.get("keys") or path / "keys"),
            root_dir=Path(root_dir) if root_dir else None,
            passphrase=passphrase,
        )
        return cls(path, keys)

    def lock(self, timeout: float = 10.0) -> Any:
        """The publishing lock: one process changes the repository at a time."""
        return exclusive_lock(
            self.path / ".lock",
            timeout=timeout,
            error=RepositoryBusyError,
            message=_("another process is publishing to {path}; wait for it to finish").format(
                path=self.path
            ),
        )

    # ---- reading ------------------------------------------------------------
    def _read(self, name: str) -> bytes:
        try:
            return (self.metadata_dir / name).read_bytes()
        except OSError:
            raise RepositoryNotFoundError(
                _("{value} is missing; the repository is damaged, restore it").format(
                    value=self.metadata_dir / name
                )
            ) from None

    def root_versions(self) -> list[int]:
        """The published root versions, ascending."""
        found = (_VERSIONED.match(p.name) for p in self.metadata_dir.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def _state(self) -> _State:
        root_bytes = self._read(f"{self.root_versions()[-1]}.root.json")
        ts_bytes = self._read("timestamp.json")
        timestamp = Metadata[Timestamp].from_bytes(ts_bytes)
        snap_bytes = self._read(f"{timestamp.signed.snapshot_meta.version}.snapshot.json")
        snapshot = Metadata[Snapshot].from_bytes(snap_bytes)
        targets_bytes = self._read(f"{snapshot.signed.meta['targets.json'].version}.targets.json")
        return _State(
            Metadata[Root].from_bytes(root_bytes),
            Metadata[Targets].from_bytes(targets_bytes),
            snapshot,
            timestamp,
            {"root": root_bytes, "targets": targets_bytes},
        )

    def current_targets(self) -> dict[str, TargetFile]:
        """The catalog files of the current release, by target name."""
        return dict(self._state().targets.signed.targets)

    def target_path(self, target: TargetFile) -> Path:
        """Where a target's bytes are stored (hash-prefixed name)."""
        directory, _, base = target.path.rpartition("/")
        return self.targets_dir / directory / f"{target.hashes['sha256']}.{base}"

    def expiries_of(self) -> dict[str, dt.datetime]:
        """When each role's current metadata expires."""
        state = self._state()
        return {
            "root": state.root.signed.expires,
            "targets": state.targets.signed.expires,
            "snapshot": state.snapshot.signed.expires,
            "timestamp": state.timestamp.signed.expires,
        }

    # ---- writing ------------------------------------------------------------
    def publish_targets(
        self,
        files: Mapping[str, Path],
        *,
        expiries: Expiries | None = None,
        now: dt.datetime | None = None,
    ) -> int:
        """Publish ``files`` (target name to local path) as the new release.

        Replaces the whole target set, bumps targets, snapshot and timestamp,
        and returns the new targets version. Call it under :meth:`lock`.
        """
        now = now or utc_now()
        expiries = expiries or Expiries()
        state = self._state()
        new_targets: dict[str, TargetFile] = {}
        for name, local in files.items():
            with Path(local).open("rb") as f:  # hashed a block at a time: files of any size
                target = TargetFile.from_data(TARGET_PREFIX + name, f, ["sha256"])
            stored = self.target_path(target)
            stored.parent.mkdir(parents=True, exist_ok=True)
            if not stored.exists():
                atomic_copy_file(Path(local), stored)
            new_targets[target.path] = target
        previous = dict(state.targets.signed.targets)
        state.targets.signed.targets = new_targets
        self._commit(state, {"targets"}, now, expiries)
        self._prune(keep=[previous, new_targets])
        return state.targets.signed.version

    def refresh(
        self,
        *,
        roles: set[str] | None = None,
        expiries: Expiries | None = None,
        now: dt.datetime | None = None,
    ) -> dict[str, dt.datetime]:
        """Re-sign metadata with fresh expiries (by default the timestamp only).

        Run it at least daily (e.g. from cron), since the timestamp expires after a day.
        Returns the new expiry of every role.
        """
        state = self._state()
        self._commit(state, set(roles or ()), now or utc_now(), expiries or Expiries())
        return self.expiries_of()

    def rotate_key(
        self, role: str, *, expiries: Expiries | None = None, now: dt.datetime | None = None
    ) -> int:
        """Replace ``role``'s signing key; return the new root version.

        The new root is signed by the old and the new root keys, so clients
        that trust any earlier root follow the chain to it.
        """
        if role not in ROLES:
            raise ValueError(_("role must be one of {join}").format(join=", ".join(ROLES)))
        now = now or utc_now()
        expiries = expiries or Expiries()
        state = self._state()
        root = state.root.signed
        old_root_signer = self.keys.load("root")
        signer, pem = generate_signer(self.keys.passphrase_of(role))  # encrypted as it was
        final = self.keys.file_of(role)
        pending = final.with_name(f"{role}.next.pem")
        atomic_write_bytes(pending, pem, mode=0o600)
        for keyid in list(root.roles[role].keyids):
            root.revoke_key(keyid, role)
        root.add_key(signer.public_key, role)
        root.version += 1
        root.expires = now + expiries.root
        state.root.signatures.clear()
        state.root.sign(old_root_signer, append=True)
        if role == "root":
            state.root.sign(signer, append=True)
        root_bytes = state.root.to_bytes()
        atomic_write_bytes(self.metadata_dir / f"{root.version}.root.json", root_bytes)
        os.replace(pending, final)
        fsync_dir(final.parent)
        state.raw["root"] = root_bytes
        self._commit(state, {"targets"}, now, expiries)
        return root.version

    def _commit(
        self,
        state: _State,
        bump: set[str],
        now: dt.datetime,
        expiries: Expiries,
        *,
        initial: bool = False,
    ) -> None:
        """Sign and write targets (if bumped), snapshot (if needed), then timestamp."""
        write_snapshot = initial or bool(bump & {"targets", "snapshot"})
        if "targets" in bump and not initial:
            state.targets.signed.version += 1
        if "targets" in bump:
            state.targets.signed.expires = now + expiries.targets
            state.targets.sign(self.keys.load("targets"))
            targets_bytes = state.targets.to_bytes()
            atomic_write_bytes(
                self.metadata_dir / f"{state.targets.signed.version}.targets.json", targets_bytes
            )
            state.raw["targets"] = targets_bytes
        if write_snapshot:
            snapshot = state.snapshot.signed
            if not initial:
                snapshot.version += 1
            targets_bytes = state.raw["targets"]
            snapshot.meta["targets.json"] = MetaFile(
                state.targets.signed.version, len(targets_bytes), _hashes(targets_bytes)
            )
            snapshot.expires = now + expiries.snapshot
            state.snapshot.sign(self.keys.load("snapshot"))
            snapshot_bytes = state.snapshot.to_bytes()
            atomic_write_bytes(
                self.metadata_dir / f"{snapshot.version}.snapshot.json", snapshot_bytes
            )
            state.timestamp.signed.snapshot_meta = MetaFile(
                snapshot.version, len(snapshot_bytes), _hashes(snapshot_bytes)
            )
        timestamp = state.timestamp.signed
        if not initial:
            timestamp.version += 1
        timestamp.expires = now + expiries.timestamp
        state.timestamp.sign(self.keys.load("timestamp"))
        # The commit point: clients see the new release only once this lands.
        atomic_write_bytes(self.metadata_dir / "timestamp.json", state.timestamp.to_bytes())

    def _prune(self, keep: list[Mapping[str, TargetFile]]) -> None:
        """Remove stored target files that neither the current nor the previous release uses."""
        wanted = {self.target_path(t) for release in keep for t in release.values()}
        for stored in (self.targets_dir / "catalog").iterdir():
            if stored not in wanted and not stored.name.startswith("."):
                stored.unlink()
