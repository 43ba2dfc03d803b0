"""Items staged by the cluster's workers give what the client's reader gives: the same
``items.jsonl``, and for a refused file the same error, whatever the partitions.

The cluster's workers are threads of this process (as in ``test_dask``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from discreet.catalog.build import build_catalog_files
from discreet.catalog.embedding import EmbeddingParams
from discreet.catalog.embedding_dask import OnCluster
from discreet.catalog.items import read_items
from discreet.catalog.staged import stage_items
from discreet.catalog.staged_cluster import line_ranges, stage_items_on_cluster
from discreet.catalog.taxonomy import Taxonomy
from discreet.errors import ItemsInvalidError
from tests.conftest import TAXONOMY

TAX = Taxonomy.from_json(TAXONOMY)
CATEGORIES = [c["id"] for c in TAXONOMY["categories"]]


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=":0"
    )
    with cluster, Client(cluster) as c:
        yield c


def _line(i: int, **fields: Any) -> str:
    record = {"id": f"j{i}", "title": f"T\u00edtulo {i}", "text": "x y " * (i % 4)}
    if i % 3 == 0:
        record["categories"] = [CATEGORIES[i % len(CATEGORIES)]]
    if i % 5 == 0:
        record["language"] = "es"
    record.update(fields)
    return json.dumps(record, ensure_ascii=i % 2 == 0) + "\n"


LINES = [_line(i) for i in range(80)]
GOOD = {
    "plain.jsonl": "".join(LINES),
    "blank-lines.ndjson": "\n\n" + "\n".join(LINES) + "  \n\n",
    "crlf-no-last-break.jsonl": "".join(LINES).replace("\n", "\r\n").rstrip(),
    "bom.jsonl": "\ufeff" + "".join(LINES),
}
BAD = {
    # a problem only in a late partition
    "late-title.jsonl": "".join(LINES[:70]) + _line(70, title="") + "".join(LINES[71:]),
    # an id first seen in the first partition, again in the last ones
    "repeat-across.jsonl": "".join(LINES) + _line(3) + _line(79),
    # a repeat across partitions, then a problem in a later one: both said, in file order
    "repeat-then-field.jsonl": "".join(LINES[:40])
    + _line(1)
    + "".join(LINES[41:70])
    + _line(70, title="")
    + "".join(LINES[71:]),
    # a repeat, then malformed JSON further on: the reader stops on the JSON
    "repeat-then-json.jsonl": "".join(LINES[:40]) + _line(1) + "".join(LINES[41:75]) + "{nope\n",
    # line breaks the reader counts that are not \n bytes, before a problem
    "separators.jsonl": "".join(LINES[:30])
    + "\x0b\x0c\r"
    + "".join(LINES[30:60])
    + _line(60, language="?")
    + "".join(LINES[61:]),
    # more than 100 problems, spread over every partition
    "many.jsonl": "".join(_line(i, title="") if i % 2 else LINES[i % 80] for i in range(260)),
    "nothing.jsonl": "\n \n\n",
    "empty.jsonl": "",
    "not-an-object.jsonl": "".join(LINES[:50]) + "[1, 2]\n",
}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def _late_utf8(tmp_path: Path) -> Path:
    """Three line breaks that are not \\n bytes, a problem, then invalid UTF-8 near the
    end: the UTF-8 is what is said, on its line counted in \\n bytes."""
    text = (
        "".join(LINES[:30]) + "\x0b\x0c\r" + LINES[30] + _line(31, title="") + "".join(LINES[32:70])
    )
    data = text.encode() + b'{"id":"\xff"}\n'
    path = tmp_path / "late-utf8.jsonl"
    path.write_bytes(data + "".join(LINES[70:]).encode())
    return path


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("partition_bytes", [1, 333, 1 << 20])
@pytest.mark.parametrize("name", sorted(GOOD))
def test_staged_on_workers_is_what_the_client_stages(
    client: Any, tmp_path: Path, name: str, partition_bytes: int, shared: bool
) -> None:
    path = _write(tmp_path, name, GOOD[name])
    (tmp_path / "alone").mkdir()
    (tmp_path / "dask").mkdir()
    alone = stage_items(path, TAX, tmp_path / "alone", keep_ids=True)
    cluster = OnCluster(client, partition_bytes=partition_bytes, shared_files=shared)
    staged = stage_items_on_cluster(path, TAX, tmp_path / "dask", cluster, keep_ids=True)
    assert staged.path.read_bytes() == alone.path.read_bytes()
    assert (staged.count, staged.ids) == (alone.count, alone.ids)
    assert (staged.languages, staged.categories) == (alone.languages, alone.categories)
    assert staged.layout is not None
    assert staged.bounds is not None
    assert staged.bounds[0][0] == 0
    assert staged.bounds[-1][1] == staged.count
    assert all(a < b for a, b in staged.bounds)  # no empty partition
    if partition_bytes == 1:
        assert len(staged.bounds) == staged.count  # one item per partition
    parts = list(staged.partitions(staged.bounds))
    assert [p.count(b"\n") for p in parts] == [b - a for a, b in staged.bounds]
    assert b"".join(parts) == staged.path.read_bytes()


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("partition_bytes", [1, 333, 1 << 20])
@pytest.mark.parametrize("name", [*sorted(BAD), "late-utf8.jsonl", "missing.jsonl"])
def test_a_file_refused_on_workers_gets_the_readers_error_and_leaves_nothing(
    client: Any, tmp_path: Path, name: str, partition_bytes: int, shared: bool
) -> None:
    if name == "late-utf8.jsonl":
        path = _late_utf8(tmp_path)
    elif name == "missing.jsonl":
        path = tmp_path / name
    else:
        path = _write(tmp_path, name, BAD[name])
    with pytest.raises(ItemsInvalidError) as expected:
        read_items(path, TAX)
    folder = tmp_path / "out"
    folder.mkdir()
    cluster = OnCluster(client, partition_bytes=partition_bytes, shared_files=shared)
    with pytest.raises(ItemsInvalidError) as info:
        stage_items_on_cluster(path, TAX, folder, cluster)
    assert info.value.args == expected.value.args
    assert list(folder.iterdir()) == []


def test_the_refusals_name_what_the_cases_are_about(tmp_path: Path) -> None:
    """The cases above test what they say (the reader's own messages)."""
    said = {}
    for name, text in BAD.items():
        with pytest.raises(ItemsInvalidError) as info:
            read_items(_write(tmp_path, name, text), TAX)
        said[name] = info.value.args[0]
    assert "late-title.jsonl:71: field 'title'" in said["late-title.jsonl"]
    assert "81: field 'id': duplicate id 'j3' (first on line 4)" in said["repeat-across.jsonl"]
    assert "(+1 more problems)" in said["repeat-across.jsonl"]
    assert "41: field 'id': duplicate id 'j1' (first on line 2)" in said["repeat-then-field.jsonl"]
    assert "(+1 more problems)" in said["repeat-then-field.jsonl"]
    assert "repeat-then-json.jsonl:76: invalid JSON" in said["repeat-then-json.jsonl"]
    assert "separators.jsonl:64: field 'language'" in said["separators.jsonl"]
    assert "(+99 more problems)" in said["many.jsonl"]
    with pytest.raises(ItemsInvalidError, match=r"late-utf8.jsonl:71: invalid UTF-8"):
        read_items(_late_utf8(tmp_path), TAX)


def test_a_csv_file_is_staged_by_the_client(client: Any, tmp_path: Path) -> None:
    path = _write(tmp_path, "items.csv", "id,title\na,One\nb,Two\n")
    staged = stage_items_on_cluster(path, TAX, tmp_path, OnCluster(client, partition_bytes=1))
    assert staged.layout is None
    assert staged.path.read_bytes() == b'{"id":"a","title":"One"}\n{"id":"b","title":"Two"}\n'


def test_line_ranges_cover_the_file_and_end_after_line_breaks(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "x.jsonl", "a\n\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\nc\nno break"
    )
    data = path.read_bytes()
    for target in (1, 2, 5, 40, 10_000):
        ranges = line_ranges(path, target)
        assert ranges[0][0] == 0
        assert ranges[-1][1] == len(data)
        assert all(a[1] == b[0] and a[0] < a[1] for a, b in itertools.pairwise(ranges))
        assert all(data[stop - 1 : stop] == b"\n" for _, stop in ranges[:-1])


def _files(folder: Path, result: Any) -> dict[str, bytes]:
    return {f: (folder / f).read_bytes() for f in result.manifest.files}


@pytest.mark.parametrize("shared", [True, False])
def test_a_build_from_workers_staged_items_is_the_one_without_dask(
    client: Any, tmp_path: Path, shared: bool
) -> None:
    """Staged in many byte ranges, which the embedding tasks then read again: every
    file as without Dask (up to the sample), and beyond the sample as a Dask build
    of the item list in other partitions (the layout changes nothing)."""
    lines = [_line(i, text=f"w{i % 7} w{i % 11} w{i % 13} common") for i in range(900)]
    path = _write(tmp_path, "items.jsonl", "".join(lines))
    items = read_items(path, TAX)
    params = EmbeddingParams(dim=8, vectorizer="hashing", hashing_features=2**12, seed=1)
    built = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    options: dict[str, Any] = {"name": "s", "version": 1, "built_at": built, "params": params}
    for sample in (900, 600):
        folder = tmp_path / f"reference{sample}"
        if sample >= len(items):  # the sample is every row: as without Dask
            expected = _files(folder, build_catalog_files(items, TAX, folder, **options))
        else:
            reference = OnCluster(client, partition_rows=250, sample_rows=sample)
            result = build_catalog_files(items, TAX, folder, cluster=reference, **options)
            expected = _files(folder, result)
        cluster = OnCluster(client, partition_bytes=7_000, sample_rows=sample, shared_files=shared)
        folder = tmp_path / f"dask{sample}"
        folder.mkdir()
        staged = stage_items_on_cluster(path, TAX, folder, cluster)
        assert staged.bounds is not None
        assert len(staged.bounds) > 5
        assert [b - a for a, b in staged.bounds] != [250] * 3 + [150]
        on_dask = _files(
            folder, build_catalog_files(staged, TAX, folder, cluster=cluster, **options)
        )
        assert set(on_dask) == set(expected)
        for name, data in expected.items():
            assert on_dask[name] == data, (sample, name)
