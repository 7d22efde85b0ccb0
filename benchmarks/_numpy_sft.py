"""SFT-Sharpening in numpy, as a careful researcher would write it: the baseline of benchmark 4.

The same algorithm as ``simulators.sft_sharpening`` with the unrestricted tabular class
(THEORY.md section 2.1, pseudo-code B), vectorized within a run:

    x_1..x_n ~ mu                                  (inverse CDF, one searchsorted)
    y_{i,1..N} ~ pi_base(.|x_i), observe log pi_base (inverse CDF in all rows at once)
    y_i^BoN = argmax_j log pi_base(y_ij|x_i)        (ties uniformly at random)
    pi_hat(y|x) = #{i : x_i = x, y_i^BoN = y} / #{i : x_i = x}   (uniform on unseen prompts)
    error = P_{x~mu}[pi_hat(y*(x)|x) < 1 - delta]   (exact, Def. 3.1)

and looped over seeds and budgets in Python.
"""

from __future__ import annotations

import numpy as np


class Instance:
    """Precomputed per-instance arrays (done once, outside the timed loops' per-run work)."""

    def __init__(self, logp_base: np.ndarray, mu: np.ndarray):
        X, Y = logp_base.shape
        self.X, self.Y = X, Y
        self.logp_base = logp_base
        self.mu = mu
        self.mu_cdf = np.cumsum(mu)
        p = np.exp(logp_base - logp_base.max(axis=1, keepdims=True))
        cdf = np.cumsum(p, axis=1)
        cdf /= cdf[:, -1:]
        # Row x's CDF shifted into [x, x + 1]: one global sorted array, so a single searchsorted
        # serves draws from many different rows.
        self.flat_cdf = (cdf + np.arange(X)[:, None]).ravel()
        self.star = logp_base == logp_base.max(axis=1, keepdims=True)  # y*(x), ties included


def draw(rng: np.random.Generator, inst: Instance, n: int, N: int):
    """``n`` prompts and ``N`` responses each, with their base log-likelihoods."""
    x = np.searchsorted(inst.mu_cdf, rng.random(n) * inst.mu_cdf[-1], side="right")
    x = np.minimum(x, inst.X - 1)
    q = x[:, None] + rng.random((n, N))
    y = np.searchsorted(inst.flat_cdf, q, side="right") - x[:, None] * inst.Y
    y = np.clip(y, 0, inst.Y - 1)
    return x, y, inst.logp_base[x[:, None], y]


def best_of_n(rng: np.random.Generator, logp: np.ndarray) -> np.ndarray:
    """Index of the most likely sample of each row, ties broken uniformly at random."""
    priority = rng.random(logp.shape)
    tied = logp == logp.max(axis=1, keepdims=True)
    return np.argmax(np.where(tied, priority, -1.0), axis=1)


def fit_and_score(inst: Instance, x: np.ndarray, y_bon: np.ndarray, delta: float):
    """Tabular count MLE on the BoN responses: its exact sharpening error and its mass on the
    argmax set averaged over prompts, ``E_x pi_hat(y*(x)|x)``."""
    counts = np.bincount(x * inst.Y + y_bon, minlength=inst.X * inst.Y).reshape(inst.X, inst.Y)
    total = counts.sum(axis=1)
    seen = total > 0
    mass = np.where(seen, (counts * inst.star).sum(axis=1) / np.maximum(total, 1), 0.0)
    mass = np.where(seen, mass, inst.star.sum(axis=1) / inst.Y)  # unseen prompt: uniform
    return float(inst.mu @ (mass < 1.0 - delta)), float(inst.mu @ mass)


def sft_run(rng: np.random.Generator, inst: Instance, n: int, N: int, delta: float):
    """One SFT-Sharpening run with fresh samples: ``(sharpening error, mass on argmax)``."""
    x, y, lp = draw(rng, inst, n, N)
    j = best_of_n(rng, lp)
    return fit_and_score(inst, x, y[np.arange(n), j], delta)


def sweep_fresh(seeds, inst: Instance, budgets, delta: float) -> np.ndarray:
    """``[S, B, 2]`` (error, mass): every (seed, budget) is an independent run, own samples."""
    out = np.empty((len(seeds), len(budgets), 2))
    for s, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        for b, (n, N) in enumerate(budgets):
            out[s, b] = sft_run(rng, inst, n, N, delta)
    return out


def sweep_shared(seeds, inst: Instance, budgets, delta: float) -> np.ndarray:
    """``[S, B, 2]`` (error, mass), each seed drawing the largest budget once and every budget
    using its prefix (first n prompts, first N responses): the toolkit sweep's sample sharing."""
    n_max = max(n for n, _ in budgets)
    N_max = max(N for _, N in budgets)
    out = np.empty((len(seeds), len(budgets), 2))
    for s, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        x, y, lp = draw(rng, inst, n_max, N_max)
        priority = rng.random(lp.shape)
        for b, (n, N) in enumerate(budgets):
            sub = lp[:n, :N]
            tied = sub == sub.max(axis=1, keepdims=True)
            j = np.argmax(np.where(tied, priority[:n, :N], -1.0), axis=1)
            out[s, b] = fit_and_score(inst, x[:n], y[np.arange(n), j], delta)
    return out
