"""The hosting service keeps the online metadata fresh; the offline roles stay the publisher's."""

from __future__ import annotations

import datetime as dt
import json
import logging
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from discreet.errors import CatalogExpiredError
from discreet.publish.repository import PublisherRepository, utc_now
from discreet.server.upkeep import MetadataKeeper, refresh_if_due
from discreet.sync.client import sync_catalog
from tests.server_support import start_service_process


def _versions(repo: PublisherRepository) -> dict[str, int]:
    timestamp = json.loads((repo.metadata_dir / "timestamp.json").read_bytes())["signed"]
    return {
        "timestamp": timestamp["version"],
        "snapshot": timestamp["meta"]["snapshot.json"]["version"],
    }


@pytest.fixture
def published(repo: PublisherRepository, publish: Callable[..., object]) -> PublisherRepository:
    publish()
    return repo


def test_only_what_is_due_is_re_signed(published: PublisherRepository) -> None:
    repo = published
    assert refresh_if_due(repo) == set()  # just published: nothing is due
    before = _versions(repo)
    repo.refresh(now=utc_now() - dt.timedelta(hours=13))  # 11 hours left of 24
    assert refresh_if_due(repo) == {"timestamp"}
    after = _versions(repo)
    assert after == {"timestamp": before["timestamp"] + 2, "snapshot": before["snapshot"]}
    assert repo.expiries_of()["timestamp"] - utc_now() > dt.timedelta(hours=23)
    assert refresh_if_due(repo) == set()
    assert _versions(repo) == after
    repo.refresh(roles={"snapshot"}, now=utc_now() - dt.timedelta(days=4))  # 3 of 7 days left
    assert refresh_if_due(repo) == {"timestamp", "snapshot"}
    assert _versions(repo)["snapshot"] == after["snapshot"] + 2
    assert repo.expiries_of()["snapshot"] - utc_now() > dt.timedelta(days=6)


def test_the_keeper_warns_once_about_offline_roles_and_waits_for_publishers(
    published: PublisherRepository, caplog: pytest.LogCaptureFixture
) -> None:
    repo = published
    repo.refresh(roles={"targets"}, now=utc_now() - dt.timedelta(days=6))  # one day left
    keeper = MetadataKeeper(repo)
    with caplog.at_level(logging.WARNING, logger="discreet.server"):
        keeper.check()
        keeper.check()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "targets metadata expires" in warnings[0]
    assert "publish refresh --role targets" in warnings[0]
    repo.refresh(now=utc_now() - dt.timedelta(hours=20))
    before = _versions(repo)
    with repo.lock():  # a publisher at work: the keeper neither waits long nor fails
        assert keeper.check() == set()
    assert _versions(repo) == before
    assert keeper.check() == {"timestamp"}


def test_the_keeper_re_signs_before_it_returns_from_enter(published: PublisherRepository) -> None:
    """The service starts serving only after the first check: never stale metadata at start."""
    repo = published
    repo.refresh(now=utc_now() - dt.timedelta(hours=13))  # due for a re-sign
    before = _versions(repo)
    with MetadataKeeper(repo, interval=3600):
        assert _versions(repo)["timestamp"] > before["timestamp"]
        assert repo.expiries_of()["timestamp"] - utc_now() > dt.timedelta(hours=23)


def test_a_served_repository_never_offers_expired_metadata(
    published: PublisherRepository, tmp_path: Path
) -> None:
    """A real ``discreet serve`` process, over HTTP: the timestamp had expired before it started."""
    repo = published

    def sync_through_service(*extra: str) -> None:
        repo.refresh(now=utc_now() - dt.timedelta(days=2))  # expired a day ago
        service = start_service_process(repo.path, tmp_path / "reports.db", *extra)
        try:
            home = tmp_path / f"device-{len(extra)}"
            sync_catalog(home, service.url, root=repo.trusted_root_path)
        finally:
            service.process.send_signal(signal.SIGTERM)
            assert service.process.wait(20) in (0, -signal.SIGTERM)

    with pytest.raises(CatalogExpiredError):
        sync_through_service("--no-refresh")
    sync_through_service("--timestamp-expiry", "3")  # re-signed as the service started
    left = repo.expiries_of()["timestamp"] - utc_now()
    assert dt.timedelta(days=2.9) < left <= dt.timedelta(days=3)


def test_missing_keys_are_reported_not_fatal(
    published: PublisherRepository, caplog: pytest.LogCaptureFixture
) -> None:
    repo = published
    repo.refresh(now=utc_now() - dt.timedelta(hours=20))
    key = repo.keys.path / "timestamp.pem"
    offline = key.with_suffix(".offline")
    key.rename(offline)
    try:
        with caplog.at_level(logging.WARNING, logger="discreet.server"):
            assert MetadataKeeper(repo).check() == set()
        assert "cannot re-sign the repository metadata" in caplog.text
        assert "timestamp signing key" in caplog.text
    finally:
        offline.rename(key)
