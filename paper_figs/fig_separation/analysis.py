"""Plots of the separation figure (Example J.1, Theorem J.3); they never save or show."""

from __future__ import annotations

import numpy as np

from paper_figs._figlib import get_ax

_STYLE = {
    "SFT": ("C3", "o"),
    "offline": ("C0", "s"),
    "XPO (": ("C2", "^"),
    "XPO without": ("C7", "v"),
}


def _style(method):
    for prefix, style in _STYLE.items():
        if method.startswith(prefix):
            return style
    return ("k", "x")


def plot_queries_vs_dim(df, ax=None):
    """Queries to reach pi_hat(y*) >= 1 - delta vs d on Example J.1 (log y), |Y| = 2^(d+2)."""
    ax = get_ax(ax)
    d = df[df.kind == "code"]
    for method, g in d.groupby("method", sort=False):
        g = g.groupby("d")["queries"].median()
        color, marker = _style(method)
        ok = np.isfinite(g.to_numpy())
        ax.plot(
            g.index[ok], g.to_numpy()[ok], marker=marker, color=color, lw=1.5, ms=6, label=method
        )
    cc = d.groupby("d")["c_cov"].first()
    ax.plot(
        cc.index, cc.to_numpy(), ":", color="0.4", lw=1.2, label=r"$C_{cov} = 1/\pi_{base}(y^*)$"
    )
    ax.set_yscale("log")
    ax.set_xlabel(r"dimension $d$ (code of $|Y| = 2^{d+2}$ responses)")
    ax.set_ylabel("queries to sharpen (log scale)")
    ax.set_title("Example J.1: coverage vs exploration")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_hidden(df, ax=None):
    """Success frequency vs queries on the hidden-direction instance, per method."""
    ax = get_ax(ax)
    d = df[df.kind == "hidden"]
    if d.empty:
        return ax
    for method, g in d.groupby("method", sort=False):
        color, marker = _style(method)
        ax.plot(g["queries"], g["freq"], marker=marker, ms=3, color=color, lw=1.4, label=method)
    r = d.iloc[0]
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("queries (log scale)")
    ax.set_ylabel(r"fraction of runs with $\hat\pi(y^*) \geq 1-\delta$")
    ax.set_title(
        f"hidden direction: |Y|={int(r.num_responses)}, $C_{{cov}}$={r.c_cov:.0f}, d={int(r.d)}"
    )
    ax.legend(fontsize=7, loc="center right")
    ax.grid(True, which="major", alpha=0.3)
    return ax
