"""discreet: personal recommendations without collecting personal data.

The publisher builds and signs a public catalog; devices verify it, rank it
locally against a private profile, and send back only locally-differentially
private counts.

>>> import discreet
>>> discreet.sync_catalog(home, "https://cdn.example/catalog", root="1.root.json")  # doctest: +SKIP
"""

from discreet import errors
from discreet.catalog import (
    Catalog,
    Category,
    EmbeddingParams,
    Item,
    Manifest,
    Notice,
    Taxonomy,
    load_taxonomy,
    read_items,
)
from discreet.demo_data import demo_items_path, demo_taxonomy_path
from discreet.home import resolve_home
from discreet.publish import Expiries, PublisherRepository, PublishResult, publish_catalog
from discreet.sync import InstalledCatalogs, SyncResult, sync_catalog

__version__ = "0.1.0"

__all__ = [
    "Catalog",
    "Category",
    "EmbeddingParams",
    "Expiries",
    "InstalledCatalogs",
    "Item",
    "Manifest",
    "Notice",
    "PublishResult",
    "PublisherRepository",
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
