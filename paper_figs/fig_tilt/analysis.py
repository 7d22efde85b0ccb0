"""Plots of the pi*_beta figure (Eq. 3, Lemma 4.1); they never save or show.

The x-axis is gamma_margin / beta: Lemma 4.1's bound (|Y| - 1)(1 + gamma)^-(1 + 1/beta) is about
(|Y| - 1) exp(-gamma / beta), a straight line on a log y-axis, so tables with different margins line
up on this scale.
"""

from __future__ import annotations

import numpy as np

from paper_figs._figlib import get_ax

# The delta of the marked theorem choice beta = gamma_margin / (2 log(2|Y|/delta)) (Thm 4.3).
DELTA = 0.1


def _x(g):
    return g["ratio"]


def _mark_theorem_beta(ax, df):
    for Y in sorted(df["num_responses"].unique()):
        x = 2.0 * np.log(2.0 * Y / DELTA)
        ax.axvline(x, color="0.5", ls=":", lw=1.0)
        ax.annotate(
            f"|Y|={Y}",
            (x, 0.5),
            xycoords=("data", "axes fraction"),
            rotation=90,
            fontsize=6,
            color="0.4",
            ha="right",
            va="bottom",
        )


def plot_off_mass(df, ax=None):
    """1 - pi*_beta(y*) (log scale) vs gamma_margin / beta: exact (solid), Lemma 4.1 bound (dashed).

    The random instances are averaged over seeds (mean of E_x[...] per beta).
    """
    ax = get_ax(ax)
    sub = df[df.metric.isin(["off_mass", "off_bound"])]
    for i, (label, g) in enumerate(sub.groupby("label", sort=False)):
        for metric, style in (("off_mass", "-"), ("off_bound", "--")):
            h = g[g.metric == metric].assign(x=_x).groupby("x")["value"].mean()
            ax.plot(
                h.index,
                np.clip(h.to_numpy(), 1e-300, None),
                style,
                color=f"C{i}",
                lw=1.6 if style == "-" else 1.1,
                label=label if metric == "off_mass" else None,
            )
    ax.plot([], [], "k-", label=r"exact $E_x[1-\pi^*_\beta(y^*|x)]$")
    ax.plot([], [], "k--", label=r"Lemma 4.1 bound $(|Y|-1)(1+\gamma)^{-(1+1/\beta)}$")
    ax.plot(
        [],
        [],
        ":",
        color="0.5",
        label=r"Thm 4.3's $\beta=\gamma/(2\log(2|Y|/\delta))$, $\delta$=0.1",
    )
    _mark_theorem_beta(ax, df)
    ax.set_yscale("log")
    ax.set_ylim(1e-12, 2.0)
    ax.set_xlabel(r"margin over KL weight, $\gamma_{margin}/\beta$")
    ax.set_ylabel(r"mass off $y^*$ (log scale)")
    ax.set_title(
        r"$\pi^*_\beta \propto \pi_{base}^{1+1/\beta}$ concentrates on $y^*$ as $\beta\to 0$"
    )
    ax.legend(fontsize=6.5, loc="upper right")
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_concentrability(df, ax=None):
    """Lemma 4.1's two concentrability bounds as ratios (<= 1) vs gamma_margin / beta."""
    ax = get_ax(ax)
    for i, (_, g) in enumerate(df.groupby("label", sort=False)):
        for metric, style in (("conc_ratio", "-"), ("loss_ratio", "--")):
            h = g[g.metric == metric].assign(x=_x).groupby("x")["value"].max()
            ax.plot(h.index, h.to_numpy(), style, color=f"C{i}", lw=1.4)
    ax.axhline(1.0, color="k", lw=1.2, label="Lemma 4.1's bound (ratio 1)")
    ax.plot([], [], "k-", label=r"$C_{\pi^*_\beta}\,/\,C_{cov}$")
    ax.plot([], [], "k--", label=r"$C_{\pi_{base}/\pi^*_\beta;\beta}\,/\,|Y|$")
    ax.set_yscale("log")
    ax.set_xlabel(r"margin over KL weight, $\gamma_{margin}/\beta$")
    ax.set_ylabel("ratio to the bound (max over seeds, log scale)")
    ax.set_title("Lemma 4.1: both ratios stay at or below 1")
    ax.legend(fontsize=7, loc="center right")
    ax.grid(True, which="major", alpha=0.3)
    return ax
