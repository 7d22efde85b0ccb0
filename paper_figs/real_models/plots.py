"""Figures of the inference-time protocol (the paper's Figs. 1b, 3, 4 and 6) from tidy tables.

Each ``plot_*(df, ax=None) -> Axes`` draws on ``ax`` (a new figure when None) and never saves or
shows; :func:`save_protocol_figures` writes the PNGs of ``sharpen bon`` through the Agg canvas of
plain ``matplotlib.figure.Figure`` objects, so no display and no pyplot backend are involved.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5.0, 3.6))
    return ax


def plot_metric_vs_n(bon_mean: pd.DataFrame, metric: str, ax=None, *, ylabel: str | None = None):
    """Mean +- standard error over subsamples of ``metric`` against N, one line per self-reward.

    Args:
      bon_mean: :func:`simulators.aggregate_subsamples` of the ``bon`` table.
      metric: ``lift_pct`` (Figs. 1b, 3), ``accuracy``, ``logp`` (Fig. 4), ``length``...
    """
    ax = _axes(ax)
    df = bon_mean[bon_mean["metric"] == metric]
    for reward, grp in df.groupby("reward", sort=True):
        grp = grp.sort_values("N")
        sem = grp["sem"].fillna(0.0).to_numpy()
        ax.errorbar(grp["N"], grp["mean"], yerr=sem, marker="o", ms=3, capsize=2, label=reward)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("N (responses per prompt)")
    ax.set_ylabel(ylabel or metric)
    if metric == "lift_pct":
        ax.axhline(0.0, color="k", lw=0.8, ls="--")
    ax.legend(fontsize=7)
    return ax


def plot_loglik_hist(samples: pd.DataFrame, ax=None, *, column: str = "logp", bins: int = 30):
    """Histograms of sequence log-likelihood split by correctness (Figs. 1c and 6)."""
    ax = _axes(ax)
    values = samples[column].to_numpy(np.float64)
    finite = values[np.isfinite(values)]
    edges = np.histogram_bin_edges(finite, bins=bins) if finite.size else bins
    if "correct" in samples:
        for label, mask in (("correct", samples["correct"]), ("incorrect", ~samples["correct"])):
            v = values[mask.to_numpy(bool) & np.isfinite(values)]
            if v.size:
                ax.hist(v, bins=edges, alpha=0.55, density=True, label=f"{label} ({v.size})")
        ax.legend(fontsize=7)
    else:
        ax.hist(finite, bins=edges, alpha=0.7, density=True)
    ax.set_xlabel("log pi_base(y|x)" if column == "logp" else column)
    ax.set_ylabel("density")
    return ax


def save_protocol_figures(
    tables: dict[str, pd.DataFrame], out_dir: str, *, title: str = ""
) -> list[str]:
    """Writes ``lift_vs_n.png``, ``loglik_vs_n.png`` and ``loglik_hist.png`` into ``out_dir``.

    When the greedy accuracy is 0 the relative lift is undefined, and accuracy is plotted instead.
    """
    paths = []
    bon_mean = tables["bon_mean"]
    has_lift = (bon_mean["metric"] == "lift_pct").any() and np.isfinite(
        bon_mean.loc[bon_mean["metric"] == "lift_pct", "mean"]
    ).any()
    figures = [
        (
            "lift_vs_n.png",
            lambda ax: plot_metric_vs_n(
                bon_mean,
                "lift_pct" if has_lift else "accuracy",
                ax,
                ylabel="% lift in accuracy over greedy" if has_lift else "accuracy",
            ),
        ),
        (
            "loglik_vs_n.png",
            lambda ax: plot_metric_vs_n(
                bon_mean, "logp", ax, ylabel="mean log pi_base of the BoN response"
            ),
        ),
        ("loglik_hist.png", lambda ax: plot_loglik_hist(tables["samples"], ax)),
    ]
    for name, draw in figures:
        fig = Figure(figsize=(5.0, 3.6))
        ax = fig.subplots()
        draw(ax)
        if title:
            ax.set_title(title, fontsize=9)
        fig.tight_layout()
        path = os.path.join(out_dir, name)
        fig.savefig(path, dpi=120)
        paths.append(path)
    return paths
