"""Plots of the heatmap figure (paper Fig. 1a analogue); they never save or show."""

from __future__ import annotations

import numpy as np

from paper_figs._figlib import get_ax, mean_and_ci

FAMILY_LABELS = {
    "tabular": "tabular",
    "linear_softmax": "linear softmax",
    "markov": "Markov chain",
    "autoregressive": "autoregressive",
    "multilayer": "multi-layer softmax",
}
TASK_LABELS = {
    "first_token": "first token",
    "last_token": "last token",
    "sum_mod": "sum mod 3",
    "count_top": "count mod 3",
}


def lift_table(df):
    """Mean % lift per (family, task) over seeds with a bootstrap 95% interval over the seeds:
    three families x tasks frames ``(mean, lo, hi)``."""
    agg = mean_and_ci(df, ["family", "task"], "lift_pct")
    fams = [f for f in FAMILY_LABELS if f in set(agg.family)]
    cols = [c for c in TASK_LABELS if c in set(agg.task)]
    return tuple(
        agg.pivot(index="family", columns="task", values=v).loc[fams, cols]
        for v in ("mean", "lo", "hi")
    )


def plot_heatmap(df, ax=None):
    """Families x tasks heatmap of best-of-N's % lift over greedy, annotated, centred at 0."""
    ax = get_ax(ax)
    t, lo, hi = lift_table(df)
    v = t.to_numpy(dtype=float)
    several_seeds = df.groupby(["family", "task"]).size().max() > 1
    lim = max(1.0, float(np.nanmax(np.abs(v))))
    im = ax.imshow(v, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")

    def fmt(x):
        return f"{x:+.1f}".replace("-0.0", "0.0").replace("+0.0", "0.0")

    for i in range(v.shape[0]):
        for j in range(v.shape[1]):
            text = fmt(v[i, j])
            if several_seeds:
                text += f"\n[{fmt(lo.iloc[i, j])}, {fmt(hi.iloc[i, j])}]"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=8 if several_seeds else 9,
                color="white" if abs(v[i, j]) > 0.6 * lim else "black",
            )
    ax.set_xticks(range(v.shape[1]), [TASK_LABELS[c] for c in t.columns])
    ax.set_yticks(range(v.shape[0]), [FAMILY_LABELS[f] for f in t.index])
    ax.set_xlabel("toy task (answer extracted from the response)")
    ax.set_ylabel("toy model family")
    N = int(df["N"].iloc[0]) if "N" in df else 50
    ax.set_title(f"% lift of BoN (log-likelihood, N={N}) over greedy")
    ax.figure.colorbar(im, ax=ax, label="% lift in accuracy over greedy")
    return ax
