"""The README's examples run as written: the device's CLI tour and the Python API.

Each is read from README.md itself, so an example that stops working, or a
README edited into one that does not work, fails here.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from discreet.cli import main
from discreet.demo_data import publish_demo_catalog
from discreet.publish.repository import PublisherRepository
from discreet.store._hazmat import Argon2Params
from tests.conftest import MemoryKeyring

README = Path(__file__).resolve().parent.parent / "README.md"

#: Tour lines that need what a test does not have: the network, a second
#: passphrase, MovieLens, or that end the profile the lines after them use.
NOT_HERE = (
    "sync --from https://",
    "sync --timeout",
    "passphrase change",
    "profile erase",
    "profile restore",
    "report send",
    "eval ",
)


def _blocks(language: str, after: str) -> list[str]:
    """The fenced ``language`` blocks of the README after the line ``after``, in order."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{after}\n")
    return re.findall(rf"```{language}\n(.*?)```", text[start:], flags=re.DOTALL)


def _device_tour() -> list[str]:
    """The device tour's commands, comments and optional ``[...]`` parts taken out."""
    commands = []
    for line in _blocks("bash", "Device:")[0].splitlines():
        command = re.sub(r"\s+#.*$", "", line).strip()
        command = re.sub(r"\s*\[[^]]*\]", "", command)
        if command.startswith("discreet ") and not any(s in command for s in NOT_HERE):
            commands.append(command)
    return commands


@pytest.fixture
def demo_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bundled bookshop published into ``./repo``, as the tour's first sync expects."""
    monkeypatch.chdir(tmp_path)
    publish_demo_catalog(PublisherRepository.init(tmp_path / "repo"))
    return tmp_path / "repo"


def test_the_device_tour_runs_as_written(
    demo_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DISCREET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DISCREET_PASSPHRASE", "a long enough passphrase")
    tour = _device_tour()
    assert len(tour) >= 12, tour
    for command in tour:
        code = main(shlex.split(command)[1:])
        out, err = capsys.readouterr()
        assert code == 0, f"{command}: {err}"
        if command.startswith("discreet like"):
            assert out.startswith("recorded a like"), f"{command}: {out}"


def test_the_python_api_examples_run_as_written(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: MemoryKeyring,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    catalog_block, profiles_block = _blocks("python", "## Python API")[:2]
    namespace: dict[str, object] = {}
    exec(compile(catalog_block, "README", "exec"), namespace)
    exec(compile(profiles_block, "README", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "because you engaged with Children of the Tidewater" in printed
    assert namespace["why"].item_id == "lb-0002"  # type: ignore[attr-defined]


def test_the_readme_states_the_argon2id_cost_the_code_uses() -> None:
    """The data card's words come from :class:`Argon2Params`; the README's must match."""
    defaults = Argon2Params()
    text = README.read_text(encoding="utf-8")
    stated = re.search(r"Argon2id, (\d+) MiB, (\d+) passes", text)
    assert stated is not None
    assert (int(stated[1]), int(stated[2])) == (defaults.memory_kib // 1024, defaults.iterations)
