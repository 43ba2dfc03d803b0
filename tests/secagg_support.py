"""What the secure-aggregation tests share: both aggregators' preparation in process,
and a real leader and helper on loopback."""

from __future__ import annotations

import contextlib
import http.client
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from discreet.secagg import hpke
from discreet.secagg.prepare import (
    PrepInput,
    aggregate,
    helper_prepare,
    leader_finish,
    prepare_init,
)
from discreet.secagg.task import HELPER, LEADER, Task, TaskFiles, read_secrets
from discreet.secagg.upload import UploadReport
from discreet.vdaf import ShardedReport
from discreet.vdaf.fields import Vec
from tests.server_support import ServiceProcess, start_listening_process


def prepare_in_process(
    files: TaskFiles, reports: list[UploadReport]
) -> tuple[list[int], dict[bytes, str]]:
    """Both aggregators' preparation, in process: the unsharded sum and the rejections."""
    task = Task.load(files.task)
    verify_key = read_secrets(files.secrets[LEADER]).verify_key
    assert verify_key is not None
    keys = {role: hpke.read_keypair(files.keys[role]) for role in (LEADER, HELPER)}
    mine = [PrepInput(r.report_id, r.period, r.public_share, r.leader_share) for r in reports]
    theirs = [PrepInput(r.report_id, r.period, r.public_share, r.helper_share) for r in reports]
    prepared = prepare_init(task, 0, keys[LEADER], verify_key, mine)
    helped = helper_prepare(
        task, keys[HELPER], verify_key, theirs, [p.prep_share for p in prepared]
    )
    answers = {h.report_id: h.rejection or h.prep_message for h in helped}
    finished = leader_finish(task, prepared, answers)
    (leader_share, count), (helper_share, helper_count) = (
        aggregate(task, finished),
        aggregate(task, helped),
    )
    assert count == helper_count
    total = task.vdaf().unshard([leader_share, helper_share], count)
    return total, {f.report_id: f.rejection for f in finished if f.rejection is not None}


def role_args(files: TaskFiles | Sequence[TaskFiles], role: str, db: Path) -> list[str]:
    """``discreet serve`` arguments for ``role`` of the task in ``files`` (or of several
    tasks, each from its folder), on database ``db``."""
    if not isinstance(files, TaskFiles):
        return ["--role", role, *(f"--task={f.task.parent}" for f in files), "--db", str(db)]
    return [
        "--role", role, "--task", str(files.task), "--key", str(files.keys[role]),
        "--secrets", str(files.secrets[role]), "--db", str(db),
    ]  # fmt: skip


@contextlib.contextmanager
def running_aggregators(
    files: TaskFiles | Sequence[TaskFiles], folder: Path, extra: Sequence[str] = ()
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """A real helper, then a real leader pointed at it (databases in ``folder``, ``extra``
    arguments to both): ``(leader, helper)``, both stopped on exit."""
    helper = start_listening_process([*role_args(files, HELPER, folder / f"{HELPER}.db"), *extra])
    try:
        leader = start_listening_process(
            [*role_args(files, LEADER, folder / f"{LEADER}.db"), "--helper", helper.url, *extra]
        )
        try:
            yield leader, helper
        finally:
            leader.process.terminate()
            leader.process.wait(20)
    finally:
        helper.process.terminate()
        helper.process.wait(20)


def shard_batch(
    task: Task, encoded: Sequence[Vec], rng: np.random.Generator
) -> list[ShardedReport]:
    """Shard many encoded measurements at once (:meth:`Prio3.shard_encoded_batch`), each
    with its own nonce and randomness, so each is a distinct valid Prio3 report: the
    device side of a test with thousands of contributions would otherwise take longer
    than the aggregators."""
    vdaf = task.vdaf()
    count = len(encoded)
    return vdaf.shard_encoded_batch(
        task.ctx,
        vdaf.field.concat([e[None] for e in encoded]),
        [rng.bytes(vdaf.NONCE_SIZE) for _ in range(count)],
        [rng.bytes(vdaf.RAND_SIZE) for _ in range(count)],
    )


def upload_all(url: str, bodies: Sequence[bytes], connections: int = 4) -> list[int]:
    """PUT every report to the leader at ``url`` (a task's path, or the root) over a few
    keep-alive connections; the statuses, in the order of ``bodies``."""
    address = urlsplit(url)
    route = f"{address.path.rstrip('/')}/v1/secagg/reports"

    def send(part: Sequence[bytes]) -> list[int]:
        connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=60)
        statuses = []
        try:
            for body in part:
                connection.request("PUT", route, body)
                response = connection.getresponse()
                response.read()
                statuses.append(response.status)
        finally:
            connection.close()
        return statuses

    parts = [bodies[i::connections] for i in range(connections)]
    with ThreadPoolExecutor(connections) as pool:
        answers = list(pool.map(send, parts))
    return [answers[i % connections][i // connections] for i in range(len(bodies))]
