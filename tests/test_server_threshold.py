"""Below the minimum-report threshold nothing about the count is disclosed.

The threshold does not stop an active adversary: anyone can post reports of
their own until it is reached (sybil reports). The privacy statement says so.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from discreet.errors import EstimateUnavailableError
from discreet.protocol.report import Report, period_of
from discreet.protocol.wire import encode_batch
from discreet.publish.repository import PublisherRepository
from discreet.server.app import create_app
from discreet.server.storage import ReportStore
from tests.server_support import asgi_request

TODAY = dt.date(2026, 12, 2)
PERIOD = period_of(TODAY)
THRESHOLD = 12


def _post(app: object, store: ReportStore, n: int, rng: np.random.Generator) -> None:
    oracle = store.catalogs[1].kinds["category"].oracle
    payloads = oracle.privatise_many(rng.integers(0, oracle.domain_size, n), rng)
    batch = [
        (secrets.token_bytes(16), Report("category", oracle.mechanism, 1, PERIOD, int(p)))
        for p in payloads
    ]
    body = encode_batch([(t, r.to_bytes()) for t, r in batch])
    assert asgi_request(app, "POST", "/v1/reports", body=body)[0] == 200


def test_every_count_below_the_threshold_gets_the_same_answer(
    repo: PublisherRepository, publish: Callable[..., object], tmp_path: Path
) -> None:
    publish()
    store = ReportStore(tmp_path / "reports.db")
    try:
        app = create_app(repo, store, min_reports=THRESHOLD, today=lambda: TODAY)
        rng = np.random.default_rng(3)
        query = f"period={PERIOD}&kind=category".encode()
        answers: dict[int, tuple[int, bytes]] = {}
        for count in range(THRESHOLD):  # 0, 1, ..., THRESHOLD - 1 reports in the store
            if count:
                _post(app, store, 1, rng)
            for extra in (b"", b"&catalog=1"):
                status, answer = asgi_request(app, "GET", "/v1/estimates", query=query + extra)
                assert status == 404
                answers.setdefault(count, (status, answer))
                assert (status, answer) == answers[0], f"{count} reports read differently"
        message = json.loads(answers[0][1])["error"]
        assert "threshold is not reached" in message
        assert f"from {THRESHOLD} reports on" in message
        assert not re.search(r"[0-9]", message.replace(str(THRESHOLD), "").replace(PERIOD, ""))
        # The operator's command line gives the same answer as the service.
        for catalog in (None, 1):
            with pytest.raises(EstimateUnavailableError) as caught:
                store.estimates(PERIOD, "category", catalog, min_reports=THRESHOLD)
            assert str(caught.value) == message
        _post(app, store, 1, rng)  # the threshold is reached: the count is published
        status, answer = asgi_request(app, "GET", "/v1/estimates", query=query)
        assert status == 200
        assert json.loads(answer)["reports"] == THRESHOLD
    finally:
        store.close()


def test_the_privacy_statement_says_the_threshold_is_no_protection_against_sybils(
    repo: PublisherRepository, publish: Callable[..., object], tmp_path: Path
) -> None:
    publish()
    store = ReportStore(tmp_path / "reports.db")
    try:
        app = create_app(repo, store, min_reports=THRESHOLD, today=lambda: TODAY)
        status, answer = asgi_request(app, "GET", "/v1/privacy")
        assert status == 200
        statement = json.loads(answer)
        threshold = statement["threshold"]
        assert threshold["min_reports"] == THRESHOLD
        assert "sybil" in threshold["protects_against"].lower()
        assert "not" in threshold["protects_against"]
        assert "local differential privacy" in threshold["protects_against"]
    finally:
        store.close()
