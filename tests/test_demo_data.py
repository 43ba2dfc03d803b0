"""The demo catalog shipped in the package: size, sensitive topics, languages, and a real build."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path

from discreet.catalog.items import read_items
from discreet.catalog.manifest import load_notices
from discreet.catalog.taxonomy import load_taxonomy
from discreet.demo_data import (
    demo_items_path,
    demo_notices_path,
    demo_taxonomy_path,
    publish_demo_catalog,
)
from discreet.publish.repository import PublisherRepository
from discreet.sync.client import sync_catalog

ROOT = Path(__file__).resolve().parents[1]


def test_demo_catalog_is_a_plausible_bookshop() -> None:
    taxonomy = load_taxonomy(demo_taxonomy_path())
    items = read_items(demo_items_path(), taxonomy)
    assert len(items) >= 300
    assert len(taxonomy) >= 12
    assert len(taxonomy.sensitive_ids) >= 2
    assert {"health", "religion"} <= taxonomy.sensitive_ids
    assert all(len(i.text.split()) >= 15 for i in items), (
        "every item has a one-paragraph description"
    )
    assert len({i.title for i in items}) == len(items)
    per_category = collections.Counter(c for i in items for c in i.categories)
    assert set(per_category) == set(taxonomy.ids)
    languages = collections.Counter(i.language for i in items)
    assert languages["es"] >= 30
    assert languages["en"] >= 250
    assert load_notices(demo_notices_path())


def test_generator_reproduces_the_committed_files(tmp_path: Path) -> None:
    script = ROOT / "scripts" / "make_demo_catalog.py"
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True, capture_output=True)
    for name in ("items.jsonl", "taxonomy.json", "notices.json"):
        shipped = demo_items_path().parent / name
        assert (tmp_path / name).read_bytes() == shipped.read_bytes(), name


def test_demo_catalog_builds_and_syncs(tmp_path: Path) -> None:
    repo = PublisherRepository.init(tmp_path / "repo")
    result = publish_demo_catalog(repo)
    assert result.manifest.dim == 64
    synced = sync_catalog(tmp_path / "home", str(repo.path), root=repo.trusted_root_path)
    assert synced.version == 1
    assert synced.notices[0].id == "welcome-2026"
    manifest = json.loads((synced.folder / "manifest.json").read_bytes())
    assert manifest["items"]["count"] == len(
        read_items(demo_items_path(), load_taxonomy(demo_taxonomy_path()))
    )
