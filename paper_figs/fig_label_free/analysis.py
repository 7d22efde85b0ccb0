"""Plots of the label-free self-training figure; they never save or show.

Sampled runs are solid (mean over seeds, band +-2 s.e.), the exact expected-update (mean-field)
dynamics dashed in the same colour, and the exact limits diamonds at the right edge: pi*_beta for
the log-likelihood reward (Eq. 3), ``y*(x)`` for entropy minimization, the plurality answer for
TTRL.
"""

from __future__ import annotations

from paper_figs._figlib import get_ax

from .sweep import LABELS, METHODS

_COLORS = {m: f"C{i}" for i, m in enumerate([*METHODS, "iterated_sft", "iterated_rlhf"])}
_YLABELS = {
    "mass_on_argmax": r"mass on $y^*(x)$ (the likeliest response)",
    "accuracy": "accuracy (mass on the correct answer)",
    "entropy": "entropy (nats, mean over prompts)",
    "mass_on_answer_mode": "mass on the plurality answer",
}


def plot_trajectories(df, ax=None, *, metric: str = "mass_on_argmax", legend: bool = False):
    """``metric`` against queries for every policy-gradient method."""
    ax = get_ax(ax)
    traj = df[(df.kind == "trajectories") & (df.metric == metric)]
    per_step = None
    for m in METHODS:
        for update, style in (("sampled", "-"), ("expected", "--")):
            g = traj[(traj.method == m) & (traj["update"] == update) & (traj.t > 0)]
            g = g.sort_values("t")
            if g.empty:
                continue
            x = g["queries"].to_numpy(float)
            y = g["mean"].to_numpy(float)
            ax.plot(
                x,
                y,
                style,
                color=_COLORS[m],
                lw=1.6 if style == "-" else 1.1,
                label=LABELS[m] if update == "sampled" else None,
            )
            if update == "sampled":
                se = g["se"].to_numpy(float)
                ax.fill_between(x, y - 2 * se, y + 2 * se, color=_COLORS[m], alpha=0.15, lw=0)
            nonzero = x[x > 0]
            per_step = nonzero.min() if nonzero.size else per_step
    right = traj["queries"].max()
    lim = df[(df["update"] == "limit") & (df.metric == metric)]
    for i, (_, r) in enumerate(lim.iterrows()):
        ax.plot([right * (1.35 + 0.12 * i)], [r["mean"]], "D", ms=4.5, color=_COLORS[r["method"]])
    ax.set_xscale("log")
    ax.set_xlim(per_step or 1.0, right * 2.0)
    ax.set_xlabel("queries (responses sampled and scored)")
    ax.set_ylabel(_YLABELS[metric])
    ax.grid(True, which="major", alpha=0.3)
    if legend:
        ax.legend(handles=legend_handles(), fontsize=6.5, loc="lower left")
    return ax


def legend_handles():
    """Proxy artists naming every method and line style of :func:`plot_trajectories`."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=_COLORS[m], lw=1.6, label=LABELS[m]) for m in METHODS]
    return handles + [
        Line2D([], [], color="k", ls="-", label="sampled (mean of seeds, band 2 s.e.)"),
        Line2D([], [], color="k", ls="--", lw=1.1, label="exact expected update (mean field)"),
        Line2D([], [], color="k", ls="", marker="D", ms=4.5, label="exact limit"),
    ]


def plot_iterated(df, ax=None):
    """Iterated SFT- and RLHF-Sharpening: mass on ``y*`` (solid) and accuracy (dotted) of the
    exact round laws against the round, with the sampled iterates' mean mass (markers)."""
    ax = get_ax(ax)
    it = df[df.kind == "iterated"]
    for m in ("iterated_sft", "iterated_rlhf"):
        for metric, style in (("mass_on_argmax", "-"), ("accuracy", ":")):
            g = it[(it.method == m) & (it["update"] == "exact") & (it.metric == metric)]
            g = g.sort_values("t")
            ax.plot(
                g["t"],
                g["mean"],
                style,
                marker="o" if style == "-" else None,
                ms=3,
                color=_COLORS[m],
                label=f"{LABELS[m]}" if style == "-" else None,
            )
        s = it[(it.method == m) & (it["update"] == "sampled") & (it.metric == "mass_on_argmax")]
        if not s.empty:
            ax.errorbar(s["t"], s["mean"], yerr=2 * s["se"], fmt="x", ms=5, color=_COLORS[m])
    ax.plot([], [], "k-", label=r"exact round law: mass on $y^*$")
    ax.plot([], [], "k:", label="exact round law: accuracy")
    if (it["update"] == "sampled").any():
        ax.plot([], [], "kx", label="sampled iterates (n per round), mass on $y^*$")
    ax.set_xlabel("round t (each round's output is the next base)")
    ax.set_ylabel(r"mass on $y^*(x)$ / accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6.5, loc="center right")
    return ax
