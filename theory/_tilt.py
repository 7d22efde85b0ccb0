"""The KL-regularized (RLHF-Sharpening) objective and its exact optimizer (Sec. 2.2, Eq. 3)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ._logmath import as_param, expect_over_prompts, log_normalize, xlogy_exp
from ._validation import (
    check_finite_on_support,
    check_logp,
    check_mu,
    check_positive,
    check_same_shape,
    check_scalar,
)


def _reward(reward: Any, logp_base: jax.Array) -> jax.Array:
    if reward is None:
        return logp_base
    reward = check_finite_on_support(reward, logp_base, "reward", "logp_base")
    return jnp.broadcast_to(jnp.asarray(reward, dtype=logp_base.dtype), logp_base.shape)


def kl_tilt(logp_base: Any, beta: Any, reward: Any = None) -> jax.Array:
    """Exact maximizer pi*_beta of the KL-regularized objective (Eq. 3, Sec. 2.2).

    pi*_beta(y|x) = pi_base(y|x) exp(r(x, y) / beta) / Z_beta(x), the unique maximizer over
    Delta(Y) of E_pi[r] - beta KL(pi || pi_base). With the default self-reward
    r = log pi_base (Eq. 2) this is pi*_beta proportional to pi_base^(1 + 1/beta), which tends to
    the uniform law on the argmax set y*(x) as beta -> 0. Zero-mass responses keep zero mass.

    Args:
      logp_base: ``[..., Y]`` normalized log-probabilities of pi_base.
      beta: KL weight, a scalar > 0; may be traced (checked at run time).
      reward: ``[..., Y]`` reward broadcastable to ``logp_base``, finite where pi_base > 0;
        ``None`` for r = log pi_base.

    Returns:
      ``[..., Y]`` normalized log-probabilities of pi*_beta.
    """
    return _kl_tilt(*_tilt_args(logp_base, beta, reward))


def _tilt_args(logp_base: Any, beta: Any, reward: Any) -> tuple[jax.Array, Any, jax.Array]:
    """The checked ``(logp_base, beta, reward)`` of the tilts (``reward=None``: log pi_base)."""
    logp_base = check_logp(logp_base, "logp_base")
    check_scalar(beta, "beta")
    beta = check_positive(beta, "beta")
    return logp_base, beta, _reward(reward, logp_base)


@jax.jit
def _kl_tilt(logp_base: jax.Array, beta: Any, r: jax.Array) -> jax.Array:
    # XLA flushes subnormal numbers to zero; a subnormal beta acts as the least normal one (the
    # law is then the beta -> 0 limit to the last bit).
    beta = jnp.maximum(as_param(beta, logp_base), jnp.finfo(logp_base.dtype).tiny)
    support = logp_base > -jnp.inf
    r = jnp.where(support, r, -jnp.inf)
    # Shifting r by its maximum on the support leaves the law unchanged and keeps r / beta finite
    # on the maximizers as beta -> 0 (unshifted, r / beta overflows and the normalization gives
    # NaN at beta = 1e-308).
    shifted = r - jnp.max(r, axis=-1, keepdims=True)
    logits = jnp.where(support, logp_base + jnp.where(support, shifted, 0.0) / beta, -jnp.inf)
    return log_normalize(logits)


def reverse_kl_tilt(logp_base: Any, beta: Any, reward: Any = None) -> jax.Array:
    """Exact maximizer of ``E_pi[r] - beta KL(pi_base || pi)``: the KL the other way round.

    This is where GRPO's KL term leads (``simulators.hf.grpo_sharpening``): the per-token
    estimator ``k3 = rho - log rho - 1`` (``rho = pi_base / pi``) added to the loss has expected
    gradient ``grad KL(pi_base || pi)``, so on one token (a table) GRPO's fixed point is this law,
    not ``pi*_beta`` (:func:`kl_tilt`). Stationarity on the simplex gives, for some
    ``lambda > max r``::

        pi(y) = beta pi_base(y) / (lambda - r(y)),      sum_y pi(y) = 1,

    and ``lambda`` is found by bisection on ``(max r, max r + beta]``, where the sum falls from
    infinity to at most 1 (to the last bit of the dtype). Zero-mass responses keep zero mass.
    Unlike ``pi*_beta``, it never concentrates faster than ``beta pi_base / (max r - r)``: the
    reverse KL is infinite when ``pi`` drops a response of ``pi_base``, so every response keeps
    mass of order ``beta``.

    Args and return value as for :func:`kl_tilt`.
    """
    return _reverse_kl_tilt(*_tilt_args(logp_base, beta, reward))


@jax.jit
def _reverse_kl_tilt(logp_base: jax.Array, beta: Any, r: jax.Array) -> jax.Array:
    beta = as_param(beta, logp_base)
    support = logp_base > -jnp.inf
    r = jnp.where(support, r, -jnp.inf)
    gap0 = r - jnp.max(r, axis=-1, keepdims=True)  # <= 0 on the support: lambda - r = t - gap0

    def log_pi(t):  # t = lambda - max r > 0
        return jnp.where(support, jnp.log(beta) + logp_base - jnp.log(t - gap0), -jnp.inf)

    def total(t):
        return jax.nn.logsumexp(log_pi(t), axis=-1, keepdims=True)  # decreasing in t

    def halve(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        above = total(mid) > 0.0  # the sum exceeds 1: lambda lies further out
        return jnp.where(above, mid, lo), jnp.where(above, hi, mid)

    lo = jnp.zeros(gap0.shape[:-1] + (1,), logp_base.dtype)
    hi = lo + beta
    iters = 4 * jnp.finfo(logp_base.dtype).nmant  # ample: each halves the bracket
    _, hi = jax.lax.fori_loop(0, iters, halve, (lo, hi))
    return log_normalize(log_pi(hi))  # the last bits of the root, absorbed by normalizing


def kl_regularized_objective(
    logp_pi: Any, logp_base: Any, mu: Any, beta: Any, reward: Any = None
) -> jax.Array:
    """RLHF-Sharpening objective J_beta(pi) = E_{x~mu, y~pi}[r(x, y)] - beta KL(pi || pi_base)
    (Eq. 3), with KL(pi || pi_base) = E_{x~mu, y~pi}[log(pi / pi_base)].

    The convention 0 log 0 = 0 is written out: responses with pi(y|x) = 0 contribute nothing.
    The value is -inf when pi puts mass where pi_base has none (infinite KL).

    Args:
      logp_pi: ``[..., X, Y]`` normalized log-probabilities of pi.
      logp_base: ``[..., X, Y]`` normalized log-probabilities of pi_base (leading axes broadcast).
      mu: ``[X]`` prompt distribution.
      beta: KL weight, a scalar > 0; may be traced (checked at run time).
      reward: ``[..., X, Y]`` reward broadcastable to ``logp_base``, finite where pi_base > 0;
        ``None`` for r = log pi_base.

    Returns:
      ``[...]`` J_beta(pi).
    """
    logp_pi = check_logp(logp_pi, "logp_pi", min_ndim=2)
    logp_base = check_logp(logp_base, "logp_base", min_ndim=2)
    check_same_shape(logp_pi, logp_base, "logp_pi", "logp_base", trailing=2)
    mu = check_mu(mu, logp_base.shape[-2], "mu")
    check_scalar(beta, "beta")
    beta = check_positive(beta, "beta")
    return _kl_regularized_objective(logp_pi, logp_base, mu, beta, _reward(reward, logp_base))


@jax.jit
def _kl_regularized_objective(logp_pi, logp_base, mu, beta, r) -> jax.Array:
    beta = as_param(beta, logp_base)
    base_zero = logp_base == -jnp.inf
    safe_base = jnp.where(base_zero, 0.0, logp_base)
    safe_r = jnp.where(base_zero, 0.0, r)
    value = jnp.where(base_zero, -jnp.inf, safe_r - beta * (logp_pi - safe_base))
    per_prompt = jnp.sum(xlogy_exp(logp_pi, value), axis=-1)
    return expect_over_prompts(mu, per_prompt)
