"""Make the lower-bound figure: run or load the sweep, plot, save PNG and PDF."""

from __future__ import annotations

from paper_figs._figlib import figure_data, new_figure, save_figure

from . import analysis, sweep

NAME = "fig_lower_bound"
CAPTION = """\
**The lower bound is attained on the hard instance (Theorem 3.1, Lemma H.3, Theorem D.2).** Left:
the exact minimax (Bayes) error per hard prompt of Theorem 3.1''s instance (d hard prompts of total
mass Delta = 16 eps, M = ceil(1 + C/eps) responses) against the number of sample-and-evaluate
queries m; Monte Carlo runs of the Bayes learner through the oracle agree (±2 s.e.). The error stays
above 1/8 (dotted) until the Lemma H.3 threshold c\\* d M / Delta (dashed; c\\* computed exactly),
which grows in proportion to C, i.e. to C_cov. Right: the exact minimax budget of
(eps, 1/2)-sharpening grows like 1/eps^2 without adaptivity (Theorem 3.1) and like 1/eps with
adaptive sampling (Theorem D.2); lines are the theorems' rates with one fitted constant each."""


def plot(df):
    """The two-panel figure from the sweep's tidy frame."""
    fig, axes = new_figure(2)
    analysis.plot_bayes_error(df, axes[0])
    analysis.plot_thresholds(df, axes[1])
    return fig


def make(out_dir, *, quick: bool = False, store=None):
    """Runs or loads the sweep, saves ``out_dir/fig_lower_bound.png`` and ``.pdf``."""
    return save_figure(plot(figure_data(sweep, quick=quick, store=store)), out_dir, NAME)
