"""One real leader and one real helper serving both tasks (popularity and co-occurrence),
each under its own path: devices and a modified client upload, the collector collects
each task once, and a queued contribution goes where it was made for."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from discreet.catalog.reader import Catalog
from discreet.errors import ContributionInvalidError
from discreet.profile.contribution import pair_index, prepare_contribution, sample_pairs
from discreet.profile.model import Profile
from discreet.protocol.report import period_of
from discreet.publish.collaborative import read_cooccurrence
from discreet.publish.collect import COOCCURRENCE_FORMAT, collect
from discreet.publish.publisher import PublishResult
from discreet.publish.repository import PublisherRepository
from discreet.secagg import hpke
from discreet.secagg.mode import SecureAggregation
from discreet.secagg.task import COLLECTOR, Task, TaskFiles, b64, create_task, read_secrets
from discreet.secagg.upload import UploadReport, make_report, seal_report
from discreet.sync.client import sync_catalog
from discreet.sync.reports import send_contributions
from discreet.vdaf import FIELD128
from discreet.vdaf.circuits import encode_range_checked_int
from tests.conftest import ITEMS
from tests.secagg_support import running_aggregators
from tests.server_support import ServiceProcess, http, refused_port

ITEM_IDS = tuple(str(item["id"]) for item in ITEMS)
SENSITIVE = ("b3", "b8")
TOP = ("b2", "b1", "b4", "b6", "b5", "b7")  # no sensitive item: a device never pairs one
M, K = len(TOP), 3
VALID, OVERSIZED = 60, 5
TODAY = dt.date.today()  # the aggregators take this ISO week and the two before it
PERIOD = period_of(TODAY)


@dataclass
class Aggregators:
    files: tuple[TaskFiles, TaskFiles]
    section: SecureAggregation
    leader: ServiceProcess
    helper: ServiceProcess


@pytest.fixture(scope="module")
def aggregators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Aggregators]:
    folder = tmp_path_factory.mktemp("secagg-pairs")
    files = tuple(
        create_task(
            folder / name,
            length=len(ITEM_IDS),
            max_weight=K,
            min_batch_size=VALID,
            epsilon=1.0,
            delta=1e-9,
            labels=() if top else ITEM_IDS,
            top_items=top,
        )
        for name, top in (("items", ()), ("pairs", TOP))
    )
    with running_aggregators(files, folder) as (leader, helper):
        items, pairs = (Task.load(f.task) for f in files)
        section = SecureAggregation(items, leader.url, helper.url, 2.0, K, pairs)
        yield Aggregators((files[0], files[1]), section, leader, helper)


def _upload(url: str, report: UploadReport) -> int:
    status, _, _ = http("PUT", f"{url}/v1/secagg/reports", report.encode())
    return status


def _oversized(task: Task) -> UploadReport:
    """A modified client's pair contribution: K + 2 ones, claiming a weight of K."""
    counts = [1 if i < K + 2 else 0 for i in range(task.length)]
    encoded = FIELD128.from_ints([*counts, *encode_range_checked_int(K, K)])
    return seal_report(task, PERIOD, task.vdaf().shard_encoded(task.ctx, encoded))


def _collect(aggregators: Aggregators, index: int) -> dict[str, object]:
    files = aggregators.files[index]
    task = aggregators.section.tasks[index]
    return collect(
        task,
        hpke.read_keypair(files.keys[COLLECTOR]),
        read_secrets(files.secrets[COLLECTOR]),
        aggregators.section.leader_url(task),
        PERIOD,
    )


def _noise_of_the_stated_scale(noise: np.ndarray, variance: float) -> None:
    assert np.all(np.abs(noise) < 7 * np.sqrt(variance))
    statistic = float(np.sum(noise**2) / variance)  # chi-square-like over the entries
    assert stats.chi2.sf(statistic, noise.size) > 1e-4
    assert stats.chi2.cdf(statistic, noise.size) > 1e-4


def test_one_leader_and_helper_aggregate_both_tasks_and_reject_oversized_pairs(
    aggregators: Aggregators, tmp_path: Path
) -> None:
    section, leader = aggregators.section, aggregators.leader
    items, pairs = section.task, section.cooccurrence
    assert pairs is not None
    urls = [section.leader_url(items), section.leader_url(pairs)]
    assert urls[0] != urls[1]
    rng = random.Random(21)
    np_rng = np.random.default_rng(21)
    truth = np.zeros(items.length, dtype=np.int64)
    pair_truth = np.zeros(pairs.length, dtype=np.int64)
    for _ in range(VALID):
        held = rng.sample(ITEM_IDS, rng.randint(0, 5))
        ones = set(held[:K])
        measurement = [item in ones for item in ITEM_IDS]
        truth += np.array(measurement, dtype=np.int64)
        assert _upload(urls[0], make_report(items, PERIOD, measurement)) == 201
        positions = sorted(TOP.index(i) for i in held if i in TOP)
        chosen = sample_pairs(positions, M, K, K, np_rng)
        pair_measurement = [entry in chosen for entry in range(pairs.length)]
        pair_truth += np.array(pair_measurement, dtype=np.int64)
        assert _upload(urls[1], make_report(pairs, PERIOD, pair_measurement)) == 201
    # A modified client: oversized pair vectors, which the honest client refuses to make.
    with pytest.raises(ContributionInvalidError, match="does not fit"):
        make_report(pairs, PERIOD, [True] * (K + 2) + [False] * (pairs.length - K - 2))
    for _ in range(OVERSIZED):
        assert _upload(urls[1], _oversized(pairs)) == 201
    # A popularity report sent to the pairs task: sealed to other keys, it never opens.
    misplaced = make_report(items, PERIOD, [False] * items.length)
    assert _upload(urls[1], misplaced) == 201
    # With several tasks nothing is served at the root: each task has its own path.
    assert http("PUT", f"{leader.url}/v1/secagg/reports", misplaced.encode())[0] == 404

    document = _collect(aggregators, 0)
    assert document["reports"] == VALID
    estimates = document["estimates"]
    assert isinstance(estimates, dict)
    got = np.array([estimates[item]["estimate"] for item in ITEM_IDS])
    _noise_of_the_stated_scale(got - truth, items.noise_plan().release_variance)

    out = tmp_path / "pairs.json"
    files = aggregators.files[1]
    cli = subprocess.run(
        [
            sys.executable, "-m", "discreet", "publish", "collect",
            "--task", str(files.task), "--key", str(files.keys[COLLECTOR]),
            "--secrets", str(files.secrets[COLLECTOR]), "--leader", urls[1],
            "--period", PERIOD, "--out", str(out), "--json",
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    aggregate = json.loads(out.read_text(encoding="utf-8"))
    assert aggregate == json.loads(cli.stdout)
    plan = pairs.noise_plan()
    assert (aggregate["format"], aggregate["format_version"]) == (COOCCURRENCE_FORMAT, 1)
    assert (aggregate["m"], aggregate["top_items"], aggregate["reports"]) == (M, list(TOP), VALID)
    assert (aggregate["epsilon"], aggregate["delta"]) == (1.0, 1e-9)
    assert aggregate["sigma_sq_per_aggregator"] == plan.sigma_sq
    assert aggregate["stderr"] == pytest.approx(np.sqrt(2 * plan.sigma_sq))
    # Counted, and never in the aggregate: the leader could not open the misplaced one.
    assert aggregate["rejected"] == {
        "leader": {"invalid_proof": OVERSIZED, "undecryptable": 1},
        "helper": {"invalid_proof": OVERSIZED},
    }
    counts = np.array(aggregate["pair_counts"])
    assert counts.shape == (M * (M - 1) // 2,)
    _noise_of_the_stated_scale(counts - pair_truth, plan.release_variance)
    assert pair_index(0, 1, M) == 0  # entry 0 is the pair of the two most popular items
    # The file is what the collaborative target is built from (publish build --cooccurrence).
    read = read_cooccurrence(out)
    assert (read.items, read.reports, read.counts.tolist()) == (TOP, VALID, counts.tolist())
    assert read.sigma**2 == pytest.approx(plan.sigma_sq)
    # ... and names its task and K: the build finds the section whose devices reported.
    assert (read.task_id, read.max_weight) == (b64(pairs.task_id), pairs.max_weight)


def test_a_queued_contribution_goes_to_the_destination_it_was_made_for(
    aggregators: Aggregators,
    repo: PublisherRepository,
    publish: Callable[..., PublishResult],
    home: Path,
) -> None:
    """Made under one manifest, sent after the catalog names another leader: each
    contribution goes to the task URL stored with it (the new leader is never asked)."""
    section = aggregators.section
    publish(secure_aggregation=section)
    catalog = Catalog.open(sync_catalog(home, str(repo.path), root=repo.trusted_root_path).folder)
    last_week = TODAY - dt.timedelta(weeks=1)  # another batch than the test above
    profile = Profile.new(last_week)
    for item in ("b1", "b2", "b4", "b3"):
        profile.record(item, "view", last_week)
    profile.grant(section.consent_terms(), last_week)
    preview = prepare_contribution(profile, catalog, section, last_week)
    assert preview.cooccurrence is not None
    assert preview.cooccurrence.pairs is not None
    assert not {i for pair in preview.cooccurrence.pairs for i in pair} & set(SENSITIVE)
    assert [r.destination for r in profile.outbox] == [
        section.leader_url(task) for task in section.tasks
    ]
    with refused_port() as port:  # the leader a changed manifest would name: unreachable
        result = send_contributions(profile, f"http://127.0.0.1:{port}", max_delay=0)
    assert (result.sent, result.rejected) == (2, 0)
    assert profile.outbox == []
    assert [e.status for e in profile.ledger] == ["sent", "sent"]
