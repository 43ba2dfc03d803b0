"""The evaluation protocol and its metrics.

* implicit feedback: every interaction is a positive;
* users with fewer than 5 interactions are dropped;
* per user, the last 20% of interactions in time (ties broken by item) are the test set;
* the last 20% of each user's training interactions form the validation set,
  on which everything is tuned; the test set is touched once, at the end;
* every catalog item not in the user's training set is a candidate.

Metrics: NDCG@10 (binary gains), Recall@20, HR@10 and catalog coverage@10,
and two bias figures over the top 10s: the share of slots given to long-tail
items (outside the short head: the most popular training items that together
hold :data:`HEAD_SHARE` of the training interactions, as in Abdollahpouri et
al. 2019) and the Gini coefficient of exposure over the whole catalog (0:
every item shown equally often; 1: one item shown to everyone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from discreet.evaluation.data import Dataset

IntArray = np.ndarray[Any, np.dtype[np.int64]]
#: The short head holds this share of the training interactions; the rest is the long tail.
HEAD_SHARE = 0.2


@dataclass(frozen=True)
class Split:
    """Training interactions (as a user x item matrix and in time order) and held-out sets."""

    train: sp.csr_matrix
    history: list[list[tuple[int, int]]]  # per user: (row, timestamp) in time order
    heldout: list[IntArray]  # per user: held-out item rows
    n_items: int
    #: What rankers derive from the split and share, kept with it (the engine's profiles).
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def users(self) -> IntArray:
        """Users with something held out."""
        return np.asarray([u for u, h in enumerate(self.heldout) if len(h)], dtype=np.int64)


def _per_user(dataset: Dataset, min_interactions: int) -> list[list[tuple[int, int]]]:
    order = np.lexsort((dataset.rows, dataset.timestamps, dataset.users))
    users, rows, stamps = dataset.users[order], dataset.rows[order], dataset.timestamps[order]
    boundaries = np.flatnonzero(np.diff(users)) + 1
    groups = []
    for user_rows, user_stamps in zip(
        np.split(rows, boundaries), np.split(stamps, boundaries), strict=True
    ):
        seen: dict[int, int] = {}
        for r, t in zip(user_rows.tolist(), user_stamps.tolist(), strict=True):
            seen.setdefault(r, t)  # the first interaction with an item counts
        history = sorted(seen.items(), key=lambda rt: (rt[1], rt[0]))
        if len(history) >= min_interactions:
            groups.append(history)
    return groups


def _split(histories: list[list[tuple[int, int]]], fraction: float, n_items: int) -> Split:
    train_lists, heldout = [], []
    for history in histories:
        cut = len(history) - max(1, round(fraction * len(history)))
        train_lists.append(history[:cut])
        heldout.append(np.asarray([r for r, _ in history[cut:]], dtype=np.int64))
    indptr = np.cumsum([0] + [len(t) for t in train_lists])
    indices = np.asarray([r for t in train_lists for r, _ in t], dtype=np.int64)
    train = sp.csr_matrix(
        (np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(len(histories), n_items)
    )
    return Split(train, train_lists, heldout, n_items)


def split_dataset(
    dataset: Dataset, *, min_interactions: int = 5, test_fraction: float = 0.2
) -> tuple[Split, Split]:
    """``(validation_split, test_split)``: tune on the first, report on the second."""
    histories = _per_user(dataset, min_interactions)
    test = _split(histories, test_fraction, dataset.n_items)
    validation = _split(test.history, test_fraction, dataset.n_items)
    return validation, test


@dataclass(frozen=True)
class Metrics:
    """Averages over evaluated users."""

    ndcg10: float
    recall20: float
    hr10: float
    coverage10: float
    #: The share of top-10 slots given to long-tail items.
    long_tail10: float
    #: The Gini coefficient of how often each catalog item is in a top 10.
    gini10: float

    def to_json(self) -> dict[str, float]:
        """As JSON."""
        return {
            "ndcg@10": self.ndcg10,
            "recall@20": self.recall20,
            "hr@10": self.hr10,
            "coverage@10": self.coverage10,
            "long_tail@10": self.long_tail10,
            "gini@10": self.gini10,
        }


def short_head(split: Split) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Which items are in the short head: the most popular in training that together hold
    :data:`HEAD_SHARE` of its interactions (ties by row)."""
    counts = np.asarray(split.train.sum(axis=0), dtype=np.float64).ravel()
    order = np.argsort(-counts, kind="stable")
    before = np.cumsum(counts[order]) - counts[order]
    head = np.zeros(len(counts), dtype=bool)
    head[order[before < HEAD_SHARE * counts.sum()]] = True
    return head


def gini(values: np.ndarray[Any, Any]) -> float:
    """The Gini coefficient of non-negative ``values`` (0 when all are equal or all zero).

    >>> gini(np.array([1, 1, 1, 1])), gini(np.array([0, 0, 0, 4]))
    (0.0, 0.75)
    """
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    n, whole = len(ordered), ordered.sum()
    if n == 0 or whole == 0:
        return 0.0
    return float((2 * np.arange(1, n + 1) - n - 1) @ ordered / (n * whole))


_DISCOUNT = 1.0 / np.log2(np.arange(2, 22))


def evaluate_lists(ranked: dict[int, IntArray], split: Split) -> Metrics:
    """Metrics of per-user ranked lists (at least 20 long where the catalog allows)."""
    ndcg, recall, hits = [], [], []
    exposure = np.zeros(split.n_items, dtype=np.int64)
    for user, items in ranked.items():
        relevant = split.heldout[user]
        if not len(relevant):
            continue
        top = np.asarray(items[:20])
        gains = np.isin(top, relevant).astype(np.float64)
        ideal = _DISCOUNT[: min(10, len(relevant))].sum()
        ndcg.append(float((gains[:10] * _DISCOUNT[: len(gains[:10])]).sum() / ideal))
        recall.append(float(gains.sum() / len(relevant)))
        hits.append(float(gains[:10].any()))
        np.add.at(exposure, top[:10], 1)
    slots = exposure.sum()
    return Metrics(
        float(np.mean(ndcg)),
        float(np.mean(recall)),
        float(np.mean(hits)),
        float((exposure > 0).sum()) / split.n_items,
        float(exposure[~short_head(split)].sum() / slots) if slots else 0.0,
        gini(exposure),
    )
