"""The notebooks run in the test suite, so they never rot; git keeps them without outputs."""

from __future__ import annotations

import runpy
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.shared_data import require_movielens

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize("name", ["ldp_accuracy.ipynb", "privacy_utility.ipynb"])
def test_notebook_executes(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: outputs must be stripped in git"
            assert cell.execution_count is None
    if any("ml-latest-small" in cell.source for cell in notebook.cells):
        require_movielens()  # read in place from ../shared, never from the repository
    client = NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError if any cell fails, assertions included
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert figures, f"{name} drew no figure"


def test_notebooks_match_their_generator(tmp_path: Path) -> None:
    generator = runpy.run_path(str(NOTEBOOKS.parent / "scripts" / "make_notebooks.py"))
    generator["write"]("ldp_accuracy.ipynb", generator["LDP"], tmp_path)
    generator["write"]("privacy_utility.ipynb", generator["UTILITY"], tmp_path)
    for name in ("ldp_accuracy.ipynb", "privacy_utility.ipynb"):
        assert (tmp_path / name).read_bytes() == (NOTEBOOKS / name).read_bytes(), (
            f"{name} is stale: run python scripts/make_notebooks.py"
        )
