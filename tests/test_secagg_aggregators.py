"""A real leader and a real helper, each a process with its own database and key pair:
devices upload (some with a modified client), the leader prepares with the helper, the
collector collects once, and what comes out is the valid reports' sum plus noise."""

from __future__ import annotations

import datetime as dt
import json
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from scipy import stats

from discreet.catalog.popularity import load_estimates
from discreet.errors import AggregatorError, BatchCollectedError, BatchTooSmallError
from discreet.protocol.report import period_of
from discreet.publish.collect import collect
from discreet.secagg import hpke
from discreet.secagg.prepare import PrepInput, prepare_init
from discreet.secagg.task import (
    COLLECTOR,
    HELPER,
    LEADER,
    Task,
    TaskFiles,
    b64,
    create_task,
    read_secrets,
)
from discreet.secagg.upload import UploadReport, make_report, seal_report
from discreet.server.secagg.store import AggregatorStore
from discreet.vdaf import FIELD128, LeaderInputShare
from discreet.vdaf.circuits import encode_range_checked_int
from tests.secagg_support import role_args, running_aggregators
from tests.server_support import ServiceProcess, http, refused_port, start_listening_process

LENGTH, MAX_WEIGHT = 16, 3
VALID = 500
TODAY = dt.date.today()  # the aggregators take this ISO week and the two before it
PERIOD, PREVIOUS, TWO_BACK = (period_of(TODAY - dt.timedelta(weeks=w)) for w in range(3))


@dataclass
class Aggregators:
    files: TaskFiles
    task: Task
    leader: ServiceProcess
    helper: ServiceProcess


@pytest.fixture(scope="module")
def aggregators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Aggregators]:
    folder = tmp_path_factory.mktemp("secagg")
    files = create_task(
        folder / "task",
        length=LENGTH,
        max_weight=MAX_WEIGHT,
        min_batch_size=VALID,
        epsilon=1.0,
        delta=1e-9,
        labels=tuple(f"item-{i}" for i in range(LENGTH)),
    )

    with running_aggregators(files, folder) as (leader, helper):
        yield Aggregators(files, Task.load(files.task), leader, helper)


def _upload(url: str, report: UploadReport) -> tuple[int, object]:
    status, _, body = http("PUT", f"{url}/v1/secagg/reports", report.encode())
    return status, body


def _metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """An aggregator's metrics, by name and sorted labels."""
    status, _, body = http("GET", url + "/metrics")
    assert status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode("utf-8"))
        for s in family.samples
    }


def _encoded(counts: list[int], weight: int) -> np.ndarray:
    bits = encode_range_checked_int(weight, MAX_WEIGHT)
    return FIELD128.from_ints([*counts, *bits])


def _malformed(task: Task) -> dict[str, list[UploadReport]]:
    """What a modified client sends, by the reason the aggregators must reject it for."""
    vdaf = task.vdaf()
    out_of_bounds = [
        seal_report(task, PERIOD, vdaf.shard_encoded(task.ctx, _encoded([1000] + [0] * 15, 1)))
        for _ in range(10)
    ]
    too_many_ones = [  # every entry 1, claiming weight 3
        seal_report(task, PERIOD, vdaf.shard_encoded(task.ctx, _encoded([1] * LENGTH, 3)))
        for _ in range(10)
    ]
    tampered = []
    for _ in range(10):
        sharded = vdaf.shard(task.ctx, [i < 2 for i in range(LENGTH)])
        leader = sharded.input_shares[0]
        assert isinstance(leader, LeaderInputShare)
        proofs = leader.proofs_share.copy()
        proofs[0] = FIELD128.add(proofs[0:1], FIELD128.from_ints([1]))[0]
        shares = (
            LeaderInputShare(leader.meas_share, proofs, leader.blind),
            sharded.input_shares[1],
        )
        tampered.append(
            seal_report(task, PERIOD, type(sharded)(sharded.nonce, sharded.public_share, shares))
        )
    undecryptable = []
    for _ in range(5):
        report = make_report(task, PERIOD, [i == 5 for i in range(LENGTH)])
        payload = bytes([report.helper_share.payload[0] ^ 1]) + report.helper_share.payload[1:]
        sealed = hpke.HpkeCiphertext(
            report.helper_share.config_id, report.helper_share.enc, payload
        )
        undecryptable.append(
            UploadReport(report.report_id, PERIOD, report.public_share, report.leader_share, sealed)
        )
    return {
        "invalid_proof": out_of_bounds + too_many_ones + tampered,
        "undecryptable": undecryptable,
    }


def test_leader_and_helper_release_the_valid_sum_plus_noise_once(
    aggregators: Aggregators, tmp_path: Path
) -> None:
    task, leader = aggregators.task, aggregators.leader
    rng = random.Random(13)
    truth = np.zeros(LENGTH, dtype=np.int64)
    valid = []
    for _ in range(VALID):
        ones = set(rng.sample(range(LENGTH), rng.randint(0, MAX_WEIGHT)))
        measurement = [i in ones for i in range(LENGTH)]
        truth += np.array(measurement, dtype=np.int64)
        valid.append(make_report(task, PERIOD, measurement))
    malformed = _malformed(task)
    uploads = valid + [r for group in malformed.values() for r in group]
    rng.shuffle(uploads)
    for report in uploads:
        assert _upload(leader.url, report)[0] == 201
    for report, other in zip(valid[:7], valid[7:14], strict=True):  # the same id, other bytes
        replay = UploadReport(
            report.report_id, PERIOD, other.public_share, other.leader_share, other.helper_share
        )
        status, body = _upload(leader.url, replay)
        assert (status, body) == (409, {"error": "report refused: replayed", "code": "refused"})
    assert _upload(leader.url, valid[7]) == (201, {"accepted": True})  # a retry: kept once
    assert (
        _upload(
            leader.url,
            UploadReport(b"x" * 16, PERIOD, b"", valid[0].leader_share, valid[0].helper_share),
        )[0]
        == 201
    )
    status, _, body = http("PUT", f"{leader.url}/v1/secagg/reports", b"\x00" * 10)
    assert status == 400
    stale = make_report(task, period_of(TODAY - dt.timedelta(weeks=3)), [False] * LENGTH)
    status, body = _upload(leader.url, stale)
    assert status == 422
    assert "this ISO week or one of the 2 before it" in str(body)

    out = tmp_path / "popularity.json"
    cli = subprocess.run(
        [
            sys.executable, "-m", "discreet", "publish", "collect",
            "--task", str(aggregators.files.task), "--key", str(aggregators.files.keys[COLLECTOR]),
            "--secrets", str(aggregators.files.secrets[COLLECTOR]), "--leader", leader.url,
            "--period", PERIOD, "--out", str(out), "--json",
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document == json.loads(cli.stdout)
    assert document["reports"] == VALID
    # The moved share (another report id) no longer opens at the leader: never sent on.
    assert document["rejected"] == {
        "leader": {"invalid_proof": 30, "undecryptable": 6, "replayed": 7},
        "helper": {"invalid_proof": 30, "undecryptable": 5},
    }

    estimates = load_estimates(out)  # what 'publish build --popularity' reads
    got = np.array([estimates[f"item-{i}"] for i in range(LENGTH)])
    plan = task.noise_plan()
    noise = got - truth
    assert np.all(np.abs(noise) < 7 * np.sqrt(plan.release_variance))
    # The noise of both aggregators: its squared sum over entries is chi-square-like.
    statistic = float(np.sum(noise**2) / plan.release_variance)
    assert stats.chi2.sf(statistic, LENGTH) > 1e-4
    assert stats.chi2.cdf(statistic, LENGTH) > 1e-4
    assert document["estimates"]["item-0"]["stderr"] == pytest.approx(np.sqrt(2 * plan.sigma_sq))

    keypair = hpke.read_keypair(aggregators.files.keys[COLLECTOR])
    secrets = read_secrets(aggregators.files.secrets[COLLECTOR])
    with pytest.raises(BatchCollectedError, match="already collected"):
        collect(task, keypair, secrets, leader.url, PERIOD)
    late = make_report(task, PERIOD, [False] * LENGTH)
    assert _upload(leader.url, late) == (
        409,
        {"error": "report refused: batch_collected", "code": "refused"},
    )
    again = subprocess.run(
        [
            sys.executable, "-m", "discreet", "publish", "collect",
            "--task", str(aggregators.files.task), "--key", str(aggregators.files.keys[COLLECTOR]),
            "--secrets", str(aggregators.files.secrets[COLLECTOR]), "--leader", leader.url,
            "--period", PERIOD,
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert again.returncode != 0
    assert "already collected" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1

    # The operator's view: uploads and refusals by reason, jobs and their outcomes.
    leader_metrics, helper_metrics = (_metrics(url) for url in (leader.url, aggregators.helper.url))
    # Every upload, the moved share and the identical retry (answered 201 again) are accepted.
    assert leader_metrics["discreet_secagg_uploads_accepted_total", ()] == len(uploads) + 2
    rejected = "discreet_secagg_uploads_rejected_total"
    assert leader_metrics[rejected, (("reason", "conflict"),)] == 7 + 1  # replays, the late one
    assert leader_metrics[rejected, (("reason", "malformed"),)] == 1
    assert leader_metrics[rejected, (("reason", "invalid"),)] == 1  # the stale week
    jobs = "discreet_secagg_jobs_total"
    assert leader_metrics[jobs, (("role", "leader"),)] == 2  # 536 reports, 500 a job
    assert helper_metrics[jobs, (("role", "helper"),)] == 2
    prepared = "discreet_secagg_prepared_reports_total"
    for got, role in ((leader_metrics, "leader"), (helper_metrics, "helper")):
        assert got[prepared, (("outcome", "valid"), ("role", role))] == VALID
    assert helper_metrics[prepared, (("outcome", "rejected"), ("role", "helper"))] == 35
    for url, paths in (
        (leader.url, {"/v1/secagg/reports", "/v1/secagg/collect"}),
        (aggregators.helper.url, {"/v1/secagg/jobs/{job_id}", "/v1/secagg/aggregate_share"}),
    ):
        status, _, schema = http("GET", url + "/openapi.json")
        assert status == 200
        assert paths | {"/v1/privacy", "/healthz", "/metrics", "/docs"} <= set(schema["paths"])
        for operations in schema["paths"].values():
            for operation in operations.values():  # whole sentences, none split at a comma
                assert all(set(r) == {"description"} for r in operation["responses"].values())
        assert http("GET", url + "/docs")[0] == 200


def test_a_batch_below_the_minimum_is_not_released(aggregators: Aggregators) -> None:
    task, leader = aggregators.task, aggregators.leader
    for _ in range(3):
        assert _upload(leader.url, make_report(task, PREVIOUS, [True] + [False] * 15))[0] == 201
    keypair = hpke.read_keypair(aggregators.files.keys[COLLECTOR])
    secrets = read_secrets(aggregators.files.secrets[COLLECTOR])
    with pytest.raises(BatchTooSmallError, match=f"fewer than {VALID}"):
        collect(task, keypair, secrets, leader.url, PREVIOUS)


def test_helper_jobs_are_idempotent_and_need_the_leaders_token(aggregators: Aggregators) -> None:
    task, helper = aggregators.task, aggregators.helper
    secrets = read_secrets(aggregators.files.secrets[LEADER])
    keypair = hpke.read_keypair(aggregators.files.keys[LEADER])
    reports = [make_report(task, TWO_BACK, [i == j for i in range(LENGTH)]) for j in range(3)]
    assert secrets.verify_key is not None
    prepared = prepare_init(
        task,
        0,
        keypair,
        secrets.verify_key,
        [PrepInput(r.report_id, TWO_BACK, r.public_share, r.leader_share) for r in reports],
    )
    entries = [
        {
            "id": b64(r.report_id),
            "public_share": b64(r.public_share),
            "sealed_share": b64(r.helper_share.encode()),
            "leader_prep_share": b64(p.prep_share),
        }
        for r, p in zip(reports, prepared, strict=True)
    ]
    url = f"{helper.url}/v1/secagg/jobs/job-1"
    auth = {"Authorization": f"Bearer {secrets.aggregator_token}"}
    body = json.dumps({"period": TWO_BACK, "reports": entries}).encode()
    assert http("PUT", url, body)[0] == 401
    assert http("PUT", url, body, {"Authorization": "Bearer " + "x" * 43})[0] == 401
    first = http("PUT", url, body, auth)
    assert first[0] == 200
    assert [e.get("rejected") for e in first[2]["results"]] == [None, None, None]
    again = http("PUT", url, body, auth)  # a retry: the same answer, counted once
    assert (again[0], again[2]) == (first[0], first[2])  # (the Date header may differ)
    other = json.dumps({"period": TWO_BACK, "reports": entries[:2]}).encode()
    assert http("PUT", url, other, auth)[0] == 409
    replay = http("PUT", f"{helper.url}/v1/secagg/jobs/job-2", other, auth)
    assert [e["rejected"] for e in replay[2]["results"]] == ["replayed", "replayed"]


def test_an_unreachable_helper_releases_nothing_and_loses_no_report(
    aggregators: Aggregators, tmp_path: Path
) -> None:
    """A second leader on its own database whose helper is down: the collection fails in
    one line after its retries, and the week's reports stay pending, not lost."""
    files, task = aggregators.files, aggregators.task
    with refused_port() as port:
        leader = start_listening_process(
            [
                *role_args(files, LEADER, tmp_path / "leader.db"),
                "--helper",
                f"http://127.0.0.1:{port}",
            ]
        )
        try:
            report = make_report(task, PERIOD, [True] + [False] * (LENGTH - 1))
            assert _upload(leader.url, report)[0] == 201
            keypair = hpke.read_keypair(files.keys[COLLECTOR])
            secrets = read_secrets(files.secrets[COLLECTOR])
            with pytest.raises(AggregatorError, match="failed 4 times"):
                collect(task, keypair, secrets, leader.url, PERIOD)
            # The device's retry of the same bytes: accepted again, and kept once.
            assert _upload(leader.url, report) == (201, {"accepted": True})
            status, _, privacy = http("GET", f"{leader.url}/v1/privacy")
            assert status == 200
            assert privacy["noise"]["sigma_sq_per_aggregator"] == task.noise_plan().sigma_sq
        finally:
            leader.process.terminate()
            leader.process.wait(20)
    store = AggregatorStore(tmp_path / "leader.db", task)
    try:
        assert len(store.pending(PERIOD, 10)) == 1
        assert store.release(PERIOD) is None
    finally:
        store.close()


def test_serve_role_needs_its_files(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "discreet", "serve", "--role", "leader", "--db", "x.db"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--task --key --secrets --helper" in done.stderr
    (tmp_path / "task.json").write_text("{}", encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable, "-m", "discreet", "serve", "--role", "helper",
            "--task", str(tmp_path / "task.json"), "--key", str(tmp_path / "k"),
            "--secrets", str(tmp_path / "s"), "--db", str(tmp_path / "h.db"), "--port", "0",
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1
    assert "task definition is malformed" in done.stderr


def test_an_aggregator_drops_half_sent_requests_as_the_catalog_service_does(
    aggregators: Aggregators, tmp_path: Path
) -> None:
    """The helper, with a cap of 2 and a header deadline of 1 s: a third client makes
    room by dropping the oldest half-sent request (408), and the rest time out too."""
    files = aggregators.files
    helper = start_listening_process(
        [
            *role_args(files, HELPER, tmp_path / "helper.db"),
            *("--header-timeout", "1", "--max-connections", "2"),
        ]
    )
    held: list[socket.socket] = []
    try:
        for _ in range(2):
            sock = socket.create_connection(("127.0.0.1", helper.port), timeout=10)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            held.append(sock)
        time.sleep(0.3)  # the helper has accepted both
        assert http("GET", f"{helper.url}/healthz")[0] == 200
        for sock in held:
            sock.settimeout(10)
            assert sock.recv(4096).startswith(b"HTTP/1.1 408")
    finally:
        for sock in held:
            sock.close()
        helper.process.terminate()
        helper.process.wait(20)
