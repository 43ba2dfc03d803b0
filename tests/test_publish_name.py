"""``publish build --name``: one rule for catalog names, checked before anything is written.

A name also names the folder of the fitted model (``REPO/models/NAME/vN``), and
every device refuses a manifest whose name breaks the rule; so a name the rule
refuses must neither reach the disk as a path nor be signed into a release.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from discreet.catalog.manifest import Manifest, check_name
from discreet.cli import main
from discreet.errors import CatalogInvalidError, CatalogNameInvalidError
from discreet.publish.publisher import publish_catalog
from discreet.publish.repository import PublisherRepository


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b""
        for p in sorted(folder.rglob("*"))
    }


REFUSED = ["../../../escaped", "Shop", "shop\n", "", "a/b", "-shop", "x" * 65, "café"]


@pytest.mark.parametrize("name", REFUSED)
def test_a_name_devices_refuse_is_never_published_nor_used_as_a_path(
    name: str, capsys: pytest.CaptureFixture[str], inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    work = tmp_path / "work"
    repo = work / "deep" / "er" / "repo"
    assert main(["publish", "init", str(repo)]) == 0
    capsys.readouterr()
    before = _tree(tmp_path)
    build = ["publish", "build", str(inputs[0]), "--taxonomy", str(inputs[1])]
    code = main([*build, "--repo", str(repo), f"--name={name}"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.startswith("discreet: error: catalog name ")
    assert err.count("\n") == 1
    assert "lowercase letters" in err
    assert _tree(tmp_path) == before  # nothing written, inside the repository or out of it


def test_an_absolute_name_writes_nothing_outside_the_repository(
    inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    repo = PublisherRepository.init(tmp_path / "repo")
    outside = tmp_path / "outside"
    with pytest.raises(CatalogNameInvalidError):
        publish_catalog(repo, inputs[0], inputs[1], name=str(outside))
    assert not outside.exists()
    assert repo.current_targets() == {}


def test_every_name_the_publisher_accepts_devices_accept(
    inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    repo = PublisherRepository.init(tmp_path / "repo")
    name = "a" + "-_9" * 21  # 64 characters, the longest allowed
    result = publish_catalog(repo, inputs[0], inputs[1], name=name)
    assert result.model_folder == repo.models_dir / name / "v1"
    assert (result.model_folder / "pipeline.joblib").is_file()
    signed = repo.target_path(repo.current_targets()["catalog/manifest.json"])
    assert Manifest.from_json(json.loads(signed.read_bytes())).name == name
    # A later build without --name keeps the name, and it still passes the rule.
    assert publish_catalog(repo, inputs[0], inputs[1]).manifest.name == name


@pytest.mark.parametrize("name", REFUSED)
def test_devices_apply_the_same_rule(name: str) -> None:
    with pytest.raises(ValueError):
        check_name(name)
    good = Manifest("shop", 1, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 3, 4, {}, "u", 2)
    doc = good.to_json()
    doc["catalog"]["name"] = name
    with pytest.raises(CatalogInvalidError, match="catalog name"):
        Manifest.from_json(doc)
