"""Coverage coefficients: C_cov (Eq. 6), its gamma / p-th moment versions (App. H) and the
adaptive coverage of App. D, with log-space variants that stay finite when the coefficient
overflows float64."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ._argmax import _log_mass_on_argmax
from ._logmath import as_param, log_expect_over_prompts
from ._validation import (
    check_at_least,
    check_gamma,
    check_log_mass,
    check_logp,
    check_mu,
    check_scalar,
)


def _check_p(p: Any) -> Any:
    check_scalar(p, "p")
    return check_at_least(p, "p", 1.0, allow_inf=True)


@jax.jit
def _log_coverage_from_log_mass(log_mass: jax.Array, mu: jax.Array, p: Any) -> jax.Array:
    p = as_param(p, log_mass)
    is_inf = jnp.isinf(p)
    p_safe = jnp.where(is_inf, 1.0, p)
    # (E_x[m(x)^-p])^(1/p) = exp((1/p) log E_x[exp(-p log m(x))]): the moment itself may overflow
    # (m = 1e-3, p = 200 gives 1e600) while its p-th root is moderate.
    moment = log_expect_over_prompts(mu, -p_safe * log_mass) / p_safe
    # p = inf: the essential supremum of 1/m over the support of mu.
    sup = jnp.max(jnp.where(jnp.asarray(mu) > 0, -log_mass, -jnp.inf), axis=-1)
    return jnp.where(is_inf, sup, moment)


def log_coverage_from_log_mass(log_mass: Any, mu: Any, p: Any = 1.0) -> jax.Array:
    """``log (E_{x~mu}[m(x)^-p])^(1/p)`` from per-prompt log-masses ``log m(x)`` on the argmax set.

    For policies too large to tabulate (autoregressive ones with ``Y = V^H``) the mass on the
    sequence-level argmax is computed another way (e.g. by dynamic programming) and can be far
    below float64's range (``log m = -11000``); this gives their log-coverage (Eq. 6, App. H).

    Args:
      log_mass: ``[..., X]`` log pi(y*_gamma(x)|x).
      mu: ``[X]`` prompt distribution.
      p: moment order, a scalar ``>= 1`` (``inf`` allowed: the sup over supp(mu)); may be
        traced (checked at run time).

    Returns:
      ``[...]`` log C_cov,gamma,p.
    """
    log_mass = check_log_mass(log_mass, "log_mass")
    mu = check_mu(mu, log_mass.shape[-1], "mu")
    p = _check_p(p)
    return _log_coverage_from_log_mass(log_mass, mu, p)


def coverage_from_log_mass(log_mass: Any, mu: Any, p: Any = 1.0) -> jax.Array:
    """``(E_{x~mu}[m(x)^-p])^(1/p)`` from per-prompt log-masses (see
    :func:`log_coverage_from_log_mass`); ``inf`` when it overflows float64."""
    return jnp.exp(log_coverage_from_log_mass(log_mass, mu, p))


def log_coverage(logp: Any, mu: Any, gamma: Any = 0.0, p: Any = 1.0) -> jax.Array:
    """Logarithm of the coverage coefficient C_cov,gamma,p (Eq. 6, App. H).

    Stays finite and exact when C_cov itself (or its p-th moment) overflows float64.

    Args:
      logp: ``[..., X, Y]`` normalized log-probabilities of pi (the argmax set is pi's own).
      mu: ``[X]`` prompt distribution.
      gamma: slack in [0, 1) of the approximate argmax set (App. F.1); scalar, may be traced
        (checked at run time).
      p: moment order ``>= 1`` (``inf`` allowed); scalar, may be traced (checked at run time).

    Returns:
      ``[...]`` log C_cov,gamma,p(pi) = (1/p) log E_{x~mu}[pi(y^pi_gamma(x)|x)^-p].
    """
    logp = check_logp(logp, "logp", min_ndim=2)
    mu = check_mu(mu, logp.shape[-2], "mu")
    check_scalar(gamma, "gamma")
    gamma = check_gamma(gamma, "gamma")
    p = _check_p(p)
    return _log_coverage(logp, mu, gamma, p)


@jax.jit
def _log_coverage(logp: jax.Array, mu: jax.Array, gamma: Any, p: Any) -> jax.Array:
    log_mass = _log_mass_on_argmax(logp, logp, gamma)
    return _log_coverage_from_log_mass(log_mass, mu, p)


def coverage(logp: Any, mu: Any, gamma: Any = 0.0, p: Any = 1.0) -> jax.Array:
    """Coverage coefficient C_cov,gamma,p = (E_{x~mu}[pi(y*_gamma(x)|x)^-p])^(1/p) (Eq. 6, App. H).

    With the defaults (gamma = 0, p = 1) this is Eq. 6, C_cov = E_x[1/pi_base(y*(x)|x)], where
    pi(y*(x)|x) is the total mass on the argmax set (ties included). For a policy pi other than
    pi_base, it is the per-model C_cov(pi) of Sec. 1.3 (the argmax set is pi's own).

    Args:
      logp: ``[..., X, Y]`` normalized log-probabilities.
      mu: ``[X]`` prompt distribution.
      gamma: slack in [0, 1); scalar, may be traced (checked at run time).
      p: moment order ``>= 1`` (``inf`` allowed); scalar, may be traced (checked at run time).

    Returns:
      ``[...]`` C_cov,gamma,p, computed as ``exp(log_coverage)`` so that large moments do not
      overflow; ``inf`` only when the coefficient itself exceeds float range.
    """
    return jnp.exp(log_coverage(logp, mu, gamma, p))


def log_adaptive_coverage(logp: Any, mu: Any) -> jax.Array:
    """Logarithm of the adaptive coverage coefficient E_{x~mu}[1 / max_y pi(y|x)] (App. D).

    Args:
      logp: ``[..., X, Y]`` normalized log-probabilities.
      mu: ``[X]`` prompt distribution.

    Returns:
      ``[...]`` log C-bar_cov.
    """
    logp = check_logp(logp, "logp", min_ndim=2)
    mu = check_mu(mu, logp.shape[-2], "mu")
    return _log_adaptive_coverage(logp, mu)


@jax.jit
def _log_adaptive_coverage(logp: jax.Array, mu: jax.Array) -> jax.Array:
    return log_expect_over_prompts(mu, -jnp.max(logp, axis=-1))


def adaptive_coverage(logp: Any, mu: Any) -> jax.Array:
    """Adaptive coverage coefficient C-bar_cov = E_{x~mu}[1 / max_y pi(y|x)] (App. D).

    It is >= C_cov, with equality when every argmax set is a singleton; it governs the expected
    sample complexity of adaptive SFT-Sharpening (Thm. D.1).

    Args:
      logp: ``[..., X, Y]`` normalized log-probabilities.
      mu: ``[X]`` prompt distribution.

    Returns:
      ``[...]`` C-bar_cov.
    """
    return jnp.exp(log_adaptive_coverage(logp, mu))
