"""Make the label-free self-training figure: run or load the sweep, plot, save PNG and PDF."""

from __future__ import annotations

from paper_figs._figlib import figure_data, new_figure, save_figure

from . import analysis, sweep

NAME = "fig_label_free"
CAPTION = """\
**Label-free self-training as sharpening** (issue 17; Eq. 3, App. B; EM-RL/EM-FT, TTRL,
Intuitor). A toy reasoning task (`simulators.plurality_toy`, 8 prompts): the likeliest single
response y\\*(x) (mass 0.3) carries the runner-up answer, the plurality answer (0.45) is spread over
three responses, and the plurality is wrong on a quarter of the prompts (where y\\* is right). Each
method is on-policy policy gradient (8 prompts x G = 8 responses per step, RLOO advantages, SGD):
solid lines are sampled runs, dashed lines their exact expected-update dynamics, diamonds the exact
limits. The log-likelihood reward with a KL penalty converges to pi\\*_beta (Eq. 3; claim L1), and
EM-RL and EM-FT (identical in expectation for one-token responses) to y\\*(x): both sharpen onto
the likeliest response and lose accuracy, as RLHF-Sharpening with beta -> 0 would (App. B's
"closely related", here the same limit; entropy minimization gets there faster in queries). TTRL
moves the answer marginal instead: it collapses onto the plurality answer, right or wrong (accuracy
1 - f = 0.75; claim L3), and keeps the within-answer spread (entropy log 3). Self-certainty is
constant within a prompt for one-token responses, so its advantages vanish and nothing moves.
Right: iterated SFT-Sharpening (the exact law is bon_law of the previous round) and iterated
RLHF-Sharpening (pi_0^((1+1/beta)^t), claim L2) both converge to y\\*."""


def plot(df):
    """Four panels: mass on y*, accuracy and entropy against queries; iterated sharpening."""
    fig, axes = new_figure(4, width=4.3, height=4.1)
    analysis.plot_trajectories(df, axes[0], metric="mass_on_argmax")
    analysis.plot_trajectories(df, axes[1], metric="accuracy")
    analysis.plot_trajectories(df, axes[2], metric="entropy")
    analysis.plot_iterated(df, axes[3])
    fig.legend(handles=analysis.legend_handles(), loc="outside lower center", ncol=4, fontsize=7.5)
    return fig


def make(out_dir, *, quick: bool = False, store=None):
    """Runs or loads the sweep, saves ``out_dir/fig_label_free.png`` and ``.pdf``."""
    return save_figure(plot(figure_data(sweep, quick=quick, store=store)), out_dir, NAME)
