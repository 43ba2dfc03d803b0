"""The secure-aggregation protocol in process: task files, the report's bytes, and
preparation as a pure function of a batch."""

from __future__ import annotations

import json
import os
import pickle
import random
from pathlib import Path

import pytest

from discreet.cli import main
from discreet.errors import ContributionInvalidError, ReportMalformedError, TaskInvalidError
from discreet.secagg import hpke
from discreet.secagg.accounting import calibrate
from discreet.secagg.prepare import UNDECRYPTABLE, PrepInput, prepare_init
from discreet.secagg.task import HELPER, LEADER, Task, TaskFiles, create_task, read_secrets
from discreet.secagg.upload import UploadReport, make_report
from tests.secagg_support import prepare_in_process

LENGTH = 8


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> TaskFiles:
    return create_task(
        tmp_path_factory.mktemp("task") / "t",
        length=LENGTH,
        max_weight=2,
        min_batch_size=2,
        epsilon=1.0,
        delta=1e-9,
    )


def test_preparation_sums_the_valid_reports_and_names_the_rest(files: TaskFiles) -> None:
    task = Task.load(files.task)
    ones = [[i in (j % LENGTH, 3) for i in range(LENGTH)] for j in range(5)]
    reports = [make_report(task, "2026-W50", m) for m in ones]
    total, rejected = prepare_in_process(files, reports)
    assert total == [sum(m[i] for m in ones) for i in range(LENGTH)]
    assert rejected == {}
    moved = reports[0]  # the same shares, sealed for W50, presented as W51
    moved = UploadReport(
        moved.report_id, "2026-W51", moved.public_share, moved.leader_share, moved.helper_share
    )
    forged = make_report(task, "2026-W50", [True, True] + [False] * (LENGTH - 2))
    forged = UploadReport(
        forged.report_id, "2026-W50", reports[1].public_share, forged.leader_share,
        forged.helper_share,
    )  # fmt: skip
    total, rejected = prepare_in_process(files, [moved, forged, reports[2]])
    assert total == [int(x) for x in ones[2]]
    assert rejected == {moved.report_id: UNDECRYPTABLE, forged.report_id: UNDECRYPTABLE}


def test_preparation_runs_anywhere_its_inputs_and_outputs_travel(files: TaskFiles) -> None:
    """What a distributed engine does with a batch: its inputs and outputs pickled to a
    worker and back (trusted parties' own data, never a device's) give the same shares."""
    task = Task.load(files.task)
    keypair = hpke.read_keypair(files.keys[LEADER])
    verify_key = read_secrets(files.secrets[LEADER]).verify_key
    assert verify_key is not None
    reports = [make_report(task, "2026-W50", [i == j for i in range(LENGTH)]) for j in range(4)]
    batch = [PrepInput(r.report_id, "2026-W50", r.public_share, r.leader_share) for r in reports]
    batch[1] = PrepInput(b"\0" * 16, "2026-W50", batch[1].public_share, batch[1].sealed_share)
    here = prepare_init(task, 0, keypair, verify_key, batch)
    task2, keypair2, key2, batch2 = pickle.loads(pickle.dumps((task, keypair, verify_key, batch)))
    there = pickle.loads(pickle.dumps(prepare_init(task2, 0, keypair2, key2, batch2)))
    assert [p.prep_share for p in there] == [p.prep_share for p in here]
    assert [p.rejection for p in there] == [None, UNDECRYPTABLE, None, None]


def test_a_contribution_that_does_not_fit_is_refused_on_the_device(files: TaskFiles) -> None:
    task = Task.load(files.task)
    with pytest.raises(ContributionInvalidError, match="at most 2 ones"):
        make_report(task, "2026-W50", [True] * 3 + [False] * (LENGTH - 3))
    with pytest.raises(ContributionInvalidError):
        make_report(task, "2026-W50", [True])
    with pytest.raises(ContributionInvalidError):
        make_report(task, "2026-W99", [False] * LENGTH)


def test_a_report_round_trips_and_malformed_bytes_are_refused(files: TaskFiles) -> None:
    task = Task.load(files.task)
    data = make_report(task, "2026-W50", [False] * LENGTH).encode()
    report = UploadReport.decode(data)
    assert report.encode() == data
    assert report.period == "2026-W50"
    for bad in (data[:10], data[:-1], data + b"\0", data[:16] + b"\xff" * 4 + data[20:]):
        with pytest.raises(ReportMalformedError):
            UploadReport.decode(bad)


def test_task_files_are_checked(files: TaskFiles, tmp_path: Path) -> None:
    with pytest.raises(TaskInvalidError, match="already holds a task"):
        create_task(
            files.task.parent, length=4, max_weight=1, min_batch_size=1, epsilon=1, delta=1e-9
        )
    with pytest.raises(TaskInvalidError, match="no task file"):
        Task.load(tmp_path / "missing.json")
    good = json.loads(files.task.read_text(encoding="utf-8"))
    for change in (
        {"format": "other"},
        {"vdaf": {**good["vdaf"], "type": "Prio3Sum"}},
        {"labels": ["a"]},
        {"batch": {"min_batch_size": 0}},
        {"privacy": {"epsilon": 0, "delta": 1e-9}},
        {"task_id": "short"},
    ):
        path = tmp_path / "task.json"
        path.write_text(json.dumps({**good, **change}), encoding="utf-8")
        with pytest.raises(TaskInvalidError):
            Task.load(path)
    secrets = files.secrets[HELPER]
    os.chmod(secrets, 0o644)
    try:
        with pytest.raises(TaskInvalidError, match="chmod 600"):
            read_secrets(secrets)
    finally:
        os.chmod(secrets, 0o600)
    helper = read_secrets(secrets)
    assert helper.collector_token is None
    assert helper.verify_key == read_secrets(files.secrets[LEADER]).verify_key


def test_publish_secagg_task_writes_a_task_from_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = tmp_path / "items.txt"
    labels.write_text("m1\nm2\nm3\n", encoding="utf-8")
    out = tmp_path / "task"
    argv = ["publish", "secagg-task", "--out", str(out), "--labels", str(labels)]
    code = main([*argv, "--max-weight", "2", "--min-batch-size", "10", "--json"])
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    task = Task.load(Path(document["task"]))
    assert (task.labels, task.length, task.max_weight, task.min_batch_size) == (
        ("m1", "m2", "m3"), 3, 2, 10,
    )  # fmt: skip
    assert document["noise"]["sigma_sq_per_aggregator"] == task.noise_plan().sigma_sq
    assert sorted(p.name for p in out.iterdir() if p.stat().st_mode & 0o077 == 0) == sorted(
        f"{role}.{kind}" for role in ("leader", "helper", "collector")
        for kind in ("key", "secrets.json")
    )  # fmt: skip
    assert main([*argv]) != 0  # never over an existing task
    assert "already holds a task" in capsys.readouterr().err


def test_the_noise_covers_replacing_one_device_as_the_report_count_is_released(
    files: TaskFiles,
) -> None:
    """The release states its exact report count (as DAP does), so neighbouring batches
    have one size and differ by one device's contribution *replaced*: two vectors with at
    most K ones each, whose squared distance reaches 2K when their supports are disjoint.
    The noise must be calibrated to that, not to K (adding or removing a device)."""
    task = Task.load(files.task)
    k = task.max_weight
    rng = random.Random(3)
    distances = []
    for _ in range(500):
        old = set(rng.sample(range(LENGTH), rng.randint(0, k)))
        new = set(rng.sample(range(LENGTH), rng.randint(0, k)))
        distances.append(len(old ^ new))  # squared L2 distance of two 0/1 vectors
    assert max(distances) == 2 * k  # reached (disjoint supports), and never exceeded
    assert task.sensitivity_sq == max(distances)
    assert task.noise_plan() == calibrate(task.epsilon, task.delta, 2 * k)
