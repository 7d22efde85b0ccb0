"""Make the adaptive-sampling figure: run or load the sweep, plot, save PNG and PDF."""

from __future__ import annotations

from paper_figs._figlib import figure_data, new_figure, save_figure

from . import analysis, sweep

NAME = "fig_adaptive"
CAPTION = """\
**Adaptive vs fixed-N SFT-Sharpening (Theorem D.1 vs Theorem 4.1).** On the hard instance with
C = 2 (C_cov ~ 17 for every eps), the least budget at which SFT-Sharpening returns an
(eps, 0.2)-sharpened model in at least 75% of runs: fixed N per prompt (m = nN, least over a grid)
and the adaptive stopping rule of Eq. 10 (realized E[m], least over a grid of n). Fixed-N SFT must
draw N ~ M on every prompt and grows like 1/eps^2; the adaptive rule stops after a few draws on
the easy prompt and grows like 1/eps, matching Theorem D.1 and the adaptive lower bound of
Theorem D.2. Dashed: each theorem's rate with one fitted constant."""


def plot(df):
    """The single-panel figure."""
    fig, axes = new_figure(1, width=5.6, height=4.2)
    analysis.plot_adaptive_vs_fixed(df, axes[0])
    return fig


def make(out_dir, *, quick: bool = False, store=None):
    """Runs or loads the sweep, saves ``out_dir/fig_adaptive.png`` and ``.pdf``."""
    return save_figure(plot(figure_data(sweep, quick=quick, store=store)), out_dir, NAME)
