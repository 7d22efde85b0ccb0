"""Make the margin figure: run or load the sweep, plot, save PNG and PDF."""

from __future__ import annotations

from paper_figs._figlib import figure_data, new_figure, save_figure

from . import analysis, sweep

NAME = "fig_margin"
CAPTION = """\
**The margin matters for RLHF-Sharpening, not for SFT-Sharpening (Theorem 4.2 vs 4.1).** Tabular
instances with C_cov = 4 and an exact margin gamma (Assumption 4.2); target eps = 0.1, delta = 0.2.
Left: least budget at which each learner is (eps, delta)-sharpened in 75% of runs; right: success
frequency at a common budget m = 512. SFT-Sharpening is margin-free (BoN picks y\\* whenever it is
sampled, however close the runner-up). The squared loss needs beta to shrink with the margin: with
a fixed beta = 0.1 it fails once (|Y|-1)(1+gamma)^-(1+1/beta) is no longer small (Lemma 4.1), i.e.
for small margins, at any budget. With Theorem 4.2's beta = gamma delta eps, on these noise-free
tabular instances its cost stays nearly flat: the exact least-squares fit recovers pi\\*_beta on
every sampled response, so the theorem's 1/gamma^2 (dashed, an upper bound) is not attained."""


def plot(df):
    """The two-panel figure from the sweep's tidy frame."""
    fig, axes = new_figure(2, width=5.0)
    analysis.plot_budget_vs_margin(df, axes[0])
    analysis.plot_success_vs_margin(df, axes[1])
    return fig


def make(out_dir, *, quick: bool = False, store=None):
    """Runs or loads the sweep, saves ``out_dir/fig_margin.png`` and ``.pdf``."""
    return save_figure(plot(figure_data(sweep, quick=quick, store=store)), out_dir, NAME)
