"""The secure-aggregation route, simulated: N devices' weekly contributions, summed and noised.

Each simulated device is a training user drawn uniformly with replacement (a
dataset has hundreds of users and the route wants 10⁴-10⁶ devices, so users
are resampled), and it contributes exactly what
:func:`~discreet.profile.contribution.sample_entries` (popularity) and
:func:`~discreet.profile.contribution.sample_pairs` (co-occurrence) would draw
from its training history: K slots, or K pairs of slots, uniformly without
replacement after padding. Instead of calling them a million times, the draws
of all devices are made at once with Floyd's algorithm (one column of K per
device, vectorised over devices), which yields a uniform K-subset of the slots
exactly as ``rng.choice(slots, K, replace=False)`` does;
``tests/test_simulation.py`` checks the two distributions against each other.

The aggregate is the plain sum of the contributions (what Prio3 outputs for
valid reports) plus each aggregator's discrete Gaussian noise, calibrated by
:func:`discreet.secagg.accounting.calibrate` and sampled by
:func:`discreet.secagg.noise.discrete_gaussian`: two aggregators, each of whose
noise alone gives the task its (ε, δ). The week's ε and δ are split between
the two tasks by :func:`~discreet.publish.collaborative.task_budgets` (the
device's ledger adds the tasks' ε and δ).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from discreet.publish.collaborative import CollaborativeParams, task_budgets
from discreet.secagg.accounting import calibrate
from discreet.secagg.noise import discrete_gaussian

IntArray = np.ndarray[Any, np.dtype[np.int64]]

#: Devices are drawn this many at a time, so memory stays flat at N = 10⁶.
CHUNK = 50_000


def draw_subsets(totals: IntArray, k: int, rng: np.random.Generator) -> IntArray:
    """For each device, ``min(k, total)`` distinct slots of ``range(total)``, uniformly.

    One row per device, ``k`` columns, ``-1`` where a device has fewer than ``k``
    slots (it takes all of them). Each row draws its slots uniformly and draws
    again those equal to an earlier one, until all differ; when ``k`` is over
    half the slots, it draws the slots it leaves out instead. Both treat every
    slot alike, so every k-subset is equally likely: the distribution of
    ``rng.choice(total, k, replace=False)``.
    """
    totals = np.asarray(totals, dtype=np.int64)
    out = np.full((len(totals), k), -1, dtype=np.int64)
    columns = np.arange(k)
    small = totals <= k
    out[small] = np.where(columns < totals[small, None], columns, -1)
    direct = np.flatnonzero(~small & (2 * k <= totals))
    out[direct] = _distinct(totals[direct], np.full(len(direct), k), k, rng)
    # Over half the slots: draw the ones left out, and keep the rest.
    rest = np.flatnonzero(~small & (2 * k > totals))
    if len(rest):
        width = int(totals[rest].max())
        left_out = _distinct(totals[rest], totals[rest] - k, k, rng)
        keep = np.arange(width) < totals[rest, None]
        rows = np.repeat(np.arange(len(rest)), k)
        keep[rows[left_out.ravel() >= 0], left_out[left_out >= 0]] = False
        out[rest] = np.nonzero(keep)[1].reshape(len(rest), k)
    return out


def _distinct(totals: IntArray, sizes: IntArray, k: int, rng: np.random.Generator) -> IntArray:
    """``sizes[d]`` distinct slots of ``range(totals[d])`` per row (at most half of them),
    ``-1`` padded to ``k`` columns: uniform draws, the repeated ones drawn again.

    Each round, of a row's entries holding the same slot, the one in the smallest column
    keeps it and the others are drawn again, ordered by row, then slot, then column (one
    call to the generator per round). The first round sorts every row; after it, the
    slots a row holds are distinct, so the next rounds look up only the new draws among
    them (:class:`_HeldSlots`).
    """
    active = np.arange(k) < sizes[:, None]
    out = np.where(active, rng.integers(0, np.maximum(totals, 1)[:, None], active.shape), -1)
    if not out.size:
        return out
    held = _HeldSlots(out, int(totals.max()))
    rows, columns = held.first_round()
    while len(rows):
        slots = rng.integers(0, totals[rows])
        out[rows, columns] = slots
        rows, columns = held.settle(rows, columns, slots)
    return out


class _HeldSlots:
    """The slots the rows of :func:`_distinct` hold, each with the column holding it.

    An entry is packed in one integer that sorts as (row, slot, column): the row in the
    high bits, then the slot plus one (``-1``, no slot, is 0), then the column. ``keys``
    holds the first round's entries, each row sorted: of each run of one slot, the first
    holds it (the others were drawn again; their stale keys are never the first); later
    rounds' new slots are in ``added``, and a holder's column is rewritten in place when
    a smaller one takes its slot (the run's order is kept).
    """

    def __init__(self, out: IntArray, most: int) -> None:
        self.out = out
        self.k = out.shape[1]
        self.shift = max(1, (self.k - 1).bit_length())
        self.mask = (1 << self.shift) - 1
        self.width = (((most + 1) << self.shift) | self.mask).bit_length()
        if len(out) << self.width >= 2**63:
            raise ValueError("too many rows and slots to number in 64 bits")
        self.keys = np.zeros(0, dtype=np.int64)
        self.added = np.zeros(0, dtype=np.int64)

    def first_round(self) -> tuple[IntArray, IntArray]:
        """Sort every row; returns the entries to draw again (rows, columns), ordered by
        row, slot and column."""
        out, k, shift = self.out, self.k, self.shift
        # In 32 bits when they fit: a faster sort.
        kind = np.int32 if self.width < 32 else np.int64
        keys = (out + 1).astype(kind) << shift
        keys |= np.arange(k, dtype=kind)
        keys.sort(axis=1)
        slots = keys >> shift
        repeated = np.zeros(keys.shape, dtype=bool)
        np.equal(slots[:, 1:], slots[:, :-1], out=repeated[:, 1:])
        repeated[:, 1:] &= slots[:, 1:] > 0
        again = np.flatnonzero(repeated)
        columns = (keys.ravel()[again] & self.mask).astype(np.int64)
        self.keys = keys.astype(np.int64)
        self.keys |= np.arange(len(out))[:, None] << self.width
        self.keys = self.keys.ravel()
        return again // k, columns

    def settle(
        self, rows: IntArray, columns: IntArray, slots: IntArray
    ) -> tuple[IntArray, IntArray]:
        """Take in a round's draws (``slots`` at ``rows``, ``columns``): of a row's slot, the
        smallest column among its holder and its new draws holds it. Returns the entries
        to draw again (rows, columns), ordered by row, slot and column."""
        packed = np.sort((rows << self.width) | ((slots + 1) << self.shift) | columns)
        place = packed >> self.shift
        first = np.ones(len(packed), dtype=bool)
        first[1:] = place[1:] != place[:-1]
        base, smallest = packed[first] & ~self.mask, packed[first] & self.mask
        at, found = self._find(self.keys, base)
        added_at, added_found = self._find(self.added, base)
        holder = np.full(len(base), np.iinfo(np.int64).max)
        holder[found] = self.keys[at[found]] & self.mask
        holder[added_found] = self.added[added_at[added_found]] & self.mask
        again = ~first
        again[first] = holder < smallest
        # A held slot drawn again in a smaller column: that column holds it now.
        moved = found & (holder > smallest)
        self.keys[at[moved]] = base[moved] | smallest[moved]
        added_moved = added_found & (holder > smallest)
        self.added[added_at[added_moved]] = base[added_moved] | smallest[added_moved]
        new = ~(found | added_found)
        if new.any():
            entries = base[new] | smallest[new]
            self.added = np.insert(self.added, np.searchsorted(self.added, entries), entries)
        displaced = moved | added_moved
        redrawn = np.sort(np.concatenate([packed[again], base[displaced] | holder[displaced]]))
        return redrawn >> self.width, redrawn & self.mask

    def _find(self, keys: IntArray, base: IntArray) -> tuple[IntArray, np.ndarray[Any, Any]]:
        """Where the first entry of each (row, slot) of ``base`` is in ``keys`` (clipped),
        and whether it is there."""
        if not len(keys):
            return np.zeros(len(base), dtype=np.int64), np.zeros(len(base), dtype=bool)
        at = np.minimum(np.searchsorted(keys, base), len(keys) - 1)
        return at, (keys[at] >> self.shift) == (base >> self.shift)


def device_users(users: IntArray, devices: int, rng: np.random.Generator) -> IntArray:
    """The user behind each of ``devices`` simulated devices (uniform, with replacement)."""
    return users[rng.integers(0, len(users), devices)]


def popularity_draws(
    train: sp.csr_matrix, devices: IntArray, k: int, pad: int, rng: np.random.Generator
) -> IntArray:
    """Each device's popularity contribution: the item rows set to one, ``-1`` padded.

    A device's candidates are its user's training items in row order (the task
    counts every item), as :func:`sample_entries` receives them.
    """
    lengths = np.diff(train.indptr)[devices]
    slots = draw_subsets(np.maximum(lengths, pad), k, rng)
    held = (slots >= 0) & (slots < lengths[:, None])
    owner = np.broadcast_to(devices[:, None], slots.shape)[held]
    out = np.full(slots.shape, -1, dtype=np.int64)
    out[held] = train.indices[train.indptr[owner] + slots[held]]
    return out


@dataclass(frozen=True)
class PairCandidates:
    """Each user's candidates for the co-occurrence task: the positions in ``top`` of its
    training items, sorted (as ``task_entries`` gives them), in CSR form."""

    values: IntArray
    indptr: IntArray
    counts: IntArray
    m: int

    @classmethod
    def of(cls, train: sp.csr_matrix, top: IntArray) -> PairCandidates:
        """The candidates of every user of ``train`` among the ``top`` items."""
        m = len(top)
        position = np.full(train.shape[1], -1, dtype=np.int64)
        position[top] = np.arange(m)
        mapped = position[train.indices]
        keep = mapped >= 0
        owner = np.repeat(np.arange(train.shape[0]), np.diff(train.indptr))[keep]
        counts = np.bincount(owner, minlength=train.shape[0])
        indptr = np.concatenate([[0], np.cumsum(counts)])
        values = mapped[keep][np.lexsort((mapped[keep], owner))]
        return cls(values, indptr, counts, m)

    def all_pairs(self, users: IntArray) -> sp.csr_matrix:
        """One row per user of ``users``' index: 1 at every pair of its candidates (what a
        device whose pairs all fit in its K reports, whatever its draw)."""
        rows, entries = [], []
        for user in users:
            i, j = np.triu_indices(int(self.counts[user]), 1)
            held = self.values[self.indptr[user] : self.indptr[user + 1]]
            rows.append(np.full(len(i), user))
            entries.append(pair_entries(held[i], held[j], self.m))
        shape = (len(self.counts), self.m * (self.m - 1) // 2)
        if not rows:
            return sp.csr_matrix(shape, dtype=np.int64)
        row, column = np.concatenate(rows), np.concatenate(entries)
        return sp.csr_matrix((np.ones(len(row), dtype=np.int64), (row, column)), shape=shape)

    def draws(self, devices: IntArray, k: int, pad: int, rng: np.random.Generator) -> IntArray:
        """Each device's co-occurrence contribution: see :func:`pair_draws`."""
        places, entries = self.drawn(devices, k, pad, rng)
        out = np.full((len(devices), k), -1, dtype=np.int64)
        out.ravel()[places] = entries
        return out

    def drawn(
        self, devices: IntArray, k: int, pad: int, rng: np.random.Generator
    ) -> tuple[IntArray, IntArray]:
        """The devices' co-occurrence draws, flat: the places (``device * k + column``) of
        those that are pairs of the device's candidates, and their entries (the same draws
        as :meth:`draws`)."""
        n = self.counts[devices]
        p = np.maximum(n, pad)
        slots = draw_subsets(p * (p - 1) // 2, k, rng)
        # A slot pair is one of the device's own below C(n, 2); -1 (none), read unsigned, is not.
        own = (n * (n - 1) // 2).astype(np.uint64)
        places = np.flatnonzero(slots.view(np.uint64) < own[:, None])
        t = slots.ravel()[places]
        # Slot pair t is (a, b) with t = b(b-1)/2 + a and a < b: read off a table.
        width = int(n.max()) if len(n) else 0
        b_of = np.repeat(np.arange(width), np.arange(width))
        a_of = np.arange(len(b_of)) - b_of * (b_of - 1) // 2
        start = self.indptr[devices][places // k]
        entries = pair_entries(self.values[start + a_of[t]], self.values[start + b_of[t]], self.m)
        return places, entries


def pair_entries(i: IntArray, j: IntArray, m: int) -> IntArray:
    """The entry of each pair of positions ``i < j`` among M, in
    :func:`~discreet.profile.contribution.pair_index` order."""
    # i(2m - 1 - i) is even: halved by a shift, cheaper than a division.
    return ((i * (2 * m - 1 - i)) >> 1) + (j - i - 1)


def pair_draws(
    train: sp.csr_matrix,
    top: IntArray,
    devices: IntArray,
    k: int,
    pad: int,
    rng: np.random.Generator,
) -> IntArray:
    """Each device's co-occurrence contribution among the ``top`` items: the entries
    (numbered by :func:`~discreet.profile.contribution.pair_index`) set to one, ``-1`` padded.

    A device's candidates are the positions in ``top`` of its training items
    (sorted, as ``task_entries`` gives them).
    """
    return PairCandidates.of(train, top).draws(devices, k, pad, rng)


def total(draws: IntArray, length: int) -> IntArray:
    """The plain sum of the devices' multihot contributions: what Prio3 outputs."""
    return np.bincount(draws[draws >= 0], minlength=length).astype(np.int64)


@dataclass(frozen=True)
class NoisyRelease:
    """One task's released sum: the counts with both aggregators' noise, and the plan."""

    counts: IntArray
    reports: int
    epsilon: float
    delta: float
    sigma_sq: int


def release(
    counts: IntArray,
    reports: int,
    max_weight: int,
    epsilon: float,
    delta: float,
    rng: np.random.Generator,
) -> NoisyRelease:
    """``counts`` as the collector sees them: plus two aggregators' discrete Gaussian noise,
    each calibrated on its own to the task's (``epsilon``, ``delta``)."""
    plan = calibrate(epsilon, delta, 2 * max_weight)

    def randbytes(n: int) -> bytes:
        return rng.bytes(n)

    noise = sum(
        (discrete_gaussian(plan.sigma_sq, len(counts), randbytes) for _ in range(2)),
        start=np.zeros(len(counts), dtype=np.int64),
    )
    return NoisyRelease(counts + noise, reports, epsilon, delta, plan.sigma_sq)


@dataclass(frozen=True)
class Aggregates:
    """What the collector releases in the simulation: popularity, the top-M items it
    chose from it, and their co-occurrence."""

    popularity: NoisyRelease
    top: IntArray
    pairs: NoisyRelease


def simulate_aggregates(
    train: sp.csr_matrix,
    users: IntArray,
    clients: int,
    epsilon: float,
    delta: float,
    params: CollaborativeParams,
    rng: np.random.Generator,
) -> Aggregates:
    """Two weeks of ``clients`` devices: the first's popularity names the top M items, the
    second's co-occurrence counts their pairs (fresh devices, the same population).
    ``epsilon`` and ``delta`` are a week's, split between the tasks by :func:`task_budgets`."""
    (item_epsilon, item_delta), (pair_epsilon, pair_delta) = task_budgets(epsilon, delta, params)
    n_items = train.shape[1]
    m = min(params.items, n_items)
    counts = np.zeros(n_items, dtype=np.int64)
    for start in range(0, clients, CHUNK):
        devices = device_users(users, min(CHUNK, clients - start), rng)
        draws = popularity_draws(train, devices, params.item_weight, params.item_pad, rng)
        counts += total(draws, n_items)
    popularity = release(counts, clients, params.item_weight, item_epsilon, item_delta, rng)
    top = np.argsort(-popularity.counts, kind="stable")[:m].astype(np.int64)
    pairs = np.zeros(m * (m - 1) // 2, dtype=np.int64)
    candidates = PairCandidates.of(train, top)
    # A device with at most K pairs of slots reports all its pairs and draws nothing: its
    # users' contributions are added as they are, only the others draw (the same draws,
    # from the same random stream, as drawing for every device).
    padded = np.maximum(candidates.counts, params.pair_pad)
    whole = padded * (padded - 1) // 2 <= params.pair_weight
    fixed = candidates.all_pairs(np.intersect1d(np.flatnonzero(whole), users))
    for start in range(0, clients, CHUNK):
        devices = device_users(users, min(CHUNK, clients - start), rng)
        light = whole[devices]
        times = np.bincount(devices[light], minlength=train.shape[0])
        pairs += np.asarray(fixed.T @ times, dtype=np.int64)
        _places, entries = candidates.drawn(
            devices[~light], params.pair_weight, params.pair_pad, rng
        )
        pairs += np.bincount(entries, minlength=len(pairs))
    return Aggregates(
        popularity,
        top,
        release(pairs, clients, params.pair_weight, pair_epsilon, pair_delta, rng),
    )
