"""Make the greedy-decoding figure: run or load the sweep, plot, save PNG and PDF."""

from __future__ import annotations

from paper_figs._figlib import figure_data, new_figure, save_figure

from . import analysis, sweep

NAME = "fig_greedy"
CAPTION = """\
**Greedy decoding succeeds for sharpened policies (Proposition 3.1).** Random autoregressive
policies over V^H with Gaussian next-token logits. Left: the rate at which token-wise greedy
decoding misses the exact sequence argmax y\\*, binned by pi(y\\*) (error bars: one binomial
standard error). It is exactly 0 to the right of pi(y\\*) = 1/2 (shaded), as the proposition
says, and positive to the left, so the threshold is tight. Right: greedy's output probability
relative to y\\*, one dot per prompt; the star is the two-token example P(ab) = 0.40 < 1/2 where
greedy returns "ba" (0.30)."""


def plot(df):
    """The two-panel figure from the sweep's tidy frame."""
    fig, axes = new_figure(2)
    analysis.plot_failure_rate(df, axes[0])
    analysis.plot_greedy_ratio(df, axes[1])
    return fig


def make(out_dir, *, quick: bool = False, store=None):
    """Runs or loads the sweep, saves ``out_dir/fig_greedy.png`` and ``.pdf``; returns the paths."""
    return save_figure(plot(figure_data(sweep, quick=quick, store=store)), out_dir, NAME)
