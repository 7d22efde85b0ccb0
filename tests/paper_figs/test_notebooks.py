"""Every notebook (a jupytext percent script in notebooks/) converts and runs top to bottom.

Together they take well over a minute on 2 cores (each starts a kernel and compiles its own JAX
programs), so they run with the slow tests.
"""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def test_notebooks_are_found():
    names = {p.name for p in NOTEBOOKS}
    for expected in (
        "01_tour.py",
        "02_coverage_and_bon.py",
        "03_sft_vs_rlhf.py",
        "04_lower_bound.py",
    ):
        assert expected in names


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    nb = jupytext.read(path)
    assert any(c.cell_type == "markdown" for c in nb.cells)
    assert any(c.cell_type == "code" for c in nb.cells)
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=600,
        # Run from the repository root so the packages import without installation.
        resources={"metadata": {"path": str(ROOT)}},
    )
    client.execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors
