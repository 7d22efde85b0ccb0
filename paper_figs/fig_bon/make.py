"""Make the best-of-N figure: run or load the sweep, plot, save PNG and PDF."""

from __future__ import annotations

from paper_figs._figlib import figure_data, new_figure, save_figure

from . import analysis, sweep

NAME = "fig_bon"
CAPTION = """\
**Inference-time best-of-N with the log-likelihood self-reward** (Prop. C.1; paper Fig. 4
analogue). Left: the probability that BoN returns y\\*(x), exactly (lines: 1 - E_x(1 - p\\*(x))^N,
from `theory.bon_law`) and by Monte Carlo (points, ±2 standard errors; smaller N subsample the
first N of N_max draws as in the paper). Monte Carlo sits on the exact curves; Prop. C.1's bound
(dotted) lies below them; the curves saturate around N ≈ C_cov (dashed verticals), the coverage
coefficient. Right: the mean log-likelihood of the BoN output increases monotonically in N towards
E_x max_y log pi_base (dashed), as the paper's Fig. 4 shows for real models."""


def plot(df):
    """The two-panel figure from the sweep's tidy frame."""
    fig, axes = new_figure(2)
    analysis.plot_hit_probability(df, axes[0])
    analysis.plot_mean_loglik(df, axes[1])
    return fig


def make(out_dir, *, quick: bool = False, store=None):
    """Runs or loads the sweep, saves ``out_dir/fig_bon.png`` and ``.pdf``; returns the paths."""
    return save_figure(plot(figure_data(sweep, quick=quick, store=store)), out_dir, NAME)
