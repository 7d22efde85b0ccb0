"""Plots of the SFT sample-complexity figure (Theorem 4.1); they never save or show."""

from __future__ import annotations

import numpy as np

from paper_figs._figlib import get_ax, set_log_ticks

# vary -> (x column, x label, bounds.fit_scaling's variable name, its values' column)
_AXES = {
    "C": ("c_cov", r"coverage coefficient $C_{cov}$ (log scale)", "C_cov", "c_cov"),
    "eps": ("inv_eps", r"$1/\epsilon$ (log scale)", "eps", "eps"),
    "delta": ("inv_delta", r"$1/\delta$ (log scale)", "delta", "delta"),
}


def plot_scaling(df, ax=None, *, vary: str = "C"):
    """Measured least budget m vs one parameter (log-log), with Theorem 4.1's rate
    C_cov log(|Pi|/rho) log(1/delta) / (delta eps^2) through the points (one fitted constant)."""
    import bounds

    from .sweep import BASE

    ax = get_ax(ax)
    # The points where every other parameter sits at the base values.
    others = [k for k in BASE if k != vary]
    d = df[np.logical_and.reduce([np.isclose(df[k], BASE[k]) for k in others])].copy()
    d["inv_eps"], d["inv_delta"] = 1.0 / d["eps"], 1.0 / d["delta"]
    col, xlabel, variable, values = _AXES[vary]
    d = d[np.isfinite(d["m"])].sort_values(col)
    x, m = d[col].to_numpy(), d["m"].to_numpy()
    rate = np.asarray(
        bounds.sft_sample_complexity(
            d["c_cov"].to_numpy(),
            d["log_card"].to_numpy(),
            d["eps"].to_numpy(),
            d["delta"].to_numpy(),
            d["rho"].to_numpy(),
        ),
        dtype=float,
    )
    if len(x):
        c = np.exp(np.mean(np.log(m) - np.log(rate)))
        ax.plot(x, c * rate, "k--", lw=1.2, label=f"Theorem 4.1 rate (fitted c = {c:.2g})")
    label = "measured least m = nN"
    if len(x) >= 2:
        fit = bounds.fit_scaling(d[values].to_numpy(), m, variable)
        label += f" (slope {fit.slope:.2f})"
    ax.plot(x, m, "o-", color="C0", ms=6, lw=1.4, label=label)
    for xi, mi, n, N in zip(x, m, d["n"], d["N"], strict=True):
        ax.annotate(
            f"n={n}\nN={N}", (xi, mi), textcoords="offset points", xytext=(4, -16), fontsize=6
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    if len(x):
        set_log_ticks(ax.xaxis, x, "{:.3g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("sample complexity m (queries, log scale)")
    fixed = {"C": "eps, delta", "eps": "C, delta", "delta": "C, eps"}[vary]
    ax.set_title(f"vs {variable} (fixed {fixed})", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(True, which="major", alpha=0.3)
    return ax
