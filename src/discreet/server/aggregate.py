"""The server side of private reports: sketches per catalog, and published estimates.

Reports are folded into one :class:`~discreet.protocol.sketch.Sketch` per
(period, kind, catalog version); sketches from several servers or batches
merge by addition. Estimates are unbiased, come with standard errors, and are
published only above a minimum number of reports (default 1,000), optionally
with central Laplace noise on top, drawn once per release.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from discreet.errors import EstimateUnavailableError
from discreet.i18n import _
from discreet.protocol.oracle import FloatArray, FrequencyOracle
from discreet.protocol.params import ReportingParams
from discreet.protocol.report import Report
from discreet.protocol.sketch import Sketch

DEFAULT_MIN_REPORTS = 1_000
SketchKey = tuple[str, str, int]  # (period, kind, catalog version)


@dataclass(frozen=True)
class Estimates:
    """Estimated counts per domain value (index 0 is "none"), with standard errors."""

    period: str
    kind: str
    catalog_version: int
    reports: int
    values: FloatArray
    stderr: FloatArray
    scale: float = 1.0

    def labelled(self, labels: Sequence[str]) -> dict[str, dict[str, float]]:
        """Estimates keyed by label, "none" left out; ``labels[i]`` names domain value i + 1."""
        if len(labels) != len(self.values) - 1:
            raise ValueError("one label per domain value (after 'none') is needed")
        return {
            label: {
                "estimate": float(self.values[i + 1] * self.scale),
                "stderr": float(self.stderr[i + 1] * self.scale),
            }
            for i, label in enumerate(labels)
        }

    def document(self, labels: Sequence[str]) -> dict[str, Any]:
        """The JSON that ``publish estimates`` prints and ``publish build --popularity`` reads."""
        return {
            "format": "discreet-estimates",
            "format_version": 1,
            "period": self.period,
            "kind": self.kind,
            "catalog_version": self.catalog_version,
            "reports": self.reports,
            "none": {"estimate": float(self.values[0]), "stderr": float(self.stderr[0])},
            "estimates": self.labelled(labels),
        }


def unit_laplace_noise(size: int, rng: np.random.Generator) -> FloatArray:
    """``size`` draws of Laplace(0, 1) noise: one release's noise, before scaling."""
    return np.asarray(rng.laplace(0.0, 1.0, size=size), dtype=np.float64)


def below_threshold(period: str, kind: str, min_reports: int) -> EstimateUnavailableError:
    """The one answer for every key below the threshold, with no report count in it.

    Zero reports and ``min_reports - 1`` read the same: below the threshold
    nothing about the count is disclosed.
    """
    return EstimateUnavailableError(
        _(
            "{kind} estimates for {period} are published only from "
            "{min_reports} reports on, and that threshold is not reached "
            "(counts below it are not disclosed)"
        ).format(kind=kind, period=period, min_reports=min_reports)
    )


@dataclass
class Aggregator:
    """Sketches of every (period, kind, catalog version) a server has received.

    ``catalogs`` maps each published catalog version to its reporting parameters.
    """

    catalogs: Mapping[int, ReportingParams]
    sketches: dict[SketchKey, Sketch] = field(default_factory=dict)

    def params_for(self, kind: str, catalog_version: int) -> FrequencyOracle:
        """The oracle of ``kind`` in ``catalog_version``; raise ``ValueError`` if none."""
        reporting = self.catalogs.get(catalog_version)
        if reporting is None:
            raise ValueError(f"catalog version {catalog_version} was never published")
        if kind not in reporting.kinds:
            raise ValueError(f"catalog version {catalog_version} takes no {kind} reports")
        return reporting.kinds[kind].oracle

    def check(self, report: Report) -> FrequencyOracle:
        """Validate a report against its catalog's parameters; raise ``ValueError``."""
        params = self.params_for(report.kind, report.catalog_version)
        if report.mechanism != params.mechanism:
            raise ValueError("the report's mechanism does not match its catalog")
        if not 0 <= report.payload < params.payload_limit:
            raise ValueError("the report's payload is out of range")
        return params

    def ingest(self, reports: Iterable[Report]) -> int:
        """Validate every report first, then fold them all in; return how many."""
        batches: dict[SketchKey, list[int]] = {}
        for report in reports:
            self.check(report)
            key = (report.period, report.kind, report.catalog_version)
            batches.setdefault(key, []).append(report.payload)
        for key, payloads in batches.items():
            sketch = self.sketches.get(key)
            if sketch is None:
                sketch = self.sketches[key] = Sketch.empty(self.params_for(key[1], key[2]))
            sketch.add(payloads)
        return sum(len(p) for p in batches.values())

    def estimates(
        self,
        period: str,
        kind: str,
        catalog_version: int,
        *,
        min_reports: int = DEFAULT_MIN_REPORTS,
        central_noise: float | None = None,
        noise: FloatArray | None = None,
        rng: np.random.Generator | None = None,
    ) -> Estimates:
        """Unbiased estimates with standard errors, or :class:`EstimateUnavailableError`.

        ``central_noise`` adds Laplace noise of that scale b to every published
        estimate, for publishers who want a central guarantee on top of the
        local one. The noise is ``b * noise``: ``noise`` is the release's one
        draw of standard Laplace noise, one value per domain value, which
        :class:`~discreet.server.storage.ReportStore` keeps, so that repeated
        queries (and restarts) return the same figures and averaging them
        gains nothing. Without ``noise`` it is drawn from ``rng``.

        Every published figure is computed from the noised estimates only: the
        standard errors are those of the clipped noised estimates, widened by
        the noise's variance 2b², so they reveal nothing the estimates do not.
        """
        sketch = self.sketches.get((period, kind, catalog_version))
        reports = sketch.n if sketch else 0
        if sketch is None or reports < min_reports:
            raise below_threshold(period, kind, min_reports)
        params = sketch.oracle
        values = params.estimate(sketch.vector, reports)
        if central_noise:
            if noise is None:
                if rng is None:
                    raise ValueError("central noise needs a random generator")
                noise = unit_laplace_noise(params.domain_size, rng)
            if noise.shape != values.shape:
                raise ValueError("the stored noise does not fit this sketch")
            values = values + central_noise * noise
            stderr = np.sqrt(params.standard_errors(values, reports) ** 2 + 2 * central_noise**2)
        else:
            stderr = params.standard_errors(values, reports)
        scale = float(self.catalogs[catalog_version].kinds[kind].pad_length)
        return Estimates(period, kind, catalog_version, reports, values, stderr, scale)


def labels_for(kind: str, reporting: ReportingParams, item_ids: Sequence[str]) -> list[str]:
    """The label of each domain value after "none": category ids or item ids."""
    if kind == "category":
        return list(reporting.kinds[kind].categories)
    return list(item_ids)


def simulate_estimates(
    reporting: ReportingParams,
    kind: str,
    values: np.ndarray[Any, np.dtype[np.int64]],
    rng: np.random.Generator,
    *,
    catalog_version: int = 1,
    period: str = "2026-W01",
    min_reports: int = 0,
) -> Estimates:
    """Estimates from simulated devices whose sampled domain values are ``values``.

    Every device's value goes through the same oracle code a device runs
    (:meth:`FrequencyOracle.privatise_many` draws from the same distribution as
    :meth:`FrequencyOracle.privatise`), and the reports through the same
    aggregation a server runs. The evaluation harness and the demo use it.
    """
    oracle = reporting.kinds[kind].oracle
    aggregator = Aggregator({catalog_version: reporting})
    sketch = Sketch.empty(oracle)
    sketch.add(oracle.privatise_many(values, rng))
    aggregator.sketches[(period, kind, catalog_version)] = sketch
    return aggregator.estimates(period, kind, catalog_version, min_reports=min_reports)
