"""Make the log-likelihood-by-correctness figure: run or load the sweep, plot, save PNG and PDF."""

from __future__ import annotations

from paper_figs._figlib import figure_data, new_figure, save_figure

from . import analysis, sweep

NAME = "fig_loglik_by_correctness"
CAPTION = """\
**Log-likelihood of correct vs incorrect responses** (paper Figs. 1c and 6 analogues).
Temperature-1 samples of toy reasoning tasks, split by whether the extracted answer is correct. The
AUC is the probability that a random correct sample is likelier than a random incorrect one (0.5:
no signal); the within-prompt AUC makes the comparison inside each prompt, which is what best-of-N
exploits. When the truth is the base model's likeliest answer, correct samples are likelier (the
sharpening mechanism's premise, as for Phi3.5/MATH); for a weak base the two distributions nearly
coincide; with length bias, the likeliest (short) samples are the incorrect ones."""


def plot(df):
    """One panel per task."""
    labels = list(dict.fromkeys(df["label"]))
    ncols = 2 if len(labels) > 2 else len(labels)
    fig, axes = new_figure(ncols, (len(labels) + ncols - 1) // ncols, width=5.0, height=3.6)
    for ax in axes[len(labels) :]:
        ax.set_visible(False)
    for ax, lab in zip(axes, labels, strict=False):
        analysis.plot_loglik_hist(df, ax, label=lab)
    return fig


def make(out_dir, *, quick: bool = False, store=None):
    """Runs or loads the sweep, saves ``out_dir/fig_loglik_by_correctness.png`` and ``.pdf``."""
    return save_figure(plot(figure_data(sweep, quick=quick, store=store)), out_dir, NAME)
