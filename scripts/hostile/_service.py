"""What the hostile runs share: a published test catalog, a served process, valid reports.

Run from the repository's root; the tests' support code is reused, so the runs
exercise the very service and fixtures the suite does.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.conftest import ITEMS, TAXONOMY  # noqa: E402

from discreet.protocol.report import Report, period_of  # noqa: E402
from discreet.protocol.wire import encode_batch  # noqa: E402
from discreet.publish.publisher import publish_catalog  # noqa: E402
from discreet.publish.repository import PublisherRepository  # noqa: E402


def published_repo(folder: Path) -> PublisherRepository:
    """The tests' small catalog, built and published into ``folder/repo``."""
    items, taxonomy = folder / "items.jsonl", folder / "taxonomy.json"
    items.write_text("".join(json.dumps(i) + "\n" for i in ITEMS), encoding="utf-8")
    taxonomy.write_text(json.dumps(TAXONOMY), encoding="utf-8")
    repo = PublisherRepository.init(folder / "repo")
    publish_catalog(repo, items, taxonomy)
    return repo


def one_report_body(repo: PublisherRepository) -> bytes:
    """A request with one valid category report of this week, with a fresh token."""
    target = repo.current_targets()["catalog/manifest.json"]
    manifest = json.loads(repo.target_path(target).read_bytes())
    mechanism = manifest["reporting"]["kinds"]["category"]["oracle"]["mechanism"]
    report = Report("category", mechanism, 1, period_of(dt.date.today()), 1)
    return encode_batch([(secrets.token_bytes(16), report.to_bytes())])
