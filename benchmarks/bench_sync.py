"""``sync`` of a signed release of 1M items: peak memory and time, in a fresh process.

The release (1M x 64 float32 embeddings, 244 MiB, with its int8 copy) is
signed into a TUF repository once and reused (``DISCREET_BENCH_CACHE``); each
run signs a fresh timestamp. The sync runs in a fresh process from the
repository folder, the way ``discreet sync --from DIR`` does, and verifies and
installs everything: TUF hashes, every item, every vector, the index and the
ranking features. The reference is the size of the float32 embeddings, the
largest file of the release, and the process's memory before the sync.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from _catalogs import cache_root, make_catalog
from _harness import peak_rss_mib, rss_mib, run_case, table
from discreet.catalog import _json
from discreet.catalog.manifest import Manifest
from discreet.publish.repository import Expiries, PublisherRepository

LAYOUT = 2


def signed_repository(n: int) -> Path:
    """A repository whose current release has ``n`` synthetic items (signed once)."""
    folder = cache_root() / f"repo-{n}-layout{LAYOUT}"
    if not folder.exists():
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        release = partial / "release"
        make_catalog(release, n)
        manifest = Manifest.from_json(_json.loads((release / "manifest.json").read_bytes()))
        repo = PublisherRepository.init(partial / "repo")
        with repo.lock():
            repo.publish_targets({name: release / name for name in manifest.files})
        shutil.rmtree(release)
        partial.rename(folder)
    repo = PublisherRepository.open(folder / "repo")
    with repo.lock():
        # The cached metadata may have expired since it was signed.
        repo.refresh(roles={"targets", "snapshot", "timestamp"}, expiries=Expiries())
    return folder / "repo"


def case(repo: str) -> dict[str, float]:
    from discreet.sync.client import sync_catalog

    before = rss_mib()
    with tempfile.TemporaryDirectory() as home:
        start = time.perf_counter()
        root = Path(repo) / "public" / "metadata" / "1.root.json"
        result = sync_catalog(home, repo, root=root)
        seconds = time.perf_counter() - start
        assert result.updated
    return {"rss_before_mib": before, "peak_rss_mib": peak_rss_mib(), "sync_s": seconds}


def rows(quick: bool = False) -> list[dict[str, object]]:
    n = 100_000 if quick else 1_000_000
    repo = signed_repository(n)
    embeddings = 64 * 4 * n / 2**20
    measured = run_case("bench_sync", [str(repo)])
    return [{"items": n, "embeddings_mib": embeddings, **measured}]


def main(quick: bool = False, as_json: bool = False) -> str:
    measured = rows(quick)
    if as_json:
        return json.dumps({"benchmark": "bench_sync", "rows": measured}, indent=1)
    return table(
        "sync of a signed release from a folder, fresh process (peak RSS includes the mapped "
        "file pages read while verifying)",
        measured,
        ["items", "embeddings_mib", "rss_before_mib", "peak_rss_mib", "sync_s"],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--case")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    if options.case:
        print(json.dumps(case(options.case)))
    else:
        print(main(options.quick, options.json))
