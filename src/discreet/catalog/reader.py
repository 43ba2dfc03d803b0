"""Open an installed catalog: memory-mapped arrays and item look-up by id.

Nothing is ever unpickled: arrays load with ``allow_pickle=False`` and
records are JSON. :meth:`Catalog.open` does cheap structural checks;
:func:`verify_catalog_folder` does the full content check that runs once,
when a downloaded release is installed.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from discreet.catalog.items import Item
from discreet.catalog.manifest import Manifest
from discreet.catalog.taxonomy import Taxonomy
from discreet.errors import CatalogCorruptError, CatalogInvalidError, DiscreetError

FloatArray = np.ndarray[Any, np.dtype[np.float32]]


def _load_array(path: Path) -> FloatArray:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CatalogInvalidError(f"{path.name} is not a valid array ({exc})") from None
    if not isinstance(array, np.ndarray):
        raise CatalogInvalidError(f"{path.name} is not a single array")
    return array


class Catalog:
    """One catalog version on disk, opened read-only.

    >>> catalog = Catalog.open(folder)  # doctest: +SKIP
    >>> catalog.item("b-0042").title  # doctest: +SKIP
    """

    def __init__(
        self, folder: Path, manifest: Manifest, embeddings: FloatArray, popularity: FloatArray
    ) -> None:
        self.folder = folder
        self.manifest = manifest
        self.embeddings = embeddings
        self.popularity = popularity

    @classmethod
    def open(cls, folder: str | Path) -> Catalog:
        """Open the catalog in ``folder``; raise :class:`CatalogCorruptError` if it is damaged."""
        folder = Path(folder)
        try:
            return cls._open(folder)
        except CatalogInvalidError as exc:
            raise CatalogCorruptError(
                f"the installed catalog is damaged ({exc}); run 'discreet sync' to reinstall it"
            ) from None

    @classmethod
    def _open(cls, folder: Path) -> Catalog:
        try:
            raw = (folder / "manifest.json").read_bytes()
            manifest = Manifest.from_json(json.loads(raw))
        except (OSError, ValueError) as exc:
            raise CatalogInvalidError(f"manifest.json unreadable ({exc})") from None
        embeddings = _load_array(folder / "embeddings.npy")
        popularity = _load_array(folder / "popularity.npy")
        n, dim = manifest.item_count, manifest.dim
        if embeddings.dtype != np.float32 or embeddings.shape != (n, dim):
            raise CatalogInvalidError(
                f"embeddings.npy is {embeddings.dtype}{embeddings.shape}, "
                f"the manifest says float32({n}, {dim})"
            )
        if popularity.dtype != np.float32 or popularity.shape != (n,):
            raise CatalogInvalidError(f"popularity.npy is {popularity.dtype}{popularity.shape}")
        return cls(folder, manifest, embeddings, popularity)

    def __len__(self) -> int:
        return self.manifest.item_count

    @property
    def version(self) -> int:
        """The catalog version."""
        return self.manifest.version

    @cached_property
    def taxonomy(self) -> Taxonomy:
        """The catalog's category taxonomy."""
        try:
            data = json.loads((self.folder / "taxonomy.json").read_bytes())
            return Taxonomy.from_json(data, source="taxonomy.json")
        except (OSError, ValueError, DiscreetError) as exc:
            raise CatalogCorruptError(
                f"the installed taxonomy is damaged ({exc}); run 'discreet sync' to reinstall it"
            ) from None

    @cached_property
    def _lines(self) -> list[bytes]:
        lines = (self.folder / "items.jsonl").read_bytes().splitlines()
        if len(lines) != len(self):
            raise CatalogCorruptError(
                f"items.jsonl has {len(lines)} items, the manifest says {len(self)}; "
                "run 'discreet sync' to reinstall the catalog"
            )
        return lines

    @cached_property
    def ids(self) -> tuple[str, ...]:
        """Item ids in row order (parsed on first use)."""
        return tuple(json.loads(line)["id"] for line in self._lines)

    @cached_property
    def _rows(self) -> dict[str, int]:
        return {item_id: row for row, item_id in enumerate(self.ids)}

    def index_of(self, item_id: str) -> int:
        """The row of ``item_id``; raise ``KeyError`` if the catalog has no such item."""
        return self._rows[item_id]

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._rows

    def item_at(self, row: int) -> Item:
        """The item in ``row``."""
        return Item.from_json(json.loads(self._lines[row]))

    def item(self, item_id: str) -> Item:
        """The item with ``item_id``; raise ``KeyError`` if there is none."""
        return self.item_at(self.index_of(item_id))

    def summary(self) -> dict[str, Any]:
        """What ``discreet catalog info`` shows."""
        m = self.manifest
        return {
            "name": m.name,
            "version": m.version,
            "built_at": m.built_at.isoformat(),
            "items": m.item_count,
            "dim": m.dim,
            "dtype": m.dtype,
            "categories": m.category_count,
            "popularity": m.popularity_source,
            "reporting": dict(m.reporting),
            "notices": [n.to_json() for n in m.notices],
            "folder": str(self.folder),
        }


def verify_catalog_folder(folder: Path) -> Catalog:
    """Check every file of a downloaded release; raise :class:`CatalogInvalidError`.

    Signed content is still checked: item count, unique ids, known categories,
    finite unit-norm embeddings and a valid popularity distribution.
    """
    catalog = Catalog._open(folder)
    try:
        taxonomy = Taxonomy.from_json(json.loads((folder / "taxonomy.json").read_bytes()))
    except (OSError, ValueError, DiscreetError) as exc:
        raise CatalogInvalidError(f"taxonomy.json is invalid ({exc})") from None
    if len(taxonomy) != catalog.manifest.category_count:
        raise CatalogInvalidError("taxonomy.json does not match the manifest's category count")
    try:
        lines = (folder / "items.jsonl").read_bytes().splitlines()
        items = [Item.from_json(json.loads(line)) for line in lines]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CatalogInvalidError(f"items.jsonl is invalid ({exc})") from None
    if len(items) != len(catalog):
        raise CatalogInvalidError(
            f"items.jsonl has {len(items)} items, the manifest {len(catalog)}"
        )
    if len({i.id for i in items}) != len(items):
        raise CatalogInvalidError("items.jsonl has duplicate ids")
    for item in items:
        if not isinstance(item.id, str) or not isinstance(item.title, str):
            raise CatalogInvalidError("an item has a non-text id or title")
        if any(c not in taxonomy for c in item.categories):
            raise CatalogInvalidError("an item names a category missing from taxonomy.json")
    _check_vectors(catalog)
    return catalog


def _check_vectors(catalog: Catalog, block: int = 65_536) -> None:
    for start in range(0, len(catalog), block):
        chunk = np.asarray(catalog.embeddings[start : start + block])
        if not np.isfinite(chunk).all():
            raise CatalogInvalidError("embeddings.npy holds non-finite values")
        norms = np.linalg.norm(chunk, axis=1)
        # Rows are unit vectors, or zero for an item with no usable text.
        if not np.all((np.abs(norms - 1.0) < 1e-3) | (norms < 1e-6)):
            raise CatalogInvalidError("embeddings.npy rows are not unit vectors")
    popularity = np.asarray(catalog.popularity)
    if not np.isfinite(popularity).all() or (popularity < 0).any():
        raise CatalogInvalidError("popularity.npy holds negative or non-finite values")
    if abs(float(popularity.sum(dtype=np.float64)) - 1.0) > 1e-3:
        raise CatalogInvalidError("popularity.npy does not sum to one")
