"""Plots of the best-of-N figure (Prop. C.1, exact BoN law, paper Fig. 4); never save or show."""

from __future__ import annotations

import numpy as np

from paper_figs._figlib import get_ax


def _instances(df):
    """Instances in order of increasing C_cov, averaged over seeds (labels share the C_cov)."""
    return sorted(df.groupby("label", sort=False), key=lambda kv: kv[1]["c_cov"].mean())


def _mc(g, metric):
    """Monte Carlo mean per N over seeds, with the standard error of that mean."""
    m = g[(g.estimator == "monte_carlo") & (g.metric == metric)]
    agg = m.groupby("N").agg(
        value=("value", "mean"), se2=("se", lambda s: np.sum(s**2)), k=("se", "size")
    )
    agg["se"] = np.sqrt(agg["se2"]) / agg["k"]
    return agg


def plot_hit_probability(df, ax=None):
    """P[BoN_N in y*] vs N (log x): exact (line), Monte Carlo (±2 s.e.), Prop. C.1 (dotted)."""
    ax = get_ax(ax)
    for i, (label, g) in enumerate(_instances(df)):
        c = f"C{i}"
        ex = g[(g.estimator == "exact") & (g.metric == "hit")].groupby("N")["value"].mean()
        ax.plot(ex.index, ex.to_numpy(), "-", color=c, lw=1.6, label=label)
        b = g[(g.estimator == "prop_c1") & (g.metric == "hit")].groupby("N")["value"].mean()
        ax.plot(b.index, b.to_numpy(), ":", color=c, lw=1.3)
        mc = _mc(g, "hit")
        ax.errorbar(mc.index, mc["value"], yerr=2 * mc["se"], fmt="o", ms=3.5, color=c, capsize=2)
        ax.axvline(g["c_cov"].mean(), color=c, ls="--", lw=0.8, alpha=0.7)
    ax.plot([], [], "k-", label=r"exact $E_x[1-(1-p^*(x))^N]$")
    ax.errorbar([], [], yerr=[], fmt="ko", ms=3.5, label="Monte Carlo (±2 s.e.)")
    ax.plot([], [], "k:", label=r"Prop. C.1 bound $1-E_x e^{-N p^*(x)}$")
    ax.plot([], [], "k--", lw=0.8, label=r"$N = C_{cov}$")
    ax.set_xscale("log", base=2)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("N, responses per prompt (log scale)")
    ax.set_ylabel(r"$P[\,$BoN$_N \in y^*(x)\,]$")
    ax.set_title("Best-of-N finds $y^*$ once $N \\gtrsim C_{cov}$")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(True, alpha=0.3)
    return ax


def plot_mean_loglik(df, ax=None):
    """E[log pi_base(BoN_N)] vs N: exact (line) and Monte Carlo (points, ±2 s.e.), limit dashed."""
    ax = get_ax(ax)
    for i, (label, g) in enumerate(_instances(df)):
        c = f"C{i}"
        ex = g[(g.estimator == "exact") & (g.metric == "loglik")].groupby("N")["value"].mean()
        ax.plot(ex.index, ex.to_numpy(), "-", color=c, lw=1.6, label=label)
        mc = _mc(g, "loglik")
        ax.errorbar(mc.index, mc["value"], yerr=2 * mc["se"], fmt="o", ms=3.5, color=c, capsize=2)
        ax.axhline(g["max_loglik"].mean(), color=c, ls="--", lw=0.8, alpha=0.7)
    ax.plot([], [], "k-", label="exact (BoN law)")
    ax.errorbar([], [], yerr=[], fmt="ko", ms=3.5, label="Monte Carlo (±2 s.e.)")
    ax.plot([], [], "k--", lw=0.8, label=r"limit $E_x \max_y \log\pi_{base}(y|x)$")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("N, responses per prompt (log scale)")
    ax.set_ylabel(r"$E[\log\pi_{base}(\mathrm{BoN}_N|x)]$ (nats)")
    ax.set_title("Log-likelihood of the BoN output rises with N")
    ax.legend(fontsize=7, loc="center right")
    ax.grid(True, alpha=0.3)
    return ax
