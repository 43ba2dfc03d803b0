"""The reporting parameters: one frozen object, shipped in the signed catalog manifest.

Devices privatise and servers estimate from the very same object (the
manifest's ``reporting`` section), so the two halves can never disagree on a
mechanism's constants. A user's consent is to these exact parameters: a
catalog that changes them needs fresh consent before anything is sent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from discreet.catalog.taxonomy import Taxonomy
from discreet.errors import CatalogInvalidError
from discreet.privacy.oracles import OracleParams

if TYPE_CHECKING:
    from discreet.catalog.reader import Catalog

REPORTING_FORMAT_VERSION = 1
KINDS = ("category", "item")
PERIODS = ("week",)
NONE = "none"  # index 0 of every domain: "nothing to report"


@dataclass(frozen=True)
class KindParams:
    """How one kind of report is made: its oracle and its sampling."""

    oracle: OracleParams
    #: Histories are padded with "none" up to this length before sampling, so
    #: that estimates follow interaction counts rather than counting each user once.
    pad_length: int = 1
    #: For categories: the category ids, in domain order after "none".
    categories: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        out: dict[str, Any] = {"oracle": self.oracle.to_json(), "pad_length": self.pad_length}
        if self.categories:
            out["categories"] = list(self.categories)
        return out

    @classmethod
    def from_json(cls, data: Any) -> KindParams:
        """Parse; raise ``ValueError`` if malformed."""
        if not isinstance(data, Mapping) or not set(data) <= {"oracle", "pad_length", "categories"}:
            raise ValueError("malformed report kind")
        pad = data.get("pad_length", 1)
        if not isinstance(pad, int) or isinstance(pad, bool) or not 1 <= pad <= 10_000:
            raise ValueError("pad_length must be 1-10000")
        categories = data.get("categories", [])
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            raise ValueError("categories must be a list of ids")
        return cls(OracleParams.from_json(data["oracle"]), pad, tuple(categories))


@dataclass(frozen=True)
class ReportingPolicy:
    """The publisher's choices, turned into :class:`ReportingParams` once the catalog is known."""

    epsilon: float = 1.0
    epsilon_per_period: float = 2.0
    item_pad_length: int = 8
    kinds: tuple[str, ...] = KINDS

    def __post_init__(self) -> None:
        if not 0 < self.epsilon <= self.epsilon_per_period <= 10:
            raise ValueError("reporting needs 0 < epsilon <= epsilon per period <= 10")
        if not 1 <= self.item_pad_length <= 10_000:
            raise ValueError("the item pad length must be 1-10000")
        if not set(self.kinds) <= set(KINDS):
            raise ValueError(f"report kinds are {', '.join(KINDS)}")

    def params_for(self, taxonomy: Taxonomy, item_count: int) -> ReportingParams:
        """The parameters for a catalog with this taxonomy and item count."""
        return ReportingParams.default_for(
            taxonomy,
            item_count,
            epsilon=self.epsilon,
            epsilon_per_period=self.epsilon_per_period,
            item_pad_length=self.item_pad_length,
            kinds=self.kinds,
        )


@dataclass(frozen=True)
class ReportingParams:
    """The whole reporting contract between a catalog's publisher and its devices.

    >>> params = ReportingParams.default_for(taxonomy, item_count=300)  # doctest: +SKIP
    >>> ReportingParams.from_json(params.to_json()) == params  # doctest: +SKIP
    True
    """

    kinds: Mapping[str, KindParams] = field(default_factory=dict)
    period: str = "week"
    epsilon_per_period: float = 2.0
    format_version: int = REPORTING_FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.period not in PERIODS:
            raise ValueError(f"period must be one of {', '.join(PERIODS)}")
        if not 0 < self.epsilon_per_period <= 10 or not math.isfinite(self.epsilon_per_period):
            raise ValueError("epsilon_per_period must be in (0, 10]")
        for kind in self.kinds:
            if kind not in KINDS:
                raise ValueError(f"unknown report kind {kind!r}")

    @property
    def enabled(self) -> bool:
        """Whether the catalog asks for any reports at all."""
        return bool(self.kinds)

    def to_json(self) -> dict[str, Any]:
        """The manifest's ``reporting`` section."""
        if not self.kinds:
            return {}
        return {
            "format_version": self.format_version,
            "period": self.period,
            "epsilon_per_period": self.epsilon_per_period,
            "kinds": {k: v.to_json() for k, v in sorted(self.kinds.items())},
        }

    @classmethod
    def from_json(cls, data: Any) -> ReportingParams:
        """Parse a manifest's ``reporting`` section (``{}`` means reporting is off)."""
        if data in ({}, None):
            return cls()
        if not isinstance(data, Mapping):
            raise ValueError("reporting must be an object")
        if data.get("format_version") != REPORTING_FORMAT_VERSION:
            raise ValueError("unsupported reporting format")
        kinds = data.get("kinds")
        if not isinstance(kinds, Mapping):
            raise ValueError("reporting.kinds must be an object")
        epsilon = data.get("epsilon_per_period")
        if isinstance(epsilon, bool) or not isinstance(epsilon, int | float):
            raise ValueError("epsilon_per_period must be a number")
        return cls(
            {str(k): KindParams.from_json(v) for k, v in kinds.items()},
            str(data.get("period")),
            float(epsilon),
        )

    @classmethod
    def for_catalog(cls, catalog: Catalog) -> ReportingParams:
        """A catalog's signed reporting parameters; raise :class:`CatalogInvalidError`."""
        try:
            return cls.from_json(dict(catalog.manifest.reporting))
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogInvalidError(
                f"the catalog's reporting parameters are malformed ({exc}); sync a newer catalog"
            ) from None

    @classmethod
    def default_for(
        cls,
        taxonomy: Taxonomy,
        item_count: int,
        *,
        epsilon: float = 1.0,
        epsilon_per_period: float = 2.0,
        item_pad_length: int = 8,
        kinds: Sequence[str] = KINDS,
    ) -> ReportingParams:
        """Sensible parameters for a catalog: sensitive categories are not even in the domain."""
        reportable = tuple(c for c in taxonomy.ids if c not in taxonomy.sensitive_ids)
        out: dict[str, KindParams] = {}
        if "category" in kinds:
            oracle = OracleParams.choose(len(reportable) + 1, epsilon)
            out["category"] = KindParams(oracle, 1, reportable)
        if "item" in kinds:
            out["item"] = KindParams(OracleParams.choose(item_count + 1, epsilon), item_pad_length)
        return cls(out, "week", epsilon_per_period)
