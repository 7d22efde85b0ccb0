"""Plots of the non-closure figure (Proposition E.2); they never save or show."""

from __future__ import annotations

from paper_figs._figlib import get_ax


def plot_class_mass(df, ax=None):
    """pi(2, 1): the class's best vs its radius B', and the tempered base vs ||s theta*||."""
    ax = get_ax(ax)
    for i, (n, g) in enumerate(df.groupby("n")):
        c = f"C{i}"
        s = g[g.curve == "class_sup"].sort_values("x")
        ax.plot(s.x, s.value, "-", color=c, lw=1.6, label=f"n={n}: best in class")
        t = g[g.curve == "tempered"].sort_values("x")
        ax.plot(t.x, t.value, ":", color=c, lw=1.3)
        ax.plot([g.base_B.iloc[0]], [g.base_mass.iloc[0]], "o", color=c, ms=6)
    ax.axhline(0.5, color="k", ls="--", lw=1.0, label="1/2 (Prop. E.2's ceiling)")
    ax.plot([], [], "k:", label=r"tempered base $\pi_{s\theta^*}$, x = $\|s\theta^*_h\|$")
    ax.plot([], [], "ko", ms=5, label=r"$\pi_{base}(2,1)$ at $B=\log n$")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(r"class radius $B'$ (bound on $\|\theta_h\|$, log scale)")
    ax.set_ylabel(r"mass on the sequence argmax, $\pi(2,1)$")
    ax.set_title("No model of the class puts more than 1/2 on (2,1)")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_bon_hit(df, ax=None):
    """Inference-time best-of-N's exact P[BoN_N = (2, 1)] vs N, against the class's ceiling."""
    ax = get_ax(ax)
    for i, (n, g) in enumerate(df.groupby("n")):
        b = g[g.curve == "bon"].sort_values("x")
        ax.plot(b.x, b.value, "o-", color=f"C{i}", ms=4, lw=1.5, label=f"n={n}")
    ax.axhline(0.5, color="k", ls="--", lw=1.0, label="best any model of the class can do")
    ax.set_xscale("log", base=2)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("N, samples per prompt (log scale)")
    ax.set_ylabel(r"$P[\,$BoN$_N = (2,1)\,]$ (exact)")
    ax.set_title("Inference-time BoN sharpens past 1/2")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(True, which="major", alpha=0.3)
    return ax
