"""The streaming pass over items.jsonl: the same checks and results, a block at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from discreet.catalog import scan as scan_module
from discreet.catalog.features import CatalogFeatures
from discreet.catalog.index import id_hashes, line_offsets
from discreet.catalog.scan import scan_items
from discreet.errors import CatalogInvalidError

CATEGORIES = ["a", "b", "c"]


def _items(n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(n)
    return [
        {
            "id": f"item-{i}",
            "title": "T" * int(rng.integers(1, 300)),  # some lines longer than a block
            "categories": [CATEGORIES[int(c)] for c in rng.choice(3, int(rng.integers(0, 3)))],
            **({"created": "2024-02-29"} if i % 3 else {}),
            **({"language": ["es", "PT-br"][i % 2]} if i % 5 else {}),
        }
        for i in range(n)
    ]


def _write(path: Path, records: list[dict[str, Any]]) -> bytes:
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("block", [64, 1000, 1 << 20])
def test_blocks_give_what_one_whole_parse_gives(tmp_path: Path, block: int) -> None:
    records = _items(500)
    data = _write(
        tmp_path / "items.jsonl",
        [{**r, "categories": sorted(set(r["categories"]))} for r in records],
    )
    records = [json.loads(line) for line in data.splitlines()]
    scan = scan_items(tmp_path / "items.jsonl", CATEGORIES, 500, block=block)
    assert scan.count == 500
    np.testing.assert_array_equal(scan.hashes, id_hashes([r["id"] for r in records]))
    np.testing.assert_array_equal(scan.offsets, line_offsets(data))
    whole = CatalogFeatures.from_records(records, CATEGORIES)
    for field in ("indptr", "indices", "created", "language", "category_rows"):
        np.testing.assert_array_equal(getattr(scan.features, field), getattr(whole, field))
    assert scan.features.languages == whole.languages


def test_a_duplicate_in_another_block_is_found(tmp_path: Path) -> None:
    records = _items(300)
    records[250]["id"] = records[3]["id"]
    _write(tmp_path / "items.jsonl", records)
    with pytest.raises(CatalogInvalidError, match="duplicate ids"):
        scan_items(tmp_path / "items.jsonl", CATEGORIES, 300, block=256)


def test_equal_hashes_of_different_ids_are_not_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every id hashes alike here: only a true duplicate may be refused."""
    monkeypatch.setattr(scan_module, "id_hashes", lambda ids: np.zeros(len(ids), np.uint64))
    records = _items(50)
    _write(tmp_path / "items.jsonl", records)
    assert scan_items(tmp_path / "items.jsonl", CATEGORIES, 50, block=256).count == 50
    records[40]["id"] = records[7]["id"]
    _write(tmp_path / "items.jsonl", records)
    with pytest.raises(CatalogInvalidError, match="duplicate ids"):
        scan_items(tmp_path / "items.jsonl", CATEGORIES, 50, block=256)


@pytest.mark.parametrize(
    ("content", "expected", "message"),
    [
        (b'{"id": "a",\n "title": "A"}\n', 1, "items.jsonl is invalid"),
        (b'{"id": "a", "title": "A"}\n' * 3, 2, "has more than 3 items, the manifest 2"),
        (b'{"id": "a", "title": "A"}\n\n', 1, "items.jsonl is invalid"),
        (b'{"id": "a", "title": "A"}', 2, "has 1 items, the manifest 2"),
    ],
)
def test_malformed_files_are_refused(
    tmp_path: Path, content: bytes, expected: int, message: str
) -> None:
    (tmp_path / "items.jsonl").write_bytes(content)
    for block in (8, 1 << 20):  # a record across two blocks, or within one
        with pytest.raises(CatalogInvalidError, match=message):
            scan_items(tmp_path / "items.jsonl", CATEGORIES, expected, block=block)
