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
from discreet.catalog.items import read_items
from discreet.catalog.manifest import (
    NAME_RULE,
    Manifest,
    Notice,
    check_name,
    load_notices,
)
from discreet.catalog.popularity import load_estimates
from discreet.catalog.taxonomy import load_taxonomy
from discreet.errors import CatalogNameInvalidError, InputError
from discreet.i18n import _
from discreet.protocol.params import ReportingParams, ReportingPolicy
from discreet.publish.collaborative import (
    CollaborativeParams,
    collaborative_target,
    read_cooccurrence,
)
from discreet.publish.repository import Expiries, PublisherRepository, utc_now
from discreet.secagg.mode import SecureAggregation

DEFAULT_NAME = "catalog"
DEFAULT_REPORTING = ReportingPolicy()


@dataclass(frozen=True)
class PublishResult:
    """What a ``publish build`` released."""

    manifest: Manifest
    targets_version: int
    model_folder: Path
    unknown_popularity_ids: int

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
        }


def current_manifest(repo: PublisherRepository) -> Manifest | None:
    """The manifest of the repository's current release, if any."""
    target = repo.current_targets().get("catalog/manifest.json")
    if target is None:
        return None
    return Manifest.from_json(_json.loads(repo.target_path(target).read_bytes()))


def _check_name(name: str) -> str:
    try:
        return check_name(name)
    except ValueError:
        raise CatalogNameInvalidError(
            f"catalog name {name!r} is not one devices accept; use {NAME_RULE} "
            "(nothing was published)"
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
    reporting: ReportingPolicy | ReportingParams | None = DEFAULT_REPORTING,
    secure_aggregation: SecureAggregation | None = None,
    cooccurrence_path: str | Path | None = None,
    params: EmbeddingParams | None = None,
    expiries: Expiries | None = None,
    now: dt.datetime | None = None,
    progress: Progress = no_progress,
) -> PublishResult:
    """Build a new catalog version from the input files and publish it, signed.

    All inputs are validated before anything is written: if any item is
    invalid, or ``name`` is not a name devices accept, the repository is left
    exactly as it was. ``cooccurrence_path`` (the file ``publish collect``
    writes for the co-occurrence task, with ``popularity_path`` beside it) adds
    the collaborative target (:mod:`discreet.publish.collaborative`).

    >>> repo = PublisherRepository.open("repo")  # doctest: +SKIP
    >>> publish_catalog(repo, "items.csv", "taxonomy.json").manifest.version  # doctest: +SKIP
    1
    """
    now = now or utc_now()
    if name is not None:
        _check_name(name)
    taxonomy = load_taxonomy(taxonomy_path)
    items = read_items(items_path, taxonomy)
    estimates = load_estimates(popularity_path) if popularity_path else None
    if notices_path:
        notices = notices + load_notices(notices_path)
    collaborative = None
    if cooccurrence_path is not None:
        if not estimates:
            raise InputError(
                _("--cooccurrence needs the same collection's popularity; pass --popularity")
            )
        collaborative = collaborative_target(
            read_cooccurrence(cooccurrence_path),
            [item.id for item in items],
            estimates,
            CollaborativeParams(),
        )
    if isinstance(reporting, ReportingPolicy):
        reporting = reporting.params_for(taxonomy.reportable_ids, len(items))
    reporting = reporting or ReportingParams()
    try:
        reporting.check_fits(len(items), taxonomy.ids, taxonomy.sensitive_ids)
    except ValueError as exc:
        raise InputError(f"the reporting parameters do not fit this catalog ({exc})") from None
    if secure_aggregation is not None:
        try:
            secure_aggregation.check_fits([item.id for item in items])
        except ValueError as exc:
            raise InputError(
                f"the secure-aggregation task does not fit this catalog ({exc})"
            ) from None
    with repo.lock():
        previous = current_manifest(repo)
        version = previous.version + 1 if previous else 1
        catalog_name = name if name is not None else previous.name if previous else DEFAULT_NAME
        # The name names a folder: only a name that passed the devices' rule gets here.
        model_folder = repo.models_dir / catalog_name / f"v{version}"
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=repo.path))
        try:
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
                reporting=reporting,
                secure_aggregation=secure_aggregation,
                collaborative=collaborative,
                model_folder=model_folder,
                progress=progress,
            )
            targets_version = repo.publish_targets(
                {f: staging / f for f in built.manifest.files}, expiries=expiries, now=now
            )
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return PublishResult(
        built.manifest, targets_version, model_folder, built.unknown_popularity_ids
    )
