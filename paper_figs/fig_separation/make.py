"""Make the separation figure: run or load the sweep, plot, save PNG and PDF."""

from __future__ import annotations

from paper_figs._figlib import figure_data, new_figure, save_figure

from . import analysis, sweep

NAME = "fig_separation"
CAPTION = """\
**Exploration removes the coverage dependence (Example J.1, Theorems 4.3 and J.3).** Left: on
Example J.1 (one prompt, responses a spherical code of 2^(d+2) points, linear softmax base with
theta\\* = y\\*), the queries needed for pi_hat(y\\*) >= 1 - delta (delta = 1/4, in 75% of runs).
SFT-Sharpening's target pi^BoN_N is itself sharp only once N >= log(1/delta) C_cov, which grows
like |Y| = exp(Theta(d)) (exact, a lower bound on its queries); XPO (Algorithm 1) needs a number of
queries that grows only slowly with d. In this noise-free realizable linear instance the offline
squared loss (Eq. 8) also succeeds with a few pairs, since any d generic base pairs identify
theta\\*: the coverage dependence of Theorem 4.2 is an upper bound, not attained here. Right: on an
instance where base samples almost never leave a "bulk" subspace (hidden direction), the offline
squared loss must wait for a rare informative sample, XPO without its optimism term (alpha = 0)
never finds y\\*, and XPO with optimism finds it in a few rounds."""


def plot(df):
    """The two-panel figure from the sweep's tidy frame."""
    fig, axes = new_figure(2, width=5.0)
    analysis.plot_queries_vs_dim(df, axes[0])
    analysis.plot_hidden(df, axes[1])
    return fig


def make(out_dir, *, quick: bool = False, store=None):
    """Runs or loads the sweep, saves ``out_dir/fig_separation.png`` and ``.pdf``."""
    return save_figure(plot(figure_data(sweep, quick=quick, store=store)), out_dir, NAME)
