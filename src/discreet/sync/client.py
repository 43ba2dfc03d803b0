"""``discreet sync``: fetch, verify and install a catalog release through TUF.

The installed catalogs live under ``HOME/catalog``::

    trusted_root.json     the trust anchor given with the first ``--root``
    tuf/                  TUF's verified metadata cache
    releases/<v>-<hash>/  installed releases (the current and the previous one)
    current.json          which release is in use; replaced atomically

A release is downloaded into a staging folder, every file is verified by TUF
and then checked for content, and only then does ``current.json`` switch to
it. Any failure leaves the previous release in use.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuf.api.metadata import TargetFile
from tuf.ngclient import Updater, UpdaterConfig

from discreet._fs import (
    atomic_write_bytes,
    atomic_write_json,
    disk_full_means,
    exclusive_lock,
    fsync_dir,
)
from discreet.catalog.manifest import CATALOG_FILES, Notice
from discreet.catalog.reader import Catalog, verify_catalog_folder
from discreet.errors import (
    CatalogBusyError,
    CatalogInvalidError,
    CatalogNotInstalledError,
    CatalogOversizedError,
    CatalogRollbackError,
    NoTrustedRootError,
    SourceUnavailableError,
    UnsupportedFormatError,
)
from discreet.sync.fetchers import resolve_source
from discreet.sync.rejections import Rejections

CURRENT_FORMAT_VERSION = 1
#: The largest release a client downloads unless configured otherwise.
DEFAULT_MAX_RELEASE_BYTES = 2 * 1024**3
#: How long a whole sync may take over the network, however slowly bytes keep coming.
DEFAULT_MAX_SECONDS = 600.0


@dataclass(frozen=True)
class SyncResult:
    """The outcome of a sync."""

    updated: bool
    version: int
    previous_version: int | None
    notices: tuple[Notice, ...]
    folder: Path

    def to_json(self) -> dict[str, Any]:
        """A summary for ``--json`` output."""
        return {
            "updated": self.updated,
            "version": self.version,
            "previous_version": self.previous_version,
            "notices": [n.to_json() for n in self.notices],
            "folder": str(self.folder),
        }


class InstalledCatalogs:
    """The client's catalog folder (``HOME/catalog``)."""

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / "catalog"

    @property
    def tuf_dir(self) -> Path:
        """TUF's metadata cache."""
        return self.path / "tuf"

    @property
    def releases_dir(self) -> Path:
        """Installed releases."""
        return self.path / "releases"

    @property
    def trusted_root(self) -> Path:
        """The trust anchor."""
        return self.path / "trusted_root.json"

    def lock(self, timeout: float = 10.0) -> contextlib.AbstractContextManager[None]:
        """Only one process syncs (and uses the TUF cache) at a time."""
        self.path.mkdir(parents=True, exist_ok=True)
        return exclusive_lock(
            self.path / ".lock",
            timeout=timeout,
            error=CatalogBusyError,
            message="another process is syncing the catalog; try again when it has finished",
        )

    def current(self) -> dict[str, Any] | None:
        """The ``current.json`` record, or ``None`` before the first install."""
        try:
            record: dict[str, Any] = json.loads((self.path / "current.json").read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None
        return record

    def open(self) -> Catalog:
        """Open the catalog in use; raise :class:`CatalogNotInstalledError` if there is none."""
        record = self.current()
        if record is not None and record.get("format_version", 0) > CURRENT_FORMAT_VERSION:
            raise UnsupportedFormatError(
                "the installed catalog was written by a newer version of this app; update the app"
            )
        if record is None:
            raise CatalogNotInstalledError(
                "no catalog installed yet; run 'discreet sync --from URL_OR_DIR --root ROOT'"
            )
        return Catalog.open(self.releases_dir / record["release"])

    def current_source(self) -> str:
        """Where the installed catalog was synced from (a URL or a folder)."""
        record = self.current()
        if not record or not record.get("source"):
            raise CatalogNotInstalledError(
                "no catalog installed yet; run 'discreet sync --from URL_OR_DIR --root ROOT'"
            )
        return str(record["source"])

    def current_source_url(self) -> str:
        """The HTTP(S) address the installed catalog was synced from."""
        record = self.current()
        source = str(record.get("source", "")) if record else ""
        if not source.startswith(("http://", "https://")):
            raise SourceUnavailableError(
                "the catalog did not come from a web address; pass --to URL"
            )
        return source

    def remove_stale_staging(self) -> None:
        """Delete staging folders left by a sync that was killed (call under :meth:`lock`)."""
        for folder in self.releases_dir.glob(".incoming-*"):
            shutil.rmtree(folder, ignore_errors=True)

    def switch(self, release: str, version: int, manifest_sha256: str, source: str) -> None:
        """Make ``release`` the catalog in use (atomic) and drop all but the previous one."""
        previous = self.current()
        atomic_write_json(
            self.path / "current.json",
            {
                "format_version": CURRENT_FORMAT_VERSION,
                "release": release,
                "version": version,
                "manifest_sha256": manifest_sha256,
                "source": source,
                "installed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "previous": previous["release"] if previous else None,
            },
        )
        keep = {release, previous["release"] if previous else None}
        for folder in self.releases_dir.iterdir():
            if folder.name not in keep:
                shutil.rmtree(folder, ignore_errors=True)


def _disk_space() -> contextlib.AbstractContextManager[None]:
    return disk_full_means(
        "the disk is full, so the new catalog could not be installed; "
        "free some space and sync again (the previous catalog stays in use)"
    )


def _quiet(step: int, total: int, what: str) -> None:
    """No progress display."""


def _bootstrap(installed: InstalledCatalogs, root: str | Path | None) -> bytes:
    if root is not None:
        try:
            return Path(root).read_bytes()
        except OSError as exc:
            raise NoTrustedRootError(f"cannot read the root file {root} ({exc.strerror})") from None
    if installed.trusted_root.exists():
        return installed.trusted_root.read_bytes()
    raise NoTrustedRootError(
        "no trusted root yet; pass --root with the root file printed by 'publish init'"
    )


def _release_targets(
    updater: Updater, rejections: Rejections, max_release_bytes: int
) -> dict[str, TargetFile]:
    """Refresh the metadata and return the signed catalog files of the newest release."""
    with rejections.metadata(), _disk_space():
        updater.refresh()
        infos = {name: updater.get_targetinfo("catalog/" + name) for name in CATALOG_FILES}
    found = {name: info for name, info in infos.items() if info is not None}
    missing = [name for name in CATALOG_FILES if name not in found]
    if missing:
        raise CatalogInvalidError(
            f"the signed release lacks {missing[0]}; the previous catalog stays in use"
        )
    total = sum(info.length for info in found.values())
    if total > max_release_bytes:
        raise CatalogOversizedError(
            f"the release is {total} bytes, over this device's limit of {max_release_bytes}; "
            "the previous catalog stays in use"
        )
    return found


def _install(
    installed: InstalledCatalogs,
    updater: Updater,
    rejections: Rejections,
    targets: dict[str, TargetFile],
    previous_version: int | None,
    source: str,
    progress: Callable[[int, int, str], None],
) -> Catalog:
    """Download into staging, verify, then switch; on any failure nothing changes."""
    manifest_sha = targets["manifest.json"].hashes["sha256"]
    staging = installed.releases_dir / f".incoming-{secrets.token_hex(8)}"
    try:
        with _disk_space():
            staging.mkdir()
            steps = len(targets) + 1
            for step, (name, info) in enumerate(targets.items(), start=1):
                progress(step, steps, f"downloading {name}")
                with rejections.target(name):
                    updater.download_target(info, str(staging / name))
            progress(steps, steps, "verifying and installing")
            for name in CATALOG_FILES:
                with open(staging / name, "rb") as f:
                    os.fsync(f.fileno())
            catalog = verify_catalog_folder(staging, index=True)
            if previous_version is not None and catalog.version <= previous_version:
                raise CatalogRollbackError(
                    f"the release holds catalog v{catalog.version}, not newer than the installed "
                    f"v{previous_version} (rollback); the previous catalog stays in use"
                )
            release = f"{catalog.version}-{manifest_sha[:12]}"
            final = installed.releases_dir / release
            shutil.rmtree(final, ignore_errors=True)
            os.replace(staging, final)
            fsync_dir(installed.releases_dir)
            installed.switch(release, catalog.version, manifest_sha, source)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Catalog.open(final)


def sync_catalog(
    home: str | Path,
    source: str,
    *,
    root: str | Path | None = None,
    max_release_bytes: int = DEFAULT_MAX_RELEASE_BYTES,
    timeout: int = 30,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    progress: Callable[[int, int, str], None] | None = None,
) -> SyncResult:
    """Fetch the newest release from ``source``, verify it and switch to it.

    ``root`` is the trusted root metadata file; it is needed on the first sync
    and is remembered afterwards. ``timeout`` bounds each wait for bytes;
    ``max_seconds`` bounds the whole sync's downloads (``None``: no bound).
    Every failure raises a subclass of :class:`~discreet.errors.CatalogError`
    (or :class:`InsufficientSpaceError`) and keeps the previous catalog.

    >>> sync_catalog(home, "https://cdn.example/catalog", root="1.root.json")  # doctest: +SKIP
    """
    installed = InstalledCatalogs(Path(home))
    with installed.lock():
        bootstrap = _bootstrap(installed, root)
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        where = resolve_source(source, timeout=timeout, deadline=deadline)
        with _disk_space():
            installed.tuf_dir.mkdir(parents=True, exist_ok=True)
            installed.releases_dir.mkdir(parents=True, exist_ok=True)
            installed.remove_stale_staging()
        rejections = Rejections(where.fetcher, installed.tuf_dir)
        with rejections.metadata():
            updater = Updater(
                str(installed.tuf_dir),
                where.metadata_url,
                None,
                where.targets_url,
                where.fetcher,
                UpdaterConfig(app_user_agent=None),
                bootstrap=bootstrap,
            )
        targets = _release_targets(updater, rejections, max_release_bytes)
        if root is not None:
            atomic_write_bytes(installed.trusted_root, bootstrap)
        current = installed.current()
        previous = int(current["version"]) if current else None
        if (
            current is not None
            and current.get("manifest_sha256") == (targets["manifest.json"].hashes["sha256"])
        ):
            catalog = installed.open()
            return SyncResult(
                False, catalog.version, previous, catalog.manifest.notices, catalog.folder
            )
        catalog = _install(
            installed,
            updater,
            rejections,
            targets,
            previous,
            where.description,
            progress or _quiet,
        )
        return SyncResult(True, catalog.version, previous, catalog.manifest.notices, catalog.folder)
