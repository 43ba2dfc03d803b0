"""The client's catalog updates through TUF."""

from discreet.sync.client import InstalledCatalogs, SyncResult, sync_catalog

__all__ = ["InstalledCatalogs", "SyncResult", "sync_catalog"]
