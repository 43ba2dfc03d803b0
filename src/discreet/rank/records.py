"""The ranker's records: what a caller asks for, what it gets, and what a profile implies."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from discreet.rank.explanation import Reason

FloatArray = np.ndarray[Any, np.dtype[np.float32]]


@dataclass(frozen=True)
class Filters:
    """What a caller restricts results to."""

    categories: tuple[str, ...] = ()
    language: str | None = None
    created_after: dt.date | None = None
    created_before: dt.date | None = None


@dataclass(frozen=True)
class Recommendation:
    """One result."""

    item_id: str
    title: str
    score: float
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "item": self.item_id,
            "title": self.title,
            "score": round(self.score, 6),
            "reasons": [r.to_json() for r in self.reasons],
        }


@dataclass(frozen=True)
class Interest:
    """What the profile says about one category."""

    category: str
    label: str
    weight: float
    muted: bool
    sensitive: bool
    #: The user opted in to this sensitive category (or to one it is under).
    opted_in: bool = False


@dataclass(frozen=True)
class Profiled:
    vector: FloatArray | None  # unit interest vector, None on cold start
    rows: np.ndarray[Any, np.dtype[np.int64]]  # history rows contributing
    weights: np.ndarray[Any, np.dtype[np.float64]]  # their weights
    seen: np.ndarray[Any, np.dtype[np.int64]]  # rows to exclude
    blocked_categories: tuple[str, ...]
    top_categories: tuple[str, ...]
    today: dt.date
    #: The collaborative term of every row, scaled to [0, 1] (None: no target or no history).
    collaborative: FloatArray | None = None
    #: What later calls derive from this profile, kept with it (see Ranker.profiled).
    memo: dict[Any, Any] = field(default_factory=dict)

    def exploration_picks(self, population: int, size: int) -> list[int]:
        """``size`` of ``range(population)``: the same all day for the same history."""
        key = ("picks", population, size)
        if key not in self.memo:
            # No identifier is involved: the seed is the day and the items engaged with.
            text = self.today.isoformat() + "|" + ",".join(map(str, self.seen.tolist()))
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            chosen = np.random.default_rng(seed).choice(population, size=size, replace=False)
            self.memo[key] = [int(i) for i in chosen]
        picks: list[int] = self.memo[key]
        return picks
