"""Every notebook (a jupytext percent script in notebooks/) converts and runs top to bottom.

The default run executes each one on its smoke settings (``SHARPEN_QUICK=1``: one small setting
per figure, the tiny GPT-2 of ``simulators.hf``), three of them by default (about 35 s of CPU; the
two heaviest quick runs are marked slow); ``-m slow`` runs them all as a reader does. Kernels
are this interpreter's (jupyter_client starts the ``python3`` kernel with ``sys.executable``,
the virtualenv's), with the command line's fast-compile XLA flags.
"""

import os
import sys
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
        "05_real_models.py",
    ):
        assert expected in names


def test_real_model_notebook_runs_the_tiny_gpt2():
    """Notebook 05 builds its model from a config; the real model appears in text only."""
    jupytext = pytest.importorskip("jupytext")
    code = "\n".join(
        c.source
        for c in jupytext.read(ROOT / "notebooks" / "05_real_models.py").cells
        if c.cell_type == "code"
    )
    assert "tiny_gpt2(" in code
    assert "from_pretrained" not in code and "smollm2" not in code.lower()


def _execute(path: Path, monkeypatch, *, quick: bool) -> None:
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    from paper_figs import cli

    # The kernel inherits this environment; monkeypatch restores it afterwards.
    if quick:
        monkeypatch.setenv("SHARPEN_QUICK", "1")
    else:
        monkeypatch.delenv("SHARPEN_QUICK", raising=False)
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))
    cli.prefer_fast_compiles()
    # One torch thread: the tiny GPT-2 gains nothing from more, and spinning threads compete
    # with the other test worker on 2 cores.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")

    nb = jupytext.read(path)
    assert any(c.cell_type == "markdown" for c in nb.cells)
    assert any(c.cell_type == "code" for c in nb.cells)
    nb.cells.insert(0, nbformat.v4.new_code_cell("import sys\nprint(sys.prefix)"))
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=300 if quick else 600,
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
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert printed.strip() == sys.prefix  # the kernel runs in this virtualenv


# The two heaviest notebooks (20-25 s each on 2 cores) run quick only with -m slow, beside every
# notebook's full run: the default suite keeps within its 10-minute budget.
_HEAVY_QUICK = {"02_coverage_and_bon.py", "03_sft_vs_rlhf.py"}


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=pytest.mark.slow) if p.name in _HEAVY_QUICK else p for p in NOTEBOOKS],
    ids=lambda p: p.name,
)
def test_notebook_executes_quick(path, monkeypatch):
    _execute(path, monkeypatch, quick=True)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path, monkeypatch):
    _execute(path, monkeypatch, quick=False)
