"""The demo catalog shipped inside the package: an independent bookshop, written by us."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from discreet.publish.publisher import PublishResult
    from discreet.publish.repository import PublisherRepository
    from discreet.secagg.mode import SecureAggregation

#: The demo catalog's name.
DEMO_CATALOG_NAME = "lantern-books"


def _path(name: str) -> Path:
    return Path(str(resources.files("discreet") / "_data" / "demo" / name))


def demo_items_path() -> Path:
    """The demo items file (JSONL)."""
    return _path("items.jsonl")


def demo_taxonomy_path() -> Path:
    """The demo taxonomy file (JSON)."""
    return _path("taxonomy.json")


def demo_notices_path() -> Path:
    """The demo catalog's signed notices (JSON)."""
    return _path("notices.json")


def publish_demo_catalog(
    repo: PublisherRepository, *, secure_aggregation: SecureAggregation | None = None
) -> PublishResult:
    """Build, sign and publish the demo catalog (with its notices) into ``repo``; with
    ``secure_aggregation``, in that mode instead of the LDP one."""
    from discreet.publish.publisher import publish_catalog

    return publish_catalog(
        repo,
        demo_items_path(),
        demo_taxonomy_path(),
        name=DEMO_CATALOG_NAME,
        notices_path=demo_notices_path(),
        secure_aggregation=secure_aggregation,
    )
