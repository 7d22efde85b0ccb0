"""Plots of the log-likelihood-by-correctness figure (paper Figs. 1c, 6); never save or show."""

from __future__ import annotations

import numpy as np

from paper_figs._figlib import get_ax


def plot_loglik_hist(df, ax=None, *, label: str | None = None):
    """Densities of log pi_base(y|x) for correct vs incorrect samples of one task, with the AUC."""
    ax = get_ax(ax)
    label = df["label"].iloc[0] if label is None else label
    d = df[df.label == label]
    lo, hi = np.floor(d["logp"].min()), np.ceil(d["logp"].max())
    bins = np.linspace(lo, hi, 25)
    for ok, color, name in ((True, "C2", "correct"), (False, "C3", "incorrect")):
        v = d.loc[d.correct == ok, "logp"]
        if len(v):
            ax.hist(
                v,
                bins=bins,
                density=True,
                alpha=0.45,
                color=color,
                label=f"{name} ({len(v)} samples, mean {v.mean():.2f})",
            )
    r = d.iloc[0]
    ax.set_xlabel(r"sequence log-likelihood $\log\pi_{base}(y|x)$ (nats)")
    ax.set_ylabel("density")
    ax.set_title(
        f"{label}\nAUC {r.auc:.2f}, within-prompt AUC {r.auc_within_prompt:.2f}", fontsize=9
    )
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(True, alpha=0.3)
    return ax
