"""What the ranker says about an item: reasons for a result, and a full explanation.

These are the records an app shows a user who asks "why this?", and the
documented JSON that ``discreet recommend --json`` and ``discreet explain
--json`` print.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reason:
    """Why an item is where it is, in a form an app can show."""

    #: "because-you" | "collaborative" | "category" | "popular" | "new" | "exploration"
    #: | "starter"
    kind: str
    text: str
    #: The history items behind a "because-you" or "collaborative" reason.
    items: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {"kind": self.kind, "text": self.text, "items": list(self.items)}


@dataclass(frozen=True)
class ScoreComponents:
    """The parts an item's score is the sum of."""

    #: Cosine similarity to the profile's interest vector (0 on cold start).
    similarity: float
    #: The weighted popularity prior (on cold start, the unweighted prior is the score).
    popularity: float
    #: The freshness bonus for recently created items (0 when freshness is off).
    freshness: float
    #: The weighted collaborative term ("people who liked your items also liked this");
    #: ``None`` when the catalog has no collaborative target.
    collaborative: float | None = None

    def to_json(self) -> dict[str, float]:
        """As JSON (``collaborative`` only when the catalog has the target)."""
        parts = {
            "similarity": self.similarity,
            "popularity": self.popularity,
            "freshness": self.freshness,
        }
        if self.collaborative is not None:
            parts["collaborative"] = self.collaborative
        return parts


@dataclass(frozen=True)
class Explanation:
    """Why one item ranks where it does, or why it is left out.

    >>> why = engine.explain("lb-0042")  # doctest: +SKIP
    >>> why.rank if why.excluded is None else why.excluded  # doctest: +SKIP
    3
    """

    item_id: str
    title: str
    #: The item's score before masks and diversity.
    score: float
    components: ScoreComponents
    #: Its position among every item that may be shown (1 is first); ``None`` when excluded.
    rank: int | None
    #: Why it is never shown, in words; ``None`` when it may be.
    excluded: str | None
    reasons: tuple[Reason, ...]

    def to_json(self) -> dict[str, Any]:
        """The documented JSON of ``discreet explain --json``."""
        return {
            "item": self.item_id,
            "title": self.title,
            "score": self.score,
            "components": self.components.to_json(),
            "rank": self.rank,
            "excluded": self.excluded,
            "reasons": [r.to_json() for r in self.reasons],
        }
