"""The notebooks are committed executed, with their figures; the suite runs them again.

``scripts/make_notebooks.py`` (``make notebooks``) writes and executes them.
Every output is deterministic, so this test re-executes each committed
notebook and compares output by output: printed text exactly, and the figures
byte for byte, because they are SVG drawn with a fixed hash salt and no date
(the generator's ``FIGURES`` lines), so the same data draws the same bytes.
"""

from __future__ import annotations

import copy
import runpy
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.shared_data import require_movielens

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ["ldp_accuracy.ipynb", "privacy_utility.ipynb"]


@pytest.fixture(scope="module")
def generator() -> dict[str, Any]:
    return runpy.run_path(str(ROOT / "scripts" / "make_notebooks.py"))


def _sources(notebook: nbformat.NotebookNode) -> list[tuple[str, str, str]]:
    return [(c.id, c.cell_type, c.source) for c in notebook.cells]


def _outputs(notebook: nbformat.NotebookNode) -> list[list[dict[str, Any]]]:
    return [c.outputs for c in notebook.cells if c.cell_type == "code"]


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebooks_are_the_generator_s_and_executed(
    name: str, generator: dict[str, Any]
) -> None:
    committed = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert _sources(committed) == _sources(generator["build"](name)), (
        f"{name} is stale: run make notebooks"
    )
    outputs = [o for cell in _outputs(committed) for o in cell]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    figures = [o for o in outputs if "image/svg+xml" in o.get("data", {})]
    assert figures, f"{name} was committed without its figures"
    assert all(c.execution_count for c in committed.cells if c.cell_type == "code")


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_execute_to_their_committed_outputs(name: str, generator: dict[str, Any]) -> None:
    committed = nbformat.read(NOTEBOOKS / name, as_version=4)
    if any("ml-latest-small" in cell.source for cell in committed.cells):
        require_movielens()  # read in place from ../shared, never from the repository
    fresh = copy.deepcopy(committed)
    for cell in fresh.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    generator["execute"](fresh)  # raises CellExecutionError if any cell fails
    for number, (got, kept) in enumerate(zip(_outputs(fresh), _outputs(committed), strict=True)):
        assert got == kept, f"{name}, code cell {number}: the output differs; make notebooks?"
