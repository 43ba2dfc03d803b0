"""The reporting parameters: one frozen record, shipped in the signed catalog manifest.

Devices privatise and servers estimate from the very same record (the
manifest's ``reporting`` section, parsed once into :class:`ReportingParams`
by :meth:`discreet.catalog.manifest.Manifest.from_json`), so the two halves
can never disagree on a mechanism's constants. A user's consent is to these
exact parameters: a catalog that changes them needs fresh consent before
anything is sent.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from discreet.protocol.mechanisms import choose_oracle, oracle_from_json
from discreet.protocol.oracle import FrequencyOracle, check_epsilon, json_number
from discreet.protocol.report import KINDS

REPORTING_FORMAT_VERSION = 1
PERIODS = ("week",)
NONE = "none"  # index 0 of every domain: "nothing to report"
MAX_PAD_LENGTH = 10_000


@dataclass(frozen=True)
class KindParams:
    """How one kind of report is made: its oracle and its sampling."""

    oracle: FrequencyOracle
    #: Histories are padded with "none" up to this length before sampling, so
    #: that estimates follow interaction counts rather than counting each user once.
    pad_length: int = 1
    #: For categories: the category ids, in domain order after "none".
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.pad_length <= MAX_PAD_LENGTH:
            raise ValueError(f"pad_length must be 1-{MAX_PAD_LENGTH}")
        if len(set(self.categories)) != len(self.categories):
            raise ValueError("the category list repeats a category")

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
        if not isinstance(pad, int) or isinstance(pad, bool):
            raise ValueError(f"pad_length must be 1-{MAX_PAD_LENGTH}")
        categories = data.get("categories", [])
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            raise ValueError("categories must be a list of ids")
        if "oracle" not in data:
            raise ValueError("a report kind needs an oracle")
        return cls(oracle_from_json(data["oracle"]), pad, tuple(categories))


@dataclass(frozen=True)
class ReportingParams:
    """The whole reporting contract between a catalog's publisher and its devices.

    >>> params = ReportingParams.default_for(["fiction", "travel"], item_count=300)
    >>> sorted(params.kinds), params.kinds["category"].oracle.mechanism
    (['category', 'item'], 'grr')
    >>> ReportingParams.from_json(params.to_json()) == params
    True
    """

    kinds: Mapping[str, KindParams] = field(default_factory=dict)
    period: str = "week"
    epsilon_per_period: float = 2.0
    format_version: int = REPORTING_FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.period not in PERIODS:
            raise ValueError(f"period must be one of {', '.join(PERIODS)}")
        check_epsilon(self.epsilon_per_period)
        for kind in self.kinds:
            if kind not in KINDS:
                raise ValueError(f"unknown report kind {kind!r}")

    @property
    def enabled(self) -> bool:
        """Whether the catalog asks for any reports at all."""
        return bool(self.kinds)

    def to_json(self) -> dict[str, Any]:
        """The manifest's ``reporting`` section (``{}`` when reporting is off)."""
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
        """Parse a manifest's ``reporting`` section (``{}`` means reporting is off).

        Raises ``ValueError`` for anything malformed.
        """
        if data in ({}, None):
            return cls()
        if not isinstance(data, Mapping):
            raise ValueError("reporting must be an object")
        if not set(data) <= {"format_version", "period", "epsilon_per_period", "kinds"}:
            raise ValueError("reporting has unknown fields")
        if data.get("format_version") != REPORTING_FORMAT_VERSION:
            raise ValueError("unsupported reporting format")
        kinds = data.get("kinds")
        if not isinstance(kinds, Mapping) or not kinds:
            raise ValueError("reporting.kinds must be a non-empty object")
        return cls(
            {str(k): KindParams.from_json(v) for k, v in kinds.items()},
            str(data.get("period")),
            json_number(data.get("epsilon_per_period"), "epsilon_per_period"),
        )

    def check_fits(
        self, item_count: int, categories: Collection[str], sensitive: Collection[str]
    ) -> None:
        """Raise ``ValueError`` unless these parameters fit a catalog of that shape.

        The item domain is every item plus "none"; the category domain lists
        known, non-sensitive categories only, so a sensitive topic can never
        be reported whatever a device does.
        """
        for kind, params in self.kinds.items():
            if kind == "item":
                if params.categories:
                    raise ValueError("the item report lists categories")
                if params.oracle.domain_size != item_count + 1:
                    raise ValueError("the item report domain does not match the catalog")
            else:
                if params.oracle.domain_size != len(params.categories) + 1:
                    raise ValueError("the category report domain does not match its list")
                if any(c not in categories or c in sensitive for c in params.categories):
                    raise ValueError(
                        "the category report domain names an unknown or sensitive category"
                    )
            if params.oracle.epsilon > self.epsilon_per_period:
                raise ValueError(f"the {kind} report costs more than the period's budget")

    @classmethod
    def default_for(
        cls,
        reportable_categories: Sequence[str],
        item_count: int,
        *,
        epsilon: float = 1.0,
        epsilon_per_period: float = 2.0,
        item_pad_length: int = 8,
        kinds: Sequence[str] = KINDS,
    ) -> ReportingParams:
        """Parameters for a catalog; pass only the categories that may be reported."""
        out: dict[str, KindParams] = {}
        if "category" in kinds:
            oracle = choose_oracle(len(reportable_categories) + 1, epsilon)
            out["category"] = KindParams(oracle, 1, tuple(reportable_categories))
        if "item" in kinds:
            out["item"] = KindParams(choose_oracle(item_count + 1, epsilon), item_pad_length)
        return cls(out, "week", epsilon_per_period)


@dataclass(frozen=True)
class ReportingPolicy:
    """The publisher's choices, turned into :class:`ReportingParams` once the catalog is known."""

    epsilon: float = 1.0
    epsilon_per_period: float = 2.0
    item_pad_length: int = 8
    kinds: tuple[str, ...] = KINDS

    def __post_init__(self) -> None:
        if not 0 < self.epsilon <= self.epsilon_per_period <= 10 or not math.isfinite(
            self.epsilon_per_period
        ):
            raise ValueError("reporting needs 0 < epsilon <= epsilon per period <= 10")
        if not 1 <= self.item_pad_length <= MAX_PAD_LENGTH:
            raise ValueError(f"the item pad length must be 1-{MAX_PAD_LENGTH}")
        if not set(self.kinds) <= set(KINDS):
            raise ValueError(f"report kinds are {', '.join(KINDS)}")

    def params_for(self, reportable_categories: Sequence[str], item_count: int) -> ReportingParams:
        """The parameters for a catalog with these reportable categories and item count."""
        return ReportingParams.default_for(
            reportable_categories,
            item_count,
            epsilon=self.epsilon,
            epsilon_per_period=self.epsilon_per_period,
            item_pad_length=self.item_pad_length,
            kinds=self.kinds,
        )
