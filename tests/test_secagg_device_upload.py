"""Devices' weekly contributions, sent to a real leader (with a real helper) on loopback,
aggregated and collected: none lost, none counted twice."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from discreet.catalog.reader import Catalog
from discreet.cli import main
from discreet.errors import SourceUnavailableError
from discreet.profile.contribution import prepare_contribution
from discreet.profile.model import Profile
from discreet.protocol.report import period_of
from discreet.publish.collect import collect
from discreet.publish.publisher import PublishResult
from discreet.publish.repository import PublisherRepository
from discreet.secagg import hpke
from discreet.secagg.mode import SecureAggregation
from discreet.secagg.task import (
    COLLECTOR,
    Task,
    TaskFiles,
    create_task,
    read_secrets,
)
from discreet.sync.client import sync_catalog
from discreet.sync.reports import send_contributions, send_reports
from tests.conftest import ITEMS
from tests.secagg_support import running_aggregators
from tests.server_support import ServiceProcess, http, refused_port

TODAY = dt.date.today()  # the leader takes this ISO week and the two before it
PERIOD = period_of(TODAY)
ITEM_IDS = tuple(str(item["id"]) for item in ITEMS)
SENSITIVE = {"b3", "b8"}
DEVICES = 40
K = 3


@pytest.fixture(scope="module")
def aggregators(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TaskFiles, ServiceProcess, ServiceProcess]]:
    folder = tmp_path_factory.mktemp("secagg")
    files = create_task(
        folder / "task",
        length=len(ITEM_IDS),
        max_weight=K,
        min_batch_size=DEVICES,
        epsilon=10.0,  # little noise, so that the test sees every contribution
        delta=1e-6,
        labels=ITEM_IDS,
    )

    with running_aggregators(files, folder) as (leader, helper):
        yield files, leader, helper


def _cli_device(
    repo: PublisherRepository,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> list[str]:
    """A device run through the CLI: consent, preview, send; the items it contributed."""
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    monkeypatch.setenv("DISCREET_HOME", str(home))
    monkeypatch.setenv("DISCREET_PASSPHRASE", "a long enough passphrase")
    for argv in (["init"], ["like", "b1"], ["like", "b3"], ["report", "consent", "--yes"]):
        assert main(argv) == 0
    capsys.readouterr()
    assert main(["report", "preview", "--json"]) == 0
    items: list[str] = json.loads(capsys.readouterr().out)["items"]
    assert items == ["b1"]  # b3 is sensitive
    assert main(["report", "send", "--max-delay", "0.01", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sent"] == 1
    assert main(["ledger", "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)["entries"]
    assert entry["status"] == "sent"
    return items


def test_devices_contributions_reach_the_leader_once_and_are_collected(
    aggregators: tuple[TaskFiles, ServiceProcess, ServiceProcess],
    repo: PublisherRepository,
    publish: Callable[..., PublishResult],
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files, leader, helper = aggregators
    task = Task.load(files.task)
    publish(secure_aggregation=SecureAggregation(task, leader.url, helper.url, 10.0, K))
    catalog = Catalog.open(sync_catalog(home, str(repo.path), root=repo.trusted_root_path).folder)
    section = catalog.manifest.secure_aggregation
    assert section is not None
    assert section.leader == leader.url

    rng = random.Random(5)
    truth = np.zeros(len(ITEM_IDS), dtype=np.int64)
    waits: list[float] = []
    for device in range(DEVICES):
        profile = Profile.new(TODAY)
        for item in rng.sample(ITEM_IDS, rng.randint(0, K)):
            profile.record(item, "view", TODAY)
        profile.grant(section.consent_terms(), TODAY)
        preview = prepare_contribution(profile, catalog, section, TODAY)
        assert preview.items is not None
        for item in preview.items:
            assert item not in SENSITIVE
            truth[ITEM_IDS.index(item)] += 1
        # The LDP sender leaves the contribution alone.
        assert send_reports(profile, "http://127.0.0.1:9", max_delay=0).sent == 0
        assert [r.destination for r in profile.outbox] == [leader.url]
        if device == 0:  # the leader is unreachable: the contribution stays queued
            queued = profile.outbox[0]
            with refused_port() as port:
                profile.outbox[0] = dataclasses.replace(
                    queued, destination=f"http://127.0.0.1:{port}"
                )
                with pytest.raises(SourceUnavailableError, match="leader"):
                    send_contributions(profile, leader.url, max_delay=0, attempts=1)
            assert [e.status for e in profile.ledger] == ["pending"]
            assert len(profile.outbox) == 1
            profile.outbox[0] = queued
        if device == 1:  # the upload landed but its answer was lost: sent again, kept once
            status, _, _ = http("PUT", f"{leader.url}/v1/secagg/reports", preview.data)
            assert status == 201
        result = send_contributions(
            profile, section.leader, max_delay=5.0, sleep=waits.append,
            rng=np.random.default_rng(device),
        )  # fmt: skip
        # An identical retry is accepted again (not a replay) and counted once.
        assert (result.sent, result.duplicates, result.rejected) == (1, 0, 0)
        assert profile.outbox == []
        assert [e.status for e in profile.ledger] == ["sent"]
        # Sending again sends nothing: the contribution is settled.
        assert send_contributions(profile, section.leader, max_delay=0).sent == 0
    assert len(waits) == DEVICES
    assert all(0 <= w < 5.0 for w in waits)
    assert len(set(waits)) == DEVICES
    # One more device, through the CLI (its engine saves each verdict).
    for item in _cli_device(repo, home.parent / "cli-device", monkeypatch, capsys):
        truth[ITEM_IDS.index(item)] += 1

    document = collect(
        task,
        hpke.read_keypair(files.keys[COLLECTOR]),
        read_secrets(files.secrets[COLLECTOR]),
        leader.url,
        PERIOD,
    )
    assert document["reports"] == DEVICES + 1
    assert document["rejected"]["leader"] == {}
    got = np.array([document["estimates"][item]["estimate"] for item in ITEM_IDS])
    noise = got - truth
    variance = task.noise_plan().release_variance
    assert np.all(np.abs(noise) < 7 * np.sqrt(variance))
    assert stats.chi2.sf(float(np.sum(noise**2) / variance), len(ITEM_IDS)) > 1e-4
    assert got[[ITEM_IDS.index(i) for i in SENSITIVE]].max() < 7 * np.sqrt(variance)


def test_a_contribution_the_leader_refuses_is_dropped_with_its_reason(
    aggregators: tuple[TaskFiles, ServiceProcess, ServiceProcess],
    repo: PublisherRepository,
    publish: Callable[..., PublishResult],
    home: Path,
) -> None:
    files, leader, helper = aggregators
    publish(
        secure_aggregation=SecureAggregation(Task.load(files.task), leader.url, helper.url, 10, K)
    )
    catalog = Catalog.open(sync_catalog(home, str(repo.path), root=repo.trusted_root_path).folder)
    section = catalog.manifest.secure_aggregation
    assert section is not None
    stale = TODAY - dt.timedelta(weeks=3)  # a week the leader no longer takes
    profile = Profile.new(stale)
    profile.record("b1", "view", stale)
    profile.grant(section.consent_terms(), stale)
    prepare_contribution(profile, catalog, section, stale)
    result = send_contributions(profile, section.leader, max_delay=0)
    assert (result.sent, result.rejected) == (0, 1)
    assert "this ISO week or one of the 2 before it" in result.reason
    assert profile.outbox == []
    (entry,) = profile.ledger
    assert entry.status == "rejected"
    assert entry.reason == result.reason
