"""Plots of the adaptive-sampling figure (Theorems 4.1, D.1, D.2); they never save or show."""

from __future__ import annotations

import numpy as np

from paper_figs._figlib import get_ax, set_log_ticks


def plot_adaptive_vs_fixed(df, ax=None):
    """Least budget vs 1/eps (log-log) for fixed-N and adaptive SFT-Sharpening, with fitted slopes
    and each theorem's rate through its points (one fitted constant each)."""
    import bounds

    ax = get_ax(ax)
    rates = {
        "fixed": (
            "C0",
            "o",
            "fixed-N SFT-Sharpening, m",
            lambda d: bounds.sft_sample_complexity(
                d.c_cov.to_numpy(),
                d.log_card.to_numpy(),
                d.eps.to_numpy(),
                d.delta.to_numpy(),
                d.rho.to_numpy(),
            ),
            "Theorem 4.1",
        ),
        "adaptive": (
            "C1",
            "s",
            "adaptive SFT-Sharpening, E[m]",
            lambda d: bounds.adaptive_sft_sample_complexity(
                d.c_bar_cov.to_numpy(),
                d.log_card.to_numpy(),
                d.eps.to_numpy(),
                d.delta.to_numpy(),
                d.rho.to_numpy(),
            ),
            "Theorem D.1",
        ),
    }
    for learner, (color, marker, label, rate_fn, thm) in rates.items():
        d = df[(df.learner == learner) & np.isfinite(df.m)].sort_values("eps", ascending=False)
        if d.empty:
            continue
        x, m = 1.0 / d.eps.to_numpy(), d.m.to_numpy()
        if len(x) >= 2:
            label += f" (slope {bounds.fit_scaling(d.eps.to_numpy(), m, 'eps').slope:.2f})"
        ax.plot(x, m, marker=marker, color=color, ms=6, lw=1.5, label=label)
        rate = np.asarray(rate_fn(d), dtype=float)
        c = np.exp(np.mean(np.log(m) - np.log(rate)))
        ax.plot(x, c * rate, "--", color=color, lw=1.0, label=f"{thm} rate (fitted c)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    set_log_ticks(ax.xaxis, 1.0 / df.eps.unique(), "{:.3g}")
    ax.set_xlabel(r"$1/\epsilon$ (log scale)")
    ax.set_ylabel("sample complexity: queries m or E[m] (log scale)")
    ax.set_title(r"Adaptive sampling: $1/\epsilon$ instead of $1/\epsilon^2$")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(True, which="major", alpha=0.3)
    return ax
