"""Dense item embeddings with scikit-learn: TF-IDF (or hashing), TruncatedSVD, L2 norm.

The features do not depend on a language: there is no stop-word list (very
common terms are cut by document frequency instead) and character n-grams
within word boundaries match across inflections, which matters for Spanish
and other languages as much as for English.

The fitted pipeline is a publisher artefact. It is saved with joblib and only
the publisher ever loads it; devices get the resulting ``.npy`` array.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
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

Vectorizer = Literal["auto", "tfidf", "hashing"]
#: Above this many items ``vectorizer="auto"`` switches to hashing, which needs no vocabulary.
HASHING_THRESHOLD = 50_000
_WORD_PATTERN = r"(?u)\b\w\w+\b"


@dataclass(frozen=True)
class EmbeddingParams:
    """Parameters of the embedding pipeline, recorded in the manifest and model card."""

    dim: int = 64
    vectorizer: Vectorizer = "auto"
    char_ngrams: bool = True
    max_df: float = 0.5
    hashing_features: int = 2**20
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.dim <= 1024:
            raise ValueError("dim must be between 1 and 1024")
        if self.vectorizer not in ("auto", "tfidf", "hashing"):
            raise ValueError("vectorizer must be 'auto', 'tfidf' or 'hashing'")
        if not 0.0 < self.max_df <= 1.0:
            raise ValueError("max_df must be in (0, 1]")

    def resolved(self, n_items: int) -> EmbeddingParams:
        """The same parameters with ``vectorizer="auto"`` decided for ``n_items``."""
        if self.vectorizer != "auto":
            return self
        kind: Vectorizer = "hashing" if n_items > HASHING_THRESHOLD else "tfidf"
        return EmbeddingParams(
            self.dim, kind, self.char_ngrams, self.max_df, self.hashing_features, self.seed
        )

    def to_json(self) -> dict[str, Any]:
        """The parameters as a JSON object."""
        return asdict(self)


def item_document(item: Item, taxonomy: Taxonomy) -> str:
    """The text the embedding sees: title, description and category labels."""
    labels = " ".join(taxonomy[c].label for c in item.categories)
    return f"{item.title}. {item.text} {labels}".strip()


def _vectorizers(params: EmbeddingParams, n_items: int) -> list[tuple[str, Any]]:
    # max_df removes corpus-wide frequent words in any language; it only makes
    # sense when there are enough documents to measure frequency.
    max_df = params.max_df if n_items >= 20 else 1.0
    if params.vectorizer == "hashing":
        words: Any = Pipeline(
            [
                (
                    "hash",
                    HashingVectorizer(
                        token_pattern=_WORD_PATTERN,
                        strip_accents="unicode",
                        n_features=params.hashing_features,
                        alternate_sign=False,
                        norm=None,
                    ),
                ),
                ("idf", TfidfTransformer(sublinear_tf=True)),
            ]
        )
    else:
        words = TfidfVectorizer(
            token_pattern=_WORD_PATTERN,
            strip_accents="unicode",
            sublinear_tf=True,
            max_df=max_df,
            dtype=np.float32,
        )
    parts: list[tuple[str, Any]] = [("words", words)]
    if params.char_ngrams:
        if params.vectorizer == "hashing":
            chars: Any = Pipeline(
                [
                    (
                        "hash",
                        HashingVectorizer(
                            analyzer="char_wb",
                            ngram_range=(3, 4),
                            strip_accents="unicode",
                            n_features=params.hashing_features,
                            alternate_sign=False,
                            norm=None,
                        ),
                    ),
                    ("idf", TfidfTransformer(sublinear_tf=True)),
                ]
            )
        else:
            chars = TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=(3, 5),
                strip_accents="unicode",
                sublinear_tf=True,
                max_df=max_df,
                dtype=np.float32,
            )
        parts.append(("chars", chars))
    return parts


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
    union = FeatureUnion(_vectorizers(params, len(documents)))
    features = union.fit_transform(documents)
    n_samples, n_features = features.shape
    dim = max(1, min(params.dim, n_features - 1, n_samples))
    svd = TruncatedSVD(n_components=dim, algorithm="randomized", random_state=params.seed)
    reduced = svd.fit_transform(features)
    normalizer = Normalizer(norm="l2")
    vectors = np.ascontiguousarray(normalizer.fit_transform(reduced), dtype=np.float32)
    pipeline = Pipeline([("features", union), ("svd", svd), ("l2", normalizer)])
    used = EmbeddingParams(
        dim,
        params.vectorizer,
        params.char_ngrams,
        params.max_df,
        params.hashing_features,
        params.seed,
    )
    return FittedEmbedding(
        vectors, pipeline, used, int(n_features), float(svd.explained_variance_ratio_.sum())
    )
