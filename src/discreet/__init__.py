"""discreet: personal recommendations without collecting personal data.

The publisher builds and signs a public catalog; devices verify it, rank it
locally against a private profile, and send back only locally-differentially
private counts.

>>> import discreet
>>> discreet.sync_catalog(home, "https://cdn.example/catalog", root="1.root.json")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from discreet import errors
from discreet.catalog import (
    Catalog,
    Category,
    Item,
    Manifest,
    Notice,
    Taxonomy,
    load_taxonomy,
    read_items,
)
from discreet.demo_data import demo_items_path, demo_taxonomy_path
from discreet.engine import Engine
from discreet.home import resolve_home
from discreet.profile import EventKind, Profile, RetentionPolicy
from discreet.profile.session import ProfileConfig, ProfileHome, ProfileSession
from discreet.publish import Expiries, PublisherRepository
from discreet.rank import Explanation, Filters, Ranker, RankingWeights, Recommendation
from discreet.store import EncryptedStore, KeyFileKey, KeyringKey, MemoryStore, PassphraseKey
from discreet.sync import InstalledCatalogs, SyncResult, sync_catalog

if TYPE_CHECKING:
    from discreet.catalog.embedding import EmbeddingParams
    from discreet.publish.publisher import PublishResult, publish_catalog

# Publisher-only names load scikit-learn; device code never imports them.
_LAZY = {
    "EmbeddingParams": "discreet.catalog.embedding",
    "PublishResult": "discreet.publish.publisher",
    "publish_catalog": "discreet.publish.publisher",
}

__version__ = "0.1.0"

__all__ = [
    "Catalog",
    "Category",
    "EmbeddingParams",
    "EncryptedStore",
    "Engine",
    "EventKind",
    "Expiries",
    "Explanation",
    "Filters",
    "InstalledCatalogs",
    "Item",
    "KeyFileKey",
    "KeyringKey",
    "Manifest",
    "MemoryStore",
    "Notice",
    "PassphraseKey",
    "Profile",
    "ProfileConfig",
    "ProfileHome",
    "ProfileSession",
    "PublishResult",
    "PublisherRepository",
    "Ranker",
    "RankingWeights",
    "Recommendation",
    "RetentionPolicy",
    "SyncResult",
    "Taxonomy",
    "__version__",
    "demo_items_path",
    "demo_taxonomy_path",
    "errors",
    "load_taxonomy",
    "publish_catalog",
    "read_items",
    "resolve_home",
    "sync_catalog",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
