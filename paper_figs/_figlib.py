"""What every figure folder shares: the registry, run-or-load, saving, and plotting helpers.

A figure lives in ``paper_figs/fig_<name>/`` (DESIGN.md house style items 8-9):

* ``sweep.py``: a frozen-dataclass ``Setting`` with an explicit ``seed``, the full ``SWEEP`` and a
  small ``QUICK`` subset (tuples of settings), and ``run(setting) -> DataFrame`` (tidy rows);
* ``analysis.py``: ``plot_*(df, ax=None) -> Axes``, which never save or show;
* ``make.py``: ``CAPTION`` (what to see), ``plot(df)`` and ``make(out_dir, *, quick=False,
  store=None)``, which runs or loads the sweep, plots, and saves PNG and PDF.

Figures are discovered, not listed: every ``paper_figs/fig_*`` folder with a ``sweep.py`` and a
``make.py`` is a figure. Its ``sweep.py`` declares ``REPORT_ORDER`` (its place in the report;
figures without one come last, by name) and ``QUICK_CPU_SECONDS`` (the measured cost of its QUICK
sweep: ``sharpen reproduce`` hands the longest to the workers first, and above
:data:`SLOW_QUICK_SECONDS` its smoke test is marked slow). The declarations are read from the
source (no import), so listing the figures costs nothing. A figure outside the library is the
same folder in any importable package, named by its dotted module path (``"my_pkg.fig_mine"``):
:func:`load_figure`, :func:`figure_data` and ``reproduce(figures=...)`` accept it.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from ._store import ResultStore, collect, source_version

# A QUICK sweep that takes longer than this (CPU seconds on 2 cores) runs only with the slow tests.
SLOW_QUICK_SECONDS = 5.0

_PACKAGE = Path(__file__).resolve().parent


def _declared(sweep_file: Path, name: str, default: Any) -> Any:
    """A module-level ``NAME = <literal>`` of a sweep file, read without importing it."""
    tree = ast.parse(sweep_file.read_text(), filename=str(sweep_file))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError as err:
                raise ValueError(f"{sweep_file}: {name} must be a literal") from err
    return default


def _folder(name: str) -> Path:
    """The folder of figure ``name`` (a library figure ``fig_x`` or a dotted package path)."""
    if "." not in name:
        return _PACKAGE / name
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"figure {name!r}: no importable package of that name")
    return Path(next(iter(spec.submodule_search_locations)))


def figure_cost(name: str) -> float:
    """The declared ``QUICK_CPU_SECONDS`` of a figure (``inf`` when it declares none)."""
    return float(_declared(_folder(name) / "sweep.py", "QUICK_CPU_SECONDS", math.inf))


def discover_figures() -> tuple[str, ...]:
    """The library's figures: every ``paper_figs/fig_*`` folder with ``sweep.py`` and ``make.py``,
    in their declared ``REPORT_ORDER`` (then by name)."""
    found = []
    for folder in sorted(_PACKAGE.glob("fig_*")):
        if (folder / "sweep.py").is_file() and (folder / "make.py").is_file():
            order = _declared(folder / "sweep.py", "REPORT_ORDER", math.inf)
            found.append((order, folder.name))
    return tuple(name for _, name in sorted(found))


# Every figure of the reproduction, in the order of the report (discovered).
FIGURES: tuple[str, ...] = discover_figures()


@dataclass(frozen=True)
class FigureSpec:
    """A figure folder's modules, imported."""

    name: str
    sweep: ModuleType
    make: ModuleType

    @property
    def version(self) -> str:
        """The code version of the sweep (hash of its ``sweep.py``), part of every result's name."""
        return sweep_version(self.sweep)

    def settings(self, quick: bool) -> tuple[Any, ...]:
        """The ``QUICK`` subset or the full ``SWEEP``."""
        return tuple(self.sweep.QUICK if quick else self.sweep.SWEEP)

    @property
    def caption(self) -> str:
        return self.make.CAPTION


def _module_base(name: str) -> str:
    return name if "." in name else f"paper_figs.{name}"


def check_figure_name(name: str) -> str:
    """``name`` if it is a library figure (one of :data:`FIGURES`) or a dotted package path (whose
    modules are checked when imported); else ``ValueError``."""
    if "." not in name and name not in FIGURES:
        raise ValueError(
            f"figure must be one of {FIGURES} or the dotted path of a figure package, got {name!r}"
        )
    return name


def load_figure(name: str) -> FigureSpec:
    """Imports a figure's ``sweep`` and ``make`` modules: a library figure by its folder name
    (one of :data:`FIGURES`) or a figure outside the library by its dotted package path."""
    base = _module_base(check_figure_name(name))
    try:
        sweep = importlib.import_module(f"{base}.sweep")
        make = importlib.import_module(f"{base}.make")
    except ModuleNotFoundError as err:
        if "." in name and err.name in (name, f"{base}.sweep", f"{base}.make"):
            raise ValueError(
                f"figure {name!r}: expected an importable package with sweep.py and make.py ({err})"
            ) from err
        raise
    return FigureSpec(name, sweep, make)


_VERSIONS: dict[str, str] = {}


def sweep_version(sweep: ModuleType) -> str:
    """The code version of a sweep module: the hash of its source, read once per process.

    Reading it once keeps every result of a run under one name even if the file is edited while
    the run goes on.
    """
    if sweep.__name__ not in _VERSIONS:
        _VERSIONS[sweep.__name__] = source_version(sweep.__file__)
    return _VERSIONS[sweep.__name__]


def figure_name(module: ModuleType) -> str:
    """The figure a module belongs to: ``fig_x`` for ``paper_figs.fig_x.<module>``, the dotted
    package path for a figure outside the library (``my_pkg.fig_mine`` for
    ``my_pkg.fig_mine.sweep``)."""
    parts = module.__name__.split(".")
    if len(parts) >= 3 and parts[0] == "paper_figs" and parts[1].startswith("fig_"):
        return parts[1]
    if len(parts) >= 2 and parts[0] != "paper_figs":
        return ".".join(parts[:-1])
    raise ValueError(f"{module.__name__} is not a module of a figure package")


def figure_data(
    sweep: ModuleType,
    *,
    quick: bool = False,
    store: ResultStore | None = None,
    progress: Any = None,
    settings: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Runs or loads every setting of ``sweep`` (``QUICK`` or ``SWEEP``, or the given ``settings``,
    e.g. a notebook's subset) as one tidy frame."""
    if settings is None:
        settings = sweep.QUICK if quick else sweep.SWEEP
    return collect(
        store,
        figure_name(sweep),
        settings,
        sweep_version(sweep),
        sweep.run,
        progress=progress,
    )


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float = 4.6, height: float = 3.6):
    """A matplotlib figure with ``nrows x ncols`` axes of a readable size (constrained layout)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, layout="constrained"
    )
    return fig, axes.ravel()


def save_figure(fig, out_dir: str | os.PathLike, name: str) -> list[Path]:
    """Saves ``fig`` as ``out_dir/name.png`` (150 dpi) and ``.pdf``, closes it, returns paths."""
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=150)
    # A fixed creation date keeps the PDF byte-stable across runs.
    fig.savefig(paths[1], metadata={"CreationDate": None})
    plt.close(fig)
    return paths


def get_ax(ax=None):
    """``ax`` or a fresh single axes (so ``plot_*(df)`` works on its own in a notebook)."""
    if ax is not None:
        return ax
    _, axes = new_figure()
    return axes[0]


def binomial_se(p, n):
    """Standard error ``sqrt(p (1 - p) / n)`` of a Monte Carlo frequency ``p`` over ``n`` trials."""
    p = np.asarray(p, dtype=float)
    n = np.asarray(n, dtype=float)
    return np.sqrt(np.clip(p * (1.0 - p), 0.0, None) / np.maximum(n, 1.0))


def mean_and_ci(
    df: pd.DataFrame, by: list[str], value: str, *, level: float = 0.95, n_boot: int = 2000
):
    """Mean of ``value`` per group over seeds, with a percentile bootstrap interval over the seeds.

    The resampling is deterministic (a fixed-seed JAX key), so a figure is the same on every run.

    Returns:
      DataFrame with the ``by`` columns and ``mean``, ``lo``, ``hi``, ``n``.
    """
    import jax

    rows = []
    key = jax.random.PRNGKey(0)
    for i, (group, sub) in enumerate(df.groupby(by, sort=True)):
        v = sub[value].to_numpy(dtype=float)
        m = float(np.mean(v))
        if len(v) > 1:
            idx = np.asarray(
                jax.random.randint(jax.random.fold_in(key, i), (n_boot, len(v)), 0, len(v))
            )
            boots = v[idx].mean(axis=1)
            lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
        else:
            lo = hi = m
        group = group if isinstance(group, tuple) else (group,)
        rows.append(
            {
                **dict(zip(by, group, strict=True)),
                "mean": m,
                "lo": float(lo),
                "hi": float(hi),
                "n": len(v),
            }
        )
    return pd.DataFrame(rows)


def set_log_ticks(axis, values, fmt: str = "{:g}") -> None:
    """Major ticks of a log-scale ``axis`` (``ax.xaxis`` or ``ax.yaxis``) at ``values``.

    Matplotlib labels minor ticks on log axes spanning less than a decade, which overlap; this
    puts labels only where the data are.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    values = sorted({float(v) for v in values})
    axis.set_major_locator(FixedLocator(values))
    axis.set_major_formatter(FuncFormatter(lambda v, _: fmt.format(v)))
    axis.set_minor_formatter(NullFormatter())
