"""Every figure folder follows the house layout, and its QUICK sweep makes a PNG with data on it."""

import dataclasses
import inspect

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from paper_figs._figlib import (  # noqa: E402
    FIGURES,
    SLOW_QUICK_SECONDS,
    figure_cost,
    figure_data,
    load_figure,
)
from paper_figs._store import ResultStore, setting_id  # noqa: E402

# QUICK sweeps that take more than a few seconds on 2 cores (each figure declares its cost in its
# sweep.py) run only with the slow tests.
SLOW = {name for name in FIGURES if figure_cost(name) > SLOW_QUICK_SECONDS}


@pytest.mark.parametrize("name", FIGURES)
def test_figure_folder_layout(name):
    spec = load_figure(name)
    sweep, make = spec.sweep, spec.make
    analysis = __import__(f"paper_figs.{name}.analysis", fromlist=["analysis"])
    assert dataclasses.is_dataclass(sweep.Setting) and sweep.Setting.__dataclass_params__.frozen
    assert "seed" in {f.name for f in dataclasses.fields(sweep.Setting)}
    assert isinstance(sweep.SWEEP, tuple) and isinstance(sweep.QUICK, tuple)
    assert sweep.QUICK and sweep.SWEEP
    for s in sweep.SWEEP + sweep.QUICK:
        assert isinstance(s, sweep.Setting)
    # Distinct settings have distinct result files.
    ids = [setting_id(s, spec.version) for s in sweep.SWEEP]
    assert len(set(ids)) == len(set(sweep.SWEEP)) == len(sweep.SWEEP)
    plots = [
        f for n, f in inspect.getmembers(analysis, inspect.isfunction) if n.startswith("plot_")
    ]
    assert plots, f"{name}.analysis has no plot_* function"
    for f in plots:
        params = list(inspect.signature(f).parameters.values())
        assert params[0].name == "df" and params[1].name == "ax" and params[1].default is None
    assert isinstance(make.CAPTION, str) and len(make.CAPTION) > 100
    assert callable(make.make) and callable(make.plot)


def _check_png(path):
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200
    assert np.ptp(img[..., :3]) > 0.5  # not a blank canvas


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in FIGURES]
)
def test_quick_figure_smoke(name, tmp_path):
    spec = load_figure(name)
    store = ResultStore(tmp_path / "data")
    df = figure_data(spec.sweep, quick=True, store=store)
    assert len(df) > 0
    assert len(store.computed) == len(spec.sweep.QUICK)
    fig = spec.make.plot(df)
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    assert axes
    for ax in axes:
        assert ax.has_data(), f"{name}: an axes has no data"
        assert ax.get_xlabel() and ax.get_ylabel(), f"{name}: unlabelled axes"
    matplotlib.pyplot.close(fig)
    paths = spec.make.make(tmp_path / "figures", quick=True, store=store)
    # make() loaded every setting from the store instead of recomputing it.
    assert len(store.computed) == len(spec.sweep.QUICK)
    assert sorted(p.suffix for p in paths) == [".pdf", ".png"]
    assert all(p.exists() and p.stat().st_size > 1000 for p in paths)
    _check_png(paths[0] if paths[0].suffix == ".png" else paths[1])
