"""The demo catalog shipped inside the package: an independent bookshop, written by us."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


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
