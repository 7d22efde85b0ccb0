"""Divergences and density-ratio coefficients between policies, averaged over prompts.

KL and squared Hellinger distance (Sec. 2, Lemma F.1), the concentrability coefficients C_pi and
C_{pi/pi';beta} of Eq. 9, and the entropy of a policy (App. B).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp

from ._logmath import as_param, expect_over_prompts, log_expect_over_prompts, xlogy_exp
from ._validation import (
    check_logp,
    check_mu,
    check_positive,
    check_same_shape,
    check_scalar,
)


def _pair(logp_a, logp_b, mu, name_a, name_b):
    logp_a = check_logp(logp_a, name_a, min_ndim=2)
    logp_b = check_logp(logp_b, name_b, min_ndim=2)
    check_same_shape(logp_a, logp_b, name_a, name_b, trailing=2)
    mu = check_mu(mu, logp_a.shape[-2], "mu")
    shape = jnp.broadcast_shapes(logp_a.shape, logp_b.shape)
    return jnp.broadcast_to(logp_a, shape), jnp.broadcast_to(logp_b, shape), mu


def kl(logp_p: Any, logp_q: Any, mu: Any) -> jax.Array:
    """E_{x~mu}[KL(p(.|x) || q(.|x))], with KL = sum_y p log(p/q) and 0 log 0 = 0.

    Summed as sum_y (p log(p/q) - p + q), equal for normalized rows: every term is >= 0, so the
    result is never negative and keeps its relative precision when p and q are nearly equal.

    Args:
      logp_p: ``[..., X, Y]`` normalized log-probabilities of p.
      logp_q: ``[..., X, Y]`` normalized log-probabilities of q (leading axes broadcast).
      mu: ``[X]`` prompt distribution.

    Returns:
      ``[...]`` averaged KL; ``inf`` when p puts mass where q has none on a prompt with mu > 0.
    """
    logp_p, logp_q, mu = _pair(logp_p, logp_q, mu, "logp_p", "logp_q")
    return _kl(logp_p, logp_q, mu)


# Taylor coefficients (k - 1)/k!, k = 2..10, of f(d) = d e^d - e^d + 1 = sum_k (k-1)/k! d^k.
_BREGMAN_SERIES = tuple((k - 1) / math.factorial(k) for k in range(2, 11))
# Below this |d| the series (truncated at d^10, relative error < 1e-16) replaces the closed form,
# whose two terms cancel to about 2 ulp / |d| relative.
_BREGMAN_SERIES_BELOW = 0.1


def _bregman_kl_terms(logp_p: jax.Array, logp_q: jax.Array) -> jax.Array:
    """Per-response terms ``q f(d) = p log(p/q) - p + q >= 0``, ``d = log p - log q``.

    Summed over a row they give KL(p || q) when both rows sum to one. Unlike ``p log(p/q)`` the
    terms are never negative and do not cancel: rows normalized only up to rounding (an error of
    1e-16) would otherwise leave that error on a KL as small as 1e-26, or make it negative.
    """
    p_zero = logp_p == -jnp.inf
    q_zero = logp_q == -jnp.inf
    d = jnp.where(p_zero | q_zero, 0.0, logp_p - logp_q)
    small = jnp.abs(d) < _BREGMAN_SERIES_BELOW
    ds = jnp.where(small, d, 0.0)
    series = functools.reduce(lambda acc, c: acc * ds + c, reversed(_BREGMAN_SERIES))
    p = jnp.exp(logp_p)
    q = jnp.exp(logp_q)
    closed = p * d - (p - q)
    terms = jnp.where(small, q * ds * ds * series, closed)
    # p = 0 leaves q (0 log 0 = 0); q = 0 < p is an infinite divergence.
    return jnp.where(p_zero, q, jnp.where(q_zero, jnp.inf, terms))


@jax.jit
def _kl(logp_p: jax.Array, logp_q: jax.Array, mu: jax.Array) -> jax.Array:
    return expect_over_prompts(mu, jnp.sum(_bregman_kl_terms(logp_p, logp_q), axis=-1))


def hellinger_sq(logp_p: Any, logp_q: Any, mu: Any) -> jax.Array:
    """E_{x~mu}[D_H^2(p(.|x), q(.|x))] with D_H^2 = sum_y (sqrt p - sqrt q)^2 (Sec. 2; no 1/2).

    This is the quantity bounded by the MLE guarantee of Lemma F.1; it lies in [0, 2]. Each term
    is computed as exp(a/2) (1 - exp((b - a)/2)) with a >= b the two log-masses, so nearly equal
    masses do not cancel catastrophically.

    Args:
      logp_p: ``[..., X, Y]`` normalized log-probabilities of p.
      logp_q: ``[..., X, Y]`` normalized log-probabilities of q (leading axes broadcast).
      mu: ``[X]`` prompt distribution.

    Returns:
      ``[...]`` averaged squared Hellinger distance.
    """
    logp_p, logp_q, mu = _pair(logp_p, logp_q, mu, "logp_p", "logp_q")
    return _hellinger_sq(logp_p, logp_q, mu)


@jax.jit
def _hellinger_sq(logp_p: jax.Array, logp_q: jax.Array, mu: jax.Array) -> jax.Array:
    hi = jnp.maximum(logp_p, logp_q)
    lo = jnp.minimum(logp_p, logp_q)
    both_zero = hi == -jnp.inf
    safe_hi = jnp.where(both_zero, 0.0, hi)
    diff = jnp.exp(safe_hi / 2) * -jnp.expm1((lo - safe_hi) / 2)
    terms = jnp.where(both_zero, 0.0, diff) ** 2
    return expect_over_prompts(mu, jnp.sum(terms, axis=-1))


def _log_ratio_moment(logp_pi: jax.Array, logp_ref: jax.Array, power: jax.Array) -> jax.Array:
    """log sum_y pi(y) (pi(y)/ref(y))^power per row, with 0 * anything = 0 and x/0 = inf."""
    pi_zero = logp_pi == -jnp.inf
    ref_zero = logp_ref == -jnp.inf
    safe_pi = jnp.where(pi_zero, 0.0, logp_pi)
    safe_ref = jnp.where(ref_zero, 0.0, logp_ref)
    terms = jnp.where(
        pi_zero, -jnp.inf, jnp.where(ref_zero, jnp.inf, safe_pi + power * (safe_pi - safe_ref))
    )
    return jax.nn.logsumexp(terms, axis=-1)


def concentrability(logp_pi: Any, logp_base: Any, mu: Any) -> jax.Array:
    """Concentrability coefficient C_pi = E_{x~mu, y~pi}[pi(y|x) / pi_base(y|x)] (Eq. 9).

    Equal to 1 + chi^2(pi || pi_base) averaged over x. Lemma 4.1 bounds it by C_cov for
    pi = pi*_beta; Assumption 4.4 asks C_pi <= C_conc over the whole class.

    Args:
      logp_pi: ``[..., X, Y]`` normalized log-probabilities of pi.
      logp_base: ``[..., X, Y]`` normalized log-probabilities of pi_base (leading axes broadcast).
      mu: ``[X]`` prompt distribution.

    Returns:
      ``[...]`` C_pi; ``inf`` when pi puts mass where pi_base has none.
    """
    logp_pi, logp_base, mu = _pair(logp_pi, logp_base, mu, "logp_pi", "logp_base")
    return _ratio_moment(logp_pi, logp_base, mu, jnp.ones((), logp_pi.dtype))


def concentrability_ratio(logp_pi: Any, logp_pi_prime: Any, mu: Any, beta: Any) -> jax.Array:
    """C_{pi/pi';beta} = E_{x~mu, y~pi}[(pi(y|x) / pi'(y|x))^beta] (Eq. 9).

    Lemma 4.1 bounds C_{pi_base/pi*_beta;beta} by |Y|; Assumption 4.4 asks
    C_{pi_base/pi;beta} <= C_loss over the class.

    Args:
      logp_pi: ``[..., X, Y]`` normalized log-probabilities of pi (the sampling law).
      logp_pi_prime: ``[..., X, Y]`` normalized log-probabilities of pi'.
      mu: ``[X]`` prompt distribution.
      beta: exponent, a scalar > 0; may be traced (checked at run time).

    Returns:
      ``[...]`` C_{pi/pi';beta}; ``inf`` when pi puts mass where pi' has none.
    """
    logp_pi, logp_pi_prime, mu = _pair(logp_pi, logp_pi_prime, mu, "logp_pi", "logp_pi_prime")
    check_scalar(beta, "beta")
    beta = check_positive(beta, "beta")
    return _ratio_moment(logp_pi, logp_pi_prime, mu, beta)


@jax.jit
def _ratio_moment(logp_pi, logp_ref, mu, power) -> jax.Array:
    per_prompt = _log_ratio_moment(logp_pi, logp_ref, as_param(power, logp_pi))
    return jnp.exp(log_expect_over_prompts(mu, per_prompt))


def entropy(logp: Any) -> jax.Array:
    """Shannon entropy H(pi(.|x)) = -sum_y pi(y|x) log pi(y|x) in nats, with 0 log 0 = 0.

    Entropy minimization (App. B) maximizes -H(pi) = E_pi[log pi], a relative of the
    maximum-likelihood sharpening objective E_pi[log pi_base].

    Args:
      logp: ``[..., Y]`` normalized log-probabilities.

    Returns:
      ``[...]`` entropies.
    """
    logp = check_logp(logp, "logp")
    return _entropy(logp)


@jax.jit
def _entropy(logp: jax.Array) -> jax.Array:
    return -jnp.sum(xlogy_exp(logp, logp), axis=-1)
