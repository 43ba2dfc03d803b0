"""Profile format versions and the chain of migrations between them.

Each migration turns a version-N document into version N+1. Opening an older
profile runs the chain up to :data:`CURRENT_VERSION`; the next save writes the
current format. A profile newer than this code is refused, never guessed at.

Version history:

* 1: the first format (events as ``[item, kind, day]`` triples).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from discreet.errors import UnsupportedFormatError
from discreet.i18n import _

CURRENT_VERSION = 1

Migration = Callable[[dict[str, Any]], dict[str, Any]]

#: ``MIGRATIONS[n]`` upgrades a version-``n`` document to version ``n + 1``.
MIGRATIONS: dict[int, Migration] = {}


def migrate(
    data: Any,
    *,
    current: int = CURRENT_VERSION,
    migrations: Mapping[int, Migration] = MIGRATIONS,
) -> dict[str, Any]:
    """Upgrade a stored profile document to the ``current`` version."""
    if not isinstance(data, dict):
        raise ValueError("a profile is a JSON object")
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError("the profile has no valid format_version")
    if version > current:
        raise UnsupportedFormatError(
            _(
                "the profile was written in format {version} by a newer app; "
                "this app reads up to {current}, so update the app"
            ).format(version=version, current=current)
        )
    document: dict[str, Any] = dict(data)
    while version < current:
        if version not in migrations:
            raise ValueError(f"no migration from profile format {version}")
        document = migrations[version](document)
        version += 1
        document["format_version"] = version
    return document
