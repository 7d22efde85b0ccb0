"""Plots of the self-rewards figure (paper Figs. 1b, 2, 3 analogues); they never save or show."""

from __future__ import annotations

import numpy as np

from paper_figs._figlib import get_ax

REWARDS = {
    "length_normalized": ("length-normalized log-likelihood", "C1", "s", "--"),
    "log_likelihood": ("log-likelihood", "C0", "o", "-"),
    "majority": ("majority vote (±2 s.e.)", "C2", "^", "-"),
}


def plot_lift(df, ax=None, *, task: str | None = None, title: str | None = None, legend=True):
    """% lift of best-of-N accuracy over greedy vs N (log x) per self-reward, for one task.

    Averaged over seeds; majority vote's band is ±2 Monte Carlo standard errors (exact curves have
    none). When every response has the same length the two likelihood curves coincide. ``task``
    defaults to the frame's first task.
    """
    ax = get_ax(ax)
    task = df["task"].iloc[0] if task is None else task
    d = df[df.task == task]
    g = d.groupby("seed")["greedy_accuracy"].first().mean()
    for reward, (label, color, marker, ls) in REWARDS.items():
        r = d[d.reward == reward]
        m = r.groupby("N").agg(
            acc=("accuracy", "mean"), se=("se", lambda s: np.sqrt(np.sum(s**2)) / len(s))
        )
        lift = (m["acc"] - g) / g * 100
        ax.plot(m.index, lift, marker=marker, ms=4, color=color, lw=1.6, ls=ls, label=label)
        if (m["se"] > 0).any():
            band = 2 * m["se"] / g * 100
            ax.fill_between(m.index, lift - band, lift + band, color=color, alpha=0.2, lw=0)
    ax.axhline(0.0, color="k", lw=1.0, ls=":", label="greedy decoding")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("N, responses per prompt (log scale)")
    ax.set_ylabel("% lift in accuracy over greedy")
    ax.set_title(f"{title or task}\ngreedy accuracy {g:.0%}", fontsize=9)
    if legend:
        ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    return ax
