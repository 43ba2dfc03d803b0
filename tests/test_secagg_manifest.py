"""The reporting mode in the signed manifest: the secure-aggregation section, built by the
publisher from a task folder, parsed strictly on the device."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from discreet.catalog.manifest import Manifest
from discreet.cli import main
from discreet.errors import CatalogInvalidError, InputError
from discreet.publish.publisher import PublishResult
from discreet.publish.repository import PublisherRepository
from discreet.secagg.mode import SecureAggregation, check_endpoint
from discreet.secagg.task import Task, TaskFiles, b64, create_task

WHEN = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
ITEM_IDS = tuple(f"b{i}" for i in range(1, 9))
LEADER_URL, HELPER_URL = "https://leader.example/dap", "https://helper.example/dap"


@pytest.fixture(scope="module")
def task_files(tmp_path_factory: pytest.TempPathFactory) -> TaskFiles:
    return create_task(
        tmp_path_factory.mktemp("task") / "t",
        length=len(ITEM_IDS),
        max_weight=3,
        min_batch_size=2,
        epsilon=1.0,
        delta=1e-9,
        labels=ITEM_IDS,
    )


def _section(files: TaskFiles) -> SecureAggregation:
    return SecureAggregation(Task.load(files.task), LEADER_URL, HELPER_URL, 2.0, 4)


def _manifest(section: SecureAggregation | None) -> dict[str, Any]:
    manifest = Manifest("t", 1, WHEN, 8, 4, {}, "uniform", 2, secure_aggregation=section)
    return manifest.to_json()


def test_the_section_round_trips_and_names_the_mode(task_files: TaskFiles) -> None:
    doc = _manifest(_section(task_files))
    assert doc["reporting_mode"] == "secure-aggregation"
    parsed = Manifest.from_json(json.loads(json.dumps(doc)))
    assert parsed.reporting_mode == "secure-aggregation"
    assert parsed.secure_aggregation == _section(task_files)
    assert parsed.to_json() == doc


def test_a_manifest_that_names_no_mode_is_an_ldp_one(task_files: TaskFiles) -> None:
    doc = _manifest(None)
    assert doc["reporting_mode"] == "ldp"
    assert "secure_aggregation" not in doc
    older = {k: v for k, v in doc.items() if k != "reporting_mode"}  # before the field existed
    assert Manifest.from_json(older).reporting_mode == "ldp"
    assert Manifest.from_json(older).secure_aggregation is None


def _mutated(doc: dict[str, Any], path: tuple[str, ...], value: object) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(doc))
    target: Any = out
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


SA = "secure_aggregation"
HOSTILE: list[tuple[tuple[str, ...], object, str]] = [
    (("reporting_mode",), "both", "reporting_mode must be"),
    ((SA,), KeyError, "malformed"),
    ((SA, "leader"), "http://leader.example/dap", "must use https"),
    ((SA, "leader"), "https://user:pw@leader.example/", "no credentials"),
    ((SA, "leader"), "https://leader.example/?a=1", "no query"),
    ((SA, "leader"), "https://leader.example/\n", "control character"),
    ((SA, "leader"), "https://" + "a" * 3000, "at most 2048"),
    ((SA, "leader"), 7, "must be a URL"),
    ((SA, "helper"), LEADER_URL, "two different endpoints"),
    ((SA, "epsilon_per_period"), 0.5, "epsilon_per_period must be in"),
    ((SA, "epsilon_per_period"), 1e308 * 10, "epsilon_per_period must be in"),
    ((SA, "epsilon_per_period"), True, "must be a number"),
    ((SA, "format_version"), 3, "update the app"),
    ((SA, "pad_length"), 2, "pad_length must be in"),
    ((SA, "pad_length"), 10**6, "pad_length must be in"),
    ((SA, "pad_length"), 4.0, "pad_length must be an integer"),
    ((SA, "extra"), 1, "exactly the fields"),
    ((SA, "task", "vdaf", "length"), 10**6, "length must be at most"),
    ((SA, "task", "vdaf", "length"), -1, "task"),
    ((SA, "task", "vdaf", "max_weight"), 5000, "max_weight must be at most"),
    ((SA, "task", "vdaf", "type"), "Prio3Histogram", "Prio3MultihotCountVec tasks only"),
    ((SA, "task", "privacy", "epsilon"), float("nan"), "impossible"),
    ((SA, "task", "privacy", "delta"), 2, "delta must be in"),
    ((SA, "task", "privacy", "delta"), 0.9, "delta must be in"),
    ((SA, "task", "privacy", "epsilon"), 10**400, "out of range"),
    ((SA, "epsilon_per_period"), 10**400, "epsilon_per_period is out of range"),
    ((SA, "task", "vdaf", "chunk_length"), 10**7, "chunk_length must be in"),
    ((SA, "task", "vdaf", "chunk_length"), 10**30, "chunk_length must be in"),
    ((SA, "task", "vdaf", "chunk_length"), 0, "chunk_length must be in"),
    ((SA, "task", "task_id"), b64(b"short"), "malformed"),
    ((SA, "task", "hpke", "leader"), "AAAA", "malformed"),
    ((SA, "task", "labels"), ["b1"] * 8, "repeat an item"),
]


@pytest.mark.parametrize(("path", "value", "message"), HOSTILE)
def test_hostile_sections_are_refused_with_a_clear_error(
    task_files: TaskFiles, path: tuple[str, ...], value: object, message: str
) -> None:
    doc = _mutated(_manifest(_section(task_files)), path, value)
    with pytest.raises(CatalogInvalidError, match=message) as caught:
        Manifest.from_json(doc)
    assert "\n" not in str(caught.value)
    assert "report it to the publisher" in str(caught.value)


def test_an_ldp_manifest_with_a_section_is_refused(task_files: TaskFiles) -> None:
    doc = _mutated(_manifest(_section(task_files)), ("reporting_mode",), "ldp")
    with pytest.raises(CatalogInvalidError, match="carries no secure_aggregation"):
        Manifest.from_json(doc)


def test_the_same_key_for_both_aggregators_is_refused(task_files: TaskFiles) -> None:
    doc = _manifest(_section(task_files))
    hpke = doc[SA]["task"]["hpke"]
    with pytest.raises(CatalogInvalidError, match="two different HPKE keys"):
        Manifest.from_json(_mutated(doc, (SA, "task", "hpke", "helper"), hpke["leader"]))


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost/x", "http://[::1]:9/", LEADER_URL]
)
def test_endpoints_devices_accept(url: str) -> None:
    assert check_endpoint(url, "leader") == url


@pytest.mark.parametrize("url", ["http://10.0.0.1/", "ftp://leader.example/", "https:///x"])
def test_endpoints_devices_refuse(url: str) -> None:
    with pytest.raises(ValueError):
        check_endpoint(url, "leader")


def test_a_task_without_labels_counts_every_item(tmp_path: Path) -> None:
    files = create_task(
        tmp_path / "t", length=5, max_weight=2, min_batch_size=2, epsilon=1.0, delta=1e-9
    )
    section = SecureAggregation(Task.load(files.task), LEADER_URL, HELPER_URL, 1.0, 2)
    section.check_fits(5)
    with pytest.raises(ValueError, match="its length must be 8"):
        section.check_fits(ITEM_IDS)


def test_publish_build_puts_the_task_in_the_signed_release(
    task_files: TaskFiles,
    repo: PublisherRepository,
    publish: Callable[..., PublishResult],
) -> None:
    result = publish(secure_aggregation=_section(task_files))
    assert result.to_json()["reporting_mode"] == "secure-aggregation"
    target = repo.current_targets()["catalog/manifest.json"]
    served = Manifest.from_json(json.loads(repo.target_path(target).read_bytes()))
    assert served.secure_aggregation == _section(task_files)


def test_publish_build_refuses_a_task_naming_unknown_items(
    tmp_path: Path, repo: PublisherRepository, publish: Callable[..., PublishResult]
) -> None:
    files = create_task(
        tmp_path / "t",
        length=2,
        max_weight=1,
        min_batch_size=2,
        epsilon=1.0,
        delta=1e-9,
        labels=("b1", "nope"),
    )
    before = repo.current_targets()
    section = SecureAggregation(Task.load(files.task), LEADER_URL, HELPER_URL, 2, 1)
    with pytest.raises(InputError, match="'nope' is no catalog item"):
        publish(secure_aggregation=section)
    assert repo.current_targets() == before


def test_the_cli_reads_the_task_folder_and_the_endpoints(
    task_files: TaskFiles,
    repo: PublisherRepository,
    inputs: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ["publish", "build", str(inputs[0]), "--taxonomy", str(inputs[1]), "--repo"]
    base.append(str(repo.path))
    folder = str(task_files.task.parent)
    assert main([*base, "--secagg-task", folder, "--leader", LEADER_URL]) != 0
    assert "needs --secagg-task, --leader and --helper" in capsys.readouterr().err
    args = [*base, "--secagg-task", folder, "--leader", LEADER_URL, "--helper", HELPER_URL]
    assert main([*args, "--reporting-epsilon", "0.5", "--reporting-budget", "0.5"]) != 0
    assert "epsilon_per_period must be in" in capsys.readouterr().err
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reporting_mode"] == "secure-aggregation"
