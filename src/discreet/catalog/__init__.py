"""Catalog records, the publisher's build, and the on-device reader.

Every name is imported on first use: the embedding pipeline (scikit-learn)
only when a publisher uses it, so that device code never loads the
publisher's machine-learning stack, and the reader (numpy) only when a
catalog is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from discreet import _lazy

if TYPE_CHECKING:
    from discreet.catalog.embedding import EmbeddingParams
    from discreet.catalog.items import Item, read_items
    from discreet.catalog.manifest import Manifest, Notice
    from discreet.catalog.reader import Catalog
    from discreet.catalog.taxonomy import Category, Taxonomy, load_taxonomy

__all__ = [
    "Catalog",
    "Category",
    "EmbeddingParams",
    "Item",
    "Manifest",
    "Notice",
    "Taxonomy",
    "load_taxonomy",
    "read_items",
]

__getattr__, __dir__ = _lazy.lazy_exports(
    __name__,
    {
        "discreet.catalog.embedding": ("EmbeddingParams",),
        "discreet.catalog.items": ("Item", "read_items"),
        "discreet.catalog.manifest": ("Manifest", "Notice"),
        "discreet.catalog.reader": ("Catalog",),
        "discreet.catalog.taxonomy": ("Category", "Taxonomy", "load_taxonomy"),
    },
)
