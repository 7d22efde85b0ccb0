"""Make the pi*_beta figure: run or load the sweep, plot, save PNG and PDF."""

from __future__ import annotations

from paper_figs._figlib import figure_data, new_figure, save_figure

from . import analysis, sweep

NAME = "fig_tilt"
CAPTION = """\
**RLHF-Sharpening's exact optimizer** pi\\*_beta ∝ pi_base^(1+1/beta) (Eq. 3). Left: the mass it
leaves off y\\* (solid) falls below Lemma 4.1's margin bound (|Y|-1)(1+gamma_margin)^-(1+1/beta)
(dashed, same colour) for every beta, and meets it on the two-level tables, where the bound is
tight; small margins need much smaller beta (the bound's beta = gamma_margin / (2 log(2|Y|/delta))).
Right: C_{pi\\*_beta}/C_cov and C_{pi_base/pi\\*_beta; beta}/|Y| stay below 1 (Lemma 4.1)."""


def plot(df):
    """The two-panel figure from the sweep's tidy frame."""
    fig, axes = new_figure(2)
    analysis.plot_off_mass(df, axes[0])
    analysis.plot_concentrability(df, axes[1])
    return fig


def make(out_dir, *, quick: bool = False, store=None):
    """Runs or loads the sweep, saves ``out_dir/fig_tilt.png`` and ``.pdf``; returns the paths."""
    return save_figure(plot(figure_data(sweep, quick=quick, store=store)), out_dir, NAME)
