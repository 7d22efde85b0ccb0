"""Plots of the lower-bound figure (Theorem 3.1, D.2, Lemma H.3); they never save or show."""

from __future__ import annotations

import numpy as np

from paper_figs._figlib import get_ax, set_log_ticks


def plot_bayes_error(df, ax=None):
    """Per-hard-prompt Bayes error vs m (log x): exact (line), Monte Carlo (points, ±2 s.e.),
    Lemma H.3's threshold c* d M / Delta (dashed vertical), the level 1/8 (dotted)."""
    ax = get_ax(ax)
    curves = df[df.kind == "curve"]
    for i, (C, g) in enumerate(curves.groupby("C")):
        c = f"C{i}"
        r = g.iloc[0]
        ex = g[g.estimator == "exact"].sort_values("m")
        label = (
            f"C={C:g}: M={int(r.M)}, $\\Delta$={r.Delta:g}, d={int(r.d)}, "
            f"$C_{{cov}}$={r.coverage:.3g}"
        )
        ax.plot(ex["m"], ex["value"], "-", color=c, lw=1.6, label=label)
        mc = g[g.estimator == "monte_carlo"]
        ax.errorbar(mc["m"], mc["value"], yerr=2 * mc["se"], fmt="o", ms=4, color=c, capsize=2)
        ax.axvline(r.m_star, color=c, ls="--", lw=1.0)
    ax.axhline(1 / 8, color="k", ls=":", lw=1.0)
    if (curves.estimator == "monte_carlo").any():
        ax.errorbar([], [], yerr=[], fmt="ko", ms=4, label="Monte Carlo, Bayes learner (±2 s.e.)")
    ax.plot([], [], "k--", lw=1.0, label=r"$m = c^* d M/\Delta$ (Lemma H.3, exact $c^*$)")
    ax.plot([], [], "k:", lw=1.0, label="error 1/8")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("m, sample-and-evaluate queries (log scale)")
    ax.set_ylabel(r"minimax error per hard prompt, $P[\hat j_i \neq j^*_i]$")
    ax.set_title("No learner beats 1/8 error before $m \\approx c\\,dM/\\Delta$")
    ax.legend(fontsize=6.5, loc="upper right")
    ax.grid(True, alpha=0.3)
    return ax


def plot_thresholds(df, ax=None):
    """Exact minimax budgets vs 1/eps (log-log), non-adaptive vs adaptive, with the theorems'
    rates C log|Pi| / (eps^2 (1 + log(C/eps))) and C log|Pi| / (eps (1 + log(C/eps))) fitted
    through the points by one constant each."""
    import bounds

    ax = get_ax(ax)
    th = df[df.kind == "threshold"]
    styles = {
        "nonadaptive": ("o", "-", bounds.lower_bound_sample_complexity, "Thm 3.1"),
        "adaptive": ("s", "--", bounds.adaptive_lower_bound_sample_complexity, "Thm D.2"),
    }
    for i, (C, g) in enumerate(th.groupby("C")):
        for est, (marker, line, rate, _) in styles.items():
            h = g[g.estimator == est].sort_values("eps")
            x = 1.0 / h["eps"].to_numpy()
            y = h["value"].to_numpy()
            fit = bounds.fit_loglog_slope(x, y)
            r = np.asarray(rate(h["log_card"].to_numpy(), C, h["eps"].to_numpy()), dtype=float)
            scale = np.exp(np.mean(np.log(y) - np.log(r)))
            ax.plot(
                x, y, marker, color=f"C{i}", ms=5, label=f"C={C:g}, {est}: slope {fit.slope:.2f}"
            )
            ax.plot(x, scale * r, line, color=f"C{i}", lw=1.0)
    ax.plot([], [], "k-", lw=1.0, label=r"Thm 3.1 rate $\propto C\log|\Pi|/\epsilon^2$ (fitted c)")
    ax.plot([], [], "k--", lw=1.0, label=r"Thm D.2 rate $\propto C\log|\Pi|/\epsilon$ (fitted c)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    set_log_ticks(ax.xaxis, 1.0 / th["eps"].unique(), "{:.0f}")
    ax.set_xlabel(r"$1/\epsilon$ (log scale)")
    ax.set_ylabel(r"exact minimax budget $m$ or $E[m]$ (log scale)")
    ax.set_title(r"Budget for $(\epsilon, 1/2)$-sharpening: $1/\epsilon^2$ vs $1/\epsilon$")
    ax.legend(fontsize=6.5, loc="upper left")
    ax.grid(True, which="major", alpha=0.3)
    return ax
