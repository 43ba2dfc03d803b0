"""On-device ranking: numpy over the memory-mapped catalog, with a reason for every result.

``score = similarity(interest, item) + w_pop * popularity + w_fresh * freshness
+ w_collab * collaborative``

The interest vector is the weighted sum of the embeddings of the items in the
profile: each event counts by its kind (dislikes and dismissals count
negatively), halves in weight every ``half_life_days`` and, if set, halves
again for every ``recent_half_life_events`` newer events, so that what the
user does now counts most. Items already engaged with, items in muted
categories and items in sensitive categories the user has not opted in to
are excluded. Filters (category, language, date) are masks. A
maximal-marginal-relevance pass over the best candidates adds diversity, and
a share of slots goes to items from outside the user's top categories
(deterministic within a day). With no usable history the ranking is
popularity with diversity.

When the catalog carries the collaborative target (neighbour lists learnt
from the devices' private co-occurrence aggregate,
:mod:`discreet.catalog.collaborative`), each history item in it speaks for
its neighbours with its list's weights, times the event's kind and age (not
its place in the sequence: co-occurrence counts a history's items alike); the
sum, scaled so that the profile's largest is 1, is the collaborative term.

On a large catalog that carries int8 rows, candidates come from an int8
first pass (:mod:`discreet.rank.first_pass`) and are scored again exactly;
results are always ordered by exact scores. With faiss installed
(``discreet[fast]``) and 4-bit codes derived at install, a 4-bit fast scan
(:mod:`discreet.rank.fast_scan`) gives the candidates instead, unless a
filter is set or the scan cannot vouch for every candidate the result
depends on; then the int8 first pass does. Each ranking call runs BLAS on
one thread (:mod:`discreet.rank.blas`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np

from discreet.catalog.features import sorted_unique
from discreet.catalog.items import Item
from discreet.catalog.nibbles import fast_scan_available
from discreet.catalog.popularity import upper_quantile
from discreet.catalog.reader import Catalog
from discreet.i18n import _
from discreet.profile.model import Profile
from discreet.rank import fast_scan, first_pass
from discreet.rank.blas import one_blas_thread
from discreet.rank.explanation import Explanation, Reason, ScoreComponents
from discreet.rank.records import Filters, Interest, Profiled, Recommendation
from discreet.rank.select import best_first
from discreet.rank.weights import RankingWeights

FloatArray = np.ndarray[Any, np.dtype[np.float32]]
#: A result earns the "people who liked X also liked this" reason from this much of the
#: profile's largest collaborative term.
COLLABORATIVE_REASON = 0.25


def language_codes(languages: Sequence[str], tag: str) -> list[int]:
    """The codes of ``languages`` that ``tag`` covers, by BCP 47 prefix (case aside).

    >>> language_codes(("", "es", "es-mx", "pt-br", "esp"), "ES")
    [1, 2]
    """
    wanted = tag.strip().replace("_", "-").lower()
    return [
        code
        for code, language in enumerate(languages)
        if language and (language == wanted or language.startswith(wanted + "-"))
    ]


class Ranker:
    """Ranks one catalog for any profile. Cheap to keep; safe to share across threads."""

    def __init__(
        self,
        catalog: Catalog,
        weights: RankingWeights | None = None,
        *,
        first_pass_min_items: int = first_pass.MIN_ITEMS,
    ) -> None:
        self.catalog = catalog
        self.weights = weights or RankingWeights()
        # The int8 first pass, for a catalog that has the int8 rows and is large enough.
        self._first_pass = (
            first_pass.FirstPass(catalog.quantised)
            if catalog.quantised is not None and len(catalog) >= first_pass_min_items
            else None
        )
        self._nibbles = (
            catalog.nibbles
            if fast_scan_available() and len(catalog) >= first_pass_min_items
            else None
        )
        self._scan: tuple[dt.date | None, fast_scan.FastScan] | None = None
        self._rows: dict[str, int | None] = {}
        self._fresh_cache: tuple[dt.date, FloatArray] | None = None
        # The mapped array as a plain ndarray: indexing an np.memmap costs a Python call.
        self._vectors: FloatArray = np.asarray(catalog.embeddings)
        self._items: dict[int, Item] = {}
        self._last_profiled: tuple[tuple[Any, ...], Profiled] | None = None
        self._bases: dict[tuple[Any, ...], FloatArray] = {}
        # Profiles' states shared with the rankers :meth:`with_weights` derives (None: this
        # ranker keeps the last one only).
        self._shared_profiles: _SharedProfiles | None = None

    def with_weights(self, weights: RankingWeights) -> Ranker:
        """A ranker of the same catalog with other ``weights``, sharing what depends on the
        catalog alone: the item rows and items looked up so far and the int8 first pass
        (trying many weights, as tuning does, then costs no lookups twice); and the states
        of the profiles it ranks, with the rankers derived alike whose weights shape a
        profile's state the same way (those that differ only in popularity, diversity,
        exploration or the collaborative term's weight, say).

        >>> tuned = ranker.with_weights(dataclasses.replace(ranker.weights, popularity=2.0))
        ... # doctest: +SKIP
        """
        other = Ranker.__new__(Ranker)
        other.catalog, other.weights = self.catalog, weights
        other._first_pass, other._nibbles = self._first_pass, self._nibbles
        other._rows, other._items, other._vectors = self._rows, self._items, self._vectors
        if self._shared_profiles is None:
            self._shared_profiles = _SharedProfiles(len(self.catalog))
        other._shared_profiles = self._shared_profiles
        # What depends on the weights starts afresh.
        other._scan, other._fresh_cache, other._last_profiled = None, None, None
        other._bases = {}
        return other

    @cached_property
    def _shaping(self) -> tuple[Any, ...]:
        """The weights a profile's state (:meth:`_profile`) depends on: the collaborative
        term enters it scaled to [0, 1], whatever its weight, or not at all."""
        w = self.weights
        kinds = tuple(sorted(w.kind_weights.items()))
        return (kinds, w.half_life_days, w.recent_half_life_events, bool(w.collaborative))

    # ---- per-catalog precomputation -----------------------------------------------
    @cached_property
    def _popularity(self) -> FloatArray:
        prior = np.asarray(self.catalog.popularity, dtype=np.float64)
        if self.weights.popularity_exponent != 1.0:  # x ** 1.0 is x: skip a pass over n
            prior = prior**self.weights.popularity_exponent
        scaled = (
            np.log1p(prior / prior.max() * 1000.0) / np.log1p(1000.0) if prior.max() > 0 else prior
        )
        return scaled.astype(np.float32)

    @cached_property
    def _weighted_popularity(self) -> FloatArray:
        return (self.weights.popularity * self._popularity).astype(np.float32)

    @cached_property
    def _popular(self) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Items in the top decile of an informative (non-uniform) popularity prior."""
        prior = np.asarray(self.catalog.popularity)
        if self.catalog.manifest.popularity_source == "uniform" or np.ptp(prior) == 0:
            return np.zeros(len(prior), dtype=bool)
        return np.asarray(prior >= upper_quantile(prior, 0.9))

    @cached_property
    def _collaborative_at(self) -> np.ndarray[Any, np.dtype[np.int64]] | None:
        """Each row's position in the collaborative target, or -1 (None: no target)."""
        target = self.catalog.collaborative
        return None if target is None else target.position(len(self.catalog))

    def _collaborative(
        self, rows: np.ndarray[Any, Any], weights: np.ndarray[Any, Any]
    ) -> FloatArray | None:
        """The collaborative term of every row for a history, scaled so its largest is 1."""
        target, at = self.catalog.collaborative, self._collaborative_at
        if target is None or at is None or not self.weights.collaborative or not len(rows):
            return None
        where = at[rows]
        keep = where >= 0
        lists = target.neighbours[where[keep]]
        spoken = weights[keep][:, None] * target.weights[where[keep]].astype(np.float64)
        real = lists >= 0
        term = np.bincount(lists[real], weights=spoken[real], minlength=len(self.catalog))
        top = float(np.abs(term).max(initial=0.0))
        return None if top == 0 else (term / top).astype(np.float32)

    def _freshness(self, today: dt.date) -> FloatArray | None:
        """Newness of every item on ``today`` (computed once per day, not per request)."""
        if self.weights.freshness == 0:
            return None
        cached = self._fresh_cache
        if cached is not None and cached[0] == today:
            return cached[1]
        created = self.catalog.features.created
        age = np.maximum(today.toordinal() - created, 0).astype(np.float32)
        fresh = np.where(created > 0, 0.5 ** (age / self.weights.freshness_half_life_days), 0.0)
        result = fresh.astype(np.float32)
        self._fresh_cache = (today, result)
        return result

    def _item(self, row: int) -> Item:
        """The item in ``row``, parsed once (results and histories repeat while a user browses)."""
        item = self._items.get(row)
        if item is None:
            if len(self._items) >= 10_000:
                self._items.clear()
            item = self._items[row] = self.catalog.item_at(row)
        return item

    # ---- the profile side --------------------------------------------------------------
    def _row(self, item_id: str) -> int | None:
        """The row of an item, memoised (histories are looked up on every request)."""
        row = self._rows.get(item_id, -1)
        if row == -1:
            try:
                row = self.catalog.index_of(item_id)
            except KeyError:
                row = None
            if len(self._rows) < 200_000:
                self._rows[item_id] = row
        return row

    @cached_property
    def _sensitive(self) -> dict[str, frozenset[str]]:
        """Each sensitive category, with itself and its ancestors (an opt-in to any admits it)."""
        taxonomy = self.catalog.taxonomy
        return {c: frozenset((c, *taxonomy.ancestors(c))) for c in taxonomy.sensitive_ids}

    def _blocked(self, profile: Profile) -> tuple[str, ...]:
        opted = profile.sensitive_opt_in
        sensitive = {c for c, lineage in self._sensitive.items() if not lineage & opted}
        return tuple(sorted(sensitive | set(profile.muted)))

    def profiled(self, profile: Profile, today: dt.date) -> Profiled:
        """The interest vector and exclusions a profile implies.

        Kept for the last profile seen: while a user browses, nothing it depends on changes.
        """
        key = (
            tuple(profile.events),
            today,
            profile.paused,
            frozenset(profile.muted),
            frozenset(profile.sensitive_opt_in),
        )
        cached = self._last_profiled
        if cached is not None and cached[0] == key:
            return cached[1]
        shared = self._shared_profiles
        result = None if shared is None else shared.get(self._shaping, key)
        if result is None:
            result = self._profile(profile, today)
            if shared is not None:
                shared.put(self._shaping, key, result)
        self._last_profiled = (key, result)
        return result

    def _profile(self, profile: Profile, today: dt.date) -> Profiled:
        blocked = self._blocked(profile)
        events = profile.events
        kinds = self.weights.kind_weights
        # One pass in Python to look the items up; the arithmetic is numpy's.
        known = [
            (row, position, e.day.toordinal(), kinds.get(e.kind, 0.0))
            for position, e in enumerate(events)
            if (row := self._row(e.item)) is not None
        ]
        table = np.array(known, dtype=np.float64).reshape(len(known), 4)
        all_rows = table[:, 0].astype(np.int64)
        allowed = ~self._in_categories(all_rows, blocked)
        row_array = all_rows[allowed]
        position, day, kind_weight = table[allowed, 1], table[allowed, 2], table[allowed, 3]
        decay = 0.5 ** (np.maximum(today.toordinal() - day, 0.0) / self.weights.half_life_days)
        recent = self.weights.recent_half_life_events
        if recent is not None:
            decay *= 0.5 ** ((len(events) - 1 - position) / recent)
        weight_array = kind_weight * decay
        collaborative = None
        vector: FloatArray | None = None
        if not profile.paused and len(row_array) and (weight_array > 0).any():
            combined = np.asarray(self._vectors[row_array], dtype=np.float64).T @ weight_array
            norm = np.linalg.norm(combined)
            if norm > 0:
                vector = (combined / norm).astype(np.float32)
                # Order within the history does not matter to co-occurrence: age only.
                age = np.maximum(today.toordinal() - day, 0.0) / self.weights.half_life_days
                collaborative = self._collaborative(row_array, kind_weight * 0.5**age)
        top = self._top_categories(row_array, weight_array, blocked)
        return Profiled(
            vector,
            row_array,
            weight_array,
            sorted_unique(all_rows),
            blocked,
            top,
            today,
            collaborative,
        )

    def _in_categories(
        self, rows: np.ndarray[Any, np.dtype[np.int64]], categories: Sequence[str]
    ) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Which of ``rows`` are in any of ``categories``."""
        f = self.catalog.features
        if not categories:
            return np.zeros(len(rows), dtype=bool)
        if f.category_bits is not None:
            return np.asarray((f.category_bits[rows] & f.bits_of(categories)) != 0)
        return np.isin(rows, f.rows_in(categories))

    def _top_categories(
        self, rows: np.ndarray[Any, Any], weights: np.ndarray[Any, Any], blocked: Sequence[str]
    ) -> tuple[str, ...]:
        if not len(rows):
            return ()
        f = self.catalog.features
        totals = self._category_totals(rows, np.maximum(weights, 0.0))
        order = [
            i for i in np.argsort(-totals) if totals[i] > 0 and f.category_ids[i] not in blocked
        ]
        return tuple(f.category_ids[i] for i in order[:3])

    def _category_totals(
        self, rows: np.ndarray[Any, Any], weights: np.ndarray[Any, Any]
    ) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The summed event weight of each category over the given history rows."""
        f = self.catalog.features
        starts = f.indptr[rows]
        counts = f.indptr[rows + 1] - starts
        positions = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        totals = np.zeros(len(f.category_ids))
        np.add.at(totals, f.indices[positions], np.repeat(weights, counts))
        return totals

    @one_blas_thread
    def interests(self, profile: Profile, today: dt.date) -> list[Interest]:
        """Each category with the weight the profile gives it, muted and sensitive flags."""
        p = self.profiled(profile, today)
        f, taxonomy = self.catalog.features, self.catalog.taxonomy
        opted = profile.sensitive_opt_in
        totals = self._category_totals(p.rows, p.weights)
        return sorted(
            (
                Interest(
                    c,
                    taxonomy[c].shown_label,
                    float(totals[i]),
                    c in profile.muted,
                    taxonomy.is_sensitive(c),
                    bool(self._sensitive.get(c, frozenset()) & opted),
                )
                for i, c in enumerate(f.category_ids)
            ),
            key=lambda interest: -interest.weight,
        )

    # ---- scoring -----------------------------------------------------------------------
    def scores(self, p: Profiled, today: dt.date) -> FloatArray:
        """The exact score of every item (before exclusions)."""
        if p.vector is None:
            score = self._popularity.copy()
            fresh = self._freshness(today)
            if fresh is not None:
                score += self.weights.freshness * fresh
            return score
        score = np.asarray(self._vectors @ p.vector, dtype=np.float32)
        self._add_priors(score, today, slice(None))
        if p.collaborative is not None:
            score += self.weights.collaborative * p.collaborative
        return score

    def _add_priors(
        self, score: FloatArray, today: dt.date, rows: slice | np.ndarray[Any, Any]
    ) -> None:
        """Add the popularity and freshness terms of ``rows`` to their similarities, in place."""
        w = self.weights
        if w.popularity:
            score += self._weighted_popularity[rows]
        fresh = self._freshness(today)
        if fresh is not None:
            score += w.freshness * fresh[rows]

    def _mask(
        self, score: FloatArray, p: Profiled, filters: Filters, *, blocked: bool = True
    ) -> None:
        """Set excluded items' scores to -inf, in place (``blocked=False``: not the categories)."""
        f = self.catalog.features
        score[p.seen] = -np.inf
        if blocked:
            self._block(score, p.blocked_categories)
        if filters.categories:
            keep = np.zeros(len(score), dtype=bool)
            for category in filters.categories:
                keep[f.rows_in([category])] = True
            score[~keep] = -np.inf
        if filters.language is not None:
            score[~np.isin(f.language, language_codes(f.languages, filters.language))] = -np.inf
        if filters.created_after is not None:
            score[f.created < filters.created_after.toordinal()] = -np.inf
        if filters.created_before is not None:
            score[(f.created == 0) | (f.created > filters.created_before.toordinal())] = -np.inf

    def _block(self, score: FloatArray, categories: Sequence[str]) -> None:
        """Set the scores of items in ``categories`` to -inf, in place."""
        for category in categories:  # one cached row array each: no union to sort
            score[self.catalog.features.rows_in([category])] = -np.inf

    def _first_pass_base(self, p: Profiled, today: dt.date) -> FloatArray:
        """What the first pass adds to every similarity: the priors, and -inf where blocked.

        Kept for the last few (blocked categories, day) seen: the same for most requests.
        """
        key = (p.blocked_categories, today if self.weights.freshness else None)
        base = self._bases.get(key)
        if base is None:
            base = np.zeros(len(self.catalog), dtype=np.float32)
            self._add_priors(base, today, slice(None))
            self._block(base, p.blocked_categories)
            if len(self._bases) >= 4:
                self._bases.clear()
            self._bases[key] = base
        return base

    @one_blas_thread
    def recommend(
        self,
        profile: Profile,
        k: int = 10,
        *,
        today: dt.date | None = None,
        filters: Filters | None = None,
        diversity: float | None = None,
        explain: bool = True,
    ) -> list[Recommendation]:
        """The top ``k`` items for ``profile``, each with its reasons.

        ``diversity`` overrides the MMR λ (1.0 turns re-ranking off).
        """
        if k < 1:
            return []
        today = today or dt.date.today()
        p, candidates, scores, picked, explore = self._ranking(
            profile, k, today, filters, diversity
        )
        if not picked:
            return []
        rows = [int(candidates[i]) for i in picked]
        items = [self._item(row) for row in rows]
        if not explain:
            return [
                Recommendation(item.id, item.title, float(scores[i]))
                for i, item in zip(picked, items, strict=True)
            ]
        explored = {int(candidates[i]) for i in explore}
        reasons = self._reasons_for(rows, [i.categories for i in items], p, explored, today)
        return [
            Recommendation(item.id, item.title, float(scores[i]), why)
            for i, item, why in zip(picked, items, reasons, strict=True)
        ]

    @one_blas_thread
    def recommend_rows(
        self,
        profile: Profile,
        k: int = 10,
        *,
        today: dt.date | None = None,
        filters: Filters | None = None,
        diversity: float | None = None,
    ) -> np.ndarray[Any, np.dtype[np.int64]]:
        """The catalog rows :meth:`recommend` would return, in its order, without reading
        the items (for callers that work in rows, such as the evaluation).

        >>> ranker.recommend_rows(profile, 3, today=today)  # doctest: +SKIP
        array([412,  17, 9031])
        """
        if k < 1:
            return np.zeros(0, dtype=np.int64)
        _, candidates, _, picked, _ = self._ranking(
            profile, k, today or dt.date.today(), filters, diversity
        )
        return np.asarray(candidates[picked], dtype=np.int64)

    def _ranking(
        self,
        profile: Profile,
        k: int,
        today: dt.date,
        filters: Filters | None,
        diversity: float | None,
    ) -> tuple[Profiled, np.ndarray[Any, Any], FloatArray, list[int], list[int]]:
        """The profile's state, the candidates and their exact scores, the positions of the
        picks among them in result order, and of the explored ones (``k`` is positive)."""
        p = self.profiled(profile, today)
        # One partial sort serves both the diversity pool and the exploration slots.
        slots = int(k * self.weights.exploration_share) if p.vector is not None else 0
        pool = max(self.weights.pool, 3 * k)
        depth = max(pool, 50 * slots, 2_000 if slots else 0)
        lam = self.weights.mmr_lambda if diversity is None else diversity
        filters = filters or Filters()
        candidates, scores, complete_above = self._candidates(p, today, filters, depth)
        picked, explore, last = self._select(p, candidates, scores, k, pool, lam, slots)
        if len(candidates) and scores[last] <= complete_above:
            # The fast scan may have missed a row that would change the result: use int8.
            candidates, scores, _ = self._candidates(p, today, filters, depth, fast=False)
            picked, explore, last = self._select(p, candidates, scores, k, pool, lam, slots)
        return p, candidates, scores, picked, explore

    def _select(
        self,
        p: Profiled,
        candidates: np.ndarray[Any, Any],
        scores: FloatArray,
        k: int,
        pool: int,
        lam: float,
        slots: int,
    ) -> tuple[list[int], list[int], int]:
        """Positions of the picks (diversity's, then exploration's), the explored ones among
        them, and the last position the choice depended on."""
        if not len(candidates):
            return [], [], 0
        top = min(pool, len(candidates))
        chosen = self._mmr(candidates[:top], scores[:top], min(k, top), lam)
        explore, last = self._exploration(p, candidates, chosen, slots)
        picked = [i for i in chosen if i not in explore][: k - len(explore)] + explore
        return picked, explore, max(top - 1, last)

    def _candidates(
        self, p: Profiled, today: dt.date, filters: Filters, depth: int, *, fast: bool = True
    ) -> tuple[np.ndarray[Any, np.dtype[np.int64]], FloatArray, float]:
        """The ``depth`` best rows that may be shown, best first, their exact scores, and the
        score above which no row is missing (-inf: none is)."""
        # The fast scan's codes carry the catalog-wide priors, not a profile's own term.
        scan = p.vector is not None and p.collaborative is None and filters == Filters()
        if fast and self._nibbles is not None and scan:
            return self._fast_candidates(p, today, depth)
        if self._first_pass is None or p.vector is None:
            score = self.scores(p, today)
            self._mask(score, p, filters)
            depth = min(len(score), depth)
            candidates = best_first(score, depth)
            candidates = candidates[np.isfinite(score[candidates])]
            return candidates, score[candidates], -np.inf
        # Two stages: approximate scores for every item from the int8 rows, then exact
        # float32 scores for the few hundred best; equal exact scores go by row.
        approximate = self._first_pass.scores(p.vector, self._first_pass_base(p, today))
        if p.collaborative is not None:
            approximate += self.weights.collaborative * p.collaborative
        self._mask(approximate, p, filters, blocked=False)
        rows = np.sort(first_pass.top_rows(approximate, first_pass.candidate_count(depth)))
        exact = self._exact(rows, p, today)
        order = np.argsort(-exact, kind="stable")[:depth]
        return rows[order], exact[order], -np.inf

    def _exact(self, rows: np.ndarray[Any, Any], p: Profiled, today: dt.date) -> FloatArray:
        """The exact scores of ``rows``."""
        assert p.vector is not None
        exact = np.asarray(self._vectors[rows] @ p.vector, dtype=np.float32)
        self._add_priors(exact, today, rows)
        if p.collaborative is not None:
            exact += self.weights.collaborative * p.collaborative[rows]
        return exact

    def _fast_scan(self, today: dt.date) -> fast_scan.FastScan:
        """The fast scan with today's priors folded in (built again only when they change)."""
        assert self._nibbles is not None
        day = today if self.weights.freshness else None
        if self._scan is None or self._scan[0] != day:
            prior = np.zeros(len(self.catalog), dtype=np.float32)
            self._add_priors(prior, today, slice(None))
            self._scan = (day, fast_scan.FastScan(self._nibbles, prior))
        return self._scan[1]

    def _fast_candidates(
        self, p: Profiled, today: dt.date, depth: int
    ) -> tuple[np.ndarray[Any, np.dtype[np.int64]], FloatArray, float]:
        """:meth:`_candidates` from the fast scan: it asks for more rows until enough of them
        may be shown (else the int8 pass), then scores them exactly.

        No row the scan left out scores above its last row's approximate score plus
        the scan's error, bounded from its errors on the rows it returned
        (:meth:`~discreet.rank.fast_scan.FastScan.error_bound`).
        """
        assert p.vector is not None
        n, needed = len(self.catalog), first_pass.candidate_count(depth)
        blocked = sum(len(self.catalog.features.rows_in([c])) for c in p.blocked_categories)
        count = fast_scan.search_size(needed, len(p.seen), 1.0 - blocked / n)
        base = self._first_pass_base(p, today)  # -inf where blocked
        while True:
            rows, approximate = self._fast_scan(today).search(p.vector, min(count, n))
            shown = np.isfinite(base[rows]) & ~np.isin(rows, p.seen)
            if shown.sum() >= needed or count >= n:
                break
            if count >= fast_scan.MAX_SEARCH:
                return self._candidates(p, today, Filters(), depth, fast=False)
            count *= 4
        floor = float(approximate[-1]) if count < n else -np.inf
        rows, approximate = rows[shown], approximate[shown]
        order = np.argsort(rows)
        rows, approximate = rows[order], approximate[order]
        exact = self._exact(rows, p, today)
        bound = fast_scan.FastScan.error_bound(approximate, exact)
        order = np.argsort(-exact, kind="stable")[:depth]
        return rows[order], exact[order], floor + bound

    def _mmr(
        self, rows: np.ndarray[Any, Any], scores: np.ndarray[Any, Any], k: int, lam: float
    ) -> list[int]:
        """Maximal marginal relevance: the positions in ``rows`` of ``k`` relevant, varied picks."""
        if lam >= 1.0 or k <= 1:
            return list(range(min(k, len(rows))))
        vectors = self._vectors[rows]
        spread = scores.max() - scores.min()
        relevance = (scores - scores.min()) / spread if spread > 0 else np.ones_like(scores)
        similarity = vectors @ vectors.T
        weighted = lam * relevance
        selected = [0]
        taken = np.zeros(len(rows), dtype=bool)
        taken[0] = True
        closest = similarity[0].copy()
        value = np.empty_like(weighted)
        for _step in range(1, k):
            np.subtract(weighted, np.multiply(1 - lam, closest, out=value), out=value)
            value[taken] = -np.inf
            pick = int(np.argmax(value))
            selected.append(pick)
            taken[pick] = True
            np.maximum(closest, similarity[pick], out=closest)
        return selected

    def _exploration(
        self, p: Profiled, candidates: np.ndarray[Any, Any], chosen: list[int], slots: int
    ) -> tuple[list[int], int]:
        """The positions of ``slots`` picks among the best candidates outside the top
        categories, and the last position looked at."""
        if slots == 0 or not p.top_categories:
            return [], 0
        inside = self._in_categories(candidates, p.top_categories)
        inside[chosen] = True
        outside = np.flatnonzero(~inside)
        best = outside[: 10 * slots]  # candidates come best first
        # With fewer than asked for, the choice depended on every candidate.
        last = int(best[-1]) if len(best) == 10 * slots else len(candidates) - 1
        if not len(outside):
            return [], last
        picks = p.exploration_picks(len(best), min(slots, len(best)))
        return [int(best[i]) for i in picks], last

    # ---- explanations -------------------------------------------------------------------
    def _history(self, p: Profiled) -> tuple[np.ndarray[Any, Any], ...]:
        """The profile's history items (rows ascending, each once), their vectors and their
        weights (an item engaged with several times has the sum of its events' weights)."""
        if "history" not in p.memo:
            rows, where = np.unique(p.rows, return_inverse=True)
            weights = np.bincount(where.ravel(), weights=p.weights, minlength=len(rows))
            vectors = np.asarray(self._vectors[rows], dtype=np.float64)
            p.memo["history"] = (rows, vectors, weights)
        history: tuple[np.ndarray[Any, Any], ...] = p.memo["history"]
        return history

    def _reasons_for(
        self,
        rows: Sequence[int],
        categories: Sequence[Sequence[str]],
        p: Profiled,
        explored: set[int],
        today: dt.date,
    ) -> list[tuple[Reason, ...]]:
        """Reasons for several results at once (one matrix product for all contributions)."""
        fresh = self._freshness(today)
        best: list[list[int]] = [[] for _ in rows]
        if p.vector is not None and len(p.rows) and rows:
            history_rows, history, weights = self._history(p)
            results = np.asarray(self._vectors[np.asarray(rows)], dtype=np.float64)
            contributions = (weights[:, None] * (history @ results.T)).T
            ranked = np.argsort(-contributions, axis=1)[:, :2]
            positive = np.take_along_axis(contributions, ranked, axis=1) > 0
            best = [
                [int(h) for h, keep in zip(history_rows[r], k, strict=True) if keep]
                for r, k in zip(ranked, positive, strict=True)
            ]
        out = []
        for row, cats, because in zip(rows, categories, best, strict=True):
            reasons: list[Reason] = []
            if row in explored:
                reasons.append(Reason("exploration", _("something outside your usual categories")))
            if because:
                history_items = [self._item(h) for h in because]
                text = _("because you engaged with {titles}").format(
                    titles=", ".join(i.title for i in history_items)
                )
                reasons.append(Reason("because-you", text, tuple(i.id for i in history_items)))
            liked = self._liked_also(p, row)
            if liked is not None:
                item = self._item(liked)
                text = _("people who liked {title} also liked this").format(title=item.title)
                reasons.append(Reason("collaborative", text, (item.id,)))
            shared = [c for c in cats if c in p.top_categories]
            if shared:
                labels = ", ".join(self.catalog.taxonomy[c].shown_label for c in shared)
                reasons.append(
                    Reason(
                        "category",
                        _("in {labels}, which you like").format(labels=labels),
                        tuple(shared),
                    )
                )
            if self._popular[row]:
                reasons.append(Reason("popular", _("popular with other users")))
            elif p.vector is None:
                text = _("a varied pick to start with; your likes will shape what follows")
                reasons.append(Reason("starter", text))
            if fresh is not None and fresh[row] >= 0.5:
                reasons.append(Reason("new", _("new in the catalog")))
            out.append(tuple(reasons))
        return out

    def _liked_also(self, p: Profiled, row: int) -> int | None:
        """The history row whose neighbour list speaks most for ``row``, when the
        collaborative term is a large part of the item's standing (else ``None``)."""
        target, at = self.catalog.collaborative, self._collaborative_at
        if p.collaborative is None or target is None or at is None:
            return None
        if p.collaborative[row] < COLLABORATIVE_REASON:
            return None
        if "liked_also" not in p.memo:  # the history's neighbour lists, gathered once
            where = at[p.rows]
            inside = np.flatnonzero(where >= 0)
            lists = where[inside]
            p.memo["liked_also"] = (inside, target.neighbours[lists], target.weights[lists])
        inside, neighbours, weights = p.memo["liked_also"]
        spoken = np.where(neighbours == row, weights, 0.0).sum(axis=1) * p.weights[inside]
        best = int(np.argmax(spoken)) if len(spoken) else 0
        return int(p.rows[inside[best]]) if len(spoken) and spoken[best] > 0 else None

    @one_blas_thread
    def explain(
        self, profile: Profile, item_id: str, *, today: dt.date | None = None
    ) -> Explanation:
        """Why ``item_id`` ranks where it does: components, rank, reasons, or why it is left out.

        Raises ``KeyError`` for an item the catalog does not have.
        """
        today = today or dt.date.today()
        row = self.catalog.index_of(item_id)
        p = self.profiled(profile, today)
        raw = self.scores(p, today)
        similarity = (
            float(np.asarray(self._vectors[row]) @ p.vector) if p.vector is not None else 0.0
        )
        masked = raw.copy()
        self._mask(masked, p, Filters())
        excluded = None
        if row in set(p.seen.tolist()):
            excluded = _("you have already engaged with it")
        elif not np.isfinite(masked[row]):
            excluded = _(
                "it is in a category you muted or a sensitive one you have not opted in to"
            )
        rank = None if excluded else int((masked > masked[row]).sum()) + 1
        item = self._item(row)
        fresh = self._freshness(today)
        # As in scores(): on cold start the prior is the whole score, unweighted.
        popularity = self._popularity[row] if p.vector is None else self._weighted_popularity[row]
        collaborative = None
        if self.catalog.collaborative is not None:
            term = 0.0 if p.collaborative is None else float(p.collaborative[row])
            collaborative = self.weights.collaborative * term
        components = ScoreComponents(
            similarity=similarity,
            popularity=float(popularity),
            freshness=float(self.weights.freshness * fresh[row]) if fresh is not None else 0.0,
            collaborative=collaborative,
        )
        reasons = self._reasons_for([row], [item.categories], p, set(), today)[0]
        return Explanation(
            item.id, item.title, float(raw[row]), components, rank, excluded, tuple(reasons)
        )


class _SharedProfiles:
    """Profiles' states (:class:`Profiled`) shared by a ranker and the rankers
    :meth:`Ranker.with_weights` derives from it, for one set of shaping weights at a time
    (tuning tries weights one after another: those that shape states alike come in a
    row). At most about 256 MiB of per-item terms are kept."""

    def __init__(self, items: int) -> None:
        self.limit = max(16, 2**28 // (4 * max(items, 1)))
        self.shaping: tuple[Any, ...] | None = None
        self.states: dict[tuple[Any, ...], Profiled] = {}

    def get(self, shaping: tuple[Any, ...], key: tuple[Any, ...]) -> Profiled | None:
        """The state of the profile ``key`` under weights ``shaping``, if kept."""
        return self.states.get(key) if shaping == self.shaping else None

    def put(self, shaping: tuple[Any, ...], key: tuple[Any, ...], state: Profiled) -> None:
        """Keep ``state`` (the others go when the shaping weights change, or at the limit)."""
        if shaping != self.shaping or len(self.states) >= self.limit:
            self.shaping, self.states = shaping, {}
        self.states[key] = state
