"""The embedding pipeline out of core, as Dask tasks over partitions of items.

The same pipeline as :func:`~discreet.catalog.embedding.fit_embeddings`,
computed partition by partition (:meth:`OnCluster.bounds`):

1. each partition's text is hashed on a worker, which keeps the counts, and
   sends back its document frequencies. Up to :attr:`OnCluster.sample_rows`
   items they add up to the corpus's, so the IDF weights and the rare-column
   cut are exactly the in-memory fit's; beyond, that many rows drawn with the
   seed are hashed first, and the IDF weights and the cut come from them;
2. the SVD is fitted on one worker: on every row up to
   :attr:`OnCluster.sample_rows` items (then the vectors are byte for byte
   those of the in-memory build), else on the sample, while the other workers
   hash the rest;
3. each partition is projected, normalised and quantised on a worker, and the
   client writes ``embeddings.npy`` and the int8 copy partition by partition.

The client never holds the feature matrix nor more than one partition's
vectors; the workers hold their partitions' counts (Dask spills them to disk
under memory pressure). The TF-IDF vectorizer needs one vocabulary for the
whole corpus, so below :data:`~discreet.catalog.embedding.HASHING_THRESHOLD`
items (where ``auto`` picks it) the in-memory fit runs as one task on a worker.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer

from discreet.catalog import _json
from discreet.catalog.embedding import (
    EmbeddingParams,
    FittedEmbedding,
    feature_steps,
    fit_embeddings,
    item_document,
    truncated_svd,
)
from discreet.catalog.items import Item
from discreet.catalog.manifest import QUANTISED_FILES
from discreet.catalog.quantise import quantise
from discreet.catalog.staged import ItemLines
from discreet.catalog.taxonomy import Taxonomy

#: A block's int8 codes and scales (:func:`~discreet.catalog.quantise.quantise`).
Quantised = tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]

__all__ = [
    "EMBEDDING_FILES",
    "OnCluster",
    "Partitions",
    "fit_embeddings_on_cluster",
    "partition_documents",
    "write_embeddings",
]

#: The files the embedding step writes: the float32 rows, then the int8 codes and scales.
EMBEDDING_FILES = ("embeddings.npy", *QUANTISED_FILES)
#: Consecutive ``(start, stop)`` bounds -> each partition's items, in order: a list of
#: items, or their ``items.jsonl`` lines (:func:`partition_documents` reads either).
Partitions = Callable[[list[tuple[int, int]]], Iterable[Any]]


@dataclass(frozen=True)
class OnCluster:
    """Where and how a build runs on Dask: a ``distributed.Client`` and the partitioning."""

    client: Any
    #: Items per partition; ``None``: four partitions per worker thread, between
    #: 1,000 and 100,000 items each.
    partition_rows: int | None = None
    #: The IDF weights, the rare-column cut and the SVD come from every row up to this
    #: many items, and from a seeded sample of this many rows beyond.
    sample_rows: int = 250_000
    #: Bytes per partition of an items file that the workers stage; ``None``: four
    #: partitions per worker thread, between 1 MiB and 64 MiB each.
    partition_bytes: int | None = None
    #: Whether the workers read the client's files themselves (they share its disk);
    #: ``None``: when the cluster is a LocalCluster. Else the client sends the bytes.
    shared_files: bool | None = None

    def __post_init__(self) -> None:
        if (
            (self.partition_rows is not None and self.partition_rows < 1)
            or (self.partition_bytes is not None and self.partition_bytes < 1)
            or self.sample_rows < 1
        ):
            raise ValueError("partition_rows, partition_bytes and sample_rows must be positive")

    @property
    def threads(self) -> int:
        """The cluster's worker threads."""
        return max(1, int(sum(self.client.nthreads().values())))

    @property
    def window(self) -> int:
        """Partitions a client keeps in flight while it writes their results in order."""
        return 2 * self.threads + 2

    @property
    def shares_files(self) -> bool:
        """Whether the workers read the client's files (:attr:`shared_files`)."""
        if self.shared_files is not None:
            return self.shared_files
        from distributed import LocalCluster

        return isinstance(getattr(self.client, "cluster", None), LocalCluster)

    def bounds(self, n_items: int) -> list[tuple[int, int]]:
        """The ``(start, stop)`` rows of each partition of ``n_items`` items."""
        rows = self.partition_rows
        if rows is None:
            rows = min(100_000, max(1_000, -(-n_items // (4 * self.threads))))
        return [(start, min(start + rows, n_items)) for start in range(0, n_items, rows)]

    def range_bytes(self, size: int) -> int:
        """Bytes per partition of a ``size``-byte items file staged on the workers."""
        if self.partition_bytes is not None:
            return self.partition_bytes
        return min(64 << 20, max(1 << 20, -(-size // (4 * self.threads))))


def write_embeddings(folder: Path, vectors: np.ndarray[Any, Any]) -> None:
    """Write :data:`EMBEDDING_FILES` for ``vectors`` (the in-memory build's way)."""
    with _EmbeddingFiles(folder, vectors.shape, vectors.dtype) as files:
        files.append(vectors)


class _EmbeddingFiles:
    """The ``.npy`` files of :data:`EMBEDDING_FILES`, appended to a block of rows at a time,
    each renamed into place once complete (the same bytes as ``np.save``)."""

    def __init__(self, folder: Path, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
        rows = shape[0]
        layouts: tuple[tuple[tuple[int, ...], np.dtype[Any]], ...] = (
            (shape, dtype),
            (shape, np.dtype(np.int8)),
            ((rows,), np.dtype(np.float32)),
        )
        self._paths = [folder / name for name in EMBEDDING_FILES]
        self._files = []
        for path, (file_shape, file_dtype) in zip(self._paths, layouts, strict=True):
            f = open(_partial(path), "wb")  # noqa: SIM115 (closed in __exit__)
            header = {
                "descr": np.lib.format.dtype_to_descr(file_dtype),
                "fortran_order": False,
                "shape": file_shape,
            }
            np.lib.format.write_array_header_1_0(f, header)
            self._files.append(f)

    def __enter__(self) -> _EmbeddingFiles:
        return self

    def append(self, vectors: np.ndarray[Any, Any], quantised: Quantised | None = None) -> None:
        """Append the next rows, their int8 codes and their scales (``quantised``, when
        already computed: ``quantise(vectors)``)."""
        codes, scales = quantised or quantise(vectors)
        for f, block in zip(self._files, (vectors, codes, scales), strict=True):
            f.write(np.ascontiguousarray(block).tobytes())

    def __exit__(self, kind: object, *exc: object) -> None:
        for f in self._files:
            if kind is None:
                f.flush()
                os.fsync(f.fileno())
            f.close()
        for path in self._paths:
            if kind is None:
                os.replace(_partial(path), path)
            else:
                _partial(path).unlink(missing_ok=True)


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


def partition_documents(
    payload: ItemLines | bytes | Sequence[Item], taxonomy: Taxonomy
) -> list[str]:
    """The documents of a partition's items, given as items or as ``items.jsonl`` lines
    (or where to read them)."""
    if isinstance(payload, ItemLines):
        payload = payload.read()
    if isinstance(payload, bytes):
        payload = [Item.from_json(_json.loads(line)) for line in payload.splitlines()]
    return [item_document(item, taxonomy) for item in payload]


def fit_embeddings_on_cluster(
    partitions: Partitions,
    n_items: int,
    taxonomy: Taxonomy,
    params: EmbeddingParams,
    cluster: OnCluster,
    folder: Path,
    bounds: list[tuple[int, int]] | None = None,
) -> FittedEmbedding:
    """Fit the pipeline on the cluster and write :data:`EMBEDDING_FILES` into ``folder``.

    The workers make the items' documents (:func:`partition_documents`), from
    the ``partitions`` of ``bounds`` (default: :meth:`OnCluster.bounds`). The
    returned :attr:`FittedEmbedding.vectors` is the written file, memory-mapped.
    """
    client = cluster.client
    params = params.resolved(n_items)
    bounds = bounds or cluster.bounds(n_items)
    if params.vectorizer != "hashing":
        documents = [d for p in partitions(bounds) for d in partition_documents(p, taxonomy)]
        fitted: FittedEmbedding = client.submit(
            fit_embeddings, documents, params, pure=False
        ).result()
        write_embeddings(folder, fitted.vectors)
        return fitted
    steps = feature_steps(params, n_items)
    union, rare = steps[0][1], steps[1][1]
    branches: list[Pipeline] = [pipeline for _, pipeline in union.transformer_list]
    hashers = [branch.named_steps["hash"] for branch in branches]
    in_flight = 2 * max(1, len(client.nthreads()))
    exact = n_items <= cluster.sample_rows
    if exact:
        picks = None
        whole = ((p, None, True) for p in partitions(bounds))
        counts = _submit_counts(client, hashers, taxonomy, whole, in_flight)
        df_rows = n_items
    else:
        # Fitted on a seeded sample: its rows are hashed first, and the IDF weights and the
        # rare-column cut come from them, so that the fit runs while the rest is hashed.
        rng = np.random.default_rng(params.seed)
        rows = np.sort(rng.choice(n_items, size=cluster.sample_rows, replace=False))
        picks = [rows[(rows >= start) & (rows < stop)] - start for start, stop in bounds]
        sampled = ((p, k, True) for p, k in zip(partitions(bounds), picks, strict=True))
        counts = _submit_counts(client, hashers, taxonomy, sampled, in_flight, priority=2)
        df_rows = cluster.sample_rows
    frequencies = [client.submit(_document_frequencies, c, priority=2) for c in counts]
    per_branch: list[np.ndarray[Any, Any]] = client.submit(
        _added, *frequencies, priority=2
    ).result()
    for branch, df, hasher in zip(branches, per_branch, hashers, strict=True):
        _set_idf(branch.named_steps["idf"], df, df_rows, hasher.dtype)
    rare.columns_ = np.flatnonzero(np.concatenate(per_branch) >= rare.min_df)
    idfs = [branch.named_steps["idf"] for branch in branches]
    features = [
        client.submit(_features_partition, idfs, rare.columns_, c, priority=2) for c in counts
    ]
    del counts  # the workers drop the counts once the features are made
    svd = truncated_svd(params, len(rare.columns_), n_items)
    fit = client.submit(_fit_svd, svd, exact, *features, priority=1)
    rest: list[Any] = []
    if picks is not None:
        unpicked = ((p, k, False) for p, k in zip(partitions(bounds), picks, strict=True))
        rest = [
            client.submit(_features_partition, idfs, rare.columns_, c)
            for c in _submit_counts(client, hashers, taxonomy, unpicked, in_flight)
        ]
    svd, explained, exact_vectors = fit.result()
    normalizer = Normalizer(norm="l2").fit(np.zeros((1, svd.n_components)))
    shape = (n_items, svd.n_components)
    with _EmbeddingFiles(folder, shape, np.dtype(np.float32)) as files:
        if exact_vectors is not None:
            files.append(exact_vectors)
        else:
            fitted_svd = client.scatter(svd, broadcast=True)
            parts = [
                client.submit(_embed_partition, fitted_svd, picked, unpicked, pick)
                for picked, unpicked, pick in zip(features, rest, picks or [], strict=True)
            ]
            del features, rest
            for part in parts:
                vectors, quantised = part.result()
                files.append(vectors, quantised)
                part.release()
    return FittedEmbedding(
        vectors=np.load(folder / EMBEDDING_FILES[0], mmap_mode="r", allow_pickle=False),
        pipeline=Pipeline([*steps, ("svd", svd), ("l2", normalizer)]),
        params=dataclasses.replace(params, dim=svd.n_components),
        n_features=len(rare.columns_),
        explained_variance=explained,
    )


def _set_idf(idf: TfidfTransformer, df: np.ndarray[Any, Any], n_items: int, dtype: Any) -> None:
    """Fit ``idf`` from the corpus's document frequencies, as ``TfidfTransformer.fit`` does
    from the whole matrix (same arithmetic, same dtype)."""
    idf.fit(sp.csr_matrix((1, len(df)), dtype=dtype))  # sets the fitted attributes' shapes
    smoothed = df.astype(dtype)
    smoothed += float(idf.smooth_idf)
    weights = np.full_like(smoothed, fill_value=n_items + int(idf.smooth_idf), dtype=dtype)
    weights /= smoothed
    np.log(weights, out=weights)
    weights += 1.0
    idf.idf_ = weights


def _submit_counts(
    client: Any,
    hashers: Sequence[HashingVectorizer],
    taxonomy: Taxonomy,
    payloads: Iterable[tuple[Any, np.ndarray[Any, Any] | None, bool]],
    in_flight: int,
    priority: int = 0,
) -> list[Any]:
    """Hash each partition on a worker (the futures of its counts), at most ``in_flight``
    partitions' text at a time: the client never holds all of it.

    Each payload is a partition, the rows of it to hash (``None``: all) and whether those
    rows or the others (:func:`_picked`, on the worker)."""
    counts: list[Any] = []
    done: list[Any] = []
    for payload, rows, picked in payloads:
        if len(done) >= in_flight:
            done[-in_flight].result()
        # Scattered: sent to a worker at once, not held in the graph by the client. Where
        # the workers share the client's disk, they are only told where to read.
        text = payload
        if not isinstance(payload, ItemLines):
            (text,) = client.scatter([payload], hash=False)
        counts.append(
            client.submit(
                _count_partition,
                hashers,
                taxonomy,
                text,
                rows,
                picked,
                pure=False,
                priority=priority,
            )
        )
        del payload, text
        done.append(client.submit(_row_count, counts[-1], priority=priority))
    return counts


def _row_count(counts: Sequence[Any]) -> int:
    return int(counts[0].shape[0])


def _picked(payload: Any, rows: np.ndarray[Any, Any], picked: bool) -> Any:
    """The partition's ``rows`` (``picked``), or its other rows, in order."""
    lines = payload.splitlines(keepends=True) if isinstance(payload, bytes) else payload
    keep = np.zeros(len(lines), dtype=bool)
    keep[rows] = True
    chosen = [line for line, k in zip(lines, keep, strict=True) if k == picked]
    return b"".join(chosen) if isinstance(payload, bytes) else chosen


def _count_partition(
    hashers: Sequence[HashingVectorizer],
    taxonomy: Taxonomy,
    payload: ItemLines | bytes | Sequence[Item],
    rows: np.ndarray[Any, Any] | None = None,
    picked: bool = True,
) -> list[Any]:
    """A partition's hashed term counts, one matrix per analyzer: of its ``rows`` (all if
    ``None``), or with ``picked`` false, of its other rows."""
    if isinstance(payload, ItemLines):
        payload = payload.read()
    if rows is not None:
        payload = _picked(payload, rows, picked)
    documents = partition_documents(payload, taxonomy)
    if not documents:  # a partition wholly in the sample, or wholly out of it
        return [sp.csr_matrix((0, h.n_features), dtype=h.dtype) for h in hashers]
    return [hasher.transform(documents) for hasher in hashers]


def _document_frequencies(counts: Sequence[Any]) -> list[np.ndarray[Any, Any]]:
    """How many of a partition's documents use each column, per analyzer."""
    return [np.bincount(c.indices, minlength=c.shape[1]).astype(np.int64) for c in counts]


def _added(*parts: list[np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
    """The partitions' document frequencies added up, per analyzer."""
    return [np.sum([part[i] for part in parts], axis=0) for i in range(len(parts[0]))]


def _features_partition(
    idfs: Sequence[TfidfTransformer], columns: np.ndarray[Any, Any], counts: Sequence[Any]
) -> Any:
    """A partition's TF-IDF rows, the analyzers side by side (as ``FeatureUnion`` stacks
    them), the rare columns dropped (as ``RareColumnFilter`` does)."""
    if counts[0].shape[0] == 0:  # scikit-learn refuses to transform no rows
        return sp.csr_matrix((0, len(columns)), dtype=counts[0].dtype)
    stacked = sp.hstack([idf.transform(c) for idf, c in zip(idfs, counts, strict=True)]).tocsr()
    return sp.csr_matrix(stacked)[:, columns]


def _fit_svd(
    svd: Any, exact: bool, *parts: Any
) -> tuple[Any, float, np.ndarray[Any, np.dtype[np.float32]] | None]:
    """Fit the SVD on the stacked rows; with ``exact`` (every row), their vectors too."""
    matrix = sp.vstack(parts, format="csr")
    vectors = None
    if exact:
        reduced = svd.fit_transform(matrix)
        normalized = Normalizer(norm="l2").fit_transform(reduced)
        vectors = np.ascontiguousarray(normalized, dtype=np.float32)
    else:
        svd.fit(matrix)
    return svd, float(svd.explained_variance_ratio_.sum()), vectors


def _embed_partition(
    svd: Any, picked: Any, unpicked: Any, rows: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], Quantised]:
    """A partition's unit-norm float32 vectors, and their int8 codes and scales, from the
    features of its ``rows`` in the sample (``picked``) and of its other rows."""
    keep = np.zeros(picked.shape[0] + unpicked.shape[0], dtype=bool)
    keep[rows] = True
    order = np.concatenate([np.flatnonzero(keep), np.flatnonzero(~keep)])
    stacked = sp.vstack([picked, unpicked], format="csr")
    features = stacked[np.argsort(order, kind="stable")]
    reduced = svd.transform(features)
    vectors = np.ascontiguousarray(Normalizer(norm="l2").fit_transform(reduced), dtype=np.float32)
    return vectors, quantise(vectors)
