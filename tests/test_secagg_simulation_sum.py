"""Issue 14: the simulated secure-aggregation route (``discreet eval``) sums what the real
two-aggregator path sums, for the same devices.

Three thousand devices, the users of a seeded synthetic interaction matrix, each make
their week's two contributions (popularity, and pairs among a top-M list) as the
device does: their views recorded in a real profile, the reportable rows of a real
catalog (items in a sensitive category left out), the device's draws
(:func:`~discreet.profile.contribution.sample_entries`,
:func:`~discreet.profile.contribution.sample_pairs`), Prio3 sharding, HPKE sealing,
and upload to a real leader and helper. The first devices go through
:func:`~discreet.profile.contribution.prepare_contribution` itself and upload the
bytes it queued; the others take its steps, checked draw for draw against it on the
first ones, with their sharding batched. The collector's released sums are compared
with :mod:`discreet.evaluation.simulation`'s draws for the same devices (the
simulation sees each user's reportable history, as ``discreet eval`` gives it the
training matrix), in two sections on the same aggregators:

* ``exact``: K₁ = P = 3 items and K₂ = C(3, 2) = 3 pairs, and only devices with at most
  3 items, so every draw is deterministic: the simulation's plain sums must equal the
  devices' exactly, and the releases differ from them by the aggregators' noise alone.
  Another pair numbering, another order of the top-M list, or an item the device does
  not count would show in many entries.
* ``padded``: P = 10, K₁ = 4, K₂ = 8, light and heavy devices, so the draws are random:
  the releases differ from the simulation's sums by the noise plus two independent
  draws of the same contributions, whose variance (per entry, and of the sum over the
  entries) is known exactly. A simulation without padding, or with a K off by one,
  fails it (a pad off by one moves the sum by only 4-7 standard deviations).

A device pads both tasks to the section's one ``pad_length`` (which must be at least
each task's K), so the simulation is run with the same P for both here.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from discreet.catalog.reader import Catalog
from discreet.evaluation.harness import SECURE_LONG_PAD
from discreet.evaluation.simulation import pair_draws, popularity_draws, total
from discreet.profile.contribution import (
    pair_index,
    prepare_contribution,
    sample_entries,
    sample_pairs,
    task_entries,
    top_positions,
)
from discreet.profile.model import Profile
from discreet.profile.reports import reportable_rows
from discreet.protocol.report import period_of
from discreet.publish.collaborative import CollaborativeParams
from discreet.publish.collect import collect
from discreet.secagg import hpke
from discreet.secagg.mode import SecureAggregation
from discreet.secagg.task import COLLECTOR, COOCCURRENCE, Task, TaskFiles, create_task, pair_count
from discreet.secagg.task import read_secrets as read_task_secrets
from discreet.secagg.upload import seal_report
from tests.secagg_support import running_aggregators, shard_batch, upload_all
from tests.synthetic_catalog import write_release

N_ITEMS, USERS, M = 60, 3_000, 24
#: Each task's ε (the largest a section of two tasks may state is 10 in all) and δ.
EPSILON, DELTA = 4.0, 1e-6
#: Devices per section whose bytes are prepare_contribution's own.
PREPARED = 40
TODAY = dt.date.today()  # the aggregators take this ISO week and the two before it
PERIOD = period_of(TODAY)
SEED = 14


@dataclass(frozen=True)
class Shape:
    """One section's draws: K₁ items and K₂ pairs, both tasks padded to P."""

    name: str
    pad: int
    item_weight: int
    pair_weight: int
    #: The most reportable items its devices hold.
    most_items: int


EXACT = Shape("exact", pad=3, item_weight=3, pair_weight=3, most_items=3)
PADDED = Shape("padded", pad=10, item_weight=4, pair_weight=8, most_items=N_ITEMS)


@dataclass(frozen=True)
class Population:
    """The synthetic users: the catalog rows each viewed this week, and top-M's rows."""

    reportable: list[list[int]]
    sensitive: list[list[int]]
    #: The reportable histories as ``discreet eval`` hands them to the simulation.
    train: sp.csr_matrix
    top: np.ndarray


def _population(catalog: Catalog, rng: np.random.Generator) -> Population:
    """Zipf-like item popularity over the reportable items, in an order unrelated to the
    catalog's; half the users with 0-3 items, the rest with 5 to 30; one user in
    five also viewed an item in a sensitive category."""
    sensitive_ids = catalog.taxonomy.sensitive_ids
    rows = np.arange(N_ITEMS)
    hidden = np.array([bool(set(catalog.item_at(int(r)).categories) & sensitive_ids) for r in rows])
    countable, excluded = rng.permutation(rows[~hidden]), rows[hidden]
    assert len(countable) >= 40
    assert len(excluded) >= 3
    weights = 1.0 / np.arange(1, len(countable) + 1) ** 0.8
    weights /= weights.sum()
    reportable, sensitive = [], []
    for _user in range(USERS):
        if rng.random() < 0.5:
            length = int(rng.choice(4, p=[0.1, 0.2, 0.3, 0.4]))
        else:
            length = min(4 + int(rng.geometric(0.1)), 30)
        reportable.append(sorted(rng.choice(countable, length, replace=False, p=weights).tolist()))
        sensitive.append(rng.choice(excluded, int(rng.random() < 0.2)).tolist())
    lengths = [len(h) for h in reportable]
    train = sp.csr_matrix(
        (
            np.ones(sum(lengths), dtype=np.float32),
            np.asarray([r for h in reportable for r in h], dtype=np.int64),
            np.concatenate([[0], np.cumsum(lengths)]),
        ),
        shape=(USERS, N_ITEMS),
    )
    counts = np.asarray(train.sum(axis=0)).ravel()
    top = np.argsort(-counts, kind="stable")[:M].astype(np.int64)
    # Ordered by popularity, not by row: a simulation that numbered pairs by catalog row
    # would count other pairs.
    assert top.tolist() != sorted(top.tolist())
    return Population(reportable, sensitive, train, top)


def _draws(
    profile: Profile, catalog: Catalog, section: SecureAggregation, rng: np.random.Generator
) -> list[list[int]]:
    """Each task's entries set to one, drawn as prepare_contribution draws them (its steps
    in its order; the sharding is left to the batch)."""
    rows = reportable_rows(profile, catalog, PERIOD)
    ones = []
    for task in section.tasks:
        if task.kind == COOCCURRENCE:
            positions = top_positions(catalog, task, rows)
            m = len(task.top_items)
            ones.append(sample_pairs(positions, m, task.max_weight, section.pad_length, rng))
        else:
            entries = task_entries(catalog, section, rows)
            ones.append(sample_entries(entries, task.max_weight, section.pad_length, rng))
    return ones


def _twin(rng: np.random.Generator) -> np.random.Generator:
    """A generator in ``rng``'s state, which draws what ``rng`` will draw next."""
    twin = np.random.Generator(type(rng.bit_generator)())
    twin.bit_generator.state = rng.bit_generator.state
    return twin


@dataclass
class Contributions:
    """A section's devices' uploads and the sum of what they measured, per task."""

    bodies: list[list[bytes]]
    truth: list[np.ndarray]


def _contribute(
    section: SecureAggregation,
    catalog: Catalog,
    population: Population,
    devices: Sequence[int],
    rng: np.random.Generator,
) -> Contributions:
    """Each device's week: a profile of its views, its draws, its two sealed reports."""
    tasks = section.tasks
    bits = [np.zeros((len(devices), task.length), dtype=bool) for task in tasks]
    bodies: list[list[bytes]] = [[] for _ in tasks]
    ids = catalog.ids
    for at, user in enumerate(devices):
        profile = Profile.new(TODAY)
        viewed = population.reportable[user] + population.sensitive[user]
        for row in rng.permutation(viewed).tolist():
            profile.record(ids[row], "view", TODAY)
        if at >= PREPARED:
            ones = _draws(profile, catalog, section, rng)
        else:
            ones = _draws(profile, catalog, section, _twin(rng))
            profile.grant(section.consent_terms(), TODAY)
            preview = prepare_contribution(profile, catalog, section, TODAY, rng)
            assert preview.items is not None
            assert preview.cooccurrence is not None
            assert preview.cooccurrence.pairs is not None
            top = tasks[1].top_items
            assert [catalog.index_of(item) for item in preview.items] == ones[0]
            assert [
                pair_index(top.index(a), top.index(b), len(top))
                for a, b in preview.cooccurrence.pairs
            ] == ones[1]
            queued = {r.destination: r.data for r in profile.outbox}
            for index, task in enumerate(tasks):
                bodies[index].append(queued[section.leader_url(task)])
        for index, entries in enumerate(ones):
            bits[index][at, entries] = True
    for index, task in enumerate(tasks):
        circuit = task.vdaf().circuit
        encoded = [circuit.encode(row) for row in bits[index][PREPARED:]]
        bodies[index] += [
            seal_report(task, PERIOD, sharded).encode()
            for sharded in shard_batch(task, encoded, rng)
        ]
    return Contributions(bodies, [b.sum(axis=0).astype(np.int64) for b in bits])


def _simulated(
    population: Population, devices: np.ndarray, shape: Shape, rng: np.random.Generator
) -> list[np.ndarray]:
    """The simulation's plain sums of the same devices' contributions, per task."""
    train, top = population.train, population.top
    items = popularity_draws(train, devices, shape.item_weight, shape.pad, rng)
    pairs = pair_draws(train, top, devices, shape.pair_weight, shape.pad, rng)
    return [total(items, N_ITEMS), total(pairs, pair_count(M))]


@dataclass(frozen=True)
class DrawVariance:
    """The variance of one draw of the devices' summed contribution to a task: per entry,
    and of the sum over the entries."""

    entries: np.ndarray
    total: float


def _drawn(held: int, slots: int, weight: int) -> tuple[float, float]:
    """A device draws K of its S padded slots (S ≥ 2) without replacement, h of which hold
    an item: each slot is drawn with probability p = min(K, S)/S, and the number of held
    ones drawn is hypergeometric. ``(p, its variance)``."""
    k = min(weight, slots)
    share = held / slots
    return k / slots, k * share * (1 - share) * (slots - k) / (slots - 1)


def _draw_variance(
    population: Population, devices: np.ndarray, shape: Shape
) -> tuple[DrawVariance, DrawVariance]:
    """Of the devices' items, and of their pairs (of slots, among the top M)."""
    items, pairs = np.zeros(N_ITEMS), np.zeros(pair_count(M))
    totals = [0.0, 0.0]
    position = {int(row): i for i, row in enumerate(population.top)}
    for user in devices.tolist():
        held = population.reportable[user]
        p, count = _drawn(len(held), max(len(held), shape.pad), shape.item_weight)
        items[held] += p * (1 - p)
        totals[0] += count
        ranks = sorted(position[r] for r in held if r in position)
        slots = pair_count(max(len(ranks), shape.pad))
        p, count = _drawn(pair_count(len(ranks)), slots, shape.pair_weight)
        for at, i in enumerate(ranks):
            for j in ranks[at + 1 :]:
                pairs[pair_index(i, j, M)] += p * (1 - p)
        totals[1] += count
    return DrawVariance(items, totals[0]), DrawVariance(pairs, totals[1])


NO_DRAWS = DrawVariance(np.zeros(1), 0.0)


def _of_the_stated_scale(residual: np.ndarray, noise: float, draws: DrawVariance) -> None:
    """``residual`` is the aggregators' noise (``noise`` per entry, independent) plus the
    difference of two independent draws of ``draws``' variance: centred, of that scale.

    No entry beyond 6 standard deviations; the standardised squares sum to a chi-square
    of one degree of freedom per entry, neither too small nor too large; and the sum of
    the entries within 6 standard deviations of 0 (what a wrong scale, from other
    padding or another K, moves most).
    """
    z = residual / np.sqrt(noise + 2 * draws.entries)
    assert np.all(np.abs(z) < 6), np.abs(z).max()
    statistic = float(np.sum(z**2))
    assert stats.chi2.sf(statistic, z.size) > 1e-4, (statistic, z.size)
    assert stats.chi2.cdf(statistic, z.size) > 1e-4, (statistic, z.size)
    spread = math.sqrt(residual.size * noise + 2 * draws.total)
    assert abs(float(residual.sum())) < 6 * spread, (residual.sum(), spread)


def _released(files: TaskFiles, task: Task, url: str) -> tuple[int, np.ndarray]:
    """The collector's release of the week: the report count and the noisy sums."""
    document = collect(
        task,
        hpke.read_keypair(files.keys[COLLECTOR]),
        read_task_secrets(files.secrets[COLLECTOR]),
        url,
        PERIOD,
    )
    if task.kind == COOCCURRENCE:
        sums = document["pair_counts"]
    else:
        sums = [document["estimates"][str(i)]["estimate"] for i in range(task.length)]
    return document["reports"], np.asarray(sums, dtype=np.int64)


def _tasks(folder: Path, shape: Shape, devices: int, top: tuple[str, ...]) -> list[TaskFiles]:
    return [
        create_task(
            folder / shape.name / name,
            length=N_ITEMS,
            max_weight=weight,
            min_batch_size=devices,
            epsilon=EPSILON,
            delta=DELTA,
            top_items=top_items,
        )
        for name, weight, top_items in (
            ("items", shape.item_weight, ()),
            ("pairs", shape.pair_weight, top),
        )
    ]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    folder = tmp_path_factory.mktemp("simsum") / "catalog"
    return write_release(folder, n=N_ITEMS, dim=8, seed=SEED)


def test_the_two_aggregators_release_the_simulations_sum_for_the_same_devices(
    catalog: Catalog, tmp_path: Path
) -> None:
    # Every draw of the exact section is all of a device's items and pairs.
    assert EXACT.item_weight == EXACT.pad
    assert EXACT.pair_weight == math.comb(EXACT.pad, 2)
    rng = np.random.default_rng(SEED)
    population = _population(catalog, rng)
    lengths = np.asarray([len(h) for h in population.reportable])
    shapes = {
        EXACT: np.flatnonzero(lengths <= EXACT.most_items),
        PADDED: np.arange(USERS),
    }
    assert len(shapes[EXACT]) > 1_000
    assert np.mean(lengths > PADDED.pad) > 0.2  # heavy devices, scaled down by their draws
    top_ids = tuple(catalog.ids[row] for row in population.top)
    files = {shape: _tasks(tmp_path, shape, len(d), top_ids) for shape, d in shapes.items()}
    everything = [f for pair in files.values() for f in pair]

    with running_aggregators(everything, tmp_path) as (leader, helper):
        for shape, devices in shapes.items():
            items, pairs = (Task.load(f.task) for f in files[shape])
            section = SecureAggregation(
                items, leader.url, helper.url, 2 * EPSILON, shape.pad, pairs
            )
            made = _contribute(section, catalog, population, devices.tolist(), rng)
            simulated = _simulated(population, devices, shape, rng)
            variance = _draw_variance(population, devices, shape)
            for index, task in enumerate(section.tasks):
                url = section.leader_url(task)
                bodies = made.bodies[index]
                order = rng.permutation(len(bodies))
                assert set(upload_all(url, [bodies[i] for i in order])) == {201}
                reports, released = _released(files[shape][index], task, url)
                assert reports == len(devices)
                noise = task.noise_plan().release_variance
                # The two aggregators sum what the devices measured.
                _of_the_stated_scale(released - made.truth[index], noise, NO_DRAWS)
                if shape is EXACT:
                    assert np.all(variance[index].entries == 0)
                    assert variance[index].total == 0
                    assert simulated[index].tolist() == made.truth[index].tolist()
                    assert made.truth[index].sum() > 1_000
                # The simulation's sum, up to the noise and (when they are random) the
                # devices' and the simulation's independent draws.
                _of_the_stated_scale(released - simulated[index], noise, variance[index])


@pytest.mark.parametrize("pad", [None, SECURE_LONG_PAD])
def test_the_evaluated_shape_is_one_a_device_can_be_given(tmp_path: Path, pad: int | None) -> None:
    """``discreet eval`` draws with :class:`CollaborativeParams`' K and P, or with its
    long pad's (:data:`SECURE_LONG_PAD`): a section with those tasks must be one a device
    accepts, and pad as the simulation pads."""
    params = CollaborativeParams() if pad is None else CollaborativeParams().padded(pad)
    top = tuple(f"item-{i}" for i in range(params.items))
    items, pairs = (
        Task.load(
            create_task(
                tmp_path / name,
                length=params.items,
                max_weight=weight,
                min_batch_size=1,
                epsilon=1.0,
                delta=DELTA,
                top_items=top_items,
            ).task
        )
        for name, weight, top_items in (
            ("items", params.item_weight, ()),
            ("pairs", params.pair_weight, top),
        )
    )

    def accepted(pad: int) -> bool:
        try:
            SecureAggregation(items, "http://127.0.0.1:1", "http://127.0.0.1:2", 2.0, pad, pairs)
        except ValueError:
            return False
        return True

    assert params.item_pad == params.pair_pad
    assert accepted(params.item_pad)
