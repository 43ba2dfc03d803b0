"""Central noise: drawn once per release and kept, and no published figure undoes it."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from discreet.protocol.mechanisms import choose_oracle
from discreet.protocol.params import KindParams, ReportingParams
from discreet.protocol.report import Report, period_of
from discreet.publish.repository import PublisherRepository
from discreet.server.aggregate import Aggregator
from discreet.server.app import create_app, register_repository_catalogs
from discreet.server.storage import ReportStore
from tests.server_support import asgi_request

TODAY = dt.date(2026, 12, 2)
PERIOD = period_of(TODAY)
SCALE = 3.0
REPORTS = 600


def _fill(store: ReportStore, kind: str, rng: np.random.Generator) -> None:
    oracle = store.catalogs[1].kinds[kind].oracle
    truth = rng.integers(0, oracle.domain_size, REPORTS)
    reports = [
        (secrets.token_bytes(16), Report(kind, oracle.mechanism, 1, PERIOD, int(p)))
        for p in oracle.privatise_many(truth, rng)
    ]
    assert store.ingest(reports).accepted == REPORTS


@pytest.fixture
def db(repo: PublisherRepository, publish: Callable[..., object], tmp_path: Path) -> Path:
    publish()
    path = tmp_path / "reports.db"
    store = ReportStore(path, rng=np.random.default_rng(1))
    try:
        assert register_repository_catalogs(store, repo) == [1]
        rng = np.random.default_rng(2)
        for kind in ("category", "item"):
            _fill(store, kind, rng)
    finally:
        store.close()
    return path


def _served(app: object, kind: str) -> dict[str, Any]:
    query = f"period={PERIOD}&kind={kind}".encode()
    status, answer = asgi_request(app, "GET", "/v1/estimates", query=query)
    assert status == 200, answer
    document: dict[str, Any] = json.loads(answer)
    return document


@pytest.mark.parametrize("kind", ["category", "item"])
def test_repeated_queries_and_a_restart_return_the_same_figures(
    repo: PublisherRepository, db: Path, kind: str
) -> None:
    store = ReportStore(db, rng=np.random.default_rng(3))
    try:
        app = create_app(repo, store, min_reports=1, central_noise=SCALE, today=lambda: TODAY)
        first = _served(app, kind)
        repeated = [_served(app, kind) for _ in range(100)]
        assert all(r == first for r in repeated), "the noise is drawn again per query"
        plain = store.estimates(PERIOD, kind, min_reports=1)
    finally:
        store.close()
    # The noise is there (about SCALE per value), and on every value.
    noised = np.array([e["estimate"] for e in first["estimates"].values()])
    plain_values = plain.values[1:] * plain.scale
    assert np.all(noised != plain_values)
    # A restart with another generator: the stored draw is used, not a new one.
    store = ReportStore(db, rng=np.random.default_rng(4))
    try:
        app = create_app(repo, store, min_reports=1, central_noise=SCALE, today=lambda: TODAY)
        assert _served(app, kind) == first, "a restart drew new noise"
    finally:
        store.close()


@pytest.mark.parametrize("domain_size", [6, 50])
def test_the_standard_errors_do_not_reveal_the_un_noised_estimates(domain_size: int) -> None:
    oracle = choose_oracle(domain_size, 2.0)
    reporting = ReportingParams(kinds={"item": KindParams(oracle)})
    rng = np.random.default_rng(5)
    aggregator = Aggregator({1: reporting})
    aggregator.ingest(
        Report("item", oracle.mechanism, 1, PERIOD, int(p))
        for p in oracle.privatise_many(rng.integers(0, domain_size, 5000), rng)
    )
    plain = aggregator.estimates(PERIOD, "item", 1, min_reports=1)
    noised = aggregator.estimates(PERIOD, "item", 1, min_reports=1, central_noise=SCALE, rng=rng)
    n = noised.reports
    # The oracles' variance is linear in the count: invert it, as an attacker would.
    base = float(oracle.variance(n, 0.0))
    slope = float(oracle.variance(n, 1.0)) - base
    assert slope != 0
    assert float(oracle.variance(n, 2.0)) == pytest.approx(base + 2 * slope)
    inverted = (noised.stderr**2 - 2 * SCALE**2 - base) / slope
    hidden = np.clip(plain.values, 0, n)
    informative = (hidden > 0) & (hidden < n)
    assert informative.sum() >= 3, "too few values to test with"
    recovered = np.abs(inverted - hidden)[informative] < 1e-6
    assert not recovered.any(), f"{recovered.sum()} un-noised estimates read off the stderr"
    # What it gives is the clipped noised estimate: nothing the estimates do not say.
    np.testing.assert_allclose(inverted, np.clip(noised.values, 0, n), atol=1e-6)


def test_the_noise_is_seeded_by_the_injected_generator(db: Path, tmp_path: Path) -> None:
    draws = []
    for attempt in range(2):
        copy = tmp_path / f"copy{attempt}.db"
        copy.write_bytes(db.read_bytes())
        store = ReportStore(copy, rng=np.random.default_rng(6))
        try:
            draws.append(store.estimates(PERIOD, "item", min_reports=1, central_noise=SCALE))
        finally:
            store.close()
    np.testing.assert_array_equal(draws[0].values, draws[1].values)


def test_no_noise_is_drawn_below_the_threshold(db: Path) -> None:
    store = ReportStore(db, rng=np.random.default_rng(7))
    try:
        with pytest.raises(Exception, match="threshold is not reached"):
            store.estimates(PERIOD, "item", min_reports=REPORTS + 1, central_noise=SCALE)
        before = store.estimates(PERIOD, "item", min_reports=1)
    finally:
        store.close()
    assert before.reports == REPORTS
    import sqlite3

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM release_noise").fetchone() == (0,)


def test_the_cli_publishes_the_same_noised_figures_as_the_service(
    repo: PublisherRepository, db: Path
) -> None:
    store = ReportStore(db, rng=np.random.default_rng(8))
    try:
        app = create_app(repo, store, min_reports=1, central_noise=SCALE, today=lambda: TODAY)
        served = _served(app, "item")
    finally:
        store.close()
    command = [sys.executable, "-m", "discreet", "publish", "estimates", "--db", str(db)]
    command += ["--period", PERIOD, "--min-reports", "1", "--json"]
    noised = subprocess.run(
        [*command, "--central-noise", str(SCALE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(noised.stdout) == served
    plain = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(plain.stdout) != served
    refused = subprocess.run(
        [*command, "--central-noise", "-1"], capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 2
    assert "positive" in refused.stderr
