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
    logp_base = check_logp(logp_base, "logp_base")
    check_scalar(beta, "beta")
    beta = check_positive(beta, "beta")
    return _kl_tilt(logp_base, beta, _reward(reward, logp_base))


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
