"""The ranker's outputs on a seeded catalog, pinned before the ranker was vectorised.

``tests/data/ranker_pinned.json`` holds what the loop-based ranker (before
issue 15) returned for a set of profiles, weights and filters on the seeded
catalog of ``tests/synthetic_catalog.py``: results, scores, reasons,
explanations and interests. Every faster path since (vectorised profile and
reasons, the int8 first pass) must return the same. Regenerate only on
purpose, when the ranking itself is meant to change:
``python tests/test_rank_pinned.py`` (from the repository's root).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from discreet.catalog.reader import Catalog
from discreet.profile.model import Profile, RetentionPolicy
from discreet.rank.explanation import Explanation
from discreet.rank.ranker import Ranker
from discreet.rank.records import Filters
from discreet.rank.weights import RankingWeights

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_catalog import write_release

PINNED = Path(__file__).resolve().parent / "data" / "ranker_pinned.json"
TODAY = dt.date(2026, 11, 29)
KINDS = ("view", "view", "click", "like", "like", "purchase", "dislike", "dismiss")


def _profile(catalog: Catalog, seed: int, events: int) -> Profile:
    rng = np.random.default_rng(seed)
    profile = Profile.new(TODAY, RetentionPolicy(days=3650, max_events=5000))
    # Histories lean on a few categories, as real ones do.
    favourites = catalog.features.rows_in([f"c0{int(i)}" for i in rng.integers(0, 10, 2)])
    for _ in range(events):
        pool = favourites if rng.random() < 0.7 else np.arange(len(catalog))
        row = int(pool[rng.integers(0, len(pool))])
        day = TODAY - dt.timedelta(days=int(rng.integers(0, 900)))
        profile.record(catalog.item_at(row).id, KINDS[int(rng.integers(0, len(KINDS)))], day)
    profile.record("gone-from-the-catalog", "like", TODAY)
    profile.events.sort(key=lambda e: e.day)
    return profile


def _cases(catalog: Catalog) -> dict[str, tuple[RankingWeights, Profile, dict[str, Any]]]:
    default = RankingWeights()
    tuned = RankingWeights(
        popularity=2.0, half_life_days=3650, recent_half_life_events=2, mmr_lambda=0.9
    )
    muted = _profile(catalog, 3, 60)
    muted.muted.add("c01")
    opted = _profile(catalog, 4, 40)
    opted.sensitive_opt_in.add("health")
    return {
        "cold start": (default, Profile.new(TODAY), {"k": 10}),
        "cold start, spanish": (default, Profile.new(TODAY), {"k": 5, "language": "es"}),
        "short history": (default, _profile(catalog, 1, 3), {"k": 10}),
        "long history": (default, _profile(catalog, 2, 400), {"k": 10}),
        "long history, k=30": (default, _profile(catalog, 2, 400), {"k": 30}),
        "tuned weights": (tuned, _profile(catalog, 5, 120), {"k": 10}),
        "explore a lot": (
            RankingWeights(exploration_share=0.5, mmr_lambda=0.6, pool=40),
            _profile(catalog, 6, 80),
            {"k": 12},
        ),
        "no diversity": (default, _profile(catalog, 7, 80), {"k": 10, "diversity": 1.0}),
        "order does not matter": (
            RankingWeights(recent_half_life_events=None, freshness=0.3),
            _profile(catalog, 8, 80),
            {"k": 10},
        ),
        "muted": (default, muted, {"k": 10}),
        "sensitive opted in": (default, opted, {"k": 10, "category": "health"}),
        "filtered": (
            default,
            _profile(catalog, 9, 80),
            {"k": 8, "language": "pt-br", "after": dt.date(2023, 1, 1)},
        ),
        "before a date": (
            default,
            _profile(catalog, 10, 50),
            {"k": 8, "before": dt.date(2022, 6, 1)},
        ),
    }


def _reasons(reasons: Any) -> list[Any]:
    return [[r.kind, r.text, list(r.items)] for r in reasons]


def _explanation(e: Explanation) -> list[Any]:
    return [e.item_id, e.score, e.components.to_json(), e.rank, e.excluded, _reasons(e.reasons)]


def outputs(catalog: Catalog, first_pass_min_items: int = 0) -> dict[str, Any]:
    """Everything the ranker says, per case, as plain JSON."""
    out: dict[str, Any] = {}
    for name, (weights, profile, options) in _cases(catalog).items():
        ranker = Ranker(catalog, weights, first_pass_min_items=first_pass_min_items)
        filters = Filters(
            (options["category"],) if "category" in options else (),
            options.get("language"),
            options.get("after"),
            options.get("before"),
        )
        results = ranker.recommend(
            profile, options["k"], today=TODAY, filters=filters, diversity=options.get("diversity")
        )
        history = [e.item for e in profile.events[:1]]
        probes = [r.item_id for r in results[:2]] + history + ["s-00007"]
        explained = [ranker.explain(profile, i, today=TODAY) for i in probes if i in catalog]
        out[name] = {
            "results": [[r.item_id, r.score, _reasons(r.reasons)] for r in results],
            "explain": [_explanation(e) for e in explained],
            "interests": [
                [i.category, i.weight, i.muted, i.sensitive]
                for i in ranker.interests(profile, TODAY)
            ],
        }
    return out


def _same(actual: Any, expected: Any, where: str) -> None:
    if isinstance(expected, float):
        assert isinstance(actual, float), where
        assert math.isclose(actual, expected, rel_tol=1e-5, abs_tol=1e-6), where
    elif isinstance(expected, list):
        assert isinstance(actual, list), where
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _same(a, e, f"{where}[{i}]")
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert actual.keys() == expected.keys(), where
        for key in expected:
            _same(actual[key], expected[key], f"{where}.{key}")
    else:
        assert actual == expected, where


@pytest.fixture(scope="module", params=["int8 first pass", "float32 only (older release)"])
def catalog(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    quantised = request.param == "int8 first pass"
    catalog = write_release(tmp_path_factory.mktemp("pinned") / "release", quantised=quantised)
    assert (catalog.quantised is not None) == quantised
    return catalog


def test_the_ranker_returns_the_pinned_outputs(catalog: Catalog) -> None:
    """With the int8 first pass forced on (any size), or with float32 alone."""
    expected = json.loads(PINNED.read_text(encoding="utf-8"))
    actual = json.loads(json.dumps(outputs(catalog, first_pass_min_items=0)))
    assert len(expected) == 13
    assert all(case["results"] for case in expected.values())
    _same(actual, expected, "outputs")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        pinned = outputs(write_release(Path(tmp) / "release", quantised=False))
    PINNED.write_text(json.dumps(pinned, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {PINNED}")
