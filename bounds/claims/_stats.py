"""Statistics and grid helpers shared by the claims.

Conventions: every Monte Carlo comparison uses a z-score against the exact value, with the critical
value Bonferroni-corrected for the number of comparisons at family-wise level 1e-3, so a claim fails
by chance with probability below 0.1%; every rate is a least-squares log-log slope compared with the
theorem's exponent inside a band stated in the claim.

A measured sample complexity is the least budget of a grid at which the algorithm's output is
(eps, delta)-sharpened (Def. 2.1), evaluated exactly (``theory.sharpening_error <= eps``), in at
least 1 - rho of the seeds (``bounds.minimal_budget``, ``bounds.minimal_product_budget``).
"""

from __future__ import annotations

import math

import numpy as np

import theory

FAMILYWISE_LEVEL = 1e-3


def z_critical(num_tests: int, level: float = FAMILYWISE_LEVEL) -> float:
    """Two-sided normal critical value for ``num_tests`` comparisons at family-wise ``level``."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(1.0 - level / (2.0 * num_tests))


def binomial_z(hits: np.ndarray, trials: int, p: np.ndarray) -> np.ndarray:
    """z-scores of observed frequencies ``hits/trials`` against exact probabilities ``p``."""
    p = np.asarray(p, dtype=np.float64)
    se = np.sqrt(np.maximum(p * (1.0 - p), 1e-300) / trials)
    return (np.asarray(hits) / trials - p) / se


def paired_z(per_draw: np.ndarray, i: int, j: int) -> float:
    """z-score of ``mean(per_draw[j] - per_draw[i])`` (paired over draws)."""
    diff = per_draw[j] - per_draw[i]
    se = diff.std(ddof=1) / math.sqrt(diff.size)
    return float(diff.mean() / se) if se > 0 else (0.0 if diff.mean() == 0 else math.inf)


def slope(x, y) -> float:
    """Least-squares log-log slope (``bounds.fit_loglog_slope``)."""
    from .._sample_complexity import fit_loglog_slope

    return fit_loglog_slope(np.asarray(x, float), np.asarray(y, float)).slope


def in_band(value: float, band: tuple[float, float]) -> bool:
    """Whether ``value`` is finite and inside the closed ``band``."""
    return bool(np.isfinite(value) and band[0] <= value <= band[1])


def fmt_band(band: tuple[float, float]) -> str:
    """``band`` as ``"[lo, hi]"``."""
    return f"[{band[0]:g}, {band[1]:g}]"


def cube(df, setting, metric: str, fields: tuple[str, ...]) -> np.ndarray:
    """``[len(field_0 values), ..., S]`` array of one metric of one setting of a sweep frame."""
    rows = df[(df["setting"] == setting) & (df["metric"] == metric)]
    rows = rows.sort_values([*fields, "seed"])
    shape = [rows[f].nunique() for f in fields] + [rows["seed"].nunique()]
    return rows["value"].to_numpy().reshape(shape)


def least_nN(errors: np.ndarray, n_grid, N_grid, eps: float, rho: float) -> tuple[float, int, int]:
    """The measured sample complexity ``(m, n, N)`` of SFT-Sharpening (Thm 4.1;
    :func:`bounds.minimal_product_budget`) from ``errors[i, j, s]``, the exact sharpening error
    with ``n_grid[i]`` prompts, ``N_grid[j]`` responses and seed ``s``."""
    from .._sample_complexity import minimal_product_budget

    return tuple(minimal_product_budget(theory.error_at_most(errors, eps), n_grid, N_grid, rho))


def log_grid(lo: float, hi: float, num: int) -> np.ndarray:
    """About ``num`` integers spaced evenly on a log scale from ``lo`` to ``hi``."""
    return np.unique(np.round(np.geomspace(lo, hi, num)).astype(int))


def grid_step(lo: float, hi: float, num: int) -> float:
    """The log step of :func:`log_grid` away from its smallest, rounded values."""
    return math.log(hi / lo) / (num - 1)
