"""Private reports end to end: parameters, consent, budget, sensitivity, bytes, aggregation."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discreet.catalog.reader import Catalog
from discreet.errors import BudgetExhaustedError, ConsentRequiredError, EstimateUnavailableError
from discreet.profile.model import Profile
from discreet.profile.reports import candidate_values, prepare_reports, sample_value
from discreet.protocol import choose_oracle
from discreet.protocol.params import KindParams, ReportingParams, ReportingPolicy
from discreet.protocol.report import REPORT_BYTES, Report, period_of
from discreet.publish.repository import PublisherRepository
from discreet.server.aggregate import Aggregator, labels_for
from discreet.sync.client import sync_catalog
from tests.conftest import ITEMS

MONDAY = dt.date(2026, 11, 23)
SENSITIVE_ITEMS = {"b3", "b8"}  # in 'sleep' (under 'health') and 'health'


@pytest.fixture
def catalog(repo: PublisherRepository, publish: Callable[..., object], home: Path) -> Catalog:
    """The small catalog, published with the default reporting policy and synced."""
    publish()
    return Catalog.open(sync_catalog(home, str(repo.path), root=repo.trusted_root_path).folder)


def _params(catalog: Catalog) -> ReportingParams:
    return catalog.manifest.reporting


def _profile(catalog: Catalog, items: list[str], day: dt.date = MONDAY) -> Profile:
    profile = Profile.new(day)
    for item in items:
        profile.record(item, "view", day)
    profile.grant(_params(catalog).to_json(), day)
    return profile


def test_publisher_and_devices_read_the_same_parameters(
    catalog: Catalog, inputs: tuple[Path, Path]
) -> None:
    from discreet.catalog.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(inputs[1])
    expected = ReportingPolicy().params_for(taxonomy.reportable_ids, len(ITEMS))
    params = _params(catalog)
    assert params == expected
    assert ReportingParams.from_json(params.to_json()) == params
    assert "health" not in params.kinds["category"].categories
    assert "sleep" not in params.kinds["category"].categories
    aggregator = Aggregator({catalog.version: params})
    assert aggregator.params_for("item", catalog.version) == params.kinds["item"].oracle


def test_reports_need_consent_to_the_exact_parameters(catalog: Catalog) -> None:
    profile = _profile(catalog, ["b1"])
    profile.revoke()
    with pytest.raises(ConsentRequiredError, match="report consent"):
        prepare_reports(profile, catalog, _params(catalog), MONDAY)
    params = _params(catalog)
    profile.grant(params.to_json(), MONDAY)
    changed = ReportingParams(dict(params.kinds), "week", params.epsilon_per_period + 1)
    with pytest.raises(ConsentRequiredError):
        prepare_reports(profile, catalog, changed, MONDAY)
    assert profile.outbox == []
    assert profile.ledger == []


def test_one_report_per_kind_per_period_entered_in_the_ledger_first(catalog: Catalog) -> None:
    profile = _profile(catalog, ["b1", "b2"])
    params = _params(catalog)
    rng = np.random.default_rng(1)
    preview = prepare_reports(profile, catalog, params, MONDAY, rng)
    assert [r.kind for r in preview.reports] == ["category", "item"]
    assert preview.epsilon_spent == 2.0
    again = prepare_reports(profile, catalog, params, MONDAY + dt.timedelta(days=3), rng)
    assert again.reports == preview.reports  # the same bytes, not new noise
    assert len(profile.ledger) == 2
    for entry, pending in zip(profile.ledger, profile.outbox, strict=True):
        assert entry.digest == hashlib.sha256(pending.data).hexdigest()
        assert entry.status == "pending"
    next_week = prepare_reports(profile, catalog, params, MONDAY + dt.timedelta(days=7), rng)
    assert next_week.period != preview.period
    assert len(profile.ledger) == 4


def test_report_bytes_hold_nothing_but_public_fields(catalog: Catalog) -> None:
    profile = _profile(catalog, ["b1", "b2", "b5"])
    preview = prepare_reports(profile, catalog, _params(catalog), MONDAY, np.random.default_rng(2))
    for pending in preview.reports:
        assert len(pending.data) == REPORT_BYTES
        report = Report.from_bytes(pending.data)
        assert report.to_bytes() == pending.data  # nothing beyond the decoded fields
        assert (report.catalog_version, report.period) == (catalog.version, period_of(MONDAY))
        for item in ITEMS:
            assert item["id"].encode() not in pending.data
        for label in ("fiction", "cooking", "travel"):
            assert label.encode() not in pending.data
    # Another device with another history differs only in the payload.
    other = _profile(catalog, ["b6"])
    theirs = prepare_reports(other, catalog, _params(catalog), MONDAY, np.random.default_rng(3))
    for mine, yours in zip(preview.reports, theirs.reports, strict=True):
        assert mine.data[:12] == yours.data[:12]


def test_report_parsing_rejects_malformed_bytes() -> None:
    good = Report("item", "lh", 3, "2026-W48", 12345).to_bytes()
    assert Report.from_bytes(good).payload == 12345
    for bad in (good[:-1], good + b"\0", b"\x02" + good[1:], good[:1] + b"\x09" + good[2:]):
        with pytest.raises(ValueError):
            Report.from_bytes(bad)
    with pytest.raises(ValueError):
        Report("item", "lh", 3, "2026-W60", 1).to_bytes()


kinds_strategy = st.dictionaries(
    st.sampled_from(["category", "item"]),
    st.sampled_from([0.25, 0.5, 1.0, 1.5, 2.0, 3.0]),
    min_size=1,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cap=st.sampled_from([0.5, 1.0, 2.0, 2.5, 4.0]),
    epsilons=kinds_strategy,
    offsets=st.lists(st.integers(0, 30), min_size=1, max_size=25),
)
def test_no_sequence_of_calls_overspends_the_budget(
    catalog: Catalog, cap: float, epsilons: dict[str, float], offsets: list[int]
) -> None:
    base = _params(catalog)
    kinds = {
        kind: KindParams(
            choose_oracle(base.kinds[kind].oracle.domain_size, eps),
            base.kinds[kind].pad_length,
            base.kinds[kind].categories,
        )
        for kind, eps in epsilons.items()
    }
    params = ReportingParams(kinds, "week", cap)
    profile = _profile(catalog, ["b1", "b4"])
    profile.grant(params.to_json(), MONDAY)
    rng = np.random.default_rng(0)
    for offset in offsets:
        day = MONDAY + dt.timedelta(days=offset)
        with contextlib.suppress(BudgetExhaustedError):
            prepare_reports(profile, catalog, params, day, rng)
        by_period: dict[str, float] = {}
        for entry in profile.ledger:
            by_period[entry.period] = by_period.get(entry.period, 0.0) + entry.epsilon
        assert all(total <= cap + 1e-9 for total in by_period.values()), by_period
    if all(eps > cap for eps in epsilons.values()):
        assert profile.ledger == []


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    history=st.lists(st.sampled_from([i["id"] for i in ITEMS]), max_size=12),
    opted_in=st.sets(st.sampled_from(["health", "sleep"])),
    muted=st.sets(st.sampled_from(["fiction", "travel"])),
)
def test_sensitive_and_muted_topics_are_never_reported(
    catalog: Catalog, history: list[str], opted_in: set[str], muted: set[str]
) -> None:
    profile = _profile(catalog, [])
    profile.sensitive_opt_in, profile.muted = opted_in, muted
    for item in history:
        profile.record(item, "like", MONDAY)
    params = _params(catalog)
    period = period_of(MONDAY)
    items = candidate_values(profile, catalog, "item", params.kinds["item"], period)
    categories = candidate_values(profile, catalog, "category", params.kinds["category"], period)
    reported_items = {catalog.item_at(v - 1).id for v in items}
    assert not reported_items & SENSITIVE_ITEMS
    for item_id in reported_items:
        assert not set(catalog.item(item_id).categories) & muted
    labels = params.kinds["category"].categories
    reported_categories = {labels[v - 1] for v in categories}
    assert not reported_categories & ({"health", "sleep"} | muted)
    assert reported_items <= set(history)


def test_padding_makes_none_likely_for_short_histories() -> None:
    rng = np.random.default_rng(4)
    draws = [sample_value([5, 9], 8, rng) for _ in range(8000)]
    counts = np.bincount(draws, minlength=10)
    assert abs(counts[0] / 8000 - 6 / 8) < 0.02
    assert abs(counts[5] / 8000 - 1 / 8) < 0.015
    assert sample_value([], 1, rng) == 0


def test_many_devices_give_accurate_category_estimates(catalog: Catalog) -> None:
    """Simulated devices through the real client path; the server recovers the shares."""
    params = _params(catalog)
    rng = np.random.default_rng(8)
    aggregator = Aggregator({catalog.version: params})
    choices = ["b1", "b2", "b5", "b6"]  # fiction, cooking, travel, fiction
    share = np.array([0.4, 0.3, 0.2, 0.1])
    picks = rng.choice(len(choices), size=3000, p=share)
    reports = []
    for pick in picks:
        profile = _profile(catalog, [choices[pick]])
        preview = prepare_reports(profile, catalog, params, MONDAY, rng)
        reports += [Report.from_bytes(r.data) for r in preview.reports if r.kind == "category"]
    aggregator.ingest(reports)
    with pytest.raises(EstimateUnavailableError, match="from 5000 reports on"):
        aggregator.estimates(period_of(MONDAY), "category", catalog.version, min_reports=5000)
    estimates = aggregator.estimates(period_of(MONDAY), "category", catalog.version)
    labelled = estimates.labelled(labels_for("category", params, []))
    expected = {"fiction": 0.5 * 3000, "cooking": 0.3 * 3000, "travel": 0.2 * 3000}
    for label, count in expected.items():
        got = labelled[label]
        assert abs(got["estimate"] - count) < 4 * got["stderr"], (label, got, count)
        theory = float(params.kinds["category"].oracle.variance(3000, count)) ** 0.5
        assert abs(got["stderr"] / theory - 1) < 0.1  # the published error matches theory


def test_aggregator_refuses_reports_it_cannot_account_for(catalog: Catalog) -> None:
    params = _params(catalog)
    aggregator = Aggregator({catalog.version: params})
    item = params.kinds["item"].oracle
    with pytest.raises(ValueError, match="never published"):
        aggregator.ingest([Report("item", item.mechanism, 99, "2026-W48", 0)])
    with pytest.raises(ValueError, match="out of range"):
        aggregator.ingest([Report("item", item.mechanism, catalog.version, "2026-W48", 2**31)])
    wrong = "grr" if item.mechanism == "lh" else "lh"
    with pytest.raises(ValueError, match="mechanism"):
        aggregator.ingest([Report("item", wrong, catalog.version, "2026-W48", 0)])
    assert aggregator.sketches == {}  # a bad batch adds nothing


def test_central_noise_widens_the_errors(catalog: Catalog) -> None:
    params = _params(catalog)
    aggregator = Aggregator({catalog.version: params})
    oracle = params.kinds["category"].oracle
    payloads = oracle.privatise_many(np.zeros(2000, dtype=np.int64) + 1, np.random.default_rng(9))
    aggregator.ingest(
        Report("category", oracle.mechanism, catalog.version, "2026-W48", int(p)) for p in payloads
    )
    plain = aggregator.estimates("2026-W48", "category", catalog.version)
    noisy = aggregator.estimates(
        "2026-W48", "category", catalog.version, central_noise=50.0, rng=np.random.default_rng(1)
    )
    assert np.all(noisy.stderr > plain.stderr)
    assert not np.allclose(noisy.values, plain.values)
    with pytest.raises(ValueError, match="random generator"):
        aggregator.estimates("2026-W48", "category", catalog.version, central_noise=1.0)


def test_simulated_devices_use_the_real_oracle_and_aggregation(catalog: Catalog) -> None:
    from discreet.server.aggregate import simulate_estimates

    params = _params(catalog)
    rng = np.random.default_rng(12)
    values = rng.choice([0, 1, 2, 5], size=20_000, p=[0.5, 0.3, 0.15, 0.05])
    estimates = simulate_estimates(params, "item", values, rng)
    oracle = params.kinds["item"].oracle
    truth = np.bincount(values, minlength=oracle.domain_size)
    z = (estimates.values - truth) / np.sqrt(np.asarray(oracle.variance(20_000, truth)))
    assert np.abs(z).max() < 4.5
    assert estimates.scale == params.kinds["item"].pad_length
