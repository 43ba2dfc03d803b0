"""On-device ranking: scoring, diversity, exploration and explanations."""

from discreet.rank.explanation import Explanation, Reason, ScoreComponents
from discreet.rank.ranker import Ranker
from discreet.rank.records import Filters, Interest, Recommendation
from discreet.rank.weights import RankingWeights

__all__ = [
    "Explanation",
    "Filters",
    "Interest",
    "Ranker",
    "RankingWeights",
    "Reason",
    "Recommendation",
    "ScoreComponents",
]
