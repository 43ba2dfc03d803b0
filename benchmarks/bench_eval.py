"""``discreet eval``'s costly phases, as they were and as they are, in the same run.

On MovieLens latest-small (``../shared/data/ml-latest-small``, read in place),
the protocol's validation split:

* **one tuning candidate**: the engine ranks the 610 validation users with one
  set of weights, as ``tune_engine``, ``tune_private`` and ``tune_secure`` do
  for each candidate (about 70 ranking passes in a run). Before: a new
  ``Ranker`` per candidate, every user's profile built again, each ranking call
  setting its own BLAS limit, ``recommend`` reading the result items and their
  rows looked up by id again. Now: profiles built once per split, one ranker per
  catalog whose item lookups each candidate's ranker shares
  (``Ranker.with_weights``), and with it the profiles' states when the weights
  shape them alike (candidates 2 and 4 reuse candidate 1's: popularity,
  diversity and exploration do not enter a profile's state), rows straight
  from ``Ranker.recommend_rows``, one BLAS limit per pass. The ranked lists are
  compared: they must be identical.
* **one EASE fit** (λ = 300; ``discreet eval`` fits four: three λ on
  validation, one on test): before, Steck's closed form over the whole
  catalog, an inverse of items x items; now over the items someone trained on
  (the others' weights are zero) and, with fewer users than items, through the
  Woodbury identity from an inverse of users x users. ``max |Δ score|``
  compares every validation user's scores.
* **one secure-route simulation** (N = 10⁶ devices, ε = 1, M = 200, on the
  validation split; ``discreet eval`` runs about 15 at N = 10⁶ and as many at
  10⁵): ``simulate_aggregates`` with, before, the first version's repeated-slot
  rounds (every row sorted again each round, swapped in) and its pair
  numbering (a division); now, rounds after the first that look up only the
  new draws. The same seed: the released aggregates must be identical. Then
  the same again with freed memory kept for reuse
  (:func:`discreet.evaluation.heap.keep_freed_memory`, as the eval's processes
  do): no page faults for each new temporary array.

CPU seconds are the process's (BLAS threads included): other work on a shared
machine changes wall time more than CPU time.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from scipy.linalg import lapack

from _harness import table
from discreet.evaluation import simulation
from discreet.evaluation.data import convert_movielens, load_dataset
from discreet.evaluation.harness import _ranked, build_catalog, exact_popularity
from discreet.evaluation.heap import keep_freed_memory
from discreet.evaluation.protocol import Split, split_dataset
from discreet.evaluation.recommenders import EASERecommender, EngineRecommender
from discreet.profile.model import Event, EventKind, Profile, RetentionPolicy
from discreet.publish.collaborative import CollaborativeParams
from discreet.rank.ranker import Ranker
from discreet.rank.weights import RankingWeights

# The simulation as first written, kept once, beside the tests that pin the new one to it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.simulation_support import first_distinct, first_pair_entries

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-latest-small"
#: Candidates as tuning tries them: the defaults, then one weight changed at a time.
CANDIDATES = (
    {},
    {"popularity": 2.0},
    {"recent_half_life_events": 2.0},
    {"mmr_lambda": 1.0, "exploration_share": 0.0},
)


def _legacy_profile(split: Split, ids: tuple[str, ...], user: int) -> tuple[Profile, dt.date]:
    """A user's profile, built as the engine built it for every candidate."""
    history = split.history[user]
    days = [dt.datetime.fromtimestamp(t, dt.UTC).date() for _, t in history]
    today = max(days) if days else dt.date(2000, 1, 1)
    policy = RetentionPolicy(days=3650, max_events=max(5_000, len(history)))
    events = [Event(ids[r], EventKind.VIEW, d) for (r, _), d in zip(history, days, strict=True)]
    return Profile(created=min(days) if days else today, retention=policy, events=events), today


def _legacy_pass(catalog: Any, weights: RankingWeights, split: Split) -> dict[int, Any]:
    """One candidate's ranking pass as it was: a new ranker, profiles rebuilt, items read."""
    ranker, ids = Ranker(catalog, weights), catalog.ids
    ranked = {}
    for user in split.users.tolist():
        profile, today = _legacy_profile(split, ids, user)
        results = ranker.recommend(profile, 20, today=today, explain=False)
        ranked[user] = np.asarray([catalog.index_of(r.item_id) for r in results], dtype=np.int64)
    return ranked


def _legacy_ease_scores(split: Split, lam: float) -> Callable[[int], np.ndarray[Any, Any]]:
    """EASE as it was fitted: over the whole catalog."""
    x = split.train.astype(np.float64)
    gram = (x.T @ x).toarray()
    gram[np.diag_indices_from(gram)] += lam
    factor, _ = lapack.dpotrf(gram, lower=False, overwrite_a=True)
    upper, _ = lapack.dpotri(factor, lower=False, overwrite_c=True)
    inverse = np.triu(upper) + np.triu(upper, 1).T
    weights = -inverse / np.diag(inverse)
    np.fill_diagonal(weights, 0.0)

    def scores(user: int) -> np.ndarray[Any, Any]:
        score = np.asarray(split.train[user] @ weights, dtype=np.float64).ravel()
        score[split.train[user].indices] = -np.inf
        return score

    return scores


def _simulated(split: Split, clients: int) -> simulation.Aggregates:
    params = dataclasses.replace(CollaborativeParams(), items=200)
    return simulation.simulate_aggregates(
        split.train, split.users, clients, 1.0, 1e-6, params, np.random.default_rng(0)
    )


def _legacy_simulated(split: Split, clients: int) -> simulation.Aggregates:
    with (
        mock.patch.object(simulation, "_distinct", first_distinct),
        mock.patch.object(simulation, "pair_entries", first_pair_entries),
    ):
        return _simulated(split, clients)


def _timed(action: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def rows(quick: bool, source: Path = SOURCE) -> list[dict[str, Any]]:
    measured: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        dataset = load_dataset(*convert_movielens(source, folder / "data"))
        validation, _ = split_dataset(dataset)
        catalog = build_catalog(
            dataset, folder / "validation", exact_popularity(dataset, validation), 64
        )
        for i, change in enumerate(CANDIDATES[: 2 if quick else None]):
            weights = dataclasses.replace(RankingWeights(), **change)
            before, before_cpu, before_wall = _timed(
                lambda w=weights: _legacy_pass(catalog, w, validation)
            )
            engine = EngineRecommender(catalog, weights)
            after, after_cpu, after_wall = _timed(
                lambda e=engine: _ranked(e.fit(validation), validation)
            )
            same = all(np.array_equal(before[u], after[u]) for u in before)
            measured.append(
                {
                    "phase": f"candidate {i + 1}: {change or 'defaults'}",
                    "before_cpu_s": before_cpu,
                    "after_cpu_s": after_cpu,
                    "before_wall_s": before_wall,
                    "after_wall_s": after_wall,
                    "speed-up (CPU)": before_cpu / after_cpu,
                    "same": "identical lists" if same else "DIFFERENT",
                }
            )
        if not quick:
            users = validation.users.tolist()
            old, before_cpu, before_wall = _timed(lambda: _legacy_ease_scores(validation, 300.0))
            new, after_cpu, after_wall = _timed(lambda: EASERecommender(300.0).fit(validation))
            differences = []
            for u in users:
                a, b = old(u), new.scores(u)
                if not np.array_equal(np.isinf(a), np.isinf(b)):
                    differences.append(np.inf)
                differences.append(float(np.abs(a[np.isfinite(a)] - b[np.isfinite(b)]).max()))
            measured.append(
                {
                    "phase": "EASE fit, λ=300",
                    "before_cpu_s": before_cpu,
                    "after_cpu_s": after_cpu,
                    "before_wall_s": before_wall,
                    "after_wall_s": after_wall,
                    "speed-up (CPU)": before_cpu / after_cpu,
                    "same": f"max |Δ score| {max(differences):.1e}",
                }
            )
        clients = 100_000 if quick else 1_000_000
        old, before_cpu, before_wall = _timed(lambda: _legacy_simulated(validation, clients))
        new, after_cpu, after_wall = _timed(lambda: _simulated(validation, clients))
        same = all(
            np.array_equal(a, b)
            for a, b in [
                (old.popularity.counts, new.popularity.counts),
                (old.top, new.top),
                (old.pairs.counts, new.pairs.counts),
            ]
        )
        measured.append(
            {
                "phase": f"secure route simulation, N={clients:,}",
                "before_cpu_s": before_cpu,
                "after_cpu_s": after_cpu,
                "before_wall_s": before_wall,
                "after_wall_s": after_wall,
                "speed-up (CPU)": before_cpu / after_cpu,
                "same": "identical aggregates" if same else "DIFFERENT",
            }
        )
        # Last: it stays set in this process.
        kept = keep_freed_memory()
        again, kept_cpu, kept_wall = _timed(lambda: _simulated(validation, clients))
        same = np.array_equal(again.pairs.counts, new.pairs.counts)
        measured.append(
            {
                "phase": "the same, freed memory kept" if kept else "(freed memory not kept)",
                "before_cpu_s": after_cpu,
                "after_cpu_s": kept_cpu,
                "before_wall_s": after_wall,
                "after_wall_s": kept_wall,
                "speed-up (CPU)": after_cpu / kept_cpu,
                "same": "identical aggregates" if same else "DIFFERENT",
            }
        )
    return measured


def main(quick: bool = False, as_json: bool = False) -> str:
    if not SOURCE.is_dir() and not os.environ.get("DISCREET_REQUIRE_SHARED_DATA"):
        return f"bench_eval: {SOURCE} not found, skipped"
    measured = rows(quick)
    if as_json:
        return json.dumps({"benchmark": "bench_eval", "rows": measured}, indent=1)
    return table(
        "discreet eval on MovieLens latest-small (validation, 610 users): before vs now",
        measured,
        [
            "phase",
            "before_cpu_s",
            "after_cpu_s",
            "before_wall_s",
            "after_wall_s",
            "speed-up (CPU)",
            "same",
        ],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    print(main(options.quick, as_json=options.json))
