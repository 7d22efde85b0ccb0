"""Plots of the margin figure (Theorem 4.2 vs 4.1); they never save or show."""

from __future__ import annotations

import numpy as np

from paper_figs._figlib import get_ax, set_log_ticks


def _style(learner):
    if learner.startswith("SFT"):
        return "C3", "o", "-"
    if "fixed" in learner:
        return "C7", "v", ":"
    return "C0", "s", "-"


def plot_budget_vs_margin(df, ax=None):
    """Least budget vs gamma_margin (log-log) per learner, with Theorem 4.2's 1/gamma^2 rate
    anchored at the largest margin; runs that never succeed on the grid are marked at the top."""
    import bounds

    ax = get_ax(ax)
    top = np.nanmax(df.m.replace(np.inf, np.nan)) * 3
    for learner, g in df.groupby("learner", sort=False):
        g = g.sort_values("gamma")
        color, marker, ls = _style(learner)
        m = g.m.to_numpy()
        ok = np.isfinite(m)
        ax.plot(g.gamma[ok], m[ok], marker=marker, ls=ls, color=color, lw=1.5, ms=6, label=learner)
        if (~ok).any():
            ax.plot(
                g.gamma[~ok],
                np.full((~ok).sum(), top),
                marker="x",
                ls="none",
                color=color,
                ms=8,
                label="  (not reached on the grid)",
            )
    d = df[df.learner.str.contains("Thm 4.2")].sort_values("gamma")
    d = d[np.isfinite(d.m)]
    if len(d):
        rate = np.asarray(
            bounds.dpo_sample_complexity(
                d.c_cov.to_numpy(),
                20.0,
                0.0,
                d.gamma.to_numpy(),
                d.eps.to_numpy(),
                d.delta.to_numpy(),
                d.rho.to_numpy(),
            ),
            dtype=float,
        )
        c = d.m.to_numpy()[-1] / rate[-1]
        ax.plot(
            d.gamma,
            c * rate,
            "k--",
            lw=1.0,
            label=r"Thm 4.2 rate $\propto 1/\gamma^2$ (anchored at the largest margin)",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    set_log_ticks(ax.xaxis, df.gamma.unique(), "{:g}")
    ax.set_xlabel(r"margin $\gamma_{margin}$ (log scale)")
    ax.set_ylabel("queries to sharpen, m (log scale)")
    ax.set_title("Sample complexity vs margin")
    ax.legend(fontsize=6.5, loc="upper right")
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_success_vs_margin(df, ax=None):
    """Success frequency at a common budget vs gamma_margin, per learner."""
    ax = get_ax(ax)
    for learner, g in df.groupby("learner", sort=False):
        g = g.sort_values("gamma")
        color, marker, ls = _style(learner)
        ax.plot(
            g.gamma,
            g.freq_at_budget,
            marker=marker,
            ls=ls,
            color=color,
            lw=1.5,
            ms=6,
            label=learner,
        )
    ax.set_xscale("log")
    set_log_ticks(ax.xaxis, df.gamma.unique(), "{:g}")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel(r"margin $\gamma_{margin}$ (log scale)")
    ax.set_ylabel(r"fraction of runs $(\epsilon,\delta)$-sharpened at m = 512")
    ax.set_title("Success at a fixed budget vs margin")
    ax.legend(fontsize=6.5, loc="lower right")
    ax.grid(True, which="major", alpha=0.3)
    return ax
