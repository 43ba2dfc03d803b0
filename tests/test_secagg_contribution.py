"""The device's weekly secure-aggregation contribution: what enters it, its bytes, the
ledger, consent to the exact aggregators, and one weekly budget across both modes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from discreet.catalog.reader import Catalog
from discreet.cli import main
from discreet.errors import BudgetExhaustedError, ConsentRequiredError
from discreet.profile.contribution import (
    pair_index,
    prepare_contribution,
    require_consent,
    sample_entries,
    sample_pairs,
)
from discreet.profile.model import SECAGG_KIND, Profile
from discreet.profile.reports import prepare_reports
from discreet.publish.publisher import PublishResult
from discreet.publish.repository import PublisherRepository
from discreet.secagg import hpke
from discreet.secagg.mode import SecureAggregation
from discreet.secagg.task import Task, TaskFiles, create_task
from discreet.secagg.upload import UploadReport
from discreet.sync.client import sync_catalog
from tests.conftest import ITEMS
from tests.secagg_support import prepare_in_process

MONDAY = dt.date(2026, 11, 23)
ITEM_IDS = tuple(str(item["id"]) for item in ITEMS)
K = 3


@pytest.fixture(scope="module")
def task_files(tmp_path_factory: pytest.TempPathFactory) -> TaskFiles:
    return create_task(
        tmp_path_factory.mktemp("task") / "t",
        length=len(ITEM_IDS),
        max_weight=K,
        min_batch_size=1,
        epsilon=1.0,
        delta=1e-9,
        labels=tuple(reversed(ITEM_IDS)),  # entries in another order than the catalog's
    )


def _section(files: TaskFiles, pad_length: int = K, **changes: object) -> SecureAggregation:
    section = SecureAggregation(
        Task.load(files.task), "https://leader.example", "https://helper.example", 2.0, pad_length
    )
    return dataclasses.replace(section, **changes)


@pytest.fixture
def catalog(
    task_files: TaskFiles,
    repo: PublisherRepository,
    publish: Callable[..., PublishResult],
    home: Path,
) -> Catalog:
    """The small catalog in the secure-aggregation mode (with LDP parameters for older
    apps), published and synced."""
    publish(secure_aggregation=_section(task_files))
    return Catalog.open(sync_catalog(home, str(repo.path), root=repo.trusted_root_path).folder)


def _profile(catalog: Catalog, items: list[str], muted: tuple[str, ...] = ()) -> Profile:
    profile = Profile.new(MONDAY)
    for item in items:
        profile.record(item, "view", MONDAY)
    profile.muted.update(muted)
    section = catalog.manifest.secure_aggregation
    assert section is not None
    profile.grant(section.consent_terms(), MONDAY)
    return profile


def _opened(files: TaskFiles, data: bytes) -> list[int]:
    """What both aggregators make of the bytes: the unsharded vector (it must verify)."""
    total, rejected = prepare_in_process(files, [UploadReport.decode(data)])
    assert rejected == {}
    return total


def _vector(items: list[str]) -> list[int]:
    labels = tuple(reversed(ITEM_IDS))
    return [1 if label in items else 0 for label in labels]


def test_a_short_week_is_sent_whole_and_verifies(task_files: TaskFiles, catalog: Catalog) -> None:
    profile = _profile(catalog, ["b1", "b2", "b1"])
    preview = prepare_contribution(profile, catalog, catalog.manifest.secure_aggregation, MONDAY)  # type: ignore[arg-type]
    assert preview.items is not None
    assert sorted(preview.items) == ["b1", "b2"]
    assert _opened(task_files, preview.data) == _vector(["b1", "b2"])
    doc = preview.to_json()
    assert doc["size"] == len(preview.data)
    assert bytes.fromhex(doc["bytes_hex"]) == preview.data


def test_sensitive_and_muted_categories_never_enter(
    task_files: TaskFiles, catalog: Catalog
) -> None:
    # b3 (sleep, under health) and b8 (health) are sensitive; b5 and b7 are travel, muted.
    profile = _profile(catalog, ["b3", "b8", "b5", "b7", "b2"], muted=("travel",))
    section = catalog.manifest.secure_aggregation
    assert section is not None
    preview = prepare_contribution(profile, catalog, section, MONDAY)
    assert preview.items == ("b2",)
    assert _opened(task_files, preview.data) == _vector(["b2"])


def test_the_ledger_and_outbox_hold_the_exact_bytes_once_a_week(catalog: Catalog) -> None:
    profile = _profile(catalog, ["b1", "b4", "b6", "b2", "b5"])
    section = catalog.manifest.secure_aggregation
    assert section is not None
    preview = prepare_contribution(profile, catalog, section, MONDAY)
    assert len(preview.items or ()) == K
    (entry,) = profile.ledger
    assert (entry.kind, entry.epsilon, entry.delta) == (SECAGG_KIND, 1.0, 1e-9)
    assert entry.digest == hashlib.sha256(preview.data).hexdigest()
    assert [r.data for r in profile.outbox] == [preview.data]
    again = prepare_contribution(profile, catalog, section, MONDAY + dt.timedelta(days=3))
    assert again.data == preview.data
    assert again.items is None
    assert len(profile.ledger) == 1
    assert len(profile.outbox) == 1
    assert Profile.from_bytes(profile.to_bytes()).ledger == profile.ledger


def test_consent_binds_the_aggregators(task_files: TaskFiles, catalog: Catalog) -> None:
    profile = _profile(catalog, ["b1"])
    other_key = hpke.generate_keypair(7).config
    changed = [
        _section(task_files, leader="https://other-leader.example"),
        _section(task_files, helper="https://other-helper.example"),
        _section(
            task_files, task=dataclasses.replace(_section(task_files).task, helper_config=other_key)
        ),
        _section(task_files, pad_length=K + 1),
    ]
    for section in changed:
        with pytest.raises(ConsentRequiredError, match="exact task and aggregators"):
            prepare_contribution(profile, catalog, section, MONDAY)
    profile.grant(catalog.manifest.reporting.to_json(), MONDAY)  # consent to LDP only
    with pytest.raises(ConsentRequiredError):
        prepare_contribution(profile, catalog, _section(task_files), MONDAY)
    assert profile.ledger == []
    assert profile.outbox == []


def test_one_weekly_budget_covers_both_modes(task_files: TaskFiles, catalog: Catalog) -> None:
    ldp = catalog.manifest.reporting  # ε 1 per kind, 2 per week
    section = catalog.manifest.secure_aggregation
    assert section is not None
    # LDP first (both kinds: ε 2), then the catalog switches mode within the week.
    profile = _profile(catalog, ["b1", "b2"])
    profile.grant(ldp.to_json(), MONDAY)
    prepare_reports(profile, catalog, ldp, MONDAY, np.random.default_rng(1))
    profile.grant(section.consent_terms(), MONDAY)
    with pytest.raises(BudgetExhaustedError, match="0 of 2 left"):
        prepare_contribution(profile, catalog, section, MONDAY)
    assert [e.kind for e in profile.ledger] == ["category", "item"]
    # The contribution first (ε 1): one LDP kind still fits, the other is blocked.
    profile = _profile(catalog, ["b1", "b2"])
    prepare_contribution(profile, catalog, section, MONDAY)
    profile.grant(ldp.to_json(), MONDAY)
    preview = prepare_reports(profile, catalog, ldp, MONDAY, np.random.default_rng(1))
    assert len(preview.reports) == 1
    assert preview.blocked == ("item",)
    assert preview.epsilon_spent == 2.0
    # Next week the budget is whole again.
    profile.grant(section.consent_terms(), MONDAY)
    prepare_contribution(profile, catalog, section, MONDAY + dt.timedelta(days=7))


def test_sampling_is_uniform_over_padded_slots() -> None:
    rng = np.random.default_rng(7)
    counts = np.zeros(5)
    trials = 4000
    for _ in range(trials):
        drawn = sample_entries([10, 11, 12, 13, 14], 2, 8, rng)
        assert len(set(drawn)) == len(drawn) <= 2
        for entry in drawn:
            counts[entry - 10] += 1
    # Each of the 5 items is one of 8 slots, 2 drawn: probability 2/8.
    assert np.all(np.abs(counts / trials - 0.25) < 0.03)
    many = sample_entries(list(range(50)), 3, 8, rng)  # more items than padding: exactly K
    assert len(many) == 3


def test_the_cli_consents_to_and_previews_the_contribution(
    task_files: TaskFiles,
    repo: PublisherRepository,
    publish: Callable[..., PublishResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    publish(secure_aggregation=_section(task_files))
    home = tmp_path / "client"
    sync_catalog(home, str(repo.path), root=repo.trusted_root_path)
    monkeypatch.setenv("DISCREET_HOME", str(home))
    monkeypatch.setenv("DISCREET_PASSPHRASE", "a long enough passphrase")
    assert main(["init"]) == 0
    assert main(["like", "b1"]) == 0
    capsys.readouterr()
    assert main(["report", "consent", "--yes", "--json"]) == 0
    consent = json.loads(capsys.readouterr().out)
    assert consent["parameters"]["secure_aggregation"]["leader"] == "https://leader.example"
    assert main(["report", "preview", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["mode"] == "secure-aggregation"
    assert doc["size"] == len(bytes.fromhex(doc["bytes_hex"]))
    assert doc["items"] == ["b1"]
    assert main(["ledger", "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)["entries"]
    assert (entry["kind"], entry["epsilon"], entry["delta"]) == ("secagg", 1.0, 1e-9)


def test_a_queued_contribution_is_not_sent_to_aggregators_never_consented_to(
    task_files: TaskFiles, catalog: Catalog
) -> None:
    """Consent is checked again before sending (``Engine.send_contributions``): a catalog
    update naming another leader cannot redirect the week's queued contribution."""
    section = _section(task_files)
    profile = _profile(catalog, ["b1"])
    profile.grant(section.consent_terms(), MONDAY)
    prepare_contribution(profile, catalog, section, MONDAY)
    require_consent(profile, section)  # the aggregators consented to
    moved = _section(task_files, leader="https://other-leader.example")
    with pytest.raises(ConsentRequiredError, match="exact task and aggregators"):
        require_consent(profile, moved)
    assert len(profile.outbox) == 1  # still queued, for the aggregators consented to


def test_pair_index_numbers_every_pair_once() -> None:
    m = 7
    seen = sorted(pair_index(j, i, m) for i in range(m) for j in range(i))
    assert seen == list(range(m * (m - 1) // 2))
    with pytest.raises(ValueError, match="no pair"):
        pair_index(3, 3, m)


@pytest.mark.parametrize(("held", "pad_length"), [(3, 6), (5, 5), (8, 4)])
def test_sample_pairs_draws_every_held_pair_alike(held: int, pad_length: int) -> None:
    """Each pair of held items comes with probability max_weight / C(P, 2), P the padded
    length; pairs of items not held never come (a binomial 5-sigma band per pair)."""
    rng = np.random.default_rng(7)
    m, max_weight, runs = 12, 3, 20_000
    candidates = [int(x) for x in rng.choice(m, size=held, replace=False)]
    slots = max(held, pad_length)
    p = max_weight / (slots * (slots - 1) // 2)
    counts = np.zeros(m * (m - 1) // 2)
    for _ in range(runs):
        drawn = sample_pairs(candidates, m, max_weight, pad_length, rng)
        assert len(drawn) == len(set(drawn)) <= max_weight
        counts[drawn] += 1
    pairs = [pair_index(a, b, m) for i, a in enumerate(candidates) for b in candidates[i + 1 :]]
    band = 5 * np.sqrt(runs * p * (1 - p))
    assert np.all(np.abs(counts[pairs] - runs * p) < band)
    assert counts.sum() == counts[pairs].sum()
