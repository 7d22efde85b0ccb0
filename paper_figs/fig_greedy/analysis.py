"""Plots of the greedy-decoding figure (Proposition 3.1); they never save or show."""

from __future__ import annotations

import numpy as np
import pandas as pd

from paper_figs._figlib import binomial_se, get_ax


def _split(df):
    """(random instances, the counterexample rows)."""
    return df[df.instance == "random"], df[df.instance == "counterexample"]


def failure_by_bin(df: pd.DataFrame, bins: int = 20, min_count: int = 10) -> pd.DataFrame:
    """Greedy's failure rate per bin of pi(y*) in [0, 1], with its binomial standard error.

    Bins with fewer than ``min_count`` prompts are dropped (their rate has no useful error bar).
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(df["p_star"], edges) - 1, 0, bins - 1)
    g = df.assign(bin=idx).groupby("bin")["fails"].agg(["mean", "size"])
    g["center"] = (edges[:-1] + edges[1:])[g.index] / 2
    g["se"] = binomial_se(g["mean"], g["size"])
    return g[g["size"] >= min_count].reset_index()


def plot_failure_rate(df, ax=None):
    """P[greedy != y*] vs pi(y*), binned, per (V, H), with a vertical line at 1/2."""
    ax = get_ax(ax)
    df, _ = _split(df)
    for i, ((V, H), g) in enumerate(df.groupby(["V", "H"])):
        b = failure_by_bin(g)
        ax.errorbar(
            b["center"],
            b["mean"],
            yerr=b["se"],
            fmt="o-",
            ms=3.5,
            lw=1.2,
            capsize=2,
            color=f"C{i}",
            label=f"random AR, V={V}, H={H} ({len(g)} prompts)",
        )
    ax.axvline(0.5, color="k", ls="--", lw=1.2, label=r"$\pi(y^*)=1/2$ (Prop. 3.1)")
    ax.axvspan(0.5, 1.0, color="0.92", zorder=0)
    right = df[df.p_star > 0.5]
    ax.text(
        0.75,
        0.5,
        f"greedy = $y^*$\nin all {len(right)}\nprompts with\n$\\pi(y^*) > 1/2$\n"
        f"({int(right.fails.sum())} failures)",
        ha="center",
        va="center",
        fontsize=8,
        transform=ax.get_xaxis_transform(),
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(r"mass of the sequence argmax, $\pi(y^*|x)$")
    ax.set_ylabel(r"$P[\,$greedy decoding $\neq y^*\,]$ (±1 s.e.)")
    ax.set_title("Greedy fails only when $\\pi(y^*) \\leq 1/2$")
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(True, alpha=0.3)
    return ax


def plot_greedy_ratio(df, ax=None):
    """pi(greedy) / pi(y*) per prompt vs pi(y*): 1 everywhere right of 1/2 (Prop. 3.1)."""
    ax = get_ax(ax)
    df, tight = _split(df)
    for i, ((V, H), g) in enumerate(df.groupby(["V", "H"])):
        ax.scatter(
            g["p_star"], g["p_greedy"] / g["p_star"], s=4, alpha=0.35, color=f"C{i}", linewidths=0
        )
        ax.scatter([], [], s=16, color=f"C{i}", label=f"random AR, V={V}, H={H}")
    # THEORY.md claim 6's example: P(ab) = .40 is y*, greedy returns "ba" (.30).
    ax.scatter(
        tight["p_star"],
        tight["p_greedy"] / tight["p_star"],
        marker="*",
        s=160,
        color="k",
        zorder=5,
        label="two-token counterexample",
    )
    ax.axvline(0.5, color="k", ls="--", lw=1.2)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(r"mass of the sequence argmax, $\pi(y^*|x)$")
    ax.set_ylabel(r"$\pi(\hat y_{greedy}|x)\,/\,\pi(y^*|x)$")
    ax.set_title("Greedy's output probability relative to $y^*$")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(True, alpha=0.3)
    return ax
