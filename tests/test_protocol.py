"""The shared wire protocol: reporting parameters parsed once, checked against the catalog."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from discreet.catalog.manifest import Manifest
from discreet.errors import CatalogInvalidError, InputError
from discreet.protocol import (
    KindParams,
    LocalHashing,
    RandomisedResponse,
    ReportingParams,
    choose_oracle,
)
from discreet.protocol.report import period_code
from discreet.publish.repository import PublisherRepository

CATEGORIES = ("fiction", "travel", "health")
SENSITIVE = ("health",)


def _params(**kinds: KindParams) -> ReportingParams:
    return ReportingParams(kinds, "week", 2.0)


def test_default_parameters_fit_and_round_trip() -> None:
    params = ReportingParams.default_for(["fiction", "travel"], item_count=300)
    params.check_fits(300, CATEGORIES, SENSITIVE)
    assert ReportingParams.from_json(json.loads(json.dumps(params.to_json()))) == params
    assert ReportingParams.from_json({}) == ReportingParams()
    assert not ReportingParams().enabled


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (_params(item=KindParams(choose_oracle(300, 1.0), 8)), "item report domain"),
        (
            _params(item=KindParams(choose_oracle(301, 1.0), 8, ("fiction",))),
            "lists categories",
        ),
        (
            _params(category=KindParams(RandomisedResponse(1.0, 4), 1, ("fiction", "travel"))),
            "category report domain does not match",
        ),
        (
            _params(category=KindParams(RandomisedResponse(1.0, 3), 1, ("fiction", "health"))),
            "unknown or sensitive",
        ),
        (
            _params(category=KindParams(RandomisedResponse(1.0, 3), 1, ("fiction", "poetry"))),
            "unknown or sensitive",
        ),
        (
            ReportingParams(
                {"item": KindParams(LocalHashing(3.0, 301, 2), 8)}, "week", epsilon_per_period=2.0
            ),
            "more than the period's budget",
        ),
    ],
)
def test_parameters_that_do_not_fit_the_catalog_are_refused(
    params: ReportingParams, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        params.check_fits(300, CATEGORIES, SENSITIVE)


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"format_version": 2, "period": "week", "epsilon_per_period": 2.0, "kinds": {}},
        {"format_version": 1, "period": "week", "epsilon_per_period": 2.0, "kinds": {}},
        {"format_version": 1, "period": "day", "epsilon_per_period": 2.0, "kinds": {"item": {}}},
        {"format_version": 1, "period": "week", "epsilon_per_period": "2", "kinds": {}},
        {"format_version": 1, "period": "week", "epsilon_per_period": 2.0, "extra": 1},
        {
            "format_version": 1,
            "period": "week",
            "epsilon_per_period": 2.0,
            "kinds": {"age": {"oracle": {"mechanism": "grr", "epsilon": 1, "domain_size": 3}}},
        },
        {
            "format_version": 1,
            "period": "week",
            "epsilon_per_period": 2.0,
            "kinds": {
                "item": {
                    "oracle": {"mechanism": "grr", "epsilon": 1, "domain_size": 3},
                    "pad_length": 0,
                }
            },
        },
        {
            "format_version": 1,
            "period": "week",
            "epsilon_per_period": 2.0,
            "kinds": {
                "category": {
                    "oracle": {"mechanism": "grr", "epsilon": 1, "domain_size": 3},
                    "categories": ["a", "a"],
                }
            },
        },
        {"format_version": 1, "period": "week", "epsilon_per_period": 2.0, "kinds": {"item": {}}},
    ],
)
def test_malformed_reporting_sections_are_refused(bad: Any) -> None:
    with pytest.raises(ValueError):
        ReportingParams.from_json(bad)


def test_the_manifest_parses_reporting_once_into_a_typed_record(
    repo: PublisherRepository, publish: Callable[..., object]
) -> None:
    publish()
    path = repo.target_path(repo.current_targets()["catalog/manifest.json"])
    document = json.loads(path.read_bytes())
    manifest = Manifest.from_json(document)
    assert isinstance(manifest.reporting, ReportingParams)
    assert manifest.reporting.enabled
    assert manifest.to_json()["reporting"] == document["reporting"]
    document["reporting"]["kinds"]["item"]["oracle"]["mechanism"] = "rappor"
    with pytest.raises(CatalogInvalidError, match="reporting parameters are malformed"):
        Manifest.from_json(document)


def test_the_publisher_refuses_parameters_that_do_not_fit(
    repo: PublisherRepository, inputs: tuple[Path, Path]
) -> None:
    from discreet.publish.publisher import publish_catalog

    wrong = _params(item=KindParams(choose_oracle(3, 1.0), 8))
    with pytest.raises(InputError, match="do not fit"):
        publish_catalog(repo, inputs[0], inputs[1], reporting=wrong)
    assert repo.current_targets() == {}  # nothing was published


@pytest.mark.parametrize("period", [5, None, ["2026-W48"], "2026-W54", "2026W48", "²⁰²⁶-W48"])
def test_a_period_that_is_not_an_iso_week_is_a_value_error(period: Any) -> None:
    """Whatever JSON put there: handlers catch ``ValueError``, not ``AttributeError``."""
    with pytest.raises(ValueError, match="not an ISO week"):
        period_code(period)
