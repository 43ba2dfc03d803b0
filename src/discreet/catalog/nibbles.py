"""4-bit codes of a catalog's embeddings, for the optional fast scan (``discreet[fast]``).

Each component of each row is replaced by the nearest of 16 levels chosen for
that dimension (a per-dimension codebook: a product quantiser whose
sub-vectors are single components), two codes to a byte, low nibble first:
``codes[i, j] = level(row i, dim 2j) | level(row i, dim 2j+1) << 4``. That is
the layout faiss's 4-bit product quantiser reads, so the fast scan builds its
index from these plain arrays; nothing serialised by faiss is ever loaded.

The codes are derived on the device at install, from the verified float32
rows, and saved beside the release: they are never downloaded, so the release
is no bigger and nothing from outside the signed files decides them. The
levels come from quantiles of a strided sample refined by Lloyd's iterations:
no randomness, so the same release gives the same codes on every device.
A missing or inconsistent pair of files is ignored (the ranker then uses the
int8 first pass), and ``discreet sync`` writes them again.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from discreet._fs import canonical_json, npy_bytes

FloatArray = np.ndarray[Any, np.dtype[np.float32]]
ByteArray = np.ndarray[Any, np.dtype[np.uint8]]
#: Levels per dimension: 4 bits.
LEVELS = 16
#: Catalogs smaller than this are scanned as fast without codes: none are derived.
MIN_ITEMS = 50_000
FILES = ("nibbles-codebook.npy", "nibbles-codes.npy", "nibbles.json")
FORMAT_VERSION = 1
_SAMPLE, _ITERATIONS = 32_768, 10


@cache
def fast_scan_available() -> bool:
    """Whether faiss is installed (the ``fast`` extra), so that the codes would be used."""
    return importlib.util.find_spec("faiss") is not None


@dataclass(frozen=True)
class Nibbles:
    """A per-dimension codebook (dim x 16, each row ascending) and the packed codes (n x dim/2)."""

    codebook: FloatArray
    codes: ByteArray

    def consistent(self, size: int, dim: int) -> bool:
        """Whether the arrays fit a catalog of ``size`` rows of ``dim`` components."""
        book, codes = self.codebook, self.codes
        return (
            book.dtype == np.float32
            and book.shape == (dim, LEVELS)
            and bool(np.isfinite(book).all())
            and bool((np.diff(book, axis=1) >= 0).all())
            and codes.dtype == np.uint8
            and codes.shape == (size, dim // 2)
        )


def codebook(embeddings: np.ndarray[Any, Any]) -> FloatArray:
    """16 levels per dimension that fit a strided sample of the rows (Lloyd's algorithm)."""
    n = len(embeddings)
    sample = np.asarray(embeddings[:: max(1, n // _SAMPLE)], dtype=np.float64)
    book = np.quantile(sample, (np.arange(LEVELS) + 0.5) / LEVELS, axis=0).T.copy()
    for _ in range(_ITERATIONS):
        for d in range(book.shape[0]):
            levels = _nearest(sample[:, d], book[d])
            counts = np.bincount(levels, minlength=LEVELS)
            sums = np.bincount(levels, weights=sample[:, d], minlength=LEVELS)
            book[d] = np.where(counts > 0, sums / np.maximum(counts, 1), book[d])
        book.sort(axis=1)
    return book.astype(np.float32)


def _nearest(values: np.ndarray[Any, Any], levels: np.ndarray[Any, Any]) -> ByteArray:
    """The index of the nearest of the ascending ``levels`` to each value."""
    bounds = (levels[1:] + levels[:-1]) / 2
    return np.searchsorted(bounds, values).astype(np.uint8)


def encode(embeddings: np.ndarray[Any, Any], book: FloatArray, block: int = 65_536) -> ByteArray:
    """The packed 4-bit codes of every row, a block at a time."""
    n, dim = embeddings.shape
    codes = np.empty((n, dim // 2), dtype=np.uint8)
    for start in range(0, n, block):
        chunk = np.asarray(embeddings[start : start + block], dtype=np.float32)
        levels = np.empty(chunk.shape, dtype=np.uint8)
        for d in range(dim):
            levels[:, d] = _nearest(chunk[:, d], book[d])
        codes[start : start + block] = levels[:, 0::2] | (levels[:, 1::2] << 4)
    return codes


def derive(embeddings: np.ndarray[Any, Any]) -> Nibbles:
    """The codebook and codes of ``embeddings`` (n x dim, dim even)."""
    book = codebook(embeddings)
    return Nibbles(book, encode(embeddings, book))


def derive_for_fast_scan(folder: Path, embeddings: np.ndarray[Any, Any]) -> None:
    """Derive and save the codes of a verified release, if the fast scan would use them."""
    if fast_scan_available() and len(embeddings) >= MIN_ITEMS:
        write(folder, derive(embeddings))


def write(folder: Path, nibbles: Nibbles) -> None:
    """Save beside a release (the metadata last: it says the arrays are complete)."""
    (folder / FILES[0]).write_bytes(npy_bytes(nibbles.codebook))
    (folder / FILES[1]).write_bytes(npy_bytes(nibbles.codes))
    meta = {"format_version": FORMAT_VERSION, "items": len(nibbles.codes)}
    (folder / FILES[2]).write_bytes(canonical_json(meta))


def load_nibbles(folder: Path, size: int, dim: int) -> Nibbles | None:
    """The saved codes (memory-mapped), or ``None`` if missing or inconsistent."""
    try:
        meta = json.loads((folder / FILES[2]).read_bytes())
        if meta != {"format_version": FORMAT_VERSION, "items": size}:
            return None
        book, codes = (np.load(folder / f, mmap_mode="r", allow_pickle=False) for f in FILES[:2])
        nibbles = Nibbles(np.asarray(book), codes)
    except (OSError, ValueError, TypeError):
        return None
    return nibbles if nibbles.consistent(size, dim) else None
