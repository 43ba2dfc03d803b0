"""``publish build``: validate inputs, build a catalog version, sign and publish it."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from discreet.catalog import _json
from discreet.catalog.build import Progress, build_catalog_files, no_progress
from discreet.catalog.embedding import EmbeddingParams
from discreet.catalog.embedding_dask import OnCluster
from discreet.catalog.items import Item, read_items
from discreet.catalog.manifest import (
    NAME_RULE,
    Manifest,
    Notice,
    check_name,
    load_notices,
)
from discreet.catalog.popularity import load_estimates
from discreet.catalog.staged import StagedItems
from discreet.catalog.staged_cluster import stage_items_on_cluster
from discreet.catalog.taxonomy import Taxonomy, load_taxonomy
from discreet.errors import CatalogNameInvalidError, InputError
from discreet.i18n import _
from discreet.protocol.params import ReportingParams, ReportingPolicy
from discreet.publish.collaborative import (
    CollaborativeParams,
    collaborative_target,
    pooled_estimates,
    read_cooccurrence,
)
from discreet.publish.repository import Expiries, PublisherRepository, utc_now
from discreet.secagg.mode import SecureAggregation, check_endpoint

DEFAULT_NAME = "catalog"
DEFAULT_REPORTING = ReportingPolicy()


@dataclass(frozen=True)
class PublishResult:
    """What a ``publish build`` released."""

    manifest: Manifest
    targets_version: int
    model_folder: Path
    unknown_popularity_ids: int
    #: What was not given and was carried over from the previous release, of
    #: :data:`CARRIED_OVER` (the one rule: what you do not give again is kept).
    carried_over: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A summary for ``--json`` output."""
        return {
            "catalog": self.manifest.name,
            "version": self.manifest.version,
            "items": self.manifest.item_count,
            "dim": self.manifest.dim,
            "popularity": self.manifest.popularity_source,
            "targets_version": self.targets_version,
            "model_folder": str(self.model_folder),
            "unknown_popularity_ids": self.unknown_popularity_ids,
            "notices": len(self.manifest.notices),
            "reporting_mode": self.manifest.reporting_mode,
            "reports_url": self.manifest.reports_url,
            "carried_over": list(self.carried_over),
        }


def current_manifest(repo: PublisherRepository) -> Manifest | None:
    """The manifest of the repository's current release, if any."""
    target = repo.current_targets().get("catalog/manifest.json")
    if target is None:
        return None
    return Manifest.from_json(_json.loads(repo.target_path(target).read_bytes()))


#: What a build that does not give it keeps from the previous release, in this order.
CARRIED_OVER = ("name", "notices", "popularity", "reports_url")


def _previous_estimates(repo: PublisherRepository, previous: Manifest) -> dict[str, float]:
    """The previous release's popularity prior, by item id (empty if it was uniform)."""
    if previous.popularity_source == "uniform":
        return {}
    import numpy as np

    targets = repo.current_targets()
    items = repo.target_path(targets["catalog/items.jsonl"]).read_bytes().splitlines()
    with repo.target_path(targets["catalog/popularity.npy"]).open("rb") as handle:
        prior = np.load(handle, allow_pickle=False)
    ids = [_json.loads(line)["id"] for line in items if line.strip()]
    return {item_id: float(share) for item_id, share in zip(ids, prior, strict=True)}


def _check_name(name: str) -> str:
    try:
        return check_name(name)
    except ValueError:
        raise CatalogNameInvalidError(
            _(
                "catalog name {name!r} is not one devices accept; use "
                "{NAME_RULE} (nothing was published)"
            ).format(name=name, NAME_RULE=NAME_RULE)
        ) from None


def publish_catalog(
    repo: PublisherRepository,
    items_path: str | Path,
    taxonomy_path: str | Path,
    *,
    name: str | None = None,
    popularity_path: str | Path | None = None,
    notices_path: str | Path | None = None,
    notices: tuple[Notice, ...] = (),
    reports_url: str | None = None,
    reporting: ReportingPolicy | ReportingParams | None = DEFAULT_REPORTING,
    secure_aggregation: SecureAggregation | None = None,
    cooccurrence_path: str | Path | None = None,
    params: EmbeddingParams | None = None,
    expiries: Expiries | None = None,
    now: dt.datetime | None = None,
    progress: Progress = no_progress,
    cluster: OnCluster | None = None,
) -> PublishResult:
    """Build a new catalog version from the input files and publish it, signed.

    All inputs are validated before anything is written: if any item is
    invalid, or ``name`` is not a name devices accept, the repository is left
    exactly as it was. With ``cluster`` the embedding runs on Dask.

    One rule for what is not given: the name, the notices (``notices_path``
    and ``notices``), the popularity (``popularity_path``: the previous
    prior, for the items it had) and ``reports_url`` (where devices send
    reports) are carried over from the previous release; the result's
    ``carried_over`` says which were. A first release has none to carry.
    ``cooccurrence_path`` (the file ``publish collect`` writes for the
    co-occurrence task, with ``popularity_path`` beside it) adds the
    collaborative target (:mod:`discreet.publish.collaborative`).

    >>> repo = PublisherRepository.open("repo")  # doctest: +SKIP
    >>> publish_catalog(repo, "items.csv", "taxonomy.json").manifest.version  # doctest: +SKIP
    1
    """
    now = now or utc_now()
    if name is not None:
        _check_name(name)
    taxonomy = load_taxonomy(taxonomy_path)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=repo.path))
    try:
        items: list[Item] | StagedItems
        if cluster is None:
            items = read_items(items_path, taxonomy)
        else:  # streamed into the build's folder: the client never holds the item list
            keep_ids = cooccurrence_path is not None or secure_aggregation is not None
            items = stage_items_on_cluster(
                items_path, taxonomy, staging, cluster, keep_ids=keep_ids
            )
        return _publish(
            repo,
            items,
            taxonomy,
            staging,
            now=now,
            name=name,
            popularity_path=popularity_path,
            notices_path=notices_path,
            notices=notices,
            reports_url=reports_url,
            reporting=reporting,
            secure_aggregation=secure_aggregation,
            cooccurrence_path=cooccurrence_path,
            params=params,
            expiries=expiries,
            progress=progress,
            cluster=cluster,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _item_ids(items: list[Item] | StagedItems) -> list[str]:
    if isinstance(items, StagedItems):
        return list(items.item_ids())
    return [item.id for item in items]


def _publish(
    repo: PublisherRepository,
    items: list[Item] | StagedItems,
    taxonomy: Taxonomy,
    staging: Path,
    *,
    now: dt.datetime,
    name: str | None,
    popularity_path: str | Path | None,
    notices_path: str | Path | None,
    notices: tuple[Notice, ...],
    reports_url: str | None,
    reporting: ReportingPolicy | ReportingParams | None,
    secure_aggregation: SecureAggregation | None,
    cooccurrence_path: str | Path | None,
    params: EmbeddingParams | None,
    expiries: Expiries | None,
    progress: Progress,
    cluster: OnCluster | None,
) -> PublishResult:
    estimates = load_estimates(popularity_path) if popularity_path else None
    given_notices = bool(notices_path or notices)
    if notices_path:
        notices = notices + load_notices(notices_path)
    if reports_url is not None:
        reports_url = _check_reports_url(reports_url)
    collaborative = None
    # Read once (a staged build reads them back from disk): both uses below name items.
    named = cooccurrence_path is not None or secure_aggregation is not None
    ids = _item_ids(items) if named else []
    cooccurrence = None
    if cooccurrence_path is not None:
        if not estimates:
            raise InputError(
                _("--cooccurrence needs the same collection's popularity; pass --popularity")
            )
        cooccurrence = read_cooccurrence(cooccurrence_path)
    if isinstance(reporting, ReportingPolicy):
        reporting = reporting.params_for(taxonomy.reportable_ids, len(items))
    reporting = reporting or ReportingParams()
    try:
        reporting.check_fits(len(items), taxonomy.ids, taxonomy.sensitive_ids)
    except ValueError as exc:
        raise InputError(
            _("the reporting parameters do not fit this catalog ({exc})").format(exc=exc)
        ) from None
    if secure_aggregation is not None:
        try:
            secure_aggregation.check_fits(ids)
            secure_aggregation.check_top_items(ids)
        except ValueError as exc:
            raise InputError(
                _("the secure-aggregation task does not fit this catalog ({exc})").format(exc=exc)
            ) from None
    with repo.lock():
        previous = current_manifest(repo)
        version = previous.version + 1 if previous else 1
        catalog_name = name if name is not None else previous.name if previous else DEFAULT_NAME
        carried: list[str] = []
        if previous is not None:
            given = {
                "name": name is not None,
                "notices": given_notices,
                "popularity": popularity_path is not None,
                "reports_url": reports_url is not None,
            }
            carried = [what for what in CARRIED_OVER if not given[what]]
            if "notices" in carried:
                notices = previous.notices
            if "popularity" in carried:
                estimates = _previous_estimates(repo, previous) or None
            if "reports_url" in carried:
                reports_url = previous.reports_url
        if cooccurrence is not None and estimates:
            # The devices reported under the current release's section: its tasks' K
            # and pad say how they drew (see collected_shape), its popularity task's noise
            # how to pool the two releases (pooled_estimates).
            section = previous.secure_aggregation if previous is not None else None
            estimates = pooled_estimates(cooccurrence, estimates, section)
            collaborative = collaborative_target(
                cooccurrence, ids, estimates, CollaborativeParams(), section
            )
        # The name names a folder: only a name that passed the devices' rule gets here.
        model_folder = repo.models_dir / catalog_name / f"v{version}"
        built = build_catalog_files(
            items,
            taxonomy,
            staging,
            name=catalog_name,
            version=version,
            built_at=now,
            params=params,
            estimates=estimates,
            notices=notices,
            reports_url=reports_url,
            reporting=reporting,
            secure_aggregation=secure_aggregation,
            collaborative=collaborative,
            model_folder=model_folder,
            progress=progress,
            cluster=cluster,
        )
        targets_version = repo.publish_targets(
            {f: staging / f for f in built.manifest.files}, expiries=expiries, now=now
        )
    return PublishResult(
        built.manifest,
        targets_version,
        model_folder,
        built.unknown_popularity_ids,
        tuple(carried),
    )


def _check_reports_url(url: str) -> str:
    """``url`` if devices would accept it as where reports go; :class:`InputError` if not."""
    try:
        return check_endpoint(url, "the reports URL")
    except ValueError as exc:
        raise InputError(_("{exc}; nothing was published").format(exc=exc)) from None
