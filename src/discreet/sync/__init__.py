"""The client's catalog updates through TUF (imported on first use: TUF is not cheap)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discreet import _lazy

if TYPE_CHECKING:
    from discreet.sync.client import SyncResult, sync_catalog
    from discreet.sync.installed import InstalledCatalogs

__all__ = ["InstalledCatalogs", "SyncResult", "sync_catalog"]

__getattr__, __dir__ = _lazy.lazy_exports(
    __name__,
    {
        "discreet.sync.client": ("SyncResult", "sync_catalog"),
        "discreet.sync.installed": ("InstalledCatalogs",),
    },
)
