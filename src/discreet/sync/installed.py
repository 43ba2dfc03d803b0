"""The catalogs installed on a device (``HOME/catalog``), read without TUF.

Opening the catalog in use, or finding where it came from, needs neither
TUF nor the network, so an app that only ranks never imports them; only
:func:`discreet.sync.client.sync_catalog` does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from discreet._fs import atomic_write_json, exclusive_lock
from discreet.errors import (
    CatalogBusyError,
    CatalogNotInstalledError,
    SourceUnavailableError,
    UnsupportedFormatError,
)
from discreet.i18n import _

if TYPE_CHECKING:
    from discreet.catalog.reader import Catalog

CURRENT_FORMAT_VERSION = 1


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
            message=_("another process is syncing the catalog; try again when it has finished"),
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
                _(
                    "the installed catalog was written by a newer version of "
                    "this app; update the app"
                )
            )
        if record is None:
            raise CatalogNotInstalledError(
                _("no catalog installed yet; run 'discreet sync --from URL_OR_DIR --root ROOT'")
            )
        from discreet.catalog.reader import Catalog  # numpy: only when a catalog is opened

        return Catalog.open(self.releases_dir / record["release"])

    def current_source(self) -> str:
        """Where the installed catalog was synced from (a URL or a folder)."""
        record = self.current()
        if not record or not record.get("source"):
            raise CatalogNotInstalledError(
                _("no catalog installed yet; run 'discreet sync --from URL_OR_DIR --root ROOT'")
            )
        return str(record["source"])

    def current_source_url(self) -> str:
        """The HTTP(S) address the installed catalog was synced from."""
        record = self.current()
        source = str(record.get("source", "")) if record else ""
        if not source.startswith(("http://", "https://")):
            raise SourceUnavailableError(
                _("the catalog did not come from a web address; pass --to URL")
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
