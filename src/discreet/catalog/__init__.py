"""Catalog records, the publisher's build, and the on-device reader.

The embedding pipeline (scikit-learn) is imported only when a publisher uses
it, so that device code never loads the publisher's machine-learning stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from discreet.catalog.items import Item, read_items
from discreet.catalog.manifest import Manifest, Notice
from discreet.catalog.reader import Catalog
from discreet.catalog.taxonomy import Category, Taxonomy, load_taxonomy

if TYPE_CHECKING:
    from discreet.catalog.embedding import EmbeddingParams

_LAZY = {"EmbeddingParams": "discreet.catalog.embedding"}

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
