"""One contract for every ranker the harness compares: the engine and the baselines.

``fit(split)`` learns from the training interactions and returns ``self``;
``recommend(user, k)`` returns up to ``k`` item rows, best first, never one the
user trained on. Randomness comes from an injected seed. The baselines
(Random, MostPop, ItemKNN, EASE) are centralized references: they see every
user's history, which discreet never collects.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from discreet.catalog.reader import Catalog
from discreet.evaluation.protocol import Split
from discreet.profile.model import Event, EventKind, Profile, RetentionPolicy
from discreet.rank.ranker import Ranker
from discreet.rank.select import best_first, largest_per_column
from discreet.rank.weights import RankingWeights

IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]


class Recommender(ABC):
    """The contract."""

    name: str

    @abstractmethod
    def fit(self, split: Split) -> Recommender:
        """Learn from ``split.train``; return ``self``."""

    @abstractmethod
    def scores(self, user: int) -> FloatArray:
        """A score for every item (higher is better); trained-on items are ``-inf``."""

    def recommend(self, user: int, k: int) -> IntArray:
        """Up to ``k`` rows, best first, excluding what the user trained on."""
        score = self.scores(user)
        candidates = np.flatnonzero(np.isfinite(score))
        k = min(k, len(candidates))
        if k == 0:
            return np.zeros(0, dtype=np.int64)
        return candidates[best_first(score[candidates], k)]


def _exclude(score: FloatArray, train: sp.csr_matrix, user: int) -> FloatArray:
    score[train.indices[train.indptr[user] : train.indptr[user + 1]]] = -np.inf
    return score


class RandomRecommender(Recommender):
    """Uniformly random order (seeded)."""

    name = "Random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, split: Split) -> RandomRecommender:
        self.train_ = split.train
        return self

    def scores(self, user: int) -> FloatArray:
        rng = np.random.default_rng([self.seed, user])
        return _exclude(rng.random(self.train_.shape[1]), self.train_, user)


class MostPopRecommender(Recommender):
    """Items by how many users interacted with them in training."""

    name = "MostPop"

    def fit(self, split: Split) -> MostPopRecommender:
        self.train_ = split.train
        self.popularity_ = np.asarray(split.train.sum(axis=0), dtype=np.float64).ravel()
        return self

    def scores(self, user: int) -> FloatArray:
        return _exclude(self.popularity_.copy(), self.train_, user)


class ItemKNNRecommender(Recommender):
    """Item-based nearest neighbours: cosine similarity, ``neighbours`` per item."""

    name = "ItemKNN"

    def __init__(self, neighbours: int = 100) -> None:
        self.neighbours = neighbours

    def fit(self, split: Split) -> ItemKNNRecommender:
        x = split.train.astype(np.float32)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
        norms[norms == 0] = 1.0
        normalised = x @ sp.diags(1.0 / norms)
        similarity = (normalised.T @ normalised).toarray()
        np.fill_diagonal(similarity, 0.0)
        keep = min(self.neighbours, similarity.shape[0] - 1)
        if keep > 0:
            similarity[~largest_per_column(similarity, keep)] = 0.0
        self.train_ = split.train
        self.similarity_ = sp.csr_matrix(similarity)
        return self

    def scores(self, user: int) -> FloatArray:
        row = self.train_[user]
        score = np.asarray((row @ self.similarity_).todense(), dtype=np.float64).ravel()
        return _exclude(score, self.train_, user)


def _inverse_spd(matrix: np.ndarray[Any, Any]) -> FloatArray:
    """The inverse of a symmetric positive definite ``matrix`` (overwritten), through its
    Cholesky factor: half the work of a general inverse."""
    # Symmetric, so its transpose is the Fortran-ordered array LAPACK works on in
    # place, without a copy; LAPACK fills the upper triangle.
    factor, info = lapack.dpotrf(matrix.T, lower=False, overwrite_a=True)
    upper, info_inverse = lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info or info_inverse:  # pragma: no cover - λ > 0 keeps it definite
        raise ArithmeticError("the regularised Gram matrix is not positive definite")
    inverse: FloatArray = np.triu(upper)
    del upper, factor  # one n x n array at a time: n may be in the tens of thousands
    inverse += np.triu(inverse, 1).T
    return inverse


class EASERecommender(Recommender):
    """EASE (Steck 2019): a closed-form item-item model with L2 strength ``lam``.

    With ``P = (XᵀX + λI)⁻¹``, the weights are ``B = I - P diag(P)⁻¹`` and a
    user's scores ``x B``; for an item not in the history that is ``-(x P)ⱼ / Pⱼⱼ``.
    Items no one trained on have a zero row and column in the Gram matrix, so
    their weights are zero: the model is fitted on the trained items alone and
    the others score 0, as they would. With fewer users than trained items
    (MovieLens: 610 and 8,000), the Woodbury identity gives the same model from
    the users' Gram matrix: ``xᵤP = (KX)ᵤ`` and ``Pⱼⱼ = (1 - xⱼᵀ K xⱼ) / λ``
    with ``K = (XXᵀ + λI)⁻¹``, so an inverse of users x users replaces one of
    items x items, and B is never formed.
    """

    name = "EASE"

    def __init__(self, lam: float = 500.0) -> None:
        self.lam = lam

    def fit(self, split: Split) -> EASERecommender:
        trained = np.flatnonzero(np.diff(split.train.tocsc().indptr))
        self.trained_, self.train_ = trained, split.train
        self.weights_: FloatArray | None = None
        self.user_terms_: FloatArray | None = None
        if not len(trained):  # nothing to learn from: every item scores 0
            return self
        x = split.train[:, trained].astype(np.float64)
        if x.shape[0] < x.shape[1]:  # fewer users than items: the users' Gram matrix
            gram = (x @ x.T).toarray()
            gram[np.diag_indices_from(gram)] += self.lam
            kx = np.ascontiguousarray((x.T @ _inverse_spd(gram)).T)
            self.diagonal_ = (1.0 - np.asarray(x.multiply(kx).sum(axis=0)).ravel()) / self.lam
            self.user_terms_ = kx  # row u: x_u P
            return self
        gram = (x.T @ x).toarray()
        gram[np.diag_indices_from(gram)] += self.lam
        weights = _inverse_spd(gram)
        weights /= -np.diag(weights).copy()
        np.fill_diagonal(weights, 0.0)
        self.weights_ = weights
        return self

    def scores(self, user: int) -> FloatArray:
        score = np.zeros(self.train_.shape[1], dtype=np.float64)
        if self.user_terms_ is not None:
            score[self.trained_] = -self.user_terms_[user] / self.diagonal_
        elif self.weights_ is not None:
            row = self.train_[user][:, self.trained_]
            score[self.trained_] = np.asarray(row @ self.weights_, dtype=np.float64).ravel()
        return _exclude(score, self.train_, user)


class EngineRecommender(Recommender):
    """discreet itself: the real catalog, a real profile per user, ``Ranker.recommend``.

    Each user's training history becomes a :class:`Profile` of ``view`` events
    on their days; ``today`` is the day of the user's last training event.
    Engines fitted on the same split share what does not depend on their
    weights (tuning fits dozens): the profiles, built once, and per catalog a
    ranker whose item lookups each engine's ranker shares
    (:meth:`Ranker.with_weights`).
    """

    name = "discreet engine"

    def __init__(self, catalog: Catalog, weights: RankingWeights | None = None) -> None:
        self.catalog = catalog
        self.weights = weights or RankingWeights()

    def fit(self, split: Split) -> EngineRecommender:
        # Keyed by identity; the ranker holds its catalog, so the id is not reused meanwhile.
        key = ("engine ranker", id(self.catalog))
        shared = split.memo.get(key)
        if shared is None or shared.catalog is not self.catalog:
            # One catalog's ranker at a time: engines are fitted catalog after catalog, and
            # an earlier catalog's ranker (memory maps, caches) would be kept to the end.
            for stale in [k for k in split.memo if k[0] == "engine ranker"]:
                del split.memo[stale]
            shared = split.memo[key] = Ranker(self.catalog, self.weights)
        self.ranker_ = shared.with_weights(self.weights)
        self.split_ = split
        self.ids_ = self.catalog.ids
        self.profiles_: dict[int, tuple[Profile, dt.date]] = split.memo.setdefault(
            ("engine profiles", self.ids_), {}
        )
        return self

    def profile(self, user: int) -> tuple[Profile, dt.date]:
        """The user's training history as a profile, and the day it ends."""
        built = self.profiles_.get(user)
        if built is None:
            built = self.profiles_[user] = self._build_profile(user)
        return built

    def _build_profile(self, user: int) -> tuple[Profile, dt.date]:
        history = self.split_.history[user]
        days = [dt.datetime.fromtimestamp(t, dt.UTC).date() for _, t in history]
        today = max(days) if days else dt.date(2000, 1, 1)
        policy = RetentionPolicy(days=3650, max_events=max(5_000, len(history)))
        profile = Profile(
            created=min(days) if days else today,
            retention=policy,
            events=[
                Event(self.ids_[r], EventKind.VIEW, d)
                for (r, _), d in zip(history, days, strict=True)
            ],
        )
        return profile, today

    def scores(self, user: int) -> FloatArray:
        profile, today = self.profile(user)
        profiled = self.ranker_.profiled(profile, today)
        score = np.asarray(self.ranker_.scores(profiled, today), dtype=np.float64)
        return _exclude(score, self.split_.train, user)

    def recommend(self, user: int, k: int) -> IntArray:
        profile, today = self.profile(user)
        return self.ranker_.recommend_rows(profile, k, today=today)
