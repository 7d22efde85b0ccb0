"""SFT-Sharpening in numpy, as a careful researcher would write it: the baseline of benchmark 4.

The same algorithm as ``simulators.sft_sharpening`` with the unrestricted tabular class
(THEORY.md section 2.1, pseudo-code B), vectorized within a run:

    x_1..x_n ~ mu                                  (inverse CDF, one searchsorted)
    y_{i,1..N} ~ pi_base(.|x_i), observe log pi_base (inverse CDF in all rows at once)
    y_i^BoN = argmax_j log pi_base(y_ij|x_i)        (ties uniformly at random)
    pi_hat(y|x) = #{i : x_i = x, y_i^BoN = y} / #{i : x_i = x}   (uniform on unseen prompts)
    error = P_{x~mu}[pi_hat(y*(x)|x) < 1 - delta]   (exact, Def. 3.1)

and looped over seeds and budgets in Python.

It also has the exact-law ("sufficient statistics") form of the same run, the algorithm of
``simulators.tabular_sft_exact_law``: the count MLE's error and mass depend only on, per prompt,
``n_x`` (visits) and ``k_x`` (best-of-N responses in y*(x)), and given x_i the best-of-N response
lies in y*(x_i) with probability ``1 - (1 - pi_base(y*(x_i)|x_i))^N`` (Prop. C.1)::

    x_1..x_n ~ mu;  v_i ~ U(0, 1]
    hit_i = N log(1 - pi_base(y*(x_i)|x_i)) < log v_i
    n_x, k_x = bincount(x), bincount(x, weights=hit)
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
        self.star_size = self.star.sum(axis=1)
        # log(1 - pi_base(y*(x)|x)), the mass outside y* summed directly (exact when y* holds
        # nearly all the mass); -inf when y* holds all of it.
        with np.errstate(divide="ignore"):
            self.log_miss = np.log(np.where(self.star, 0.0, np.exp(logp_base)).sum(axis=1))


def draw_prompts(rng: np.random.Generator, inst: Instance, n: int) -> np.ndarray:
    """``n`` prompts ``x ~ mu`` by inverse CDF."""
    x = np.searchsorted(inst.mu_cdf, rng.random(n) * inst.mu_cdf[-1], side="right")
    return np.minimum(x, inst.X - 1)


def draw(rng: np.random.Generator, inst: Instance, n: int, N: int):
    """``n`` prompts and ``N`` responses each, with their base log-likelihoods."""
    x = draw_prompts(rng, inst, n)
    q = x[:, None] + rng.random((n, N))
    y = np.searchsorted(inst.flat_cdf, q, side="right") - x[:, None] * inst.Y
    y = np.clip(y, 0, inst.Y - 1)
    return x, y, inst.logp_base[x[:, None], y]


def best_of_n(rng: np.random.Generator, logp: np.ndarray) -> np.ndarray:
    """Index of the most likely sample of each row, ties broken uniformly at random."""
    priority = rng.random(logp.shape)
    tied = logp == logp.max(axis=1, keepdims=True)
    return np.argmax(np.where(tied, priority, -1.0), axis=1)


def score_counts(inst: Instance, total: np.ndarray, hits: np.ndarray, delta: float):
    """Exact sharpening error and mass ``E_x pi_hat(y*(x)|x)`` of the count MLE with ``total[x]``
    visits of which ``hits[x]`` chose a response in y*(x) (unseen prompts: uniform)."""
    seen = total > 0
    den = np.where(seen, total, inst.Y)
    inside = np.where(seen, hits, inst.star_size)
    # pi_hat(y*) < 1 - delta as "count outside > delta * total": exact at ties like 3/4.
    fails = den - inside > delta * den
    return float(inst.mu @ fails), float(inst.mu @ (inside / den))


def fit_and_score(inst: Instance, x: np.ndarray, y_bon: np.ndarray, delta: float):
    """Tabular count MLE on the BoN responses: its exact sharpening error and its mass on the
    argmax set averaged over prompts, ``E_x pi_hat(y*(x)|x)``."""
    counts = np.bincount(x * inst.Y + y_bon, minlength=inst.X * inst.Y).reshape(inst.X, inst.Y)
    return score_counts(inst, counts.sum(axis=1), (counts * inst.star).sum(axis=1), delta)


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


def exact_law_draw(rng: np.random.Generator, inst: Instance, n: int):
    """``n`` prompts and, for each, ``log v_i`` with ``v_i ~ U(0, 1]`` (exact-law form)."""
    return draw_prompts(rng, inst, n), np.log1p(-rng.random(n))


def exact_law_score(inst: Instance, x, log_v, N: int, delta: float):
    """``(error, mass)`` of the run that uses prompts ``x`` with ``N`` responses each: best-of-N
    lies in y*(x_i) iff ``N log(1 - pi_base(y*(x_i)|x_i)) < log v_i``."""
    hit = N * inst.log_miss[x] < log_v
    total = np.bincount(x, minlength=inst.X)
    hits = np.bincount(x, weights=hit, minlength=inst.X)
    return score_counts(inst, total, hits, delta)


def sweep_exact_law(seeds, inst: Instance, budgets, delta: float) -> np.ndarray:
    """``[S, B, 2]`` (error, mass) by the exact law, each seed drawing ``n_max`` prompts and
    uniforms once and every budget using their prefix (the toolkit's coupling of budgets)."""
    n_max = max(n for n, _ in budgets)
    out = np.empty((len(seeds), len(budgets), 2))
    for s, seed in enumerate(seeds):
        x, log_v = exact_law_draw(np.random.default_rng(seed), inst, n_max)
        for b, (n, N) in enumerate(budgets):
            out[s, b] = exact_law_score(inst, x[:n], log_v[:n], N, delta)
    return out


def dpo_run(rng: np.random.Generator, inst: Instance, n: int, beta: float, delta: float) -> float:
    """One tabular squared-loss run (Eq. 8, DPO-style RLHF-Sharpening) with ``n`` fresh pairs:
    its exact sharpening error. The minimizer puts ``log pi_base + r / beta`` (here ``r = log
    pi_base``) on the responses observed at each prompt, no mass on the others, and the uniform
    law on unseen prompts."""
    x, y, lp = draw(rng, inst, n, 2)
    pot = np.full((inst.X, inst.Y), -np.inf)
    np.maximum.at(pot, (np.repeat(x, 2), y.ravel()), (lp * (1 + 1 / beta)).ravel())
    seen = np.isfinite(pot).any(axis=1)
    top = np.where(seen, pot.max(axis=1), 0.0)
    w = np.exp(pot - top[:, None])  # 0 where unobserved
    inside = np.where(seen, (w * inst.star).sum(axis=1), inst.star_size)
    total = np.where(seen, w.sum(axis=1), inst.Y)
    fails = total - inside > delta * total
    return float(inst.mu @ fails)


def sweep_dpo(seeds, inst: Instance, budgets_n, beta: float, delta: float) -> np.ndarray:
    """``[S, B]`` sharpening errors, every (seed, budget) an independent run."""
    out = np.empty((len(seeds), len(budgets_n)))
    for s, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        for b, n in enumerate(budgets_n):
            out[s, b] = dpo_run(rng, inst, n, beta, delta)
    return out


def adaptive_run(
    rng: np.random.Generator, inst: Instance, n: int, mu_stop: float, cap: int, delta: float
) -> float:
    """One adaptive SFT-Sharpening run (App. D, Eq. 10), vectorized over prompts: ``cap`` draws
    per prompt, the first ``k`` with ``k max_{j<=k} pi_base(y_j|x) >= mu_stop`` is the stopping
    time, best-of-``k`` (ties uniformly) and the count MLE. Returns the exact sharpening error."""
    x, y, lp = draw(rng, inst, n, cap)
    k = np.arange(1, cap + 1)
    stop = k * np.exp(np.maximum.accumulate(lp, axis=1)) >= mu_stop
    num = np.where(stop.any(axis=1), stop.argmax(axis=1) + 1, cap)
    used = k[None, :] <= num[:, None]
    scores = np.where(used, lp, -np.inf)
    priority = rng.random(lp.shape)
    tied = scores == scores.max(axis=1, keepdims=True)
    j = np.argmax(np.where(tied, priority, -1.0), axis=1)
    return fit_and_score(inst, x, y[np.arange(n), j], delta)[0]


def sweep_adaptive(seeds, inst: Instance, budgets_n, mu_stop: float, cap: int, delta: float):
    """``[S, B]`` sharpening errors of adaptive SFT-Sharpening, every (seed, budget) fresh."""
    out = np.empty((len(seeds), len(budgets_n)))
    for s, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        for b, n in enumerate(budgets_n):
            out[s, b] = adaptive_run(rng, inst, n, mu_stop, cap, delta)
    return out
