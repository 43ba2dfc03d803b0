"""Items read a chunk at a time and staged as ``items.jsonl`` give what the whole file gives."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import pytest

from discreet.catalog import items as items_module
from discreet.catalog.build import items_jsonl
from discreet.catalog.items import iter_item_blocks, read_items
from discreet.catalog.staged import ITEMS_FILE, CompactFirstLines, stage_items
from discreet.catalog.taxonomy import Taxonomy
from discreet.errors import ItemsInvalidError
from tests.conftest import TAXONOMY

TAX = Taxonomy.from_json(TAXONOMY)
CSV = (
    "\ufeffid;title;text;categories;language\r\n"
    'a;"Title; with separator";"Line one\r\nline two";fiction|travel;es-MX\r\n'
    "b;Plain;caf\u00e9 na\u00efve;;\r\n"
    'c;"Quoted ""title""";;cooking;en\r\n'
)
JSONL = "".join(
    json.dumps({"id": f"j{i}", "title": f"T\u00edtulo {i}", "text": "x y" * (i % 3)}) + "\n"
    for i in range(7)
)
GOOD = {"items.csv": CSV, "items.jsonl": JSONL, "items.ndjson": "\n\n" + JSONL + "\n"}
BAD = {
    # a duplicate, a bad field, then invalid UTF-8: the UTF-8 is what is reported
    "late-utf8.jsonl": JSONL + JSONL[:40] + "\n" + '{"id":"z","title":""}\n',
    "duplicates.jsonl": JSONL + JSONL,
    "malformed.csv": "id,title\n" + 'a,"never closed\nb,x\n',
    "extra.csv": "id,title\na,b,c\n",
    "empty.csv": "",
    "nothing.jsonl": "\n\n",
    "not-json.jsonl": JSONL + "{nope\n",
    "items.txt": JSONL,
    # a raw line separator inside a string: a line break to the reader, as it always was
    "separator.jsonl": json.dumps({"id": "s", "title": "a\u2028b"}, ensure_ascii=False) + "\n",
    "separator.csv": "id,title,text\na,b,c\u2028d\n",
}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    data = text.encode()
    if name == "late-utf8.jsonl":
        data += b'{"id":"\xff"}\n'
    path.write_bytes(data)
    return path


def _outcome(path: Path) -> object:
    try:
        return read_items(path, TAX)
    except ItemsInvalidError as exc:
        return exc.args


@pytest.mark.parametrize("name", sorted({**GOOD, **BAD}))
def test_tiny_chunks_read_every_file_as_whole_ones_do(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, name, {**GOOD, **BAD}[name])
    whole = _outcome(path)
    monkeypatch.setattr(items_module, "_CHUNK_BYTES", 3)
    assert _outcome(path) == whole
    if name in GOOD:
        assert isinstance(whole, list)
        assert whole
    else:
        assert isinstance(whole, tuple)


def test_invalid_utf8_is_reported_on_its_line_even_after_other_problems(tmp_path: Path) -> None:
    path = _write(tmp_path, "late-utf8.jsonl", BAD["late-utf8.jsonl"])
    outcome = _outcome(path)
    assert isinstance(outcome, tuple)
    assert outcome[0] == f"{path}:10: invalid UTF-8; save the file as UTF-8"


@pytest.mark.parametrize("name", sorted(GOOD))
def test_staged_items_are_the_catalogs_items_jsonl(name: str, tmp_path: Path) -> None:
    path = _write(tmp_path, name, GOOD[name])
    items = read_items(path, TAX)
    folder = tmp_path / "out"
    folder.mkdir()
    staged = stage_items(path, TAX, folder, keep_ids=True, block_rows=2)
    assert staged.path.read_bytes() == items_jsonl(items)
    assert staged.count == len(staged) == len(items)
    assert staged.ids == tuple(i.id for i in items)
    assert list(stage_items(path, TAX, folder).item_ids()) == [i.id for i in items]
    assert staged.languages == collections.Counter(i.language or "unspecified" for i in items)
    assert staged.categories == collections.Counter(c for i in items for c in i.categories)
    bounds = [(0, 2), (2, 3), (3, len(items))]
    parts = list(staged.partitions(bounds))
    assert b"".join(parts) == items_jsonl(items)
    assert [p.count(b"\n") for p in parts] == [2, 1, len(items) - 3]


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_refused_file_leaves_no_staged_file(name: str, tmp_path: Path) -> None:
    path = _write(tmp_path, name, BAD[name])
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(ItemsInvalidError) as info:
        stage_items(path, TAX, folder, block_rows=2)
    assert info.value.args == _outcome(path)
    assert list(folder.iterdir()) == []
    assert not (folder / ITEMS_FILE).exists()


def test_compact_first_lines_find_duplicates_across_merges() -> None:
    seen = CompactFirstLines(recent=3)
    rng = np.random.default_rng(1)
    ids = [f"id-{n}" for n in rng.permutation(50)]
    for line, item_id in enumerate(ids, start=10):
        assert seen.get(item_id) is None
        seen[item_id] = line
    assert len(seen) == 50
    for line, item_id in enumerate(ids, start=10):
        assert seen.get(item_id) == line
    assert seen.get("id-50") is None
    assert seen.get("") is None


def test_the_given_first_lines_are_used_even_while_empty(tmp_path: Path) -> None:
    """Regression: an empty CompactFirstLines is falsy, and was once swapped for a dict."""
    path = _write(tmp_path, "items.jsonl", JSONL)
    seen = CompactFirstLines(recent=2)
    blocks = list(iter_item_blocks(path, TAX, block_rows=3, first_lines=seen))
    assert [len(b) for b in blocks] == [3, 3, 1]
    assert len(seen) == 7
    assert seen.get("j6") == 7
