"""The paper's figures (one folder each, discovered), the ``sharpen`` command, and the report.

Public names, for notebooks and a researcher's own figures:

* figures: :data:`FIGURES` (the library's, in report order), :func:`discover_figures`,
  :func:`load_figure` (a library figure or a dotted package path), :class:`FigureSpec`,
  :func:`figure_cost`, :data:`SLOW_QUICK_SECONDS`;
* data: :func:`figure_data` (run or load a figure's sweep as one tidy frame), :class:`ResultStore`
  (the verified, resumable store of per-setting results);
* plotting helpers: :func:`new_figure`, :func:`save_figure`, :func:`get_ax`,
  :func:`mean_and_ci`, :func:`binomial_se`, :func:`set_log_ticks`;
* the run: :func:`reproduce` (what ``sharpen reproduce`` does).
"""

from ._figlib import FIGURES as FIGURES
from ._figlib import SLOW_QUICK_SECONDS as SLOW_QUICK_SECONDS
from ._figlib import FigureSpec as FigureSpec
from ._figlib import binomial_se as binomial_se
from ._figlib import discover_figures as discover_figures
from ._figlib import figure_cost as figure_cost
from ._figlib import figure_data as figure_data
from ._figlib import get_ax as get_ax
from ._figlib import load_figure as load_figure
from ._figlib import mean_and_ci as mean_and_ci
from ._figlib import new_figure as new_figure
from ._figlib import save_figure as save_figure
from ._figlib import set_log_ticks as set_log_ticks
from ._reproduce import reproduce as reproduce
from ._store import ResultStore as ResultStore

__all__ = [
    "FIGURES",
    "SLOW_QUICK_SECONDS",
    "FigureSpec",
    "ResultStore",
    "binomial_se",
    "discover_figures",
    "figure_cost",
    "figure_data",
    "get_ax",
    "load_figure",
    "mean_and_ci",
    "new_figure",
    "reproduce",
    "save_figure",
    "set_log_ticks",
]
