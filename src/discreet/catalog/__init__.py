"""Catalog records, the publisher's build, and the on-device reader."""

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
