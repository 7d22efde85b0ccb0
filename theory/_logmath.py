"""Log-space helpers shared by the ``theory`` modules (private).

The paper's quantities involve masses as small as ``1e-300`` (and, for autoregressive
policies, far smaller), masses within ``1e-16`` of one, and powers ``S**n`` for large ``n``.
These helpers keep every step in log space and take the numerically stable branch of each
identity.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

LOG_HALF = -math.log(2.0)

# Relative tolerance, in ulps, within which a quantity formed from rounded log-probabilities
# counts as equal to a threshold of the paper's definitions (1 - delta in Def. 3.1, the
# (1 - gamma) max pi of App. F.1, eps, 1 - rho): a value exactly on the threshold, such as a
# count MLE's 3/4 summed in log space, lands a few ulps to either side of it, and rounding must
# not decide the side.
TIE_ULPS = 32


def tie_tolerance(dtype: Any) -> float:
    """``TIE_ULPS`` ulps of ``dtype``: the relative tolerance of a tie with a threshold."""
    return TIE_ULPS * float(jnp.finfo(dtype).eps)


def log1mexp(z: jax.Array) -> jax.Array:
    """``log(1 - exp(z))`` for ``z <= 0``, accurate on the whole range (``-inf`` at ``z = 0``).

    Uses ``log(-expm1(z))`` near zero and ``log1p(-exp(z))`` below ``-log 2`` (Maechler 2012).
    """
    z = jnp.minimum(z, 0.0)
    # Guard both branches so neither produces NaN values or gradients that `where` would leak.
    near = jnp.where(z > LOG_HALF, z, LOG_HALF)
    far = jnp.where(z > LOG_HALF, LOG_HALF, z)
    return jnp.where(z > LOG_HALF, jnp.log(-jnp.expm1(near)), jnp.log1p(-jnp.exp(far)))


def log_normalize(logits: jax.Array) -> jax.Array:
    """``logits - logsumexp(logits)`` along the last axis, precise where the result is near 0.

    The normalizer is taken as ``max + log1p(sum of exp(logit - max) off one argmax)``, so a
    response holding mass ``1 - 1e-12`` gets ``-1e-12`` to full relative precision (``log`` of the
    sum leaves an absolute error of an ulp of 1 there). ``-inf`` logits stay ``-inf``.
    """
    top = jnp.max(logits, axis=-1, keepdims=True)
    first = jnp.arange(logits.shape[-1]) == jnp.argmax(logits, axis=-1)[..., None]
    rest = jnp.sum(jnp.where(first, 0.0, jnp.exp(logits - top)), axis=-1, keepdims=True)
    return logits - top - jnp.log1p(rest)


def masked_logsumexp(logp: jax.Array, mask: jax.Array, axis: int = -1) -> jax.Array:
    """``log sum_{mask} exp(logp)`` along ``axis``; ``-inf`` for an empty selection."""
    return jax.nn.logsumexp(jnp.where(mask, logp, -jnp.inf), axis=axis)


def log_mass_in_set(logp: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Log-mass of a set and of its complement, for normalized rows ``logp[..., Y]``.

    The smaller of the two masses is summed directly (relative precision); the larger one is
    obtained as ``log(1 - smaller)``, which is exact to a few ulps even when it is ``1 - 1e-17``,
    where a direct sum would round to one.

    Returns:
      ``(log_in, log_out)``, each ``[...]``.
    """
    log_in = masked_logsumexp(logp, mask)
    log_out = masked_logsumexp(logp, ~mask)
    log_in_precise = jnp.where(log_out < LOG_HALF, log1mexp(log_out), log_in)
    log_out_precise = jnp.where(log_in < LOG_HALF, log1mexp(log_in), log_out)
    return log_in_precise, log_out_precise


def xlogy_exp(logp: jax.Array, value: jax.Array) -> jax.Array:
    """``p * value`` with ``p = exp(logp)`` and the convention ``0 * anything = 0``.

    This writes out ``0 log 0 = 0``: entries with zero mass contribute nothing even where
    ``value`` is infinite or NaN.
    """
    zero = logp == -jnp.inf
    safe_value = jnp.where(zero, 0.0, value)
    return jnp.where(zero, 0.0, jnp.exp(logp) * safe_value)


def expect_over_prompts(mu: jax.Array, values: jax.Array) -> jax.Array:
    """``E_{x ~ mu}[values[..., x]]`` where prompts with ``mu(x) = 0`` are ignored (even if inf)."""
    mu = jnp.asarray(mu, dtype=values.dtype)
    terms = jnp.where(mu > 0, mu * jnp.where(mu > 0, values, 0.0), 0.0)
    return jnp.sum(terms, axis=-1)


def log_expect_over_prompts(mu: jax.Array, log_values: jax.Array) -> jax.Array:
    """``log E_{x ~ mu}[exp(log_values[..., x])]``; prompts with ``mu(x) = 0`` are ignored."""
    mu = jnp.asarray(mu, dtype=log_values.dtype)
    positive = mu > 0
    log_mu = jnp.log(jnp.where(positive, mu, 1.0))
    terms = jnp.where(positive, log_mu + jnp.where(positive, log_values, 0.0), -jnp.inf)
    return jax.nn.logsumexp(terms, axis=-1)


def as_param(value, like: jax.Array) -> jax.Array:
    """A scalar parameter as an array of ``like``'s floating dtype (float32 tables stay float32)."""
    return jnp.asarray(value, dtype=like.dtype)
