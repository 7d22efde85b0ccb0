"""Make the self-rewards figure: run or load the sweep, plot, save PNG and PDF."""

from __future__ import annotations

from paper_figs._figlib import figure_data, new_figure, save_figure

from . import analysis, sweep

NAME = "fig_self_rewards"
CAPTION = """\
**Which self-reward sharpens toward correct answers** (App. A.2, section 5.2; paper Figs. 1b, 2
and 3 analogues). % lift in best-of-N accuracy over token-wise greedy decoding vs N on toy
reasoning tasks (random autoregressive policies over 3^4 sequences whose last token is the answer).
Log-likelihood and length-normalized curves are exact (`theory.bon_law`; they coincide where all
responses have the same length); majority vote is Monte Carlo (band: ±2 s.e.). Left: when the
truth is the base model's own likeliest answer, every self-reward lifts accuracy, majority most.
Middle: with length bias, short responses have the highest sequence likelihood but are wrong, so
log-likelihood BoN degrades with N and falls below greedy (the GPT-3.5/GSM8k effect), while length
normalization and majority vote do not. Right: when likelihood does not track correctness (a weak
base model), no self-reward helps."""


def plot(df):
    """One panel per task."""
    tasks = [t for t in sweep.LABELS if t in set(df["task"])]
    fig, axes = new_figure(len(tasks), width=4.4)
    for i, (ax, t) in enumerate(zip(axes, tasks, strict=True)):
        analysis.plot_lift(df, ax, task=t, title=sweep.LABELS[t], legend=i == 0)
    return fig


def make(out_dir, *, quick: bool = False, store=None):
    """Runs or loads the sweep, saves ``out_dir/fig_self_rewards.png`` and ``.pdf``."""
    return save_figure(plot(figure_data(sweep, quick=quick, store=store)), out_dir, NAME)
