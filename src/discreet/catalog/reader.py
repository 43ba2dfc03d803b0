"""Open an installed catalog: memory-mapped arrays and item look-up by id.

Nothing is ever unpickled: arrays load with ``allow_pickle=False`` and
records are JSON. :meth:`Catalog.open` does cheap structural checks;
:func:`verify_catalog_folder` does the full content check that runs once,
when a downloaded release is installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from discreet.catalog import _json
from discreet.catalog.collaborative import Neighbours
from discreet.catalog.features import CatalogFeatures
from discreet.catalog.index import ItemIndex, save_index
from discreet.catalog.items import Item
from discreet.catalog.manifest import COLLABORATIVE_FILE, QUANTISED_FILES, Manifest
from discreet.catalog.nibbles import Nibbles, derive_for_fast_scan, load_nibbles
from discreet.catalog.scan import parse_jsonl as parse_jsonl  # also the service's reader
from discreet.catalog.scan import scan_items
from discreet.catalog.taxonomy import Taxonomy
from discreet.errors import (
    CatalogCorruptError,
    CatalogInvalidError,
    DiscreetError,
    UnknownItemError,
)
from discreet.i18n import _

FloatArray = np.ndarray[Any, np.dtype[np.float32]]


def _load_array(path: Path) -> np.ndarray[Any, Any]:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CatalogInvalidError(
            _("{name} is not a valid array ({exc})").format(name=path.name, exc=exc)
        ) from None
    if not isinstance(array, np.ndarray):
        raise CatalogInvalidError(_("{name} is not a single array").format(name=path.name))
    return array


@dataclass(frozen=True)
class Quantised:
    """The int8 copy of the embeddings: row ``i`` is about ``scales[i] * codes[i]``."""

    codes: np.ndarray[Any, np.dtype[np.int8]]
    scales: FloatArray


class Catalog:
    """One catalog version on disk, opened read-only.

    >>> catalog = Catalog.open(folder)  # doctest: +SKIP
    >>> catalog.item("b-0042").title  # doctest: +SKIP
    """

    def __init__(
        self,
        folder: Path,
        manifest: Manifest,
        embeddings: FloatArray,
        popularity: FloatArray,
        quantised: Quantised | None = None,
        collaborative: Neighbours | None = None,
    ) -> None:
        self.folder = folder
        self.manifest = manifest
        self.embeddings = embeddings
        self.popularity = popularity
        #: The int8 rows and their scales, when the release has them (format 1 may not).
        self.quantised = quantised
        #: The collaborative neighbour lists, when the release has them.
        self.collaborative = collaborative

    @classmethod
    def open(cls, folder: str | Path) -> Catalog:
        """Open the catalog in ``folder``; raise :class:`CatalogCorruptError` if it is damaged."""
        folder = Path(folder)
        try:
            return cls._open(folder)
        except CatalogInvalidError as exc:
            raise CatalogCorruptError(
                _(
                    "the installed catalog is damaged ({exc}); run 'discreet sync' to reinstall it"
                ).format(exc=exc)
            ) from None

    @classmethod
    def _open(cls, folder: Path) -> Catalog:
        try:
            raw = (folder / "manifest.json").read_bytes()
            manifest = Manifest.from_json(_json.loads(raw))
        except (OSError, ValueError) as exc:
            raise CatalogInvalidError(
                _("manifest.json unreadable ({exc})").format(exc=exc)
            ) from None
        embeddings = _load_array(folder / "embeddings.npy")
        popularity = _load_array(folder / "popularity.npy")
        n, dim = manifest.item_count, manifest.dim
        if embeddings.dtype != np.float32 or embeddings.shape != (n, dim):
            raise CatalogInvalidError(
                _("embeddings.npy is {dtype}{shape}, the manifest says float32({n}, {dim})").format(
                    dtype=embeddings.dtype, shape=embeddings.shape, n=n, dim=dim
                )
            )
        if popularity.dtype != np.float32 or popularity.shape != (n,):
            raise CatalogInvalidError(
                _("popularity.npy is {dtype}{shape}").format(
                    dtype=popularity.dtype, shape=popularity.shape
                )
            )
        quantised = None
        if manifest.quantised:
            codes, scales = (_load_array(folder / name) for name in QUANTISED_FILES)
            if codes.dtype != np.int8 or codes.shape != (n, dim):
                raise CatalogInvalidError(
                    _("{value} is {dtype}{shape}").format(
                        value=QUANTISED_FILES[0], dtype=codes.dtype, shape=codes.shape
                    )
                )
            if scales.dtype != np.float32 or scales.shape != (n,):
                raise CatalogInvalidError(
                    _("{value} is {dtype}{shape}").format(
                        value=QUANTISED_FILES[1], dtype=scales.dtype, shape=scales.shape
                    )
                )
            quantised = Quantised(codes, scales)
        collaborative = None
        if manifest.collaborative is not None:
            collaborative = Neighbours.load(folder / COLLABORATIVE_FILE, n)
            shape = (manifest.collaborative["items"], manifest.collaborative["neighbours"])
            if collaborative.neighbours.shape != shape:
                raise CatalogInvalidError(
                    _("{file} is {shape}, the manifest says {expected}").format(
                        file=COLLABORATIVE_FILE,
                        shape=collaborative.neighbours.shape,
                        expected=shape,
                    )
                )
        return cls(folder, manifest, embeddings, popularity, quantised, collaborative)

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
            data = _json.loads((self.folder / "taxonomy.json").read_bytes())
            return Taxonomy.from_json(data, source="taxonomy.json")
        except (OSError, ValueError, DiscreetError) as exc:
            raise CatalogCorruptError(
                _(
                    "the installed taxonomy is damaged ({exc}); run 'discreet sync' to reinstall it"
                ).format(exc=exc)
            ) from None

    @cached_property
    def nibbles(self) -> Nibbles | None:
        """The 4-bit codes for the fast scan, if derived at install (else ``None``)."""
        return load_nibbles(self.folder, len(self), self.manifest.dim)

    @cached_property
    def features(self) -> CatalogFeatures:
        """Category, language and date arrays (saved at install, else built once here)."""
        saved = CatalogFeatures.load(self.folder, len(self))
        if saved is not None:
            return saved
        records = parse_jsonl(b"\n".join(self._lines))
        return CatalogFeatures.from_records(records, self.taxonomy.ids)

    @cached_property
    def _index(self) -> ItemIndex | None:
        return ItemIndex.load(self.folder, len(self))

    @cached_property
    def _lines(self) -> list[bytes]:
        lines = (self.folder / "items.jsonl").read_bytes().splitlines()
        if len(lines) != len(self):
            raise CatalogCorruptError(
                _(
                    "items.jsonl has {n_lines} items, the manifest says "
                    "{n_self}; run 'discreet sync' to reinstall the catalog"
                ).format(n_lines=len(lines), n_self=len(self))
            )
        return lines

    @cached_property
    def ids(self) -> tuple[str, ...]:
        """Item ids in row order (parsed on first use)."""
        return tuple(record["id"] for record in parse_jsonl(b"\n".join(self._lines)))

    @cached_property
    def _rows(self) -> dict[str, int]:
        return {item_id: row for row, item_id in enumerate(self.ids)}

    def index_of(self, item_id: str) -> int:
        """The row of ``item_id``; raise :class:`UnknownItemError` (a ``KeyError``) if the
        catalog has no such item."""
        if self._index is None:  # a release installed without an index: build it in memory
            row: int | None = self._rows.get(item_id)
            if row is not None:
                return row
        else:
            for row in self._index.candidates(item_id):
                if _json.loads(self._index.line(row)).get("id") == item_id:
                    return row
        raise UnknownItemError(_("that item is not in this catalog; check the id or sync"))

    def __contains__(self, item_id: object) -> bool:
        if not isinstance(item_id, str):
            return False
        try:
            self.index_of(item_id)
        except KeyError:
            return False
        return True

    def item_at(self, row: int) -> Item:
        """The item in ``row``."""
        if not 0 <= row < len(self):
            raise IndexError(row)
        line = self._lines[row] if self._index is None else self._index.line(row)
        return Item.from_json(_json.loads(line))

    def item(self, item_id: str) -> Item:
        """The item with ``item_id``; raise :class:`UnknownItemError` (a ``KeyError``) if
        there is none."""
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
            "collaborative": None if m.collaborative is None else dict(m.collaborative),
            "reporting": m.reporting.to_json(),
            "notices": [n.to_json() for n in m.notices],
            "folder": str(self.folder),
        }


def verify_catalog_folder(folder: Path, *, index: bool = False) -> Catalog:
    """Check every file of a downloaded release; raise :class:`CatalogInvalidError`.

    Signed content is still checked: item count, unique ids, known categories,
    finite unit-norm embeddings and a valid popularity distribution. With
    ``index=True`` the local look-up index and the ranking features are written
    from the same pass, and the fast scan's 4-bit codes where it can be used.
    Items are read a block at a time (:mod:`.scan`), and the arrays are checked
    a block at a time, so a release of a million items is verified without
    holding it in memory.
    """
    catalog = Catalog._open(folder)
    try:
        taxonomy = Taxonomy.from_json(_json.loads((folder / "taxonomy.json").read_bytes()))
    except (OSError, ValueError, DiscreetError) as exc:
        raise CatalogInvalidError(_("taxonomy.json is invalid ({exc})").format(exc=exc)) from None
    if len(taxonomy) != catalog.manifest.category_count:
        raise CatalogInvalidError(_("taxonomy.json does not match the manifest's category count"))
    _check_reporting(catalog, taxonomy)
    scan = scan_items(folder / "items.jsonl", taxonomy.ids, len(catalog))
    _check_vectors(catalog)
    if index:
        save_index(folder, scan.hashes, scan.offsets)
        scan.features.write(folder)
        derive_for_fast_scan(folder, catalog.embeddings)
    return Catalog._open(folder)


def _check_reporting(catalog: Catalog, taxonomy: Taxonomy) -> None:
    """The reporting section must fit this catalog; sensitive topics stay out."""
    try:
        catalog.manifest.reporting.check_fits(len(catalog), taxonomy.ids, taxonomy.sensitive_ids)
        if catalog.manifest.secure_aggregation is not None:
            catalog.manifest.secure_aggregation.check_fits(len(catalog))
    except ValueError as exc:
        raise CatalogInvalidError(
            _("the reporting parameters do not fit the catalog ({exc})").format(exc=exc)
        ) from None


def _check_vectors(catalog: Catalog, block: int = 65_536) -> None:
    for start in range(0, len(catalog), block):
        chunk = np.asarray(catalog.embeddings[start : start + block])
        if not np.isfinite(chunk).all():
            raise CatalogInvalidError(_("embeddings.npy holds non-finite values"))
        norms = np.linalg.norm(chunk, axis=1)
        # Rows are unit vectors, or zero for an item with no usable text.
        if not np.all((np.abs(norms - 1.0) < 1e-3) | (norms < 1e-6)):
            raise CatalogInvalidError(_("embeddings.npy rows are not unit vectors"))
    if catalog.quantised is not None:
        scales = np.asarray(catalog.quantised.scales)
        if not np.isfinite(scales).all() or (scales < 0).any():
            raise CatalogInvalidError(
                _("{value} holds negative or non-finite scales").format(value=QUANTISED_FILES[1])
            )
    popularity = np.asarray(catalog.popularity)
    if not np.isfinite(popularity).all() or (popularity < 0).any():
        raise CatalogInvalidError(_("popularity.npy holds negative or non-finite values"))
    if abs(float(popularity.sum(dtype=np.float64)) - 1.0) > 1e-3:
        raise CatalogInvalidError(_("popularity.npy does not sum to one"))
