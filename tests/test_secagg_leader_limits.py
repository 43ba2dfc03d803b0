"""The leader on its own (a real process) against a helper that answers nonsense: a
device's identical retry is accepted once, a week takes at most the task's cap of
reports, and a malformed answer from the helper is a clean 502, not a crash."""

from __future__ import annotations

import datetime as dt
import http.server as http_server
import json
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from discreet.protocol.report import period_of
from discreet.secagg.task import COLLECTOR, LEADER, Task, create_task, read_secrets
from discreet.secagg.upload import UploadReport, make_report
from discreet.server.secagg.store import AggregatorStore
from tests.secagg_support import role_args
from tests.server_support import http, serving, start_listening_process

LENGTH, CAP = 8, 4
PERIOD = period_of(dt.date.today())


class _NonsenseHelper(http_server.BaseHTTPRequestHandler):
    """A helper that answers every job 200 with JSON that is not a job's answer."""

    answers: ClassVar[list[bytes]] = []

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = self.answers.pop(0)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def nonsense_helper() -> Iterator[str]:
    with serving(_NonsenseHelper) as url:
        yield url


def _upload(url: str, report: UploadReport) -> tuple[int, object]:
    status, _, body = http("PUT", f"{url}/v1/secagg/reports", report.encode())
    return status, body


def test_retries_cap_and_a_malformed_helper_answer(tmp_path: Path, nonsense_helper: str) -> None:
    files = create_task(
        tmp_path / "task",
        length=LENGTH,
        max_weight=2,
        min_batch_size=1,
        max_uploads=CAP,
        epsilon=1.0,
        delta=1e-9,
    )
    task = Task.load(files.task)
    assert task.max_uploads == CAP
    leader = start_listening_process(
        [*role_args(files, LEADER, tmp_path / "leader.db"), "--helper", nonsense_helper]
    )
    try:
        reports = [make_report(task, PERIOD, [i == j for i in range(LENGTH)]) for j in range(CAP)]
        for report in reports:
            assert _upload(leader.url, report) == (201, {"accepted": True})
        # A device whose answer was lost sends the same bytes again: accepted, kept once.
        assert _upload(leader.url, reports[0]) == (201, {"accepted": True})
        # The same id with other bytes is a replay.
        other = make_report(task, PERIOD, [False] * LENGTH)
        replay = UploadReport(
            reports[1].report_id, PERIOD, other.public_share, other.leader_share, other.helper_share
        )
        assert _upload(leader.url, replay) == (
            409,
            {"error": "report refused: replayed", "code": "refused"},
        )
        # The week is full: a fresh report is refused with its own code, and counted.
        status, body = _upload(leader.url, make_report(task, PERIOD, [True] + [False] * 7))
        assert status == 409
        assert isinstance(body, dict)
        assert body["code"] == "batch_full"
        assert f"already holds {CAP} reports" in body["error"]
        # An identical retry still answers as the first time, even in a full week.
        assert _upload(leader.url, reports[2]) == (201, {"accepted": True})

        # The helper answers a job with JSON that names no results: 502, nothing recorded.
        _NonsenseHelper.answers[:] = [b'{"results": [{"id": 7}]}', b'{"no": "results"}']
        token = read_secrets(files.secrets[COLLECTOR]).collector_token
        auth = {"Authorization": f"Bearer {token}"}
        for _ in range(2):
            status, _, answer = http(
                "POST",
                f"{leader.url}/v1/secagg/collect",
                json.dumps({"period": PERIOD}).encode(),
                auth,
            )
            assert status == 502
            assert "the helper's answer to a job is malformed" in answer["error"]
            assert len(answer["error"].splitlines()) == 1
    finally:
        leader.process.terminate()
        leader.process.wait(20)
    store = AggregatorStore(tmp_path / "leader.db", task)
    try:
        assert len(store.pending(PERIOD, 10)) == CAP  # every stored report is still pending
        assert store.batch(PERIOD).rejected == {"replayed": 1, "batch_full": 1}
        assert store.release(PERIOD) is None
    finally:
        store.close()
