"""Build one catalog version's files from the publisher's inputs.

The output folder receives exactly the manifest's
:attr:`~discreet.catalog.manifest.Manifest.files`: the catalog files and the
int8 copy of the embeddings with its scales.
The build is deterministic: the same inputs, parameters, version and clock give
byte-identical files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib

from discreet._fs import atomic_write_bytes, canonical_json, npy_bytes
from discreet.catalog.collaborative import Neighbours
from discreet.catalog.embedding import (
    EmbeddingParams,
    FittedEmbedding,
    fit_embeddings,
    item_document,
)
from discreet.catalog.embedding_dask import (
    OnCluster,
    Partitions,
    fit_embeddings_on_cluster,
    write_embeddings,
)
from discreet.catalog.items import Item, jsonl_line
from discreet.catalog.manifest import COLLABORATIVE_FILE, Manifest, Notice
from discreet.catalog.popularity import prior_from_estimates, uniform_prior
from discreet.catalog.staged import ITEMS_FILE, StagedItems, item_counts
from discreet.catalog.staged_cluster import stage_item_list
from discreet.catalog.taxonomy import Taxonomy
from discreet.i18n import _
from discreet.protocol.params import ReportingParams
from discreet.secagg.mode import SecureAggregation

#: Called with (stage number, stage count, description) as a build advances.
Progress = Callable[[int, int, str], None]
_STAGES = 4


def no_progress(step: int, total: int, what: str) -> None:
    """A :data:`Progress` that reports nothing."""


@dataclass(frozen=True)
class BuildResult:
    """What :func:`build_catalog_files` wrote."""

    manifest: Manifest
    folder: Path
    model_folder: Path | None
    unknown_popularity_ids: int


def items_jsonl(items: Sequence[Item]) -> bytes:
    """The canonical ``items.jsonl`` bytes: one compact JSON object per line."""
    return ("\n".join(jsonl_line(i) for i in items) + "\n").encode()


def build_catalog_files(
    items: Sequence[Item] | StagedItems,
    taxonomy: Taxonomy,
    folder: Path,
    *,
    name: str,
    version: int,
    built_at: dt.datetime,
    params: EmbeddingParams | None = None,
    estimates: Mapping[str, float] | None = None,
    notices: Sequence[Notice] = (),
    reports_url: str | None = None,
    reporting: ReportingParams | None = None,
    secure_aggregation: SecureAggregation | None = None,
    collaborative: tuple[Neighbours, Mapping[str, Any]] | None = None,
    model_folder: Path | None = None,
    progress: Progress = no_progress,
    cluster: OnCluster | None = None,
) -> BuildResult:
    """Embed ``items`` and write the catalog files of ``version`` into ``folder``.

    ``estimates`` (item id to estimated count) become the popularity prior;
    without them the prior is uniform. ``collaborative`` is the collaborative
    target and its model card (:func:`~discreet.catalog.manifest.collaborative_card`),
    over this build's rows. When ``model_folder`` is given, the
    fitted pipeline and its model card are written there. With ``cluster`` the
    embedding runs on Dask, partition by partition (see
    :mod:`discreet.catalog.embedding_dask`); ``items`` may then be
    :class:`~discreet.catalog.staged.StagedItems`, whose ``items.jsonl`` is
    the one written (the build never holds the item list).
    """
    params = params or EmbeddingParams()
    folder.mkdir(parents=True, exist_ok=True)
    progress(1, _STAGES, _("embedding {count} items").format(count=len(items)))
    if isinstance(items, StagedItems) and (cluster is None or items.path != folder / ITEMS_FILE):
        raise ValueError("staged items are built on a cluster, in the folder they are staged in")
    if cluster is None and not isinstance(items, StagedItems):
        fitted = fit_embeddings([item_document(item, taxonomy) for item in items], params)
        write_embeddings(folder, fitted.vectors)
    elif cluster is not None:
        staged = items
        if not isinstance(staged, StagedItems):
            # Written by the workers a partition at a time, then read back by them.
            staged = stage_item_list(staged, folder, cluster)
        bounds = staged.bounds
        read: Partitions = staged.partitions
        if bounds is not None and cluster.shares_files:
            read = staged.ranges  # the workers read their partitions themselves
        fitted = fit_embeddings_on_cluster(
            read, len(items), taxonomy, params, cluster, folder, bounds
        )
    progress(2, _STAGES, _("computing popularity priors"))
    ids = items.item_ids() if isinstance(items, StagedItems) else (i.id for i in items)
    if estimates:
        prior, unknown = prior_from_estimates(ids, estimates, len(items))
        source = "estimates"
    else:
        prior, unknown, source = uniform_prior(len(items)), 0, "uniform"
    manifest = Manifest(
        name=name,
        version=version,
        built_at=built_at,
        item_count=len(items),
        dim=fitted.params.dim,
        embedding={**fitted.params.to_json(), "n_features": fitted.n_features},
        popularity_source=source,
        category_count=len(taxonomy),
        quantised=True,
        reporting=reporting or ReportingParams(),
        secure_aggregation=secure_aggregation,
        collaborative=None if collaborative is None else dict(collaborative[1]),
        notices=tuple(notices),
        reports_url=reports_url,
    )
    progress(3, _STAGES, _("writing catalog files"))
    if collaborative is not None:  # first: over its budget, nothing is written
        atomic_write_bytes(folder / COLLABORATIVE_FILE, collaborative[0].to_bytes())
    if not isinstance(items, StagedItems) and cluster is None:  # else written already
        atomic_write_bytes(folder / ITEMS_FILE, items_jsonl(items))
    atomic_write_bytes(folder / "popularity.npy", npy_bytes(prior))
    atomic_write_bytes(folder / "taxonomy.json", canonical_json(taxonomy.to_json()))
    atomic_write_bytes(folder / "manifest.json", canonical_json(manifest.to_json()))
    if model_folder is not None:
        progress(4, _STAGES, _("saving the model and its card"))
        save_model(model_folder, fitted, manifest, items, taxonomy)
    return BuildResult(manifest, folder, model_folder, unknown)


def save_model(
    folder: Path,
    fitted: FittedEmbedding,
    manifest: Manifest,
    items: Sequence[Item] | StagedItems,
    taxonomy: Taxonomy,
) -> None:
    """Save the fitted pipeline with joblib and write ``MODEL_CARD.md`` beside it.

    Only the publisher loads this file: joblib unpickles, so it must never be
    shipped to devices or loaded from anywhere but the publisher's own disk.
    """
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(fitted.pipeline, folder / "pipeline.joblib")
    atomic_write_bytes(
        folder / "MODEL_CARD.md", model_card(fitted, manifest, items, taxonomy).encode()
    )


def model_card(
    fitted: FittedEmbedding,
    manifest: Manifest,
    items: Sequence[Item] | StagedItems,
    taxonomy: Taxonomy,
) -> str:
    """The model card: data, parameters, intended use and limits."""
    languages, per_category = item_counts(items)
    sensitive = sorted(taxonomy.sensitive_ids)
    p = fitted.params
    lang_line = ", ".join(f"{k} ({v})" for k, v in sorted(languages.items()))
    top = ", ".join(f"{taxonomy[c].label} ({n})" for c, n in per_category.most_common(8))
    vectorizer = (
        "TF-IDF" if p.vectorizer == "tfidf" else f"hashing ({p.hashing_features} buckets) + IDF"
    )
    chars = ", plus character n-grams within words" if p.char_ngrams else ""
    return f"""# Model card: item embeddings for catalog `{manifest.name}` v{manifest.version}

## Model
- Pipeline: {vectorizer} over words{chars} -> TruncatedSVD ({p.dim} dims, randomized,
  seed {p.seed}) -> L2 normalisation -> float32.
- Input text per item: title, description and the labels of its categories.
- Vocabulary/feature count: {fitted.n_features}.
- Variance kept by the SVD: {fitted.explained_variance:.3f}.
- No stop-word list: terms in more than {p.max_df:.0%} of items are dropped, which works
  the same in every language.
- Built: {manifest.built_at.isoformat()}. Deterministic for the same input and seed.

## Data
- {len(items)} items, {len(taxonomy)} categories. Languages: {lang_line}.
- Largest categories: {top or "none"}.
- Sensitive categories (never profiled without opt-in, never reported):
  {", ".join(sensitive) or "none"}.
- No user data is used: the model sees only the public catalog text.

## Intended use
Content similarity between catalog items, computed on users' devices against
their private, local history. The vectors ship in the signed catalog as
`embeddings.npy`; this pipeline file (`pipeline.joblib`) stays with the
publisher and is only ever loaded by the publisher.

## Limits
- Bag-of-words semantics: synonyms that share no characters are not matched.
- Items with very short text embed mostly by title and category labels.
- Mixed-language catalogs embed each language in its own region of the space;
  cross-language similarity is weak.
- Popularity is not part of this model; it comes from aggregated private reports.
{_collaborative_section(manifest)}"""


def _collaborative_section(manifest: Manifest) -> str:
    """The model card's part on the collaborative target, when the release has one."""
    card = manifest.collaborative
    if card is None:
        return ""
    return f"""
## Collaborative target (`collaborative.npz`)
- Built from: {card["built_from"]}.
- {card["items"]} items, {card["neighbours"]} neighbours each (EASE on the reported
  co-occurrence, the diagonal from popularity weighted as the pairs are).
- Privacy: ε = {card["epsilon"]:g}, δ = {card["delta"]:g} per device per week;
  {card["devices"]:,} devices contributed.
{_task_lines(card)}"""


def _task_lines(card: Mapping[str, Any]) -> str:
    """The model card's line per task that gathered the target's data, and the pad."""
    pad = card.get("pad_length")
    lines = [
        f"- {task['kind'].capitalize()} task: ε = {task['epsilon']:g}, δ = {task['delta']:g}, "
        f"K = {task['max_weight']} per device"
        + ("" if pad is None else f", history padded to {pad}")
        + "."
        for task in card.get("tasks", ())
    ]
    return "".join(line + "\n" for line in lines)
