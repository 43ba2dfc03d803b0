"""A consistent copy of a running service's database, with SQLite's online backup API.

Copying the file while the service writes could catch a commit half-way;
SQLite's backup reads the database under a shared lock (waiting out a commit
in progress), so that the copy holds every committed request entirely and any
other not at all, as the database itself does after a crash. The copy is
written beside ``DEST``, checked (``PRAGMA integrity_check``), synced and only
then renamed over ``DEST``: a failed backup leaves ``DEST`` as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from pathlib import Path

from discreet._fs import fsync_dir
from discreet.errors import BackupError
from discreet.i18n import _
from discreet.server.storage import require_database

#: Seconds a backup waits for the service to finish a commit before it gives up.
BUSY_TIMEOUT = 30.0


def backup_database(source: str | Path, dest: str | Path) -> int:
    """Copy the database at ``source`` to ``dest`` while it may be in use; return its size.

    Raises ``FileNotFoundError`` if there is no database at ``source`` (a
    mistyped path is not backed up as an empty database).
    """
    source, dest = Path(source), Path(dest)
    require_database(source)
    temporary = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.partial")
    os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    try:
        try:
            with (
                contextlib.closing(sqlite3.connect(source, timeout=BUSY_TIMEOUT)) as db,
                contextlib.closing(sqlite3.connect(temporary)) as copy,
            ):
                db.backup(copy)
                (verdict,) = copy.execute("PRAGMA integrity_check").fetchone()
        except sqlite3.DatabaseError as exc:
            raise BackupError(
                _("cannot back up {source} ({reason}); is it a report database?").format(
                    source=source, reason=exc
                )
            ) from None
        if verdict != "ok":
            raise BackupError(
                _("the copy of {source} failed its check ({verdict}); try again").format(
                    source=source, verdict=verdict
                )
            )
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, dest)
        fsync_dir(dest.parent)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return dest.stat().st_size
