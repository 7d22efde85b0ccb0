"""Straightforward numpy versions of the theory functions: the baseline of benchmark 1.

Each is what a researcher would write from the paper's definition, vectorized over the whole
``[X, Y]`` table, in log space where the definition is a comparison and in probability space where
it is a sum. They also cross-check the toolkit's values in the benchmark.
"""

from __future__ import annotations

import numpy as np


def argmax_set(logp: np.ndarray, gamma: float = 0.0) -> np.ndarray:
    """Mask of y*_gamma(x) = {y : pi(y|x) >= (1 - gamma) max pi(.|x)} (App. F.1)."""
    return logp - logp.max(axis=-1, keepdims=True) >= np.log1p(-gamma)


def coverage(logp: np.ndarray, mu: np.ndarray, gamma: float = 0.0, p: float = 1.0) -> float:
    """C_cov,gamma,p = (E_mu[pi(y*_gamma)^-p])^(1/p) (Eq. 6, App. H)."""
    mass = np.where(argmax_set(logp, gamma), np.exp(logp), 0.0).sum(axis=-1)
    return float((mu @ mass**-p) ** (1.0 / p))


def sharpening_error(
    logp_hat: np.ndarray, logp_base: np.ndarray, mu: np.ndarray, delta: float, gamma: float = 0.0
) -> float:
    """P_mu[pi_hat(y*_gamma(x)|x) < 1 - delta] (Def. 3.1, F.1)."""
    mass = np.where(argmax_set(logp_base, gamma), np.exp(logp_hat), 0.0).sum(axis=-1)
    return float(mu @ (mass < 1.0 - delta))


def logsumexp(a: np.ndarray, axis: int = -1) -> np.ndarray:
    m = a.max(axis=axis, keepdims=True)
    return m + np.log(np.exp(a - m).sum(axis=axis, keepdims=True))


def kl_tilt(logp_base: np.ndarray, beta: float) -> np.ndarray:
    """pi*_beta proportional to pi_base^(1 + 1/beta) (Eq. 3 with r = log pi_base)."""
    logits = (1.0 + 1.0 / beta) * logp_base
    return logits - logsumexp(logits)


def kl(logp_p: np.ndarray, logp_q: np.ndarray, mu: np.ndarray) -> float:
    """E_mu[KL(p || q)] with 0 log 0 = 0."""
    p = np.exp(logp_p)
    terms = np.where(p > 0, p * (logp_p - logp_q), 0.0)
    return float(mu @ terms.sum(axis=-1))


def bon_law(logp_base: np.ndarray, n: int) -> np.ndarray:
    """Log-law of best-of-n with the log-likelihood reward, ties split uniformly (Assumption 4.1).

    Sort each row; for the tie group g of y, P[BoN = y] = (S_g^n - L_g^n) / |g| with S_g the mass
    of responses no more likely than y and L_g that of strictly less likely ones.
    """
    X, Y = logp_base.shape
    order = np.argsort(logp_base, axis=-1, kind="stable")
    lp = np.take_along_axis(logp_base, order, axis=-1)
    p = np.exp(lp)
    cum = np.cumsum(p, axis=-1)
    idx = np.broadcast_to(np.arange(Y), (X, Y))
    start = np.ones((X, Y), bool)
    start[:, 1:] = lp[:, 1:] != lp[:, :-1]
    end = np.ones((X, Y), bool)
    end[:, :-1] = start[:, 1:]
    g_start = np.maximum.accumulate(np.where(start, idx, 0), axis=-1)
    g_end = np.minimum.accumulate(np.where(end, idx, Y - 1)[:, ::-1], axis=-1)[:, ::-1]
    S = np.take_along_axis(cum, g_end, axis=-1)
    L = np.take_along_axis(cum, g_start, axis=-1) - np.take_along_axis(p, g_start, axis=-1)
    law_sorted = (S**n - np.maximum(L, 0.0) ** n) / (g_end - g_start + 1)
    out = np.empty_like(law_sorted)
    np.put_along_axis(out, order, law_sorted, axis=-1)
    with np.errstate(divide="ignore"):
        return np.log(out)
