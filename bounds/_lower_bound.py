"""The hard instance of the lower bound (Theorem 3.1', App. H) and its exact Bayes-optimal learners.

The instance (THEORY.md section 3.2), with ``gamma = 1/2`` by default::

    X = {x_0, x_1, ..., x_d},   Y = {y_0, y_1, ..., y_M}
    mu = (1 - Delta) delta_{x_0} + (Delta / d) sum_{i=1}^d delta_{x_i}
    P_0 = delta_{y_0}
    P_j(y_j) = 1 / ((1 - gamma) M),   P_j(y_k) = (1/M) (1 - gamma / ((M - 1)(1 - gamma)))  (k != j)
    Pi = { pi^I : I = (j_1, ..., j_d) in [M]^d },   pi^I(x_0) = P_0,  pi^I(x_i) = P_{j_i}

so ``log |Pi| = d log M``. Response ``y_j`` is encoded as index ``j`` (``y_0`` is index 0).

The learner knows the class. At a hard prompt ``x_i`` a draw of likelihood ``1/((1-gamma)M)``
(``2/M`` for gamma = 1/2) reveals ``j*_i``; every other draw only rules its index out, so the
posterior on ``j*_i`` is uniform over the indices not yet observed. Under the uniform prior on I
the Bayes-optimal guess is therefore: the revealed index if any, else a uniform unobserved index,
with conditional error ``1 - 1/(M - D)`` after observing ``D`` distinct wrong indices. The Bayes
risk is the same for every I (the instance is symmetric), so this learner is also minimax.

By Lemma H.2 a policy ``pi_hat`` has ``E P_x[pi_hat(y*(x)|x) > 1/2] >= 1 - eps`` only if the
per-hard-prompt classification error is at most ``eps / Delta``; the Bayes learner that puts all
its mass on its guess attains ``failure = Delta * error`` exactly, so its thresholds below are the
exact minimax sample complexities of this instance.

Everything here is computed exactly (finite sums and a dynamic programme over the number of
distinct wrong indices observed), in float64 numpy; the Monte Carlo simulators run the same
learner on draws from the sample-and-evaluate oracle to check the exact formulas.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from simulators import (
    Rollouts,
    TabularPolicy,
    check_rollouts,
    draw,
    make_oracle,
    sample_indices,
)
from theory.checks import (
    check_at_least,
    check_count,
    check_gamma,
    check_open_unit,
    check_positive,
)

__all__ = [
    "AdaptiveFrontier",
    "HardInstanceThresholds",
    "adaptive_cap_bayes_error",
    "adaptive_optimal_frontier",
    "adaptive_threshold",
    "bayes_error_after_draws",
    "hard_instance",
    "hard_instance_bayes_guess",
    "hard_instance_coverage",
    "hard_instance_log_cardinality",
    "hard_instance_params",
    "hard_instance_thresholds",
    "LemmaH3Constant",
    "lemma_h3_constant",
    "nonadaptive_bayes_error",
    "nonadaptive_threshold",
    "simulate_adaptive_bayes_learner",
    "simulate_nonadaptive_bayes_learner",
]

# Draws beyond the point where P[j* not yet seen] = (1 - q)^k falls below this contribute less than
# this to any error, so tables of the error after k draws stop there (the error is set to 0 beyond).
ERROR_TABLE_TOL = 1e-17


# ---------------------------------------------------------------------------------------------
# The instance.
# ---------------------------------------------------------------------------------------------


def _check_M(M: Any, gamma: float) -> int:
    M = check_count(M, "M", minimum=2)
    check_gamma(gamma)
    if gamma <= 0:
        raise ValueError(f"gamma must lie in (0, 1) for the hard instance, got {gamma}")
    if gamma > (M - 1) / M:
        raise ValueError(
            f"gamma must be <= (M - 1)/M = {(M - 1) / M:.4g} so that P_j has non-negative mass "
            f"off its argmax, got gamma={gamma} with M={M}"
        )
    return M


def _check_Delta(Delta: Any) -> float:
    check_positive(Delta, "Delta")
    if Delta > 1:
        raise ValueError(f"Delta must lie in (0, 1], got {Delta}")
    return float(Delta)


def _hit_probability(M: int, gamma: float) -> float:
    """q = P_j(y_j) = 1 / ((1 - gamma) M), the chance that one draw reveals j*."""
    return 1.0 / ((1.0 - gamma) * M)


def hard_instance(
    I: Any, M: int, Delta: float, *, gamma: float = 0.5
) -> tuple[jax.Array, jax.Array]:
    """The tables of ``pi^I`` and the prompt distribution ``mu`` of Theorem 3.1''s hard instance.

    Args:
      I: ``[d]`` ints in ``{1, ..., M}``, the argmax index ``j_i`` of each hard prompt ``x_i``.
      M: number of non-trivial responses (>= 2); ``|Y| = M + 1``.
      Delta: total mass of the hard prompts, in (0, 1].
      gamma: the approximate-argmax slack (1/2 in the theorem), in (0, (M-1)/M].

    Returns:
      ``(logp, mu)``: ``logp[d + 1, M + 1]`` log-probabilities (row 0 is ``P_0 = delta_{y_0}``, row
      ``i`` is ``P_{j_i}``; ``-inf`` for zero mass) and ``mu[d + 1]``, both float64 numpy-backed
      jax arrays when x64 is enabled (the default dtype otherwise).
    """
    M = _check_M(M, gamma)
    Delta = _check_Delta(Delta)
    I_np = np.asarray(I)
    if I_np.ndim != 1 or I_np.shape[0] < 1 or not np.issubdtype(I_np.dtype, np.integer):
        raise ValueError(
            f"I must be a [d] integer array with d >= 1, got {I_np.dtype} {I_np.shape}"
        )
    if (I_np < 1).any() or (I_np > M).any():
        raise ValueError(f"I must have entries in {{1, ..., M}} = {{1, ..., {M}}}, got {I_np}")
    d = I_np.shape[0]
    q = _hit_probability(M, gamma)
    other = (1.0 - gamma / ((M - 1) * (1.0 - gamma))) / M
    with np.errstate(divide="ignore"):
        log_other = np.log(other)
        logp = np.full((d + 1, M + 1), log_other)
        logp[:, 0] = -np.inf
        logp[np.arange(1, d + 1), I_np] = np.log(q)
        logp[0, :] = -np.inf
        logp[0, 0] = 0.0
    mu = np.concatenate([[1.0 - Delta], np.full(d, Delta / d)])
    return jnp.asarray(logp), jnp.asarray(mu)


def hard_instance_coverage(M: int, Delta: float, *, p: float = 1.0, gamma: float = 0.5) -> float:
    """``C_cov,gamma,p(pi^I)`` of every model of the hard class (App. H).

    ::

        C_cov,gamma,p = ( (1 - Delta) + (M (1 - gamma))^p Delta )^(1/p)

    (``y*_gamma(x_i) = {y_{j_i}}`` has mass ``1/((1-gamma)M)``; ``y*(x_0) = {y_0}`` has mass 1.)
    """
    M = _check_M(M, gamma)
    Delta = _check_Delta(Delta)
    check_at_least(p, "p", 1.0, allow_inf=True)
    hard = M * (1.0 - gamma)  # >= 1: 1 / pi(y*_gamma(x_i)) at every hard prompt
    if math.isinf(p):  # the essential supremum over prompts (Delta > 0)
        return float(hard)
    # In log space: (M (1 - gamma))^p overflows for large p while the p-th root does not.
    log_easy = math.log1p(-Delta) if Delta < 1 else -math.inf
    return float(math.exp(np.logaddexp(log_easy, p * math.log(hard) + math.log(Delta)) / p))


def hard_instance_log_cardinality(M: int, d: int) -> float:
    """``log |Pi| = d log M`` of the hard class."""
    M = check_count(M, "M", minimum=2)
    d = check_count(d, "d")
    return d * math.log(M)


def hard_instance_params(
    C: float, eps: float, *, p: float = 1.0, Delta_factor: float = 16.0
) -> tuple[int, float]:
    """Theorem 3.1''s parameter choice for the hard instance.

    ::

        Delta = Delta_factor * eps,    M = ceil(1 + C eps^(-1/p))

    The proof takes ``Delta = 16 eps`` (non-adaptive) or ``Delta = c_1 eps`` (adaptive) and
    ``M ~ 1 + C eps^(-1/p)``; then ``C_cov,1/2,p ~ (1 + (M/2)^p 16 eps)^(1/p) <~ C`` and the
    learner must reach per-hard-prompt error ``eps / Delta = 1 / Delta_factor``.

    Args:
      C: coverage level (>= 1).
      eps: in (0, 1 / Delta_factor] so that ``Delta <= 1``.
      p: coverage moment (>= 1).
      Delta_factor: the constant in ``Delta = Delta_factor * eps`` (> 0).

    Returns:
      ``(M, Delta)``.
    """
    check_positive(C, "C")
    if C < 1:
        raise ValueError(f"C must be >= 1, got {C}")
    check_open_unit(eps, "eps")
    check_positive(Delta_factor, "Delta_factor")
    check_at_least(p, "p", 1.0, allow_inf=True)
    Delta = Delta_factor * eps
    if Delta > 1:
        raise ValueError(
            f"eps must be <= 1/Delta_factor = {1 / Delta_factor:.4g} so that Delta = "
            f"Delta_factor * eps <= 1, got eps={eps}"
        )
    M = max(2, math.ceil(1.0 + C * eps ** (-1.0 / p) - 1e-9))
    return M, float(Delta)


# ---------------------------------------------------------------------------------------------
# Exact Bayes error after k draws at one hard prompt.
# ---------------------------------------------------------------------------------------------


def _table_length(M: int, gamma: float, tol: float = ERROR_TABLE_TOL) -> int:
    q = _hit_probability(M, gamma)
    if q >= 1.0:
        return 1
    return max(1, math.ceil(math.log(tol) / math.log1p(-q)))


class _ErrorCache:
    """``err[k]``, the Bayes error at a hard prompt after ``k`` draws, for one (M, gamma).

    Dynamic programme over ``D``, the number of distinct wrong indices seen while ``j*`` is not:
    each draw reveals ``j*`` w.p. ``q``, repeats a seen wrong index w.p. ``D r`` and shows a new
    one w.p. ``(M - 1 - D) r``, with ``r = (1 - q)/(M - 1)`` (the wrong indices are equally
    likely), and ``err[k] = sum_D P[not revealed, D after k draws] * (1 - 1/(M - D))``. The table
    is grown on demand up to ``k_max``, beyond which ``err <= (1 - q)^k < ERROR_TABLE_TOL`` is
    taken as 0.
    """

    def __init__(self, M: int, gamma: float):
        self.M, self.gamma = M, gamma
        self.k_max = _table_length(M, gamma)
        q = _hit_probability(M, gamma)
        r = (1.0 - q) / (M - 1)
        D = np.arange(M, dtype=np.float64)
        self._cond_err = 1.0 - 1.0 / (M - D)  # posterior uniform over the M - D unseen indices
        self._stay = D * r
        self._move = (M - 1 - D) * r
        self._P = np.zeros(M)
        self._P[0] = 1.0
        self._table = [float(self._cond_err @ self._P)]

    def table(self, upto: int | None = None) -> np.ndarray:
        """``err[0..upto]`` (default ``k_max``), capped at ``k_max``."""
        upto = self.k_max if upto is None else min(int(upto), self.k_max)
        P, stay, move, cond_err = self._P, self._stay, self._move, self._cond_err
        for _ in range(len(self._table), upto + 1):
            new = P * stay
            new[1:] += (P * move)[:-1]
            P = new
            self._table.append(float(cond_err @ P))
        self._P = P
        return np.asarray(self._table[: upto + 1])

    def errors(self, k: np.ndarray) -> np.ndarray:
        """``err[k]`` for an int array ``k`` (0 beyond ``k_max``)."""
        k = np.asarray(k)
        table = self.table(int(k.max(initial=0)))
        return np.where(k <= self.k_max, table[np.minimum(k, len(table) - 1)], 0.0)

    def nonadaptive(self, n: int, N: int, p_visit: float) -> float:
        """``sum_v Binomial(v; n, p) err(v N)``.

        Only ``v <= k_max / N`` contribute, and visits beyond ``n p + 12 sd + 30`` carry binomial
        mass below 1e-30, so the sum stops there.
        """
        sd = math.sqrt(n * p_visit * (1.0 - p_visit))
        v_max = min(n, self.k_max // N + 1, math.ceil(n * p_visit + 12.0 * sd + 30.0))
        v = np.arange(v_max + 1)
        pmf = stats.binom.pmf(v, n, p_visit)
        return float(pmf @ self.errors(v * N))


def bayes_error_after_draws(k: Any, M: int, *, gamma: float = 0.5) -> np.ndarray:
    """The exact Bayes error at one hard prompt after exactly ``k`` draws there.

    ::

        err(k) = sum_D P[y_{j*} not drawn, D distinct wrong indices drawn] * (1 - 1/(M - D))
               = (1 - q)^k E[1 - 1/(M - D_k)],   q = 1/((1 - gamma) M),

    with ``D_k`` the number of distinct values among ``k`` uniform draws from ``M - 1`` values.

    Args:
      k: int or ``[K]`` ints >= 0.
      M: number of non-trivial responses (>= 2).
      gamma: instance slack.

    Returns:
      float64 array of the shape of ``k`` (values below ``ERROR_TABLE_TOL`` are returned as 0).
    """
    M = _check_M(M, gamma)
    k = np.asarray(k)
    if not np.issubdtype(k.dtype, np.integer) or (k < 0).any():
        raise ValueError(f"k must be non-negative integers, got {k}")
    return _ErrorCache(M, gamma).errors(k)


# ---------------------------------------------------------------------------------------------
# Non-adaptive oracle (Definition 3.2): n prompts x N responses.
# ---------------------------------------------------------------------------------------------


def _check_nonadaptive(M, d, Delta, gamma):
    M = _check_M(M, gamma)
    d = check_count(d, "d")
    Delta = _check_Delta(Delta)
    return M, d, Delta


def nonadaptive_bayes_error(
    n: Any, M: int, d: int, Delta: float, *, N: int = 1, gamma: float = 0.5
) -> Any:
    """Exact Bayes error per hard prompt with ``n`` prompts and ``N`` responses each (``m = nN``).

    ::

        E_I E^I[ 1{j_hat_i != j*_i} ] = sum_v Binomial(v; n, Delta/d) * err(v N)

    where ``err`` is :func:`bayes_error_after_draws` (the visits to ``x_i`` are binomial and each
    brings ``N`` draws). The sharpening failure of the Bayes learner is ``Delta`` times this
    (Lemma H.2).

    Args:
      n: int or ``[B]`` ints, number of prompts (>= 0).
      M: number of non-trivial responses (>= 2).
      d: number of hard prompts (>= 1).
      Delta: hard-prompt mass in (0, 1].
      N: responses per prompt (>= 1).
      gamma: instance slack.

    Returns:
      float (or ``[B]`` float64 array) in ``[0, 1 - 1/M]``.
    """
    M, d, Delta = _check_nonadaptive(M, d, Delta, gamma)
    N = check_count(N, "N")
    n_arr = np.asarray(n)
    if not np.issubdtype(n_arr.dtype, np.integer) or (n_arr < 0).any():
        raise ValueError(f"n must be non-negative integers, got {n}")
    cache = _ErrorCache(M, gamma)
    out = np.array([cache.nonadaptive(int(v), N, Delta / d) for v in n_arr.ravel()])
    return float(out[0]) if n_arr.ndim == 0 else out.reshape(n_arr.shape)


def nonadaptive_threshold(
    M: int, d: int, Delta: float, target: float, *, N: int = 1, gamma: float = 0.5
) -> int:
    """The smallest budget ``m = nN`` at which the Bayes error per hard prompt is ``<= target``.

    The error is non-increasing in ``n`` (the learner can ignore extra prompts), so this is found
    by doubling and integer bisection over ``n`` on the exact error.

    With ``target = eps / Delta`` this is the exact minimax sample complexity of
    (eps, 1/2)-sharpening on the instance for learners that draw ``N`` responses per prompt
    (``N = 1`` is the best split: the visit count then has the least variance).

    Args:
      M, d, Delta, gamma: the instance.
      target: per-hard-prompt error in ``(0, 1 - 1/M)``.
      N: responses per prompt (>= 1).

    Returns:
      The threshold ``m`` (a multiple of ``N``).
    """
    M, d, Delta = _check_nonadaptive(M, d, Delta, gamma)
    N = check_count(N, "N")
    check_open_unit(target, "target")
    cache = _ErrorCache(M, gamma)
    p = Delta / d
    if cache.nonadaptive(0, N, p) <= target:
        return 0
    hi = 1
    while cache.nonadaptive(hi, N, p) > target:
        hi *= 2
        if hi > 1 << 50:
            raise ValueError(f"target={target} is not reached (is it below the tolerance?)")
    lo = hi // 2  # error(lo) > target (or lo = 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if cache.nonadaptive(mid, N, p) <= target:
            hi = mid
        else:
            lo = mid
    return hi * N


# ---------------------------------------------------------------------------------------------
# Adaptive oracle (Definition D.1): draws at each hard prompt chosen adaptively; prompts are free.
# ---------------------------------------------------------------------------------------------


def adaptive_cap_bayes_error(K: Any, M: int, *, gamma: float = 0.5) -> tuple[Any, Any]:
    """Exact expected draws and Bayes error of "draw until ``y_{j*}`` is seen or ``K`` draws" at a
    hard prompt (adaptive oracle, Definition D.1).

    ::

        E[tau] = E[min(G, K)] = (1 - (1 - q)^K) / q,   G ~ Geometric(q),  q = 1/((1-gamma) M)
        error  = err(K)   (:func:`bayes_error_after_draws`: the draws stop early only on success)

    Args:
      K: int or ``[B]`` ints >= 0, the cap.
      M: number of non-trivial responses (>= 2).
      gamma: instance slack.

    Returns:
      ``(expected_draws, error)``, floats or float64 arrays of ``K``'s shape.
    """
    M = _check_M(M, gamma)
    K = np.asarray(K)
    if not np.issubdtype(K.dtype, np.integer) or (K < 0).any():
        raise ValueError(f"K must be non-negative integers, got {K}")
    q = _hit_probability(M, gamma)
    expected = -np.expm1(K * np.log1p(-q)) / q if q < 1 else np.minimum(K, 1).astype(float)
    err = bayes_error_after_draws(K, M, gamma=gamma)
    if K.ndim == 0:
        return float(expected), float(err)
    return expected, err


class AdaptiveFrontier(NamedTuple):
    """The exact trade-off of Bayes-optimal adaptive stopping at one hard prompt.

    Attributes:
      expected_draws: ``[M]`` ``E[tau]`` of the rule "stop once ``j*`` is seen or ``s`` distinct
        wrong indices have been seen", ``s = 0..M-1``.
      error: ``[M]`` its Bayes error.
      hull: ``[H]`` indices ``s`` on the lower convex hull of ``(expected_draws, error)``, in
        increasing ``expected_draws``: the optimal trade-off curve is the piecewise-linear curve
        through them (randomizing between neighbours).
    """

    expected_draws: np.ndarray
    error: np.ndarray
    hull: np.ndarray

    def min_expected_draws(self, target: float) -> float:
        """The least ``E[tau]`` of any stopping rule whose Bayes error is ``<= target``."""
        x = self.expected_draws[self.hull]
        y = self.error[self.hull]
        if target >= y[0]:
            return float(x[0])
        if target < y[-1]:
            raise ValueError(f"target={target} is below the least achievable error {y[-1]:.3g}")
        # y is decreasing along the hull; interpolate linearly (a mixture of two rules).
        j = int(np.searchsorted(-y, -target, side="left"))
        j = max(j, 1)
        x0, x1, y0, y1 = x[j - 1], x[j], y[j - 1], y[j]
        return float(x0 + (x1 - x0) * (y0 - target) / (y0 - y1))


def _lower_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the lower-left convex hull of points sorted by increasing x, y decreasing."""
    order = np.argsort(x, kind="stable")
    hull: list[int] = []
    for i in order:
        # Only points that lower the error are useful.
        if hull and y[i] >= y[hull[-1]]:
            continue
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # Drop b if it lies on or above the segment a -> i.
            cross = (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a])
            if cross <= 0:
                hull.pop()
            else:
                break
        hull.append(int(i))
    return np.asarray(hull, dtype=np.int64)


def adaptive_optimal_frontier(M: int, *, gamma: float = 0.5) -> AdaptiveFrontier:
    """The exact optimal trade-off between expected draws and Bayes error at one hard prompt.

    The learner's state before ``j*`` is revealed is ``D``, the number of distinct wrong indices
    seen (the posterior is uniform over the ``M - D`` others), and the transition law does not
    depend on time, so for every Lagrangian ``E[tau] + lambda * error`` a deterministic
    stationary rule in ``D`` is optimal. Since ``D`` only moves from ``D`` to ``D + 1``, such a
    rule is fixed by the first state where it stops: "draw until ``j*`` is seen or ``s`` distinct
    wrong indices have been seen". Every strategy, randomized and history-dependent included,
    is thus dominated by a mixture of two such rules, and the lower convex hull of their ``M``
    points is the exact optimal frontier. With ``rho_D = P[reach D]``::

        rho_0 = 1,  rho_{D+1} = rho_D (M - 1 - D) r / (1 - D r),   r = (1 - q)/(M - 1)
        E[tau_s] = sum_{D < s} rho_D / (1 - D r),   error_s = rho_s (1 - 1/(M - s))

    Args:
      M: number of non-trivial responses (>= 2).
      gamma: instance slack.

    Returns:
      :class:`AdaptiveFrontier`.
    """
    M = _check_M(M, gamma)
    q = _hit_probability(M, gamma)
    r = (1.0 - q) / (M - 1)
    D = np.arange(M, dtype=np.float64)
    leave = 1.0 - D * r
    step = (M - 1 - D) * r / leave
    reach = np.concatenate([[1.0], np.cumprod(step[:-1])])
    expected = np.concatenate([[0.0], np.cumsum(reach / leave)[:-1]])
    error = reach * (1.0 - 1.0 / (M - D))
    return AdaptiveFrontier(expected, error, _lower_hull(expected, error))


def adaptive_threshold(
    M: int, d: int, target: float, *, strategy: str = "optimal", gamma: float = 0.5
) -> float:
    """The least expected budget ``E[m]`` at which the Bayes error per hard prompt is ``<= target``
    in the adaptive oracle (Definition D.1).

    Definition D.1 counts (x, y) pairs, so drawing a prompt costs nothing: the learner draws
    prompts until each hard prompt has been visited, draws no response at ``x_0`` (its answer is
    known) nor at a hard prompt already resolved, and at each hard prompt runs a stopping rule.
    By symmetry and convexity of the trade-off, the same rule at every prompt is optimal, so
    ``E[m] = d * E[tau]``.

    Args:
      M: number of non-trivial responses (>= 2).
      d: number of hard prompts (>= 1).
      target: per-hard-prompt error in (0, 1).
      strategy: ``"optimal"``: the exact optimum over all stopping rules
        (:func:`adaptive_optimal_frontier`); ``"cap"``: "draw until ``j*`` is seen or ``K`` draws",
        randomizing between ``K`` and ``K + 1`` to meet the target exactly.
      gamma: instance slack.

    Returns:
      ``E[m]`` (a float, as randomized rules are allowed).
    """
    M = _check_M(M, gamma)
    d = check_count(d, "d")
    check_open_unit(target, "target")
    if strategy == "optimal":
        return d * adaptive_optimal_frontier(M, gamma=gamma).min_expected_draws(target)
    if strategy != "cap":
        raise ValueError(f"strategy must be 'optimal' or 'cap', got {strategy!r}")
    cache = _ErrorCache(M, gamma)
    if cache.errors(0) <= target:
        return 0.0
    # err(K) <= (1 - q)^K, so the first K with err <= target is at most log(target)/log(1 - q).
    q = _hit_probability(M, gamma)
    K_hi = cache.k_max if q >= 1 else math.ceil(math.log(target) / math.log1p(-q)) + 1
    err = cache.table(K_hi)
    below = np.nonzero(err <= target)[0]
    if below.size == 0:
        raise ValueError(f"target={target} is below the tabulated error tolerance")
    K1 = int(below[0])
    K0 = K1 - 1
    t0, _ = adaptive_cap_bayes_error(K0, M, gamma=gamma)
    t1, _ = adaptive_cap_bayes_error(K1, M, gamma=gamma)
    w = (err[K0] - target) / (err[K0] - err[K1])  # weight on K1
    return d * float((1 - w) * t0 + w * t1)


# ---------------------------------------------------------------------------------------------
# Theorem 3.1' end to end, and Lemma H.3's constant.
# ---------------------------------------------------------------------------------------------


class HardInstanceThresholds(NamedTuple):
    """Exact minimax budgets on Theorem 3.1''s instance for given (C, eps, d, p).

    Attributes:
      M, Delta: the instance (:func:`hard_instance_params`).
      log_card: ``log |Pi| = d log M``.
      coverage: ``C_cov,1/2,p`` of every model of the class.
      target: the per-hard-prompt error ``eps / Delta`` that (eps, 1/2)-sharpening requires.
      nonadaptive: the least ``m = n`` (``N = 1``) at which the Bayes learner succeeds.
      adaptive: the least ``E[m]`` of the Bayes-optimal adaptive learner.
    """

    M: int
    Delta: float
    log_card: float
    coverage: float
    target: float
    nonadaptive: int
    adaptive: float


def hard_instance_thresholds(
    C: float,
    eps: float,
    d: int,
    *,
    p: float = 1.0,
    Delta_factor: float = 16.0,
    gamma: float = 0.5,
) -> HardInstanceThresholds:
    """The exact sample complexity of (eps, 1/2)-sharpening on Theorem 3.1''s instance.

    Sets ``Delta = Delta_factor * eps``, ``M = ceil(1 + C eps^(-1/p))`` and asks for
    ``E[P_x[pi_hat(y*(x)|x) > 1/2]] >= 1 - eps``, i.e. per-hard-prompt Bayes error
    ``<= eps / Delta`` (Lemma H.2). Theorem 3.1' predicts ``m ~ d C eps^(-1-1/p)`` (non-adaptive)
    and ``E[m] ~ d C eps^(-1/p)`` (adaptive).
    """
    d = check_count(d, "d")
    M, Delta = hard_instance_params(C, eps, p=p, Delta_factor=Delta_factor)
    target = eps / Delta
    return HardInstanceThresholds(
        M=M,
        Delta=Delta,
        log_card=hard_instance_log_cardinality(M, d),
        coverage=hard_instance_coverage(M, Delta, p=p, gamma=gamma),
        target=target,
        nonadaptive=nonadaptive_threshold(M, d, Delta, target, gamma=gamma),
        adaptive=adaptive_threshold(M, d, target, gamma=gamma),
    )


def _poisson_error(cache: _ErrorCache, lam: float) -> float:
    """Bayes error when the number of draws at the prompt is Poisson(lam) (the d -> inf limit)."""
    table = cache.table()
    return float(stats.poisson.pmf(np.arange(len(table)), lam) @ table)


class LemmaH3Constant(NamedTuple):
    """Lemma H.3's constant for one M (see :func:`lemma_h3_constant`).

    Attributes:
      M: the number of non-trivial responses.
      c_star: the supremum of the ``c`` for which the lemma holds at this M (not attained).
      m: the budget at which the infimum is approached (``None`` for the Poisson limit).
      p_visit: the visit probability ``Delta/d`` there (0 for the Poisson limit).
      c_deterministic: the value for ``d = 1, Delta = 1`` (every query hits the hard prompt).
      c_poisson: the ``d -> infinity`` (Poisson) limit.
    """

    M: int
    c_star: float
    m: int | None
    p_visit: float
    c_deterministic: float
    c_poisson: float


def lemma_h3_constant(
    M: int, *, target: float = 1 / 8, m_max: int | None = None, gamma: float = 0.5
) -> LemmaH3Constant:
    """The largest ``c`` for which Lemma H.3 holds at a given ``M``, computed exactly.

    Lemma H.3: there is a universal ``c > 0`` such that for all ``M >= 8``, if
    ``m <= c d M / Delta`` then the Bayes error per hard prompt is ``>= 1/8``. With ``N = 1``
    response per prompt (the best split) the error after ``m`` queries is
    ``e(m, p) = E[err(Binomial(m, p))]`` with ``p = Delta/d`` in (0, 1], non-increasing in both
    ``m`` and ``p``. The lemma holds for ``c`` iff ``e(m, p) >= target`` whenever
    ``m p / M <= c``; it fails as soon as some ``(m, p)`` has ``e(m, p) < target`` and
    ``m p / M <= c``. For each ``m`` the least such ``p`` is the root ``p_m`` of
    ``e(m, p) = target``, so the largest constant is::

        c*(M) = inf_m  m p_m / M    (over m with e(m, 1) < target; p_m -> 0 gives the Poisson limit)

    (a supremum: the lemma holds for every ``c < c*`` and fails for every ``c > c*``).

    Args:
      M: number of non-trivial responses (>= 2; the lemma asks M >= 8).
      target: the error level (1/8 in the lemma), in (0, 1 - 1/M).
      m_max: the largest budget scanned (default ``2 m0 + 10`` with ``m0`` the least budget with
        ``e(m0, 1) < target``; the infimum sits at ``m0`` in every case we computed). Beyond it
        only the Poisson limit is included.
      gamma: instance slack.

    Returns:
      :class:`LemmaH3Constant`.
    """
    from scipy import optimize

    M = _check_M(M, gamma)
    check_open_unit(target, "target")
    cache = _ErrorCache(M, gamma)
    table = cache.table()
    if table[0] < target:
        raise ValueError(f"target={target} is above the error without data, 1 - 1/M")
    m0 = int(np.nonzero(table < target)[0][0])  # least m with e(m, 1) < target
    m_max = 2 * m0 + 10 if m_max is None else check_count(m_max, "m_max")
    lam = optimize.brentq(lambda t: _poisson_error(cache, t) - target, 0.0, cache.k_max, xtol=1e-14)
    best = (lam / M, None, 0.0)
    for m in range(m0, max(m0, m_max) + 1):
        f = lambda p, m=m: cache.nonadaptive(m, 1, p) - target
        # e(m, 1) < target <= e(m, 0) = 1 - 1/M, so the root exists in (0, 1].
        p_m = optimize.brentq(f, 1e-300, 1.0, xtol=1e-15, rtol=1e-14)
        c = m * p_m / M
        if c < best[0]:
            best = (c, m, p_m)
    return LemmaH3Constant(
        M=M,
        c_star=float(best[0]),
        m=best[1],
        p_visit=float(best[2]),
        c_deterministic=m0 / M,
        c_poisson=float(lam / M),
    )


# ---------------------------------------------------------------------------------------------
# The Bayes learner on oracle draws, and Monte Carlo simulators.
# ---------------------------------------------------------------------------------------------


def hard_instance_bayes_guess(
    key: jax.Array, rollouts: Rollouts, M: int, d: int, *, gamma: float = 0.5
) -> jax.Array:
    """The Bayes-optimal classifier of Lemma H.2 from sample-and-evaluate data.

    For each hard prompt ``x_i``: if some draw there has likelihood above ``1/M`` (only ``y_{j*}``
    does), return its index; otherwise return an index drawn uniformly from those in ``[M]`` not
    yet observed at ``x_i``. Reads only ``prompts``, ``tokens`` and ``logp_base``.

    Args:
      key: PRNG key for the uniform guess.
      rollouts: draws on the hard instance (tabular encoding: ``tokens[..., 0]`` is the index).
      M, d: the instance's sizes.
      gamma: instance slack (only to validate M).

    Returns:
      ``[d]`` int guesses ``j_hat_i`` in ``{1, ..., M}`` for ``x_1..x_d``.
    """
    rollouts = check_rollouts(rollouts)
    M = _check_M(M, gamma)
    d = check_count(d, "d")
    x = jnp.broadcast_to(rollouts.prompts[:, None], rollouts.logp_base.shape)
    y = rollouts.tokens[..., 0]
    observed = jnp.zeros((d + 1, M + 1), dtype=bool).at[x, y].set(True)
    reveals = rollouts.logp_base > -jnp.log(jnp.asarray(M, rollouts.logp_base.dtype))
    revealed = jnp.zeros((d + 1,), dtype=y.dtype).at[x].max(jnp.where(reveals, y, 0))
    unseen = ~observed[1:, 1:]  # [d, M]
    # Uniform over the unseen indices by inverse CDF: the r-th unseen index, r ~ Unif{0..count-1}.
    count = jnp.sum(unseen, axis=-1)
    u = jax.random.uniform(key, (d,), dtype=rollouts.logp_base.dtype)
    r = jnp.minimum(jnp.floor(u * count), jnp.maximum(count - 1, 0)).astype(count.dtype)
    guess = jnp.argmax(jnp.cumsum(unseen, axis=-1) > r[:, None], axis=-1) + 1
    return jnp.where(revealed[1:] > 0, revealed[1:], guess)


@functools.lru_cache(maxsize=32)
def _nonadaptive_simulator(M: int, d: int, Delta: float, n: int, N: int, gamma: float):
    """Jitted per-seed simulator for one static configuration (cached: compiling is the cost)."""
    q = _hit_probability(M, gamma)
    other = (1.0 - gamma / ((M - 1) * (1.0 - gamma))) / M
    base = np.full((d + 1, M + 1), other)
    base[:, 0] = 0.0
    base[0, :] = 0.0
    base[0, 0] = 1.0
    mu = np.concatenate([[1.0 - Delta], np.full(d, Delta / d)])

    def one(k):
        k_I, k_draw, k_guess = jax.random.split(k, 3)
        I = jax.random.randint(k_I, (d,), 1, M + 1)
        probs = jnp.asarray(base).at[jnp.arange(1, d + 1), I].set(q)
        oracle = make_oracle(TabularPolicy(jnp.log(probs)), jnp.asarray(mu))
        rollouts, _ = draw(k_draw, oracle, n, N)
        guess = hard_instance_bayes_guess(k_guess, rollouts, M, d, gamma=gamma)
        return jnp.mean((guess != I).astype(probs.dtype))

    return jax.jit(jax.vmap(one))


def simulate_nonadaptive_bayes_learner(
    key: jax.Array,
    M: int,
    d: int,
    Delta: float,
    n: int,
    num_seeds: int,
    *,
    N: int = 1,
    gamma: float = 0.5,
) -> jax.Array:
    """Monte Carlo of the Bayes learner in the sample-and-evaluate oracle (Definition 3.2).

    Per seed: ``I ~ Unif([M]^d)``, ``n`` prompts and ``N`` responses each through the oracle's
    ``draw``, then :func:`hard_instance_bayes_guess`.

    Args:
      key: PRNG key.
      M, d, Delta, gamma: the instance.
      n: number of prompts (>= 1).
      num_seeds: number of independent runs (>= 1).
      N: responses per prompt (>= 1).

    Returns:
      ``[num_seeds]`` per-seed fraction of hard prompts misclassified; its mean estimates
      :func:`nonadaptive_bayes_error`.
    """
    M = _check_M(M, gamma)
    d = check_count(d, "d")
    Delta = _check_Delta(Delta)
    n = check_count(n, "n")
    N = check_count(N, "N")
    num_seeds = check_count(num_seeds, "num_seeds")
    sim = _nonadaptive_simulator(M, d, Delta, n, N, float(gamma))
    return sim(jax.random.split(key, num_seeds))


@functools.lru_cache(maxsize=32)
def _adaptive_simulator(M: int, d: int, K: int, gamma: float):
    """Jitted per-seed simulator of the capped adaptive learner (cached per configuration)."""
    q = _hit_probability(M, gamma)
    other = (1.0 - gamma / ((M - 1) * (1.0 - gamma))) / M
    # Canonical row P_1; P_j is P_1 with the labels 1 and j swapped.
    row = np.full(M + 1, other)
    row[0] = 0.0
    row[1] = q
    log_row = np.log(row, where=row > 0, out=np.full(M + 1, -np.inf))

    def one(k):
        k_I, k_draw, k_guess = jax.random.split(k, 3)
        I = jax.random.randint(k_I, (d,), 1, M + 1)
        z = sample_indices(k_draw, jnp.asarray(log_row), d * K).reshape(d, K)
        lp = jnp.asarray(log_row)[z]  # [d, K] observed log-likelihoods (label-invariant)
        j = I[:, None]
        y = jnp.where(z == 1, j, jnp.where(z == j, 1, z))
        reveals = lp > -jnp.log(jnp.asarray(M, lp.dtype))
        first = jnp.where(jnp.any(reveals, axis=1), jnp.argmax(reveals, axis=1) + 1, K)
        used = jnp.arange(K)[None, :] < first[:, None]
        # Uncounted draws are hidden from the learner: shown as y_0 with likelihood 0, which is
        # outside [M] and reveals nothing.
        rollouts = Rollouts(
            prompts=jnp.arange(1, d + 1),
            tokens=jnp.where(used, y, 0)[..., None],
            lengths=jnp.ones((d, K), dtype=jnp.int32),
            logp_base=jnp.where(used, lp, -jnp.inf),
        )
        guess = hard_instance_bayes_guess(k_guess, rollouts, M, d, gamma=gamma)
        return jnp.mean((guess != I).astype(lp.dtype)), jnp.mean(first.astype(lp.dtype))

    return jax.jit(jax.vmap(one))


def simulate_adaptive_bayes_learner(
    key: jax.Array, M: int, d: int, K: int, num_seeds: int, *, gamma: float = 0.5
) -> tuple[jax.Array, jax.Array]:
    """Monte Carlo of the adaptive learner "draw until ``y_{j*}`` is seen or ``K`` draws".

    Adaptive oracle (Definition D.1). Each hard prompt is visited once (prompts are free); its
    ``K`` candidate draws are made up front and only the prefix up to the first revealing draw is
    counted and shown to the learner, which has the law of sequential sampling because the rule
    is non-anticipating. Draws from ``P_{j*}`` are made as draws from ``P_1`` with the labels
    ``1`` and ``j*`` swapped.

    Args:
      key: PRNG key.
      M, d, gamma: the instance.
      K: the cap (>= 1).
      num_seeds: number of independent runs (>= 1).

    Returns:
      ``(error, queries)``: ``[num_seeds]`` per-seed fraction of hard prompts misclassified and
      ``[num_seeds]`` per-seed mean number of draws per hard prompt; their means estimate
      :func:`adaptive_cap_bayes_error`.
    """
    M = _check_M(M, gamma)
    d = check_count(d, "d")
    K = check_count(K, "K")
    num_seeds = check_count(num_seeds, "num_seeds")
    return _adaptive_simulator(M, d, K, float(gamma))(jax.random.split(key, num_seeds))
