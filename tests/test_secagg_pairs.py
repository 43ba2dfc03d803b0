"""The second secure-aggregation task: co-occurrence pairs among the manifest's top-M items.

The section naming both tasks, the device's two contributions (their exact bytes, what
enters them, the ledger and one weekly budget), consent to the exact top-M list, and the
publisher's ``secagg-task --kind cooccurrence``."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discreet.catalog.reader import Catalog
from discreet.cli import main
from discreet.cli._secagg import default_weight
from discreet.errors import BudgetExhaustedError, ConsentRequiredError
from discreet.profile.contribution import pair_index, pair_items, prepare_contribution
from discreet.profile.model import SECAGG_KIND, SECAGG_PAIRS_KIND, Profile
from discreet.profile.reports import prepare_reports
from discreet.protocol.report import period_of
from discreet.publish.publisher import PublishResult
from discreet.publish.repository import PublisherRepository
from discreet.secagg.mode import MAX_TOP_ITEMS, SecureAggregation, shortest_pad
from discreet.secagg.task import (
    COOCCURRENCE,
    POPULARITY,
    Task,
    TaskFiles,
    b64,
    create_task,
    pair_count,
)
from discreet.secagg.upload import UploadReport
from discreet.sync.client import sync_catalog
from tests.conftest import ITEMS
from tests.secagg_support import prepare_in_process

MONDAY = dt.date(2026, 11, 23)
ITEM_IDS = tuple(str(item["id"]) for item in ITEMS)
#: b3 and b8 are sensitive (health), b5 and b7 travel (muted below); all in the top list.
TOP = ("b2", "b3", "b5", "b1", "b7", "b8", "b4")
K = 3
LEADER, HELPER = "https://leader.example", "https://helper.example"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[TaskFiles, TaskFiles]:
    folder = tmp_path_factory.mktemp("tasks")
    made = [
        create_task(
            folder / name,
            length=len(ITEM_IDS),
            max_weight=K,
            min_batch_size=1,
            epsilon=1.0,
            delta=1e-9,
            labels=() if top else ITEM_IDS,
            top_items=top,
        )
        for name, top in (("items", ()), ("pairs", TOP))
    ]
    return made[0], made[1]


def _section(files: tuple[TaskFiles, TaskFiles], budget: float = 2.0) -> SecureAggregation:
    items, pairs = (Task.load(f.task) for f in files)
    return SecureAggregation(items, LEADER, HELPER, budget, K, pairs)


@pytest.fixture
def catalog(
    files: tuple[TaskFiles, TaskFiles],
    repo: PublisherRepository,
    publish: Callable[..., PublishResult],
    home: Path,
) -> Catalog:
    publish(secure_aggregation=_section(files))
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


def _pairs_vector(pairs: list[tuple[str, str]]) -> list[int]:
    vector = [0] * pair_count(len(TOP))
    for a, b in pairs:
        vector[pair_index(TOP.index(a), TOP.index(b), len(TOP))] = 1
    return vector


def _opened(files: TaskFiles, data: bytes) -> list[int]:
    """What both aggregators make of the bytes: the unsharded vector (it must verify)."""
    total, rejected = prepare_in_process(files, [UploadReport.decode(data)])
    assert rejected == {}
    return total


def test_pair_items_inverts_pair_index(files: tuple[TaskFiles, TaskFiles]) -> None:
    task = Task.load(files[1].task)
    m = len(TOP)
    named = [pair_items(task, entry) for entry in range(pair_count(m))]
    assert len(set(named)) == pair_count(m)
    assert all(pair_index(TOP.index(a), TOP.index(b), m) == e for e, (a, b) in enumerate(named))


def test_the_section_names_both_tasks_each_under_its_own_path(
    files: tuple[TaskFiles, TaskFiles], catalog: Catalog
) -> None:
    section = catalog.manifest.secure_aggregation
    assert section == _section(files)
    assert section is not None
    assert section.cooccurrence is not None
    doc = section.to_json()
    assert doc["format_version"] == 2
    assert [t.get("kind", "popularity") for t in doc["tasks"]] == ["popularity", COOCCURRENCE]
    assert doc["tasks"][1]["top_items"] == list(TOP)
    assert SecureAggregation.from_json(json.loads(json.dumps(doc))) == section
    for task in section.tasks:
        assert section.leader_url(task) == f"{LEADER}/tasks/{b64(task.task_id)}"
    alone = dataclasses.replace(section, cooccurrence=None)  # the first release's format
    assert alone.to_json()["format_version"] == 1
    assert not {"kind", "top_items"} & set(alone.task.to_json())  # consents to it still hold
    assert alone.leader_url(alone.task) == LEADER


def test_a_hostile_cooccurrence_section_is_refused(files: tuple[TaskFiles, TaskFiles]) -> None:
    doc = _section(files).to_json()
    too_many = [f"x{i}" for i in range(MAX_TOP_ITEMS + 1)]  # 50,086 entries: under MAX_LENGTH
    hostile = json.loads(json.dumps(doc))
    hostile["tasks"][1]["top_items"] = too_many
    hostile["tasks"][1]["vdaf"]["length"] = pair_count(len(too_many))
    with pytest.raises(ValueError, match=f"at most {MAX_TOP_ITEMS} top items"):
        SecureAggregation.from_json(hostile)
    with pytest.raises(ValueError, match="sum of the tasks' ε"):
        _section(files, budget=1.5)  # each task alone fits, both do not
    swapped = json.loads(json.dumps(doc))
    swapped["tasks"].reverse()
    with pytest.raises(ValueError, match="first task must be a popularity task"):
        SecureAggregation.from_json(swapped)
    with pytest.raises(ValueError, match="lists a popularity task and a co-occurrence task"):
        SecureAggregation.from_json({**doc, "tasks": doc["tasks"][:1]})
    wrong = json.loads(json.dumps(doc))
    wrong["tasks"][1]["vdaf"]["length"] += 1
    with pytest.raises(ValueError, match="over 7 items has 21 entries"):
        SecureAggregation.from_json(wrong)


def test_one_pad_length_holds_k_items_and_all_their_pairs(
    files: tuple[TaskFiles, TaskFiles], tmp_path: Path
) -> None:
    """With pad P, the popularity task may draw up to P slots and the co-occurrence task
    up to C(P, 2) pairs of slots (all the pairs of a device with at most P items)."""
    items = Task.load(files[0].task)
    for pairs_k, fits in ((pair_count(K), True), (pair_count(K) + 1, False)):
        pairs = Task.load(
            create_task(
                tmp_path / f"pairs-{pairs_k}",
                length=0,
                max_weight=pairs_k,
                min_batch_size=1,
                epsilon=1.0,
                delta=1e-9,
                top_items=TOP,
            ).task
        )
        with contextlib.nullcontext() if fits else pytest.raises(ValueError, match="pad_length"):
            SecureAggregation(items, LEADER, HELPER, 2.0, K, pairs)
    assert [shortest_pad(COOCCURRENCE, k) for k in (1, 3, 4, 45, 190, 191)] == [2, 3, 4, 10, 20, 21]
    assert shortest_pad(POPULARITY, 20) == 20


def test_both_contributions_show_their_exact_bytes_and_verify(
    files: tuple[TaskFiles, TaskFiles], catalog: Catalog
) -> None:
    section = catalog.manifest.secure_aggregation
    assert section is not None
    assert section.cooccurrence is not None
    profile = _profile(catalog, ["b1", "b2", "b4"])  # 3 items, pad 3, K 3: every pair drawn
    preview = prepare_contribution(profile, catalog, section, MONDAY)
    pairs = preview.cooccurrence
    assert pairs is not None
    assert pairs.pairs is not None
    expected = [("b2", "b1"), ("b2", "b4"), ("b1", "b4")]  # in top-list order
    assert sorted(pairs.pairs) == sorted(expected)
    assert _opened(files[1], pairs.data) == _pairs_vector(expected)
    assert sorted(preview.items or ()) == ["b1", "b2", "b4"]
    doc = preview.to_json()
    assert doc["cooccurrence"]["size"] == len(pairs.data) > 0
    assert bytes.fromhex(doc["cooccurrence"]["bytes_hex"]) == pairs.data
    assert sorted(map(tuple, doc["cooccurrence"]["pairs"])) == sorted(expected)
    assert doc["epsilon_spent"] == 2.0
    kinds = [(e.kind, e.epsilon, e.delta, e.digest) for e in profile.ledger]
    assert kinds == [
        (SECAGG_KIND, 1.0, 1e-9, hashlib.sha256(preview.data).hexdigest()),
        (SECAGG_PAIRS_KIND, 1.0, 1e-9, hashlib.sha256(pairs.data).hexdigest()),
    ]
    assert [(r.kind, r.data, r.destination) for r in profile.outbox] == [
        (SECAGG_KIND, preview.data, section.leader_url(section.task)),
        (SECAGG_PAIRS_KIND, pairs.data, section.leader_url(section.cooccurrence)),
    ]
    again = prepare_contribution(profile, catalog, section, MONDAY + dt.timedelta(days=2))
    assert again.cooccurrence is not None
    assert again.cooccurrence.data == pairs.data
    assert again.cooccurrence.pairs is None  # made earlier: shown, not made again
    assert len(profile.ledger) == 2
    assert Profile.from_bytes(profile.to_bytes()).outbox == profile.outbox


def test_sensitive_and_muted_categories_never_enter_a_pair(
    files: tuple[TaskFiles, TaskFiles], catalog: Catalog
) -> None:
    section = catalog.manifest.secure_aggregation
    assert section is not None
    rng = np.random.default_rng(11)
    seen: set[str] = set()
    for _ in range(5):  # b3, b8 sensitive; b5, b7 travel (muted): only b1 and b2 pair
        profile = _profile(catalog, ["b3", "b8", "b5", "b7", "b1", "b2"], muted=("travel",))
        preview = prepare_contribution(profile, catalog, section, MONDAY, rng)
        made = preview.cooccurrence
        assert made is not None
        assert made.pairs is not None
        for pair in made.pairs:
            seen.update(pair)
        assert _opened(files[1], made.data) == _pairs_vector(list(made.pairs))
    assert seen == {"b1", "b2"}


def test_consent_binds_the_top_items_list(
    files: tuple[TaskFiles, TaskFiles], catalog: Catalog
) -> None:
    section = catalog.manifest.secure_aggregation
    assert section is not None
    assert section.cooccurrence is not None
    profile = _profile(catalog, ["b1", "b2"])
    reordered = (*TOP[1:], TOP[0])  # the same items, another order: other pairs
    changed = [
        dataclasses.replace(
            section, cooccurrence=dataclasses.replace(section.cooccurrence, top_items=reordered)
        ),
        dataclasses.replace(section, cooccurrence=None),  # the pairs task withdrawn
    ]
    for other in changed:
        with pytest.raises(ConsentRequiredError, match="exact task and aggregators"):
            prepare_contribution(profile, catalog, other, MONDAY)
    assert profile.ledger == []
    assert profile.outbox == []
    prepare_contribution(profile, catalog, section, MONDAY)
    assert len(profile.ledger) == 2


_ACTIONS = st.lists(
    st.tuples(st.integers(0, 20), st.sampled_from(["ldp", "contribution", "reconsent"])),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(actions=_ACTIONS, budget=st.sampled_from([2.0, 2.5, 3.0, 4.0]))
def test_one_weekly_budget_covers_the_ldp_reports_and_both_tasks(
    files: tuple[TaskFiles, TaskFiles],
    catalog: Catalog,
    actions: list[tuple[int, str]],
    budget: float,
) -> None:
    """Whatever the order of LDP reports and contributions over three weeks: no week's ε
    passes the section's budget, each task contributes at most once a week and always
    both or neither, each ledger entry carries its task's ε and δ, and the week's (Σε, Σδ)
    is what basic composition states."""
    ldp = catalog.manifest.reporting  # ε 1 per kind, a cap of 2 per week
    section = _section(files, budget)
    assert section.cooccurrence is not None
    profile = _profile(catalog, ["b1", "b2", "b4"])
    profile.grant(section.consent_terms(), MONDAY)
    rng = np.random.default_rng(3)
    expected = {SECAGG_KIND: section.task, SECAGG_PAIRS_KIND: section.cooccurrence}
    for day, action in sorted(actions):
        today = MONDAY + dt.timedelta(days=day)
        if action == "ldp":
            profile.grant(ldp.to_json(), today)
            with contextlib.suppress(BudgetExhaustedError):  # the week's ε is spent
                prepare_reports(profile, catalog, ldp, today, rng)
        elif action == "reconsent":
            profile.grant(section.consent_terms(), today)
        else:
            profile.grant(section.consent_terms(), today)
            try:
                prepare_contribution(profile, catalog, section, today, rng)
            except BudgetExhaustedError:
                week = [e for e in profile.ledger if e.period == period_of(today)]
                left = budget - sum(e.epsilon for e in week)
                made = {e.kind for e in week}
                todo = [t for kind, t in expected.items() if kind not in made]
                assert left < sum(t.epsilon for t in todo)
    for period in {e.period for e in profile.ledger}:
        week = [e for e in profile.ledger if e.period == period]
        assert sum(e.epsilon for e in week) <= budget + 1e-9
        kinds = [e.kind for e in week if e.kind in expected]
        assert sorted(kinds) in ([], [SECAGG_KIND, SECAGG_PAIRS_KIND])
        for entry in week:
            task = expected.get(entry.kind)
            if task is not None:
                assert (entry.epsilon, entry.delta) == (task.epsilon, task.delta)
        assert sum(e.delta for e in week) == pytest.approx(1e-9 * len(kinds))


def test_publish_secagg_task_pairs_the_most_popular_items(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    estimates = {"b1": 5.0, "b2": 40.0, "b3": 12.5, "b4": {"estimate": 30.0, "stderr": 1.0}}
    (tmp_path / "popularity.json").write_text(json.dumps({"estimates": estimates}), "utf-8")
    args = ["publish", "secagg-task", "--out", str(tmp_path / "pairs"), "--kind", "cooccurrence"]
    args += ["--top-m", "3", "--popularity", str(tmp_path / "popularity.json"), "--max-weight"]
    assert main([*args, "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == COOCCURRENCE
    task = Task.load(tmp_path / "pairs" / "task.json")
    assert (task.top_items, task.length, task.max_weight) == (("b2", "b4", "b3"), 3, 2)
    default = ["publish", "secagg-task", "--out", str(tmp_path / "pairs-default"), *args[4:10]]
    assert main([*default, "--json"]) == 0
    capsys.readouterr()
    assert Task.load(tmp_path / "pairs-default" / "task.json").max_weight == 3  # all 3 pairs
    assert (default_weight(COOCCURRENCE), default_weight(POPULARITY)) == (190, 20)  # C(20, 2)
    too_many = ["--top-m", "5", "--popularity", str(tmp_path / "popularity.json")]
    assert main([*args[:3], str(tmp_path / "other"), *args[4:6], *too_many]) == 1
    assert "only 4 items to choose the top 5 from" in capsys.readouterr().err


def test_publish_build_names_both_tasks(
    files: tuple[TaskFiles, TaskFiles],
    repo: PublisherRepository,
    inputs: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ["publish", "build", str(inputs[0]), "--taxonomy", str(inputs[1]), "--repo"]
    base += [str(repo.path), "--leader", LEADER, "--helper", HELPER]
    items, pairs = (str(f.task.parent) for f in files)
    assert main([*base, "--secagg-task", pairs]) != 0
    assert "needs a popularity task" in capsys.readouterr().err
    assert main([*base, "--secagg-task", pairs, "--secagg-task", pairs]) != 0
    assert "one --secagg-task per kind" in capsys.readouterr().err
    both = [*base, "--secagg-task", items, "--secagg-task", pairs]
    assert main([*both, "--reporting-budget", "1.5"]) != 0  # below 1 + 1
    assert "sum of the tasks' ε" in capsys.readouterr().err
    assert main([*both, "--reporting-budget", "2", "--json"]) == 0
    capsys.readouterr()
    device = sync_catalog(repo.path.parent / "device", str(repo.path), root=repo.trusted_root_path)
    expected = dataclasses.replace(_section(files), pad_length=8)  # --item-pad-length's default
    assert Catalog.open(device.folder).manifest.secure_aggregation == expected
