"""Make the power-sampling figure: run or load the sweep, plot, save PNG and PDF."""

from __future__ import annotations

from paper_figs._figlib import figure_data, new_figure, save_figure

from . import analysis, sweep

NAME = "fig_power"
CAPTION = """\
**Power sampling toward pi\\*_beta = p^alpha at inference time** (Eq. 3 at alpha = 1 + 1/beta;
issue 16), on a random toy reasoning task (V = 3 with eos, H = 4, 6 prompts): quality against
tokens generated per output. Left: exact TV to the power law. MH (Karan & Du) and SMC
(Power-SMC) converge to it as their budgets grow (MH's exact law is computed, SMC's
Rao-Blackwellized); token-level temperature 1/alpha stays at a fixed distance (a different law);
best-of-N overshoots toward y\\* (its TV grows again); SMC with one particle is the
temperature sampler. Middle and right: the base log-likelihood
and the accuracy of the output, with the exact power law's values dotted (theory) and pi_base
starred."""


def plot(df):
    """The three-panel figure from the sweep's tidy frame."""
    fig, axes = new_figure(3)
    titles = ("distance to the target", "base log-likelihood", "accuracy on the toy task")
    plots = (analysis.plot_tv, analysis.plot_loglik, analysis.plot_accuracy)
    for ax, plot_one, title in zip(axes, plots, titles, strict=True):
        plot_one(df, ax)
        ax.set_title(title)
    return fig


def make(out_dir, *, quick: bool = False, store=None):
    """Runs or loads the sweep, saves ``out_dir/fig_power.png`` and ``.pdf``; returns the paths."""
    return save_figure(plot(figure_data(sweep, quick=quick, store=store)), out_dir, NAME)
