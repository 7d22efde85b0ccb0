"""The theorems' rates and parameter settings as plain functions (THEORY.md sections 2-3).

The paper states rates up to unspecified absolute constants (and logarithmic factors where it writes
``O~``). Each function here evaluates one printed formula with the constant exposed as the keyword
``c`` (default 1), so that a measured sample complexity can be compared with ``c * formula`` after
fitting ``c``, or a slope can be compared with the formula's exponent. Arguments are named as in
the paper: ``log_card`` is ``log |Pi|`` (natural log), ``num_responses`` is ``|Y|``, ``C_cov`` the
coverage coefficient (Eq. 6), ``eps``, ``delta`` the sharpening accuracy (Definition 3.1), ``rho``
the failure probability of the learner.

Continuous arguments may be numpy arrays (the formula broadcasts); the result is a Python float
for scalar input and a float64 array otherwise. Every argument is validated (eps, delta, rho in
(0, 1); coverage and concentrability coefficients >= 1; counts >= 1) and bad input raises a
ValueError naming the argument.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from theory.checks import (
    check_at_least,
    check_gamma,
    check_nonnegative,
    check_open_unit,
    check_positive,
)

__all__ = [
    "FailureBound",
    "adaptive_lower_bound_sample_complexity",
    "adaptive_sft_expected_queries",
    "adaptive_sft_failure_bound",
    "adaptive_sft_sample_complexity",
    "adaptive_sft_stopping_parameter",
    "adaptive_stopping_expected_draws_bound",
    "adaptive_stopping_miss_bound",
    "bon_miss_probability",
    "bon_num_samples",
    "dpo_beta",
    "dpo_failure_bound",
    "dpo_sample_complexity",
    "hard_class_log_cardinality",
    "kl_tilt_concentrability_bound",
    "kl_tilt_loss_concentrability_bound",
    "kl_tilt_margin_bound",
    "linear_softmax_alpha",
    "linear_softmax_beta",
    "linear_softmax_log_net_size",
    "linear_softmax_r_max",
    "linear_softmax_required_radius",
    "linear_softmax_sec_bound",
    "linear_softmax_theta_norm_bound",
    "lower_bound_sample_complexity",
    "mle_hellinger_bound",
    "moment_lower_bound_sample_complexity",
    "sft_failure_bound",
    "sft_num_prompts",
    "sft_num_responses",
    "sft_sample_complexity",
    "xpo_alpha",
    "xpo_beta",
    "xpo_eps_disc",
    "xpo_kl_bound",
    "xpo_num_rounds",
    "xpo_sample_complexity",
    "xpo_sample_complexity_informal",
]


def _f(x: Any) -> Any:
    """float64 array view of a (validated) argument."""
    return np.asarray(x, dtype=np.float64)


def _out(x: Any) -> Any:
    """Python float for 0-d results, float64 array otherwise."""
    x = np.asarray(x, dtype=np.float64)
    return float(x) if x.ndim == 0 else x


def _check_c(c: Any) -> Any:
    return check_positive(c, "c")


def _check_log_card(log_card: Any) -> Any:
    # log|Pi| >= 0 for any non-empty class.
    return check_nonnegative(log_card, "log_card")


def _check_prob(p: Any, name: str) -> Any:
    """Checks a probability in (0, 1]."""
    check_positive(p, name)
    v = np.asarray(p, dtype=np.float64)
    if (v > 1.0).any():
        raise ValueError(f"{name} must lie in (0, 1], got {p}")
    return p


def _log_inv(rho: Any) -> Any:
    return -np.log(_f(rho))


# ---------------------------------------------------------------------------------------------
# Section 3.2: lower bounds (Theorem 3.1, 3.1', D.2).
# ---------------------------------------------------------------------------------------------


def lower_bound_sample_complexity(log_card: Any, C: Any, eps: Any, *, c: float = 1.0) -> Any:
    """Theorem 3.1: the minimax lower bound for (eps, 1/2)-sharpening (sample-and-evaluate oracle).

    ::

        m >= c * C * log|Pi| / ( eps^2 * (1 + log(C / eps)) )

    For the hard class log|Pi| ~ d (1 + log(C/eps)), so this reads m >~ d C / eps^2.

    Args:
      log_card: ``log |Pi|`` (>= 0).
      C: the coverage level ``sup_pi C_cov(pi) <~ C`` (>= 1).
      eps: the fraction of prompts allowed to be unsharpened, in (0, 1).
      c: the unspecified absolute constant.
    """
    return moment_lower_bound_sample_complexity(log_card, C, eps, 1, adaptive=False, c=c)


def moment_lower_bound_sample_complexity(
    log_card: Any, C: Any, eps: Any, p: Any, *, adaptive: bool = False, c: float = 1.0
) -> Any:
    """Theorem 3.1' (App. H): lower bounds under the p-th moment coverage ``C_cov,1/2,p <~ C``.

    ::

        non-adaptive:  m    >= c * C * log|Pi| / ( eps^(1 + 1/p) * (1 + log(C * eps^(-1/p))) )
        adaptive:      E[m] >= c * C * log|Pi| / ( eps^(1/p)     * (1 + log(C * eps^(-1/p))) )

    ``p = 1`` gives Theorem 3.1 (non-adaptive) and Theorem D.2 (adaptive).

    Args:
      log_card: ``log |Pi|`` (>= 0).
      C: coverage level (>= 1).
      eps: in (0, 1).
      p: the coverage moment (>= 1).
      adaptive: the adaptive sample-and-evaluate oracle (Definition D.1), bounding ``E[m]``.
      c: the unspecified absolute constant.
    """
    _check_log_card(log_card)
    check_at_least(C, "C", 1.0)
    check_open_unit(eps, "eps")
    check_at_least(p, "p", 1.0, allow_inf=True)
    _check_c(c)
    eps, p, C = _f(eps), _f(p), _f(C)
    power = 1.0 / p if adaptive else 1.0 + 1.0 / p
    return _out(c * C * _f(log_card) / (eps**power * (1.0 + np.log(C * eps ** (-1.0 / p)))))


def adaptive_lower_bound_sample_complexity(
    log_card: Any, C: Any, eps: Any, *, c: float = 1.0
) -> Any:
    """Theorem D.2: the adaptive-oracle lower bound (Theorem 3.1' with p = 1).

    ::

        E[m] >= c * C * log|Pi| / ( eps * (1 + log(C / eps)) )

    Args:
      log_card: ``log |Pi|`` (>= 0).
      C: coverage level (>= 1).
      eps: in (0, 1).
      c: the unspecified absolute constant.
    """
    return moment_lower_bound_sample_complexity(log_card, C, eps, 1, adaptive=True, c=c)


def hard_class_log_cardinality(d: Any, C: Any, eps: Any, p: Any = 1, *, c: float = 1.0) -> Any:
    """Theorem 3.1 (i) / 3.1': the size of the hard class, ``log|Pi| ~ d (1 + log(C eps^(-1/p)))``.

    ::

        log|Pi| = c * d * (1 + log(C * eps^(-1/p)))

    (The explicit instance of :mod:`bounds._lower_bound` has ``log|Pi| = d log M`` with
    ``M ~ 1 + C eps^(-1/p)``.)

    Args:
      d: number of hard prompts (>= 1).
      C: coverage level (>= 1).
      eps: in (0, 1).
      p: coverage moment (>= 1).
      c: the unspecified absolute constant.
    """
    check_at_least(d, "d", 1)
    check_at_least(C, "C", 1.0)
    check_open_unit(eps, "eps")
    check_at_least(p, "p", 1.0, allow_inf=True)
    _check_c(c)
    return _out(c * _f(d) * (1.0 + np.log(_f(C) * _f(eps) ** (-1.0 / _f(p)))))


# ---------------------------------------------------------------------------------------------
# Section 3.3: SFT-Sharpening (Theorem 4.1, 4.1'), adaptive SFT (Theorem D.1, Lemma I.1), MLE.
# ---------------------------------------------------------------------------------------------


def sft_num_prompts(log_card: Any, eps: Any, delta: Any, rho: Any, *, c: float = 1.0) -> Any:
    """Theorem 4.1: the number of prompts of SFT-Sharpening.

    ::

        n = c * log(|Pi| / rho) / (delta * eps)

    Args:
      log_card: ``log |Pi|`` (>= 0).
      eps, delta, rho: in (0, 1).
      c: the theorem's constant.
    """
    _check_log_card(log_card)
    check_open_unit(eps, "eps")
    check_open_unit(delta, "delta")
    check_open_unit(rho, "rho")
    _check_c(c)
    return _out(c * (_f(log_card) + _log_inv(rho)) / (_f(delta) * _f(eps)))


def sft_num_responses(C_cov: Any, eps: Any, delta: Any, *, c: float = 1.0) -> Any:
    """Theorem 4.1: the number of responses per prompt of SFT-Sharpening.

    ::

        N* = c * C_cov * log(2 / delta) / eps

    (Theorem 4.1 calls this N* and uses it as the number of responses; Theorem 4.1' instead
    draws ``N = N* log(2/delta)`` with ``N* = C_{4.1} C_cov,gamma / eps``: the same N up to
    the constant. :func:`sft_failure_bound` follows Theorem 4.1'.)

    Args:
      C_cov: the coverage coefficient (Eq. 6, >= 1).
      eps, delta: in (0, 1).
      c: the theorem's constant.
    """
    check_at_least(C_cov, "C_cov", 1.0)
    check_open_unit(eps, "eps")
    check_open_unit(delta, "delta")
    _check_c(c)
    return _out(c * _f(C_cov) * np.log(2.0 / _f(delta)) / _f(eps))


def sft_budget(
    C_cov: float, log_card: float, eps: float, delta: float, rho: float, *, c: float = 1.0
) -> tuple[int, int]:
    """Theorem 4.1's budget as integers to run SFT-Sharpening with: ``(n, N)``.

    ``n = ceil(sft_num_prompts)`` prompts and ``N = ceil(sft_num_responses)`` responses per prompt,
    each at least 1 (scalars only); the total is ``m = n N`` (Eq. 7).

    Args:
      C_cov: the coverage coefficient (Eq. 6, >= 1).
      log_card: ``log |Pi|`` (>= 0).
      eps, delta, rho: in (0, 1).
      c: the theorem's constant (the paper does not give it).
    """
    n = sft_num_prompts(log_card, eps, delta, rho, c=c)
    N = sft_num_responses(C_cov, eps, delta, c=c)
    if np.ndim(n) or np.ndim(N):
        raise ValueError(
            "sft_budget takes scalars; use sft_num_prompts / sft_num_responses on arrays"
        )
    return max(math.ceil(n), 1), max(math.ceil(N), 1)


def sft_sample_complexity(
    C_cov: Any, log_card: Any, eps: Any, delta: Any, rho: Any, *, c: float = 1.0
) -> Any:
    """Theorem 4.1 (Eq. 7): the total sample complexity of SFT-Sharpening.

    ::

        m = c * C_cov * log(|Pi| / rho) * log(1 / delta) / (delta * eps^2)

    Args:
      C_cov: coverage coefficient (>= 1); ``C_cov,gamma`` for Theorem 4.1'.
      log_card: ``log |Pi|`` (>= 0).
      eps, delta, rho: in (0, 1).
      c: the unspecified absolute constant of the O(.).
    """
    check_at_least(C_cov, "C_cov", 1.0)
    _check_log_card(log_card)
    check_open_unit(eps, "eps")
    check_open_unit(delta, "delta")
    check_open_unit(rho, "rho")
    _check_c(c)
    delta = _f(delta)
    return _out(
        c
        * _f(C_cov)
        * (_f(log_card) + _log_inv(rho))
        * np.log(1.0 / delta)
        / (delta * _f(eps) ** 2)
    )


class FailureBound(NamedTuple):
    """A failure-probability bound split into its terms (``total = statistical + coverage``)."""

    total: Any
    statistical: Any
    coverage: Any


def sft_failure_bound(
    log_card: Any, n: Any, N_star: Any, C_cov_gamma: Any, delta: Any, rho: Any, *, c: float = 1.0
) -> FailureBound:
    """Theorem 4.1' (App. I): the two-term failure bound of SFT-Sharpening.

    With ``N = N* log(2/delta)`` responses per prompt and ``n`` prompts, with probability
    >= 1 - rho, for any gamma in (0, 1)::

        P_x[ pi_hat(y*_gamma(x)|x) <= 1 - 2 delta ]
            <= c * ( log(|Pi| / rho) / (delta * n)   +   C_cov,gamma / N* )
                     \\__ statistical (MLE) ___/          \\_ coverage (Markov) _/

    Args:
      log_card: ``log |Pi|`` (>= 0).
      n: number of prompts (>= 1).
      N_star: the parameter ``N*`` (>= 1); ``N = N* log(2/delta)`` responses are drawn per prompt.
      C_cov_gamma: the approximate coverage ``C_cov,gamma`` (>= 1).
      delta, rho: in (0, 1).
      c: the unspecified absolute constant (applied to both terms).

    Returns:
      :class:`FailureBound` ``(total, statistical, coverage)``.
    """
    _check_log_card(log_card)
    check_at_least(n, "n", 1)
    check_at_least(N_star, "N_star", 1)
    check_at_least(C_cov_gamma, "C_cov_gamma", 1.0)
    check_open_unit(delta, "delta")
    check_open_unit(rho, "rho")
    _check_c(c)
    stat = c * (_f(log_card) + _log_inv(rho)) / (_f(delta) * _f(n))
    cov = c * _f(C_cov_gamma) / _f(N_star)
    return FailureBound(_out(stat + cov), _out(stat), _out(cov))


def mle_hellinger_bound(log_card: Any, n: Any, rho: Any) -> Any:
    """Lemma F.1: MLE over a finite realizable class, with probability >= 1 - rho.

    ::

        E_x[ D_H^2(pi_hat(.|x), pi*(.|x)) ] <= 2 log(|Pi| / rho) / n

    (The constant 2 is explicit in the lemma.)

    Args:
      log_card: ``log |Pi|`` (>= 0).
      n: number of i.i.d. (x, y) samples (>= 1).
      rho: in (0, 1).
    """
    _check_log_card(log_card)
    check_at_least(n, "n", 1)
    check_open_unit(rho, "rho")
    return _out(2.0 * (_f(log_card) + _log_inv(rho)) / _f(n))


def adaptive_sft_stopping_parameter(delta: Any) -> Any:
    """Theorem D.1: the stopping parameter ``mu = ln(2 / delta)`` of the rule of Eq. 10."""
    check_open_unit(delta, "delta")
    return _out(np.log(2.0 / _f(delta)))


def adaptive_sft_failure_bound(
    log_card: Any, n: Any, delta: Any, rho: Any, *, c: float = 1.0
) -> Any:
    """Theorem D.1: the failure bound of adaptive SFT-Sharpening, with probability >= 1 - rho.

    ::

        P_x[ pi_hat(y*(x)|x) <= 1 - delta ] <= c * log(|Pi| / rho) / (delta * n)

    Args:
      log_card: ``log |Pi|`` (>= 0).
      n: number of prompts (>= 1).
      delta, rho: in (0, 1).
      c: the unspecified absolute constant.
    """
    _check_log_card(log_card)
    check_at_least(n, "n", 1)
    check_open_unit(delta, "delta")
    check_open_unit(rho, "rho")
    _check_c(c)
    return _out(c * (_f(log_card) + _log_inv(rho)) / (_f(delta) * _f(n)))


def adaptive_sft_expected_queries(n: Any, C_bar_cov: Any, delta: Any) -> Any:
    """Theorem D.1 (proof): the expected number of queries of adaptive SFT-Sharpening.

    With ``mu = ln(2/delta)`` and Lemma I.1 (``E[N_mu] <= (mu + 1)/max_y pi_base(y|x)``)::

        E[m] <= n * (1 + mu) * C_bar_cov,    C_bar_cov = E_x[ 1 / max_y pi_base(y|x) ]

    The theorem's display prints ``n C_cov log(1/delta)``; the proof and the final bound use the
    adaptive coverage ``C_bar_cov`` (THEORY.md section 8), which is what this evaluates. No
    unspecified constant: this is the proof's explicit bound.

    Args:
      n: number of prompts (>= 1).
      C_bar_cov: adaptive coverage (>= 1).
      delta: in (0, 1).
    """
    check_at_least(n, "n", 1)
    check_at_least(C_bar_cov, "C_bar_cov", 1.0)
    check_open_unit(delta, "delta")
    return _out(_f(n) * (1.0 + np.log(2.0 / _f(delta))) * _f(C_bar_cov))


def adaptive_sft_sample_complexity(
    C_bar_cov: Any, log_card: Any, eps: Any, delta: Any, rho: Any, *, c: float = 1.0
) -> Any:
    """Theorem D.1: the expected sample complexity of adaptive SFT-Sharpening.

    ::

        E[m] = c * C_bar_cov * log(|Pi| / rho) * log(1 / delta) / (delta * eps)

    The eps-dependence is 1/eps instead of the 1/eps^2 of Theorem 4.1, and Theorem D.2 shows it is
    tight for the adaptive oracle.

    Args:
      C_bar_cov: adaptive coverage ``E_x[1 / max_y pi_base(y|x)]`` (>= 1).
      log_card: ``log |Pi|`` (>= 0).
      eps, delta, rho: in (0, 1).
      c: the unspecified absolute constant.
    """
    check_at_least(C_bar_cov, "C_bar_cov", 1.0)
    _check_log_card(log_card)
    check_open_unit(eps, "eps")
    check_open_unit(delta, "delta")
    check_open_unit(rho, "rho")
    _check_c(c)
    delta = _f(delta)
    return _out(
        c * _f(C_bar_cov) * (_f(log_card) + _log_inv(rho)) * np.log(1.0 / delta) / (delta * _f(eps))
    )


def adaptive_stopping_expected_draws_bound(mu_stop: Any, p_star: Any, num_argmax: Any = 1) -> Any:
    """Lemma I.1: the expected number of draws of the stopping rule of Eq. 10.

    ``N_mu = inf{k : k * max_{j<=k} P(y_j) >= mu}`` satisfies::

        E[N_mu] <= (mu + 1/|y*|) / P*,     P* = max_y P(y)

    Args:
      mu_stop: the stopping parameter ``mu > 0``.
      p_star: the largest probability ``P*`` in (0, 1].
      num_argmax: ``|y*|``, the number of maximizers (>= 1).
    """
    check_positive(mu_stop, "mu_stop")
    _check_prob(p_star, "p_star")
    check_at_least(num_argmax, "num_argmax", 1)
    return _out((_f(mu_stop) + 1.0 / _f(num_argmax)) / _f(p_star))


def adaptive_stopping_miss_bound(mu_stop: Any, num_argmax: Any = 1) -> Any:
    """Lemma I.1: the miss probability of the stopping rule of Eq. 10.

    For any stopping time ``tau >= N_mu``, ``P[y_hat_tau not in y*] <= exp(-|y*| mu)``.

    With ``mu = ln(2/delta)`` and a unique argmax this is ``delta / 2`` (Theorem D.1).

    Args:
      mu_stop: the stopping parameter ``mu > 0``.
      num_argmax: ``|y*|`` (>= 1).
    """
    check_positive(mu_stop, "mu_stop")
    check_at_least(num_argmax, "num_argmax", 1)
    return _out(np.exp(-_f(num_argmax) * _f(mu_stop)))


# ---------------------------------------------------------------------------------------------
# Section 3.5: inference-time best-of-N (Proposition C.1).
# ---------------------------------------------------------------------------------------------


def bon_num_samples(p_star: Any, rho: Any) -> Any:
    """Proposition C.1: best-of-N returns an element of ``y*_gamma(x)`` w.p. >= 1 - rho once

    ::

        N >= log(1 / rho) / p*,     p* = pi_base(y*_gamma(x) | x)

    Returns the real-valued threshold (take the ceiling for an integer N).

    Args:
      p_star: the base mass on the (approximate) argmax set, in (0, 1].
      rho: in (0, 1).
    """
    _check_prob(p_star, "p_star")
    check_open_unit(rho, "rho")
    return _out(_log_inv(rho) / _f(p_star))


def bon_miss_probability(p_star: Any, N: Any) -> Any:
    """Proposition C.1: the exact miss probability ``(1 - p*)^N <= exp(-N p*)`` of best-of-N.

    Computed as ``exp(N log1p(-p*))`` so tiny ``p*`` keeps full relative precision.

    Args:
      p_star: the base mass on the argmax set, in (0, 1].
      N: number of samples (>= 1).
    """
    _check_prob(p_star, "p_star")
    check_at_least(N, "N", 1)
    p = _f(p_star)
    with np.errstate(divide="ignore"):
        return _out(np.where(p >= 1.0, 0.0, np.exp(_f(N) * np.log1p(-np.minimum(p, 1.0)))))


# ---------------------------------------------------------------------------------------------
# Section 2 / 3.4: Lemma 4.1 (properties of pi*_beta).
# ---------------------------------------------------------------------------------------------


def kl_tilt_concentrability_bound(C_cov: Any, *, gamma: Any = 0.0) -> Any:
    """Lemma 4.1 / 4.1': ``C_{pi*_beta} = E_{pi*_beta}[pi*_beta / pi_base] <= C_cov / (1 - gamma)``.

    With ``gamma = 0`` (Lemma 4.1) the bound is ``C_cov`` itself; for ``gamma > 0`` pass
    ``C_cov = C_cov,gamma`` (Lemma 4.1': ``C_{pi*_beta} <= (1-gamma)^-1 C_cov,gamma``).

    Args:
      C_cov: the (approximate) coverage coefficient (>= 1).
      gamma: the approximate-argmax slack in [0, 1).
    """
    check_at_least(C_cov, "C_cov", 1.0)
    check_gamma(gamma)
    return _out(_f(C_cov) / (1.0 - _f(gamma)))


def kl_tilt_loss_concentrability_bound(num_responses: Any) -> Any:
    """Lemma 4.1: ``C_{pi_base/pi*_beta; beta} = E_{pi_base}[(pi_base/pi*_beta)^beta] <= |Y|``."""
    check_at_least(num_responses, "num_responses", 1)
    return _out(_f(num_responses))


def kl_tilt_margin_bound(gamma_margin: Any, beta: Any, num_responses: Any) -> Any:
    """The mass of ``pi*_beta ~ pi_base^(1 + 1/beta)`` on ``y*`` under the margin (Assumption 4.2).

    ::

        pi*_beta(y*|x) >= 1 - (|Y| - 1) * (1 + gamma_margin)^(-(1 + 1/beta))

    (THEORY.md section 6 item 7 [R]; the proof of Theorem J.2 uses it with
    ``beta = gamma_margin / (2 log(2|Y|/delta))`` to get ``pi*_beta(y*) >= 1 - delta/2``.) The
    value is returned unclipped: a non-positive value means the bound is vacuous.

    Args:
      gamma_margin: the margin (> 0).
      beta: the KL weight (> 0).
      num_responses: ``|Y|`` (>= 1).
    """
    check_positive(gamma_margin, "gamma_margin")
    check_positive(beta, "beta")
    check_at_least(num_responses, "num_responses", 1)
    exponent = -(1.0 + 1.0 / _f(beta)) * np.log1p(_f(gamma_margin))
    return _out(1.0 - (_f(num_responses) - 1.0) * np.exp(exponent))


# ---------------------------------------------------------------------------------------------
# Section 3.4: squared-loss (DPO-style) RLHF-Sharpening (Theorem 4.2, 4.2').
# ---------------------------------------------------------------------------------------------


def _check_rlhf(C_conc: Any, C_loss: Any, log_card: Any, gamma_margin: Any) -> None:
    check_at_least(C_conc, "C_conc", 1.0)
    check_at_least(C_loss, "C_loss", 1.0)
    _check_log_card(log_card)
    check_positive(gamma_margin, "gamma_margin")


def dpo_beta(gamma_margin: Any, eps: Any, delta: Any, *, c: float = 1.0) -> Any:
    """Theorem 4.2: the KL weight of DPO-style RLHF-Sharpening.

    ::

        beta = c * gamma_margin * delta * eps

    (The theorem asks for ``beta <~ gamma_margin delta eps``; ``c`` is that constant.)
    """
    check_positive(gamma_margin, "gamma_margin")
    check_open_unit(eps, "eps")
    check_open_unit(delta, "delta")
    _check_c(c)
    return _out(c * _f(gamma_margin) * _f(delta) * _f(eps))


def dpo_sample_complexity(
    C_conc: Any,
    C_loss: Any,
    log_card: Any,
    gamma_margin: Any,
    eps: Any,
    delta: Any,
    rho: Any,
    *,
    c: float = 1.0,
) -> Any:
    """Theorem 4.2: the sample complexity of DPO-style (squared-loss) RLHF-Sharpening (Eq. 8).

    ::

        m = c * C_conc * log^3(C_loss * |Pi| / rho) / (gamma_margin^2 * delta^2 * eps^2)

    (``O~`` in the paper: the constant and the hidden log factors are both in ``c``.) The algorithm
    uses N = 2 responses per prompt, so ``n = m / 2`` prompts.

    Args:
      C_conc: the uniform concentrability of Assumption 4.4 (>= 1).
      C_loss: the loss concentrability of Assumption 4.4 (>= 1; the lemma allows ``|Y|``).
      log_card: ``log |Pi|`` (>= 0).
      gamma_margin: the margin of Assumption 4.2 (> 0).
      eps, delta, rho: in (0, 1).
      c: the unspecified constant.
    """
    _check_rlhf(C_conc, C_loss, log_card, gamma_margin)
    check_open_unit(eps, "eps")
    check_open_unit(delta, "delta")
    check_open_unit(rho, "rho")
    _check_c(c)
    log_term = np.log(_f(C_loss)) + _f(log_card) + _log_inv(rho)
    return _out(
        c * _f(C_conc) * log_term**3 / (_f(gamma_margin) ** 2 * _f(delta) ** 2 * _f(eps) ** 2)
    )


def dpo_failure_bound(
    C_conc: Any,
    C_loss: Any,
    log_card: Any,
    n: Any,
    beta: Any,
    gamma_margin: Any,
    delta: Any,
    rho: Any,
    *,
    gamma: Any = 0.0,
    c: float = 1.0,
) -> Any:
    """Theorem 4.2' (App. J.1): the failure bound of DPO-style RLHF-Sharpening.

    With probability >= 1 - rho::

        P_x[ pi_hat(y*_gamma(x)|x) <= 1 - delta ]
            <= c / (gamma_margin * delta) * ( sqrt(C_conc log^3(C_loss |Pi| / rho) / n)
                                              + beta * log(C_conc) + gamma )

    Args:
      C_conc, C_loss: Assumption 4.4's coefficients (>= 1).
      log_card: ``log |Pi|`` (>= 0).
      n: number of (x, y, y') triples (>= 1).
      beta: the KL weight (> 0).
      gamma_margin: the margin w.r.t. ``y*_gamma`` (> 0).
      delta, rho: in (0, 1).
      gamma: the approximate-argmax slack in [0, 1).
      c: the unspecified constant (``O~`` hides log factors in n and C_conc too).
    """
    _check_rlhf(C_conc, C_loss, log_card, gamma_margin)
    check_at_least(n, "n", 1)
    check_positive(beta, "beta")
    check_open_unit(delta, "delta")
    check_open_unit(rho, "rho")
    check_gamma(gamma)
    _check_c(c)
    log_term = np.log(_f(C_loss)) + _f(log_card) + _log_inv(rho)
    inner = np.sqrt(_f(C_conc) * log_term**3 / _f(n)) + _f(beta) * np.log(_f(C_conc)) + _f(gamma)
    return _out(c * inner / (_f(gamma_margin) * _f(delta)))


# ---------------------------------------------------------------------------------------------
# Section 3.4: XPO / exploration (Theorem 4.3, J.1, J.2).
# ---------------------------------------------------------------------------------------------


def xpo_beta(gamma_margin: Any, num_responses: Any, delta: Any) -> Any:
    """Theorem 4.3 / J.2: the KL weight for exploration-based sharpening.

    ::

        beta = gamma_margin / (2 log(2 |Y| / delta))

    Theorem J.2 requires ``beta^-1 >= 2 gamma_margin^-1 log(2|Y|/delta)``, i.e. at most this value;
    then ``pi*_beta(y*) >= 1 - delta/2`` under the margin (see :func:`kl_tilt_margin_bound`).

    Args:
      gamma_margin: the margin (> 0).
      num_responses: ``|Y|`` (>= 1).
      delta: in (0, 1).
    """
    check_positive(gamma_margin, "gamma_margin")
    check_at_least(num_responses, "num_responses", 1)
    check_open_unit(delta, "delta")
    return _out(_f(gamma_margin) / (2.0 * np.log(2.0 * _f(num_responses) / _f(delta))))


def _log_2nt_over_rho(log_net_size: Any, T: Any, rho: Any) -> Any:
    return np.log(2.0) + _f(log_net_size) + np.log(_f(T)) + _log_inv(rho)


def xpo_alpha(
    beta: Any,
    R_max: Any,
    sec: Any,
    log_net_size: Any,
    T: Any,
    rho: Any,
    *,
    V_max: Any = 0.0,
) -> Any:
    """Theorem J.1 / J.2: the optimism weight of Algorithm 1 (reward-based XPO).

    ::

        alpha = beta / (R_max + V_max) * sqrt( log(2 N(Pi, eps_disc) T / rho) / (SEC(Pi) T) )

    Theorem J.2 sets ``V_max = 0`` and prints ``delta`` inside the log where Theorem J.1 has
    ``rho``; pass ``rho=delta`` to reproduce J.2 as printed.

    Args:
      beta: the KL weight (> 0).
      R_max: the reward range of Assumption 4.5 (> 0).
      sec: ``SEC(Pi)`` (> 0), e.g. :func:`linear_softmax_sec_bound`.
      log_net_size: ``log N(Pi, eps_disc)`` (>= 0).
      T: number of rounds (>= 1).
      rho: in (0, 1).
      V_max: the density-ratio bound of Assumption J.4 (>= 0).
    """
    check_positive(beta, "beta")
    check_positive(R_max, "R_max")
    check_positive(sec, "sec")
    check_nonnegative(log_net_size, "log_net_size")
    check_at_least(T, "T", 1)
    check_open_unit(rho, "rho")
    check_nonnegative(V_max, "V_max")
    ratio = _log_2nt_over_rho(log_net_size, T, rho) / (_f(sec) * _f(T))
    return _out(_f(beta) / (_f(R_max) + _f(V_max)) * np.sqrt(ratio))


def xpo_kl_bound(
    R_max: Any,
    V_max: Any,
    sec: Any,
    log_net_size: Any,
    T: Any,
    rho: Any,
    beta: Any,
    eps_disc: Any,
    *,
    c: float = 1.0,
) -> Any:
    """Theorem J.1: the KL-regularized regret of reward-based XPO, with probability >= 1 - rho.

    ::

        beta KL(pi_hat || pi*_beta) = J_beta(pi*_beta) - J_beta(pi_hat)
            <= c * ( (R_max + V_max) sqrt( SEC log(2 N(Pi, eps_disc) T / rho) / T )
                     + beta eps_disc sqrt(SEC T) )

    Args:
      R_max, V_max: the reward range and density-ratio bound (R_max > 0, V_max >= 0).
      sec: ``SEC(Pi)`` (> 0).
      log_net_size: ``log N(Pi, eps_disc)`` (>= 0).
      T: number of rounds (>= 1).
      rho: in (0, 1).
      beta: KL weight (> 0).
      eps_disc: the net's resolution (>= 0).
      c: the unspecified constant.
    """
    check_positive(R_max, "R_max")
    check_nonnegative(V_max, "V_max")
    check_positive(sec, "sec")
    check_nonnegative(log_net_size, "log_net_size")
    check_at_least(T, "T", 1)
    check_open_unit(rho, "rho")
    check_positive(beta, "beta")
    check_nonnegative(eps_disc, "eps_disc")
    _check_c(c)
    T, sec = _f(T), _f(sec)
    est = (_f(R_max) + _f(V_max)) * np.sqrt(sec * _log_2nt_over_rho(log_net_size, T, rho) / T)
    disc = _f(beta) * _f(eps_disc) * np.sqrt(sec * T)
    return _out(c * (est + disc))


def xpo_num_rounds(
    R_max: float,
    sec: float,
    log_net_size: float,
    eps: float,
    delta: float,
    beta: float,
    rho: float,
    *,
    c: float = 1.0,
) -> int:
    """Theorem J.2: the smallest number of rounds T satisfying the theorem's condition.

    ::

        T >= c * R_max^2 * SEC(Pi) * log(2 N(Pi, eps_disc) T / rho) / (eps^2 delta^2 beta^2)

    The condition is implicit in T (through log T); the smallest integer solution is found by
    fixed-point iteration followed by an exact integer check. Scalar arguments only.

    Args:
      R_max: reward range (> 0), with ``R_max >= 1 + max log(1/pi_base)`` in the theorem.
      sec: ``SEC(Pi)`` (> 0).
      log_net_size: ``log N(Pi, eps_disc)`` (>= 0).
      eps, delta, rho: in (0, 1).
      beta: the KL weight (> 0), e.g. :func:`xpo_beta`.
      c: the theorem's constant ``C_{J.2}``.

    Returns:
      The smallest integer ``T >= 1`` satisfying the condition.
    """
    check_positive(R_max, "R_max")
    check_positive(sec, "sec")
    check_nonnegative(log_net_size, "log_net_size")
    check_open_unit(eps, "eps")
    check_open_unit(delta, "delta")
    check_positive(beta, "beta")
    check_open_unit(rho, "rho")
    _check_c(c)
    A = c * R_max**2 * sec / (eps**2 * delta**2 * beta**2)
    L = math.log(2.0) + log_net_size + math.log(1.0 / rho)

    def ok(T: float) -> bool:
        return T >= A * (L + math.log(T))

    # g(T) = A (L + log T) is concave with slope A / T < 1 beyond T = A, so iterating from
    # max(1, A) upward converges to the largest fixed point, which is the smallest solution
    # above A (below A the condition fails whenever A (L + log T) >= T, which holds there as
    # L > 0 and log T >= log A or T <= A).
    T = max(1.0, A, A * L)
    for _ in range(200):
        T_next = max(1.0, A * (L + math.log(T)))
        if abs(T_next - T) <= 1e-12 * T:
            break
        T = T_next
    T_int = max(1, math.ceil(T - 1e-9 * T))
    while T_int > 1 and ok(T_int - 1):
        T_int -= 1
    while not ok(T_int):
        T_int += 1
    return T_int


def xpo_eps_disc(eps: Any, delta: Any, sec: Any, T: Any, *, c: float = 1.0) -> Any:
    """Theorem J.2: the net resolution, ``eps_disc = c * eps * delta / sqrt(SEC(Pi) T)``."""
    check_open_unit(eps, "eps")
    check_open_unit(delta, "delta")
    check_positive(sec, "sec")
    check_at_least(T, "T", 1)
    _check_c(c)
    return _out(c * _f(eps) * _f(delta) / np.sqrt(_f(sec) * _f(T)))


def xpo_sample_complexity(
    R_max: Any,
    sec: Any,
    log_net_size: Any,
    num_responses: Any,
    gamma_margin: Any,
    eps: Any,
    delta: Any,
    rho: Any,
    *,
    c: float = 1.0,
) -> Any:
    """Theorem J.2: the sample complexity of sharpening via active exploration (Algorithm 1).

    ::

        m = c * R_max^2 * SEC(Pi) * log(N(Pi, eps_disc) / rho) * log^2(|Y| / delta)
              / (gamma_margin^2 * eps^2 * delta^2)

    (``O~``: the constant and the hidden log factors are in ``c``.)

    Args:
      R_max: reward range (> 0).
      sec: ``SEC(Pi)`` (> 0).
      log_net_size: ``log N(Pi, eps_disc)`` (>= 0).
      num_responses: ``|Y|`` (>= 1).
      gamma_margin: the margin (> 0).
      eps, delta, rho: in (0, 1).
      c: the unspecified constant.
    """
    check_positive(R_max, "R_max")
    check_positive(sec, "sec")
    check_nonnegative(log_net_size, "log_net_size")
    check_at_least(num_responses, "num_responses", 1)
    check_positive(gamma_margin, "gamma_margin")
    check_open_unit(eps, "eps")
    check_open_unit(delta, "delta")
    check_open_unit(rho, "rho")
    _check_c(c)
    delta = _f(delta)
    num = (
        _f(R_max) ** 2
        * _f(sec)
        * (_f(log_net_size) + _log_inv(rho))
        * np.log(_f(num_responses) / delta) ** 2
    )
    return _out(c * num / (_f(gamma_margin) ** 2 * _f(eps) ** 2 * delta**2))


def xpo_sample_complexity_informal(
    sec: Any, log_card: Any, gamma_margin: Any, eps: Any, delta: Any, rho: Any, *, c: float = 1.0
) -> Any:
    """Theorem 4.3 (informal version of J.2): the sample complexity of exploration.

    ::

        m = c * SEC(Pi) * log(|Pi| / rho) / (gamma_margin^2 * delta^2 * eps^2)

    No dependence on the coverage of ``pi_base``.

    Args:
      sec: ``SEC(Pi)`` (> 0).
      log_card: ``log |Pi|`` (>= 0).
      gamma_margin: the margin (> 0).
      eps, delta, rho: in (0, 1).
      c: the unspecified constant (with the hidden log factors).
    """
    check_positive(sec, "sec")
    _check_log_card(log_card)
    check_positive(gamma_margin, "gamma_margin")
    check_open_unit(eps, "eps")
    check_open_unit(delta, "delta")
    check_open_unit(rho, "rho")
    _check_c(c)
    return _out(
        c
        * _f(sec)
        * (_f(log_card) + _log_inv(rho))
        / (_f(gamma_margin) ** 2 * _f(delta) ** 2 * _f(eps) ** 2)
    )


# ---------------------------------------------------------------------------------------------
# Section 3.4: linear softmax models (Theorem J.3 = Theorem 4.4 of arXiv v2, Lemmas J.4, J.5).
# ---------------------------------------------------------------------------------------------


def linear_softmax_beta(gamma_margin: Any, num_responses: Any, delta: Any) -> Any:
    """Theorem J.3: ``beta = gamma_margin / (2 log(2|Y|/delta))`` (as :func:`xpo_beta`)."""
    return xpo_beta(gamma_margin, num_responses, delta)


def linear_softmax_theta_norm_bound(
    gamma_margin: Any, B: Any, num_responses: Any, delta: Any
) -> Any:
    """Theorem J.3's hypothesis on the base parameter.

    ::

        ||theta*|| <= gamma_margin * B / (3 log(2 |Y| / delta))

    It guarantees that the tilted model ``pi*_beta = pi_{(1 + 1/beta) theta*}`` stays in the ball
    of radius B (see :func:`linear_softmax_required_radius`).

    Args:
      gamma_margin: the margin (> 0).
      B: the class radius (>= 1).
      num_responses: ``|Y|`` (>= 1).
      delta: in (0, 1).
    """
    check_positive(gamma_margin, "gamma_margin")
    check_at_least(B, "B", 1.0)
    check_at_least(num_responses, "num_responses", 1)
    check_open_unit(delta, "delta")
    return _out(_f(gamma_margin) * _f(B) / (3.0 * np.log(2.0 * _f(num_responses) / _f(delta))))


def linear_softmax_required_radius(theta_norm: Any, beta: Any) -> Any:
    """Theorem J.3: ``pi*_beta = pi_{(1 + 1/beta) theta*}``, so the class needs
    ``B >= (1 + 1/beta) ||theta*||`` for realizability (Assumption 4.3)."""
    check_nonnegative(theta_norm, "theta_norm")
    check_positive(beta, "beta")
    return _out((1.0 + 1.0 / _f(beta)) * _f(theta_norm))


def linear_softmax_r_max(beta: Any, B: Any, num_responses: Any) -> Any:
    """Theorem J.3: the reward range used with Lemma J.5.

    ::

        R_max = sqrt( 4 beta^2 B^2 + (2B + log|Y|)^2 ),   using |log pi_base| <= 2B + log|Y|

    Args:
      beta: KL weight (> 0).
      B: class radius (>= 1).
      num_responses: ``|Y|`` (>= 1).
    """
    check_positive(beta, "beta")
    check_at_least(B, "B", 1.0)
    check_at_least(num_responses, "num_responses", 1)
    B = _f(B)
    return _out(np.sqrt(4.0 * _f(beta) ** 2 * B**2 + (2.0 * B + np.log(_f(num_responses))) ** 2))


def linear_softmax_alpha(
    beta: Any,
    B: Any,
    num_responses: Any,
    d: Any,
    T: Any,
    eps: Any,
    delta: Any,
    rho: Any,
    *,
    c: float = 1.0,
) -> Any:
    """Theorem J.3: the optimism weight of Algorithm 1 for linear softmax models.

    ::

        alpha(T) = c * beta / (B + log|Y|)
                     * sqrt( (d log(B d T / (eps delta)) + log(T / rho)) / (d T log T) )

    (The theorem states ``alpha(T)`` proportional to this; ``c`` is the proportionality constant.)

    Args:
      beta: KL weight (> 0).
      B: class radius (>= 1).
      num_responses: ``|Y|`` (>= 1).
      d: feature dimension (>= 1).
      T: number of rounds (>= 2, so that ``log T > 0``).
      eps, delta, rho: in (0, 1).
      c: proportionality constant.
    """
    check_positive(beta, "beta")
    check_at_least(B, "B", 1.0)
    check_at_least(num_responses, "num_responses", 1)
    check_at_least(d, "d", 1)
    check_at_least(T, "T", 2)
    check_open_unit(eps, "eps")
    check_open_unit(delta, "delta")
    check_open_unit(rho, "rho")
    _check_c(c)
    B, d, T = _f(B), _f(d), _f(T)
    num = d * np.log(B * d * T / (_f(eps) * _f(delta))) + np.log(T / _f(rho))
    return _out(c * _f(beta) / (B + np.log(_f(num_responses))) * np.sqrt(num / (d * T * np.log(T))))


def linear_softmax_log_net_size(B: Any, d: Any, eps_disc: Any) -> Any:
    """Lemma J.4: the linear softmax class has an ``eps_disc``-net of size ``(6B/eps_disc)^d``;
    returns its log, ``d log(6 B / eps_disc)``."""
    check_at_least(B, "B", 1.0)
    check_at_least(d, "d", 1)
    check_positive(eps_disc, "eps_disc")
    return _out(_f(d) * np.log(6.0 * _f(B) / _f(eps_disc)))


def linear_softmax_sec_bound(d: Any, T: Any, *, c: float = 1.0) -> Any:
    """Lemma J.5: ``SEC(Pi_{phi,B}, r, T, beta, lambda; pi*) <= c * d log(T + 1)`` when
    ``lambda >= 4 beta^2 B^2 + R_max^2``."""
    check_at_least(d, "d", 1)
    check_at_least(T, "T", 1)
    _check_c(c)
    return _out(c * _f(d) * np.log(_f(T) + 1.0))
