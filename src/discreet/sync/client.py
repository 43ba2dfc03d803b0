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

from discreet._fs import atomic_write_bytes, disk_full_means, fsync_dir
from discreet.catalog.manifest import (
    CATALOG_FILES,
    COLLABORATIVE_FILE,
    QUANTISED_FILES,
    Notice,
)
from discreet.catalog.reader import Catalog, verify_catalog_folder
from discreet.errors import (
    CatalogInvalidError,
    CatalogOversizedError,
    CatalogRollbackError,
    NoTrustedRootError,
)
from discreet.i18n import _
from discreet.sync.fetchers import resolve_source
from discreet.sync.installed import InstalledCatalogs
from discreet.sync.rejections import Rejections

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


def _disk_space() -> contextlib.AbstractContextManager[None]:
    return disk_full_means(
        _(
            "the disk is full, so the new catalog could not be installed; "
            "free some space and sync again (the previous catalog stays in use)"
        )
    )


def _quiet(step: int, total: int, what: str) -> None:
    """No progress display."""


def _bootstrap(installed: InstalledCatalogs, root: str | Path | None) -> bytes:
    if root is not None:
        try:
            return Path(root).read_bytes()
        except OSError as exc:
            raise NoTrustedRootError(
                _("cannot read the root file {root} ({strerror})").format(
                    root=root, strerror=exc.strerror
                )
            ) from None
    if installed.trusted_root.exists():
        return installed.trusted_root.read_bytes()
    raise NoTrustedRootError(
        _("no trusted root yet; pass --root with the root file printed by 'publish init'")
    )


def _release_targets(
    updater: Updater, rejections: Rejections, max_release_bytes: int
) -> dict[str, TargetFile]:
    """Refresh the metadata and return the signed catalog files of the newest release.

    The int8 embeddings (:data:`QUANTISED_FILES`) and the collaborative target
    (:data:`COLLABORATIVE_FILE`) are optional: a release may not have them.
    """
    with rejections.metadata(), _disk_space():
        updater.refresh()
        infos = {
            name: updater.get_targetinfo("catalog/" + name)
            for name in (*CATALOG_FILES, *QUANTISED_FILES, COLLABORATIVE_FILE)
        }
    found = {name: info for name, info in infos.items() if info is not None}
    missing = [name for name in CATALOG_FILES if name not in found]
    if missing:
        raise CatalogInvalidError(
            _("the signed release lacks {value}; the previous catalog stays in use").format(
                value=missing[0]
            )
        )
    total = sum(info.length for info in found.values())
    if total > max_release_bytes:
        raise CatalogOversizedError(
            _(
                "the release is {total} bytes, over this device's limit of "
                "{max_release_bytes}; the previous catalog stays in use"
            ).format(total=total, max_release_bytes=max_release_bytes)
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
                progress(step, steps, _("downloading {name}").format(name=name))
                with rejections.target(name):
                    updater.download_target(info, str(staging / name))
            progress(steps, steps, _("verifying and installing"))
            for name in targets:
                with open(staging / name, "rb") as f:
                    os.fsync(f.fileno())
            catalog = verify_catalog_folder(staging, index=True)
            if previous_version is not None and catalog.version <= previous_version:
                raise CatalogRollbackError(
                    _(
                        "the release holds catalog v{version}, not newer than the "
                        "installed v{previous_version} (rollback); the previous "
                        "catalog stays in use"
                    ).format(version=catalog.version, previous_version=previous_version)
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
