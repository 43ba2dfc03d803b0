"""Offline evaluation: datasets, the protocol, baselines and the engine, compared in one run."""

from discreet.evaluation.data import Dataset, convert_movielens, load_dataset
from discreet.evaluation.harness import EvalConfig, Row, format_table, run_evaluation
from discreet.evaluation.protocol import Metrics, Split, evaluate_lists, split_dataset
from discreet.evaluation.recommenders import (
    EASERecommender,
    EngineRecommender,
    ItemKNNRecommender,
    MostPopRecommender,
    RandomRecommender,
    Recommender,
)

__all__ = [
    "Dataset",
    "EASERecommender",
    "EngineRecommender",
    "EvalConfig",
    "ItemKNNRecommender",
    "Metrics",
    "MostPopRecommender",
    "RandomRecommender",
    "Recommender",
    "Row",
    "Split",
    "convert_movielens",
    "evaluate_lists",
    "format_table",
    "load_dataset",
    "run_evaluation",
    "split_dataset",
]
