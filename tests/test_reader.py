"""The catalog verifier: one hostile release per content check, each refused by that check.

A release is signed, so TUF vouches only that these are the publisher's bytes; a
compromised or buggy build can still sign anything. Each case below takes the
small test catalog, as published, and tampers with it the way one check of
:func:`verify_catalog_folder` guards against. The message is matched so that the
case fails if its own check is removed, even when a later check would catch it.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from discreet.catalog.reader import verify_catalog_folder
from discreet.errors import CatalogInvalidError


# ---- tampering helpers ----------------------------------------------------------------
def _json(folder: Path, name: str, change: Callable[[Any], None]) -> None:
    document = json.loads((folder / name).read_bytes())
    change(document)
    (folder / name).write_text(json.dumps(document), encoding="utf-8")


def _items(folder: Path, change: Callable[[list[Any]], None]) -> None:
    records = [json.loads(line) for line in (folder / "items.jsonl").read_bytes().splitlines()]
    change(records)
    (folder / "items.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records), encoding="utf-8"
    )


def _array(folder: Path, name: str, change: Callable[[np.ndarray[Any, Any]], Any]) -> None:
    array = np.load(folder / name, allow_pickle=False).copy()
    changed = change(array)
    np.save(folder / name, array if changed is None else changed, allow_pickle=False)


def _reporting(kind: str, change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    return lambda f: _json(f, "manifest.json", lambda m: change(m["reporting"]["kinds"][kind]))


def _one_more_value(kind: dict[str, Any]) -> None:
    kind["oracle"]["domain_size"] += 1


def _first_item(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    return lambda f: _items(f, lambda records: change(records[0]))


def _npz(folder: Path) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, embeddings=np.load(folder / "embeddings.npy", allow_pickle=False))
    (folder / "embeddings.npy").write_bytes(buffer.getvalue())


def _pickled(folder: Path) -> None:
    hostile = np.array([{"x": 1}] * 8, dtype=object)  # loading it would run a pickle
    np.save(folder / "embeddings.npy", hostile, allow_pickle=True)


def _negative_popularity(p: np.ndarray[Any, Any]) -> None:
    p[1] += p[0] + 0.25
    p[0] = -0.25  # still sums to one


def _scaled_row(e: np.ndarray[Any, Any]) -> None:
    e[0] *= 2


HOSTILE: dict[str, tuple[Callable[[Path], None], str]] = {
    # Catalog._open: the structure every later check relies on.
    "manifest not JSON": (
        lambda f: (f / "manifest.json").write_bytes(b'{"format_version": 1,'),
        "manifest.json unreadable",
    ),
    "pickled embeddings": (_pickled, "embeddings.npy is not a valid array"),
    "archive, not one array": (_npz, "embeddings.npy is not a single array"),
    "embeddings of another dtype": (
        lambda f: _array(f, "embeddings.npy", lambda e: e.astype(np.float64)),
        "embeddings.npy is float64",
    ),
    "popularity of another shape": (
        lambda f: _array(f, "popularity.npy", lambda p: np.append(p, np.float32(0))),
        "popularity.npy is float32(9,)",
    ),
    # The taxonomy and the reporting section.
    "taxonomy not a taxonomy": (
        lambda f: (f / "taxonomy.json").write_text("[1, 2]", encoding="utf-8"),
        "taxonomy.json is invalid",
    ),
    "taxonomy with an extra category": (
        lambda f: _json(
            f, "taxonomy.json", lambda t: t["categories"].append({"id": "x", "label": "X"})
        ),
        "does not match the manifest's category count",
    ),
    "reporting section malformed": (
        _reporting("item", lambda k: k.update(pad_length="all of them")),
        "the reporting parameters are malformed",
    ),
    "item domain of another size": (
        _reporting("item", _one_more_value),
        "the item report domain does not match the catalog",
    ),
    "category domain of another size": (
        _reporting("category", _one_more_value),
        "the category report domain does not match its list",
    ),
    "category domain naming a sensitive category": (
        _reporting("category", lambda k: k.update(categories=[*k["categories"][:-1], "health"])),
        "the category report domain names an unknown or sensitive category",
    ),
    "category domain naming an unknown category": (
        _reporting("category", lambda k: k.update(categories=[*k["categories"][:-1], "nope"])),
        "the category report domain names an unknown or sensitive category",
    ),
    "item domain listing categories": (
        _reporting("item", lambda k: k.update(categories=["fiction"])),
        "the item report lists categories",
    ),
    "a report costing more than the week's budget": (
        _reporting("item", lambda k: k["oracle"].update(epsilon=5.0)),
        "the item report costs more than the period's budget",
    ),
    # items.jsonl
    "items not JSON lines": (
        lambda f: (f / "items.jsonl").write_bytes(b'{"id": "b1",\n' * 8),
        "items.jsonl is invalid",
    ),
    "an item missing": (lambda f: _items(f, lambda r: r.pop()), "items.jsonl has 7 items"),
    "a record with an unknown field": (
        _first_item(lambda r: r.update(script="<img src=x onerror=alert(1)>")),
        "a record that is not an item",
    ),
    "an item with a non-text title": (
        _first_item(lambda r: r.update(title=["The", "Orchard"])),
        "a missing or non-text id or title",
    ),
    "an item in an unknown category": (
        _first_item(lambda r: r.update(categories=["fiction", "nope"])),
        "names a category missing from taxonomy.json",
    ),
    "an item with an impossible date": (
        _first_item(lambda r: r.update(created="2024-13-45")),
        "an invalid 'created' date",
    ),
    "an item with a non-text language": (
        _first_item(lambda r: r.update(language={"en": 1})),
        "a non-text 'language'",
    ),
    "two items with one id": (
        lambda f: _items(f, lambda r: r[1].update(id=r[0]["id"])),
        "items.jsonl has duplicate ids",
    ),
    # The arrays' content.
    "a NaN in the embeddings": (
        lambda f: _array(f, "embeddings.npy", lambda e: e.__setitem__((0, 0), np.nan)),
        "embeddings.npy holds non-finite values",
    ),
    "an embedding that is not a unit vector": (
        lambda f: _array(f, "embeddings.npy", _scaled_row),
        "embeddings.npy rows are not unit vectors",
    ),
    "a negative popularity": (
        lambda f: _array(f, "popularity.npy", _negative_popularity),
        "popularity.npy holds negative or non-finite values",
    ),
    "popularity not summing to one": (
        lambda f: _array(f, "popularity.npy", lambda p: p * 2),
        "popularity.npy does not sum to one",
    ),
    # The int8 copy of the embeddings (issue 15).
    "int8 rows missing one item": (
        lambda f: _array(f, "quantised.npy", lambda c: c[:-1]),
        "quantised.npy is int8(7,",
    ),
    "int8 rows stored as floats": (
        lambda f: _array(f, "quantised.npy", lambda c: c.astype(np.float32)),
        "quantised.npy is float32(8,",
    ),
    "int8 scales of another length": (
        lambda f: _array(f, "scales.npy", lambda s: s[:-1]),
        "scales.npy is float32(7,)",
    ),
    "a negative int8 scale": (
        lambda f: _array(f, "scales.npy", lambda s: s.__setitem__(0, -1.0)),
        "scales.npy holds negative or non-finite scales",
    ),
    "int8 rows named but absent": (
        lambda f: (f / "quantised.npy").unlink(),
        "quantised.npy is not a valid array",
    ),
    "a manifest naming other int8 files": (
        lambda f: _json(f, "manifest.json", lambda m: m["embeddings"]["int8"].update(codes="x")),
        "embeddings.int8 must name quantised.npy and scales.npy",
    ),
}


def test_the_untouched_release_verifies(release: Path) -> None:
    """Without this, every refusal below could be one of an already broken release."""
    catalog = verify_catalog_folder(release)
    assert len(catalog) == 8
    assert catalog.version == 1


@pytest.mark.parametrize("case", HOSTILE)
def test_each_hostile_release_is_refused_by_its_check(release: Path, case: str) -> None:
    tamper, message = HOSTILE[case]
    tamper(release)
    with pytest.raises(CatalogInvalidError, match=re.escape(message)):
        verify_catalog_folder(release)
