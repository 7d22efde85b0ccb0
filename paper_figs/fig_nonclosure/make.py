"""Make the non-closure figure: run or load the sweep, plot, save PNG and PDF."""

from __future__ import annotations

from paper_figs._figlib import figure_data, new_figure, save_figure

from . import analysis, sweep

NAME = "fig_nonclosure"
CAPTION = """\
**Representational failure: the class is not closed under sharpening (Proposition E.2).** In the
two-token multi-layer softmax class of Prop. E.2 the first-token features of tokens 1 and 2
coincide, so every model puts equal mass on y_1 = 1 and y_1 = 2 and at most 1/2 on the base
model's sequence argmax (2, 1). Left: the best pi(2, 1) over the class (solid) approaches 1/2 from
below as its radius B' grows and never exceeds it, nor does the tempered base model (dotted; low
temperature gives greedy decoding instead); dots mark pi_base(2, 1) at B = log n. So SFT- or
RLHF-Sharpening within this class cannot reach delta < 1/2. Right: inference-time best-of-N, which
is not restricted to the class, returns (2, 1) with probability tending to 1."""


def plot(df):
    """The two-panel figure from the sweep's tidy frame."""
    fig, axes = new_figure(2, width=5.0)
    analysis.plot_class_mass(df, axes[0])
    analysis.plot_bon_hit(df, axes[1])
    return fig


def make(out_dir, *, quick: bool = False, store=None):
    """Runs or loads the sweep, saves ``out_dir/fig_nonclosure.png`` and ``.pdf``."""
    return save_figure(plot(figure_data(sweep, quick=quick, store=store)), out_dir, NAME)
