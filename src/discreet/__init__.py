"""discreet: personal recommendations without collecting personal data.

The publisher builds and signs a public catalog; devices verify it, rank it
locally against a private profile, and send back only locally-differentially
private counts.

>>> import discreet
>>> discreet.sync_catalog(home, "https://cdn.example/catalog", root="1.root.json")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from discreet import _lazy, errors

if TYPE_CHECKING:
    from discreet.catalog.embedding import EmbeddingParams
    from discreet.catalog.items import Item, read_items
    from discreet.catalog.manifest import Manifest, Notice
    from discreet.catalog.reader import Catalog
    from discreet.catalog.taxonomy import Category, Taxonomy, load_taxonomy
    from discreet.demo_data import demo_items_path, demo_taxonomy_path
    from discreet.engine import Engine
    from discreet.home import resolve_home
    from discreet.profile.export import ProfileExport
    from discreet.profile.model import EventKind, Profile, RetentionPolicy
    from discreet.profile.session import ProfileConfig, ProfileHome, ProfileSession
    from discreet.publish.publisher import PublishResult, publish_catalog
    from discreet.publish.repository import Expiries, PublisherRepository
    from discreet.rank.explanation import Explanation
    from discreet.rank.ranker import Ranker
    from discreet.rank.records import Filters, Recommendation
    from discreet.rank.weights import RankingWeights
    from discreet.store.encrypted import EncryptedStore
    from discreet.store.keys import KeyFileKey, KeyringKey, PassphraseKey
    from discreet.store.memory import MemoryStore
    from discreet.sync.client import SyncResult, sync_catalog
    from discreet.sync.installed import InstalledCatalogs

# Every name is imported on first use: ``import discreet.engine`` loads neither
# numpy, TUF nor the publisher's scikit-learn, which device code never needs.
_WHERE = {
    "discreet.catalog.embedding": ("EmbeddingParams",),
    "discreet.catalog.items": ("Item", "read_items"),
    "discreet.catalog.manifest": ("Manifest", "Notice"),
    "discreet.catalog.reader": ("Catalog",),
    "discreet.catalog.taxonomy": ("Category", "Taxonomy", "load_taxonomy"),
    "discreet.demo_data": ("demo_items_path", "demo_taxonomy_path"),
    "discreet.engine": ("Engine",),
    "discreet.home": ("resolve_home",),
    "discreet.profile.export": ("ProfileExport",),
    "discreet.profile.model": ("EventKind", "Profile", "RetentionPolicy"),
    "discreet.profile.session": ("ProfileConfig", "ProfileHome", "ProfileSession"),
    "discreet.publish.publisher": ("PublishResult", "publish_catalog"),
    "discreet.publish.repository": ("Expiries", "PublisherRepository"),
    "discreet.rank.explanation": ("Explanation",),
    "discreet.rank.ranker": ("Ranker",),
    "discreet.rank.records": ("Filters", "Recommendation"),
    "discreet.rank.weights": ("RankingWeights",),
    "discreet.store.encrypted": ("EncryptedStore",),
    "discreet.store.keys": ("KeyFileKey", "KeyringKey", "PassphraseKey"),
    "discreet.store.memory": ("MemoryStore",),
    "discreet.sync.client": ("SyncResult", "sync_catalog"),
    "discreet.sync.installed": ("InstalledCatalogs",),
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
    "ProfileExport",
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


__getattr__, __dir__ = _lazy.lazy_exports(__name__, _WHERE)
