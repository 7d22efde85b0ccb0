"""Sharpening error and the (eps, delta, gamma)-sharpened predicate (Def. 3.1, Def. F.1)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._argmax import _argmax_mask
from ._logmath import LOG_HALF, as_param, expect_over_prompts, log_mass_in_set, tie_tolerance
from ._validation import (
    check_gamma,
    check_log_mass,
    check_logp,
    check_mu,
    check_open_unit,
    check_same_shape,
    check_scalar,
)


@jax.jit
def _sharpening_error(logp_hat, logp_base, mu, delta, gamma) -> jax.Array:
    mask = _argmax_mask(logp_base, gamma)
    shape = jnp.broadcast_shapes(logp_hat.shape, mask.shape)
    log_in, log_out = log_mass_in_set(
        jnp.broadcast_to(logp_hat, shape), jnp.broadcast_to(mask, shape)
    )
    return _error_from_log_mass(log_in, log_out, mu, delta)


def _error_from_log_mass(log_in, log_out, mu, delta) -> jax.Array:
    """Def. 3.1 from the per-prompt log-masses on the set and off it (``[..., X]`` each)."""
    delta = as_param(delta, log_in)
    # pi_hat(y*) < 1 - delta  <=>  pi_hat(outside y*) > delta. For small delta the second form is
    # the precise one (delta = 1e-20 is representable, 1 - 1e-20 is not). A mass equal to 1 - delta
    # meets it (Def. 3.1 is strict), but a mass formed from rounded log-probabilities, such as a
    # count MLE's 3/4 = log(3/4) summed in log space, lands a few ulps to either side of an exact
    # tie: within TIE_ULPS relative it counts as the tie it stands for.
    tie = tie_tolerance(log_in.dtype)
    fails = jnp.where(
        jnp.log(delta) < LOG_HALF,
        log_out > jnp.log(delta) + tie,
        log_in < jnp.log1p(-delta) - tie,
    )
    return expect_over_prompts(mu, fails.astype(log_in.dtype))


def sharpening_error_from_log_mass(log_in: Any, log_out: Any, mu: Any, delta: Any) -> jax.Array:
    """Sharpening error (Def. 3.1) from per-prompt log-masses on the argmax set and off it.

    For learned policies that are not stored as tables (a count MLE kept as its examples, a
    policy whose mass on ``y*(x)`` is computed another way), the error depends on ``pi_hat``
    only through ``log pi_hat(y*(x)|x)`` and ``log pi_hat(outside y*(x)|x)``; both are passed so
    that tiny ``delta`` and masses near 1 stay exact. The rule is :func:`sharpening_error`'s
    (the same tie tolerance).

    Args:
      log_in: ``[..., X]`` ``log pi_hat(y*_gamma(x)|x)``.
      log_out: ``[..., X]`` ``log pi_hat(outside y*_gamma(x) | x)``.
      mu: ``[X]`` prompt distribution.
      delta: scalar in (0, 1); may be traced (checked at run time).

    Returns:
      ``[...]`` probability over x ~ mu that pi_hat puts less than 1 - delta on the set.
    """
    log_in = check_log_mass(log_in, "log_in")
    log_out = check_log_mass(log_out, "log_out")
    check_same_shape(log_in, log_out, "log_in", "log_out", trailing=1)
    mu = check_mu(mu, log_in.shape[-1], "mu")
    check_scalar(delta, "delta")
    delta = check_open_unit(delta, "delta")
    return _error_from_log_mass(log_in, log_out, mu, delta)


def _validate(logp_hat, logp_base, mu, delta, gamma):
    logp_hat = check_logp(logp_hat, "logp_hat", min_ndim=2)
    logp_base = check_logp(logp_base, "logp_base", min_ndim=2)
    check_same_shape(logp_hat, logp_base, "logp_hat", "logp_base", trailing=2)
    mu = check_mu(mu, logp_base.shape[-2], "mu")
    check_scalar(delta, "delta")
    delta = check_open_unit(delta, "delta")
    check_scalar(gamma, "gamma")
    gamma = check_gamma(gamma, "gamma")
    return logp_hat, logp_base, mu, delta, gamma


def sharpening_error(
    logp_hat: Any, logp_base: Any, mu: Any, delta: Any, gamma: Any = 0.0
) -> jax.Array:
    """Sharpening error P_{x~mu}[pi_hat(y*_gamma(x)|x) < 1 - delta] (Def. 3.1, Def. F.1).

    y*_gamma(x) is the approximate argmax set of ``pi_base`` (App. F.1; gamma = 0 is the argmax
    set y*(x) of Sec. 1.3, ties included). ``pi_hat`` is (eps, delta, gamma)-sharpened iff this
    is <= eps. The comparison is made in log space: against log1p(-delta) on the mass of the set,
    or, for delta < 1/2, as "mass outside the set > delta", which stays exact for tiny delta.
    A mass within 32 ulps (relative) of 1 - delta counts as equal to it, hence as sharpened:
    masses summed from rounded log-probabilities (a count MLE's exact 3/4 at delta = 1/4) would
    otherwise fall to either side of the tie by rounding.

    Args:
      logp_hat: ``[..., X, Y]`` normalized log-probabilities of the learned policy pi_hat.
      logp_base: ``[..., X, Y]`` normalized log-probabilities of pi_base (leading axes broadcast).
      mu: ``[X]`` prompt distribution.
      delta: scalar in (0, 1); may be traced (checked at run time).
      gamma: scalar in [0, 1); may be traced (checked at run time).

    Returns:
      ``[...]`` probability over x ~ mu that pi_hat puts less than 1 - delta on y*_gamma(x).
    """
    logp_hat, logp_base, mu, delta, gamma = _validate(logp_hat, logp_base, mu, delta, gamma)
    return _sharpening_error(logp_hat, logp_base, mu, delta, gamma)


def is_sharpened(
    logp_hat: Any, logp_base: Any, mu: Any, eps: Any, delta: Any, gamma: Any = 0.0
) -> jax.Array:
    """Whether pi_hat is (eps, delta, gamma)-sharpened relative to pi_base (Def. 3.1, Def. F.1).

    That is, P_{x~mu}[pi_hat(y*_gamma(x)|x) >= 1 - delta] >= 1 - eps, equivalently
    :func:`sharpening_error` <= eps.

    Args:
      logp_hat: ``[..., X, Y]`` normalized log-probabilities of pi_hat.
      logp_base: ``[..., X, Y]`` normalized log-probabilities of pi_base.
      mu: ``[X]`` prompt distribution.
      eps: scalar in (0, 1); may be traced (checked at run time).
      delta: scalar in (0, 1); may be traced (checked at run time).
      gamma: scalar in [0, 1); may be traced (checked at run time).

    Returns:
      ``[...]`` booleans.
    """
    logp_hat, logp_base, mu, delta, gamma = _validate(logp_hat, logp_base, mu, delta, gamma)
    check_scalar(eps, "eps")
    eps = check_open_unit(eps, "eps")
    err = _sharpening_error(logp_hat, logp_base, mu, delta, gamma)
    return error_at_most(err, as_param(eps, err))


def error_at_most(err: Any, eps: Any) -> Any:
    """``err <= eps`` for sharpening errors (Def. 3.1's ``>= 1 - eps`` includes equality).

    An error equal to eps meets the definition; summed prompt weights land a few ulps to either
    side of it (3 of 10 uniform prompts give 0.30000000000000004), so an error within the tie
    tolerance of eps counts as equal. Works on numpy and jax arrays alike.
    """
    dtype = getattr(err, "dtype", np.float64)
    return err <= eps * (1 + tie_tolerance(dtype))
