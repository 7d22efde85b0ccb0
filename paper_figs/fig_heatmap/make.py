"""Make the heatmap figure: run or load the sweep, plot, save PNG and PDF."""

from __future__ import annotations

from paper_figs._figlib import figure_data, new_figure, save_figure

from . import analysis, sweep

NAME = "fig_heatmap"
CAPTION = """\
**Best-of-50 with the log-likelihood self-reward across toy models and tasks** (paper Fig. 1a
analogue). Each cell is the exact % lift in accuracy of BoN (N = 50) over token-wise greedy decoding
(section 5.1's relative lift), averaged over 64 prompts; in the full run, the mean over 3 seeds with
a bootstrap 95% interval over seeds in brackets. The truth of each prompt is the answer-marginal
mode of a randomly tilted copy of the base model, so likelihood tracks correctness only partly; as
in the paper, lifts are mixed in sign and size across (model, task) pairs. For tabular and
linear-softmax policies greedy decoding is the sequence argmax, which BoN approaches as N grows, so
their lifts are near 0."""


def plot(df):
    """The heatmap."""
    fig, axes = new_figure(1, width=6.6, height=4.0)
    analysis.plot_heatmap(df, axes[0])
    return fig


def make(out_dir, *, quick: bool = False, store=None):
    """Runs or loads the sweep, saves ``out_dir/fig_heatmap.png`` and ``.pdf``."""
    return save_figure(plot(figure_data(sweep, quick=quick, store=store)), out_dir, NAME)
