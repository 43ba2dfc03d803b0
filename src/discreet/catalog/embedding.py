"""Dense item embeddings with scikit-learn: TF-IDF (or hashing), TruncatedSVD, L2 norm.

The features do not depend on a language: there is no stop-word list (very
common terms are cut by document frequency instead) and character n-grams
within word boundaries match across inflections, which matters for Spanish
and other languages as much as for English.

The fitted pipeline is a publisher artefact. It is saved with joblib and only
the publisher ever loads it; devices get the resulting ``.npy`` array.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import (
    HashingVectorizer,
    TfidfTransformer,
    TfidfVectorizer,
)
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import Normalizer

from discreet.catalog.items import Item
from discreet.catalog.taxonomy import Taxonomy
from discreet.errors import ItemsInvalidError
from discreet.i18n import _

Vectorizer = Literal["auto", "tfidf", "hashing"]
#: Above this many items ``vectorizer="auto"`` switches to hashing, which needs no vocabulary.
HASHING_THRESHOLD = 50_000
_WORD_PATTERN = r"(?u)\b\w\w+\b"
_ANY_WORD_PATTERN = r"(?u)\b\w+\b"  # for tiny catalogs: one-letter words count too


@dataclass(frozen=True)
class EmbeddingParams:
    """Parameters of the embedding pipeline, recorded in the manifest and model card."""

    dim: int = 64
    vectorizer: Vectorizer = "auto"
    #: Character n-grams within words. ``None`` means on for TF-IDF and off for
    #: hashing: on large catalogs they would dominate the build time, and large
    #: corpora carry enough word co-occurrence on their own.
    char_ngrams: bool | None = None
    max_df: float = 0.5
    hashing_features: int = 2**18
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.dim <= 1024:
            raise ValueError("dim must be between 1 and 1024")
        if self.vectorizer not in ("auto", "tfidf", "hashing"):
            raise ValueError("vectorizer must be 'auto', 'tfidf' or 'hashing'")
        if not 0.0 < self.max_df <= 1.0:
            raise ValueError("max_df must be in (0, 1]")
        if not 2**10 <= self.hashing_features <= 2**24:
            raise ValueError("hashing_features must be between 2**10 and 2**24")

    def resolved(self, n_items: int) -> EmbeddingParams:
        """The same parameters with every automatic choice decided for ``n_items``."""
        kind: Vectorizer = self.vectorizer
        if kind == "auto":
            kind = "hashing" if n_items > HASHING_THRESHOLD else "tfidf"
        chars = self.char_ngrams if self.char_ngrams is not None else kind == "tfidf"
        return dataclasses.replace(self, vectorizer=kind, char_ngrams=chars)

    def to_json(self) -> dict[str, Any]:
        """The parameters as a JSON object."""
        return asdict(self)


def item_document(item: Item, taxonomy: Taxonomy) -> str:
    """The text the embedding sees: title, description and category labels."""
    labels = " ".join(taxonomy[c].label for c in item.categories)
    return f"{item.title}. {item.text} {labels}".strip()


def _min_df(n_items: int) -> int:
    # A term in a single item adds nothing to the similarity between items;
    # with very few items keep everything so that tiny catalogs still embed.
    return 2 if n_items >= 20 else 1


class RareColumnFilter(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Keep the feature columns that at least ``min_df`` documents use.

    Hashing spreads a vocabulary over a large, mostly empty space. Dropping
    empty and single-use columns keeps the SVD's dense work proportional to
    the real vocabulary rather than to the hashing space.
    """

    def __init__(self, min_df: int = 2) -> None:
        self.min_df = min_df

    def fit(self, X: Any, y: Any = None) -> RareColumnFilter:  # noqa: N803 (sklearn's naming)
        """Learn which columns to keep."""
        document_frequency = np.diff(sp.csc_matrix(X).indptr)
        self.columns_ = np.flatnonzero(document_frequency >= self.min_df)
        return self

    def transform(self, X: Any) -> Any:  # noqa: N803
        """Select the kept columns."""
        return sp.csr_matrix(X)[:, self.columns_]


def _hashed(analyzer: str, ngrams: tuple[int, int], params: EmbeddingParams) -> Pipeline:
    vectorizer = HashingVectorizer(
        analyzer=analyzer,
        ngram_range=ngrams,
        token_pattern=_WORD_PATTERN,
        strip_accents="unicode",
        n_features=params.hashing_features,
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    )
    return Pipeline([("hash", vectorizer), ("idf", TfidfTransformer(sublinear_tf=True))])


def _counted(
    analyzer: str, ngrams: tuple[int, int], n_items: int, max_df: float, relaxed: bool = False
) -> Any:
    if relaxed:
        pattern = {"token_pattern": _ANY_WORD_PATTERN} if analyzer == "word" else {}
        return TfidfVectorizer(
            analyzer=analyzer,
            ngram_range=ngrams,
            strip_accents="unicode",
            sublinear_tf=True,
            dtype=np.float32,
            **pattern,
        )
    return TfidfVectorizer(
        analyzer=analyzer,
        ngram_range=ngrams,
        token_pattern=_WORD_PATTERN,
        strip_accents="unicode",
        sublinear_tf=True,
        min_df=_min_df(n_items),
        # max_df removes corpus-wide frequent words in any language; it only
        # makes sense with enough documents to measure frequency.
        max_df=max_df if n_items >= 20 else 1.0,
        dtype=np.float32,
    )


def feature_steps(
    params: EmbeddingParams, n_items: int, relaxed: bool = False
) -> list[tuple[str, Any]]:
    """The unfitted feature steps of the pipeline for ``n_items`` (``params`` resolved).

    With hashing: a union of hashing and IDF pipelines (one per analyzer), then
    a :class:`RareColumnFilter`. With TF-IDF: a union of vectorizers.
    """
    analyzers = [("words", "word", (1, 1))]
    if params.char_ngrams:
        analyzers.append(("chars", "char_wb", (3, 5) if params.vectorizer == "tfidf" else (3, 4)))
    if params.vectorizer == "hashing":
        union = FeatureUnion([(n, _hashed(a, g, params)) for n, a, g in analyzers])
        return [("features", union), ("rare", RareColumnFilter(_min_df(n_items)))]
    union = FeatureUnion(
        [(n, _counted(a, g, n_items, params.max_df, relaxed)) for n, a, g in analyzers]
    )
    return [("features", union)]


def truncated_svd(params: EmbeddingParams, n_features: int, n_samples: int) -> TruncatedSVD:
    """The unfitted SVD: ``params.dim`` components, fewer when the corpus is smaller."""
    dim = max(1, min(params.dim, n_features - 1, n_samples))
    return TruncatedSVD(n_components=dim, algorithm="randomized", random_state=params.seed)


@dataclass(frozen=True)
class FittedEmbedding:
    """The outcome of :func:`fit_embeddings`."""

    vectors: np.ndarray[Any, np.dtype[np.float32]]
    pipeline: Pipeline
    params: EmbeddingParams
    n_features: int
    explained_variance: float


def fit_embeddings(documents: Sequence[str], params: EmbeddingParams) -> FittedEmbedding:
    """Fit the pipeline on ``documents`` and return unit-norm float32 vectors.

    The result is deterministic for a given input and ``params.seed``. When the
    corpus has fewer features than ``params.dim``, the dimension shrinks to fit.
    """
    params = params.resolved(len(documents))
    steps = feature_steps(params, len(documents))
    try:
        features = Pipeline(steps).fit_transform(documents)
    except ValueError:
        # Frequency cuts left no terms (tiny or repetitive text): keep every term instead.
        steps = feature_steps(params, len(documents), relaxed=True)
        try:
            features = Pipeline(steps).fit_transform(documents)
        except ValueError:
            raise ItemsInvalidError(
                _(
                    "the items have no text to embed (titles, descriptions and "
                    "category labels are empty); add descriptive text and build "
                    "again"
                )
            ) from None
    n_samples, n_features = features.shape
    svd = truncated_svd(params, n_features, n_samples)
    dim = svd.n_components
    reduced = svd.fit_transform(features)
    normalizer = Normalizer(norm="l2")
    vectors = np.ascontiguousarray(normalizer.fit_transform(reduced), dtype=np.float32)
    return FittedEmbedding(
        vectors=vectors,
        pipeline=Pipeline([*steps, ("svd", svd), ("l2", normalizer)]),
        params=dataclasses.replace(params, dim=dim),
        n_features=int(n_features),
        explained_variance=float(svd.explained_variance_ratio_.sum()),
    )
