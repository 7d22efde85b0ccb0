"""Pins the public API (DESIGN.md house style item 1) and where the packages are imported from.

The package names are generic (``theory``, ``simulators``, ...), so a test checks that each one is
imported from this repository and not from some other installed distribution of the same name.
"""

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("theory", "simulators", "bounds", "paper_figs")

# DESIGN.md's table of names other parts and users rely on.
THEORY_DESIGN_NAMES = {
    "argmax_set",
    "coverage",
    "adaptive_coverage",
    "sharpening_error",
    "kl_tilt",
    "bon_law",
    "concentrability",
    "kl",
    "hellinger_sq",
}
SIMULATORS_CORE_NAMES = {
    "Rollouts",
    "TabularPolicy",
    "AutoregressivePolicy",
    "MarkovPolicy",
    "LinearSoftmaxPolicy",
    "MultiLayerSoftmaxPolicy",
    "sample",
    "log_prob",
    "to_table",
    "greedy",
    "sequence_argmax",
    "make_oracle",
    "draw",
    "best_of_n",
    "sft_sharpening",
    "adaptive_sft_sharpening",
    "dpo_sharpening",
    "xpo_sharpening",
    "sweep",
    "ModelClass",
    "ColumnIndexedClass",
    "response_columns",
}


@pytest.mark.parametrize("name", PACKAGES)
def test_packages_are_imported_from_this_repository(name):
    module = importlib.import_module(name)
    assert Path(module.__file__).resolve().is_relative_to(ROOT), module.__file__


@pytest.mark.parametrize("name", ("theory", "simulators", "bounds"))
def test_all_names_exist_and_are_unique(name):
    module = importlib.import_module(name)
    assert len(module.__all__) == len(set(module.__all__))
    for attr in module.__all__:
        assert hasattr(module, attr), f"{name}.{attr} listed in __all__ but missing"


def test_design_names():
    import simulators
    import theory

    assert THEORY_DESIGN_NAMES <= set(theory.__all__)
    assert SIMULATORS_CORE_NAMES <= set(simulators.__all__)


def test_core_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, theory, simulators, bounds; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
