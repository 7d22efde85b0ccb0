"""Plots of the power-sampling figure; they never save or show."""

from __future__ import annotations

import numpy as np

from paper_figs._figlib import get_ax

SAMPLERS = ("temperature", "best-of-N", "MH", "SMC", "look-ahead")
STYLES = {2.0: "--", 4.0: "-"}
YLABELS = {
    "tv": r"TV to $p^\alpha$ (exact; SMC Rao-Blackwellized)",
    "loglik": r"$E[\log \pi_{base}(y|x)]$",
    "accuracy": "task accuracy",
}


def _plot_metric(df, metric: str, ax=None, *, legend: bool = True):
    """``metric`` against tokens generated per output, one colour per sampler, one line style per
    alpha; the exact power law's value dashed-dotted (theory)."""
    ax = get_ax(ax)
    sub = df[df.metric == metric]
    for alpha, g in sub.groupby("alpha"):
        style = STYLES.get(alpha, "-.")
        for i, sampler in enumerate(SAMPLERS):
            h = g[g.sampler == sampler].sort_values("tokens")
            if h.empty:
                continue
            ax.plot(
                h["tokens"],
                h["value"],
                style,
                marker="o",
                ms=3,
                color=f"C{i}",
                label=sampler if alpha == max(STYLES) or len(STYLES) == 1 else None,
            )
        if metric != "tv":
            target = float(g[g.sampler == "power"]["value"].iloc[0])
            ax.axhline(target, color="k", ls=":", lw=1.0)
            base = g[g.sampler == "base"]
            ax.plot(base["tokens"], base["value"], "k*", ms=7)
    # The legend (on the first panel) names the theory line and the base point of the others.
    ax.plot([], [], "k:", label=r"exact $p^\alpha$ (theory; other panels)")
    ax.plot([], [], "k*", ls="none", label=r"$\pi_{base}$ (other panels)")
    if metric == "tv":
        ax.set_yscale("log")
    for alpha, style in STYLES.items():
        if alpha in set(sub["alpha"]):
            ax.plot([], [], "k" + style, label=rf"$\alpha$ = {alpha:g}")
    ax.set_xscale("log")
    ax.set_xlabel("tokens generated per output (log scale)")
    ax.set_ylabel(YLABELS[metric])
    ax.grid(True, which="major", alpha=0.3)
    if legend:
        ax.legend(fontsize=6.5)
    return ax


def plot_tv(df, ax=None):
    """Exact TV to the power law against tokens generated (with the legend)."""
    return _plot_metric(df, "tv", ax)


def plot_loglik(df, ax=None):
    """E[log pi_base] of the output against tokens generated; the power law's value dotted."""
    return _plot_metric(df, "loglik", ax, legend=False)


def plot_accuracy(df, ax=None):
    """Task accuracy of the output against tokens generated; the power law's value dotted."""
    return _plot_metric(df, "accuracy", ax, legend=False)


def tv_summary(df) -> dict[str, float]:
    """The smallest TV each sampler reached (for the report)."""
    sub = df[df.metric == "tv"]
    return {
        s: float(np.min(sub[sub.sampler == s]["value"])) for s in SAMPLERS if s in set(sub.sampler)
    }
