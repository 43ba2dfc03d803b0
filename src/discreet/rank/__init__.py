"""On-device ranking: scoring, diversity, exploration and explanations."""

from discreet.rank.ranker import Filters, Interest, Ranker, Reason, Recommendation
from discreet.rank.weights import RankingWeights

__all__ = ["Filters", "Interest", "Ranker", "RankingWeights", "Reason", "Recommendation"]
