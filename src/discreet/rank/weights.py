"""The ranking's tunable weights: one frozen, JSON-serialisable object.

The defaults are product defaults for a catalog with little popularity signal:
some diversity and exploration, a moderate prior, and interest that follows
about the last ten events. ``discreet eval`` tunes them per dataset on a
validation split, never on the test split. On MovieLens latest-small,
validation chose popularity=2.0, popularity_exponent=1.0,
half_life_days=3650, recent_half_life_events=2, mmr_lambda=0.9 and
exploration_share=0.1. With popularity that informative it pays to lean on
it, and the next film a person watches is most like the last two or three.
A half-life of 2 events would make a general-purpose default jumpy, so the
default is 10.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_KIND_WEIGHTS: Mapping[str, float] = {
    "view": 1.0,
    "click": 1.0,
    "like": 2.0,
    "purchase": 2.0,
    "dislike": -1.5,
    "dismiss": -0.5,
}


@dataclass(frozen=True)
class RankingWeights:
    """How events, popularity, freshness and diversity combine into a ranking."""

    kind_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_KIND_WEIGHTS))
    half_life_days: float = 365.0  # interest in an event halves after this long
    #: ... and also halves for every this many newer events (None: order does not matter)
    recent_half_life_events: float | None = 10.0
    popularity: float = 0.5  # weight of the popularity prior (log-scaled to [0, 1])
    popularity_exponent: float = 1.0  # prior ** exponent before scaling: <1 flattens it
    freshness: float = 0.0  # weight of newness
    #: weight of the collaborative term (scaled to [0, 1] per profile), when the catalog has one
    collaborative: float = 1.0
    freshness_half_life_days: float = 365.0
    mmr_lambda: float = 0.9  # 1.0 = no diversity re-ranking
    exploration_share: float = 0.1  # share of slots from outside the top categories
    pool: int = 100  # candidates considered by the diversity re-ranking

    def __post_init__(self) -> None:
        values = [self.half_life_days, self.freshness_half_life_days]
        if self.recent_half_life_events is not None:
            values.append(self.recent_half_life_events)
        if any(not math.isfinite(v) or v <= 0 for v in values):
            raise ValueError("half-lives must be positive")
        if not 0.0 <= self.mmr_lambda <= 1.0 or not 0.0 <= self.exploration_share <= 0.5:
            raise ValueError("mmr_lambda is in [0, 1] and exploration_share in [0, 0.5]")
        if self.pool < 1 or self.popularity_exponent <= 0:
            raise ValueError("pool must be positive and popularity_exponent > 0")
