"""The (approximate) argmax set y*_gamma(x) and a policy's mass on it (Sec. 1.3, App. F.1)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ._logmath import as_param, tie_tolerance
from ._logmath import log_mass_in_set as _log_mass_in_set_core
from ._validation import check_gamma, check_logp, check_same_shape, check_scalar


@jax.jit
def _argmax_mask(logp: jax.Array, gamma: Any) -> jax.Array:
    """Unvalidated core of :func:`argmax_set`."""
    top = jnp.max(logp, axis=-1, keepdims=True)
    threshold = jnp.log1p(-as_param(gamma, logp))
    # log pi(y) - log max pi >= log(1 - gamma), ties with the threshold included (y* is a set,
    # Sec. 1.3; App. F.1's inequality is not strict). A response exactly on the threshold, such
    # as pi = [0.3, 0.6] at gamma = 1/2, has rounded logarithms a few ulps of their magnitude to
    # either side of it: within the tie tolerance it is in the set.
    slack = tie_tolerance(logp.dtype) * (1.0 + jnp.abs(top) - threshold)
    return logp - top >= threshold - slack  # -inf (zero mass) is never in the set


def argmax_set(logp: Any, gamma: Any = 0.0) -> jax.Array:
    """Boolean mask of the approximate argmax set y*_gamma(x) (App. F.1).

    y*_gamma(x) = {y : pi(y|x) >= (1 - gamma) max_{y'} pi(y'|x)}; gamma = 0 gives the argmax set
    y*(x) of Sec. 1.3 with exact ties included. The comparison is made in log space,
    log pi(y) - max log pi >= log1p(-gamma), so it is exact for masses far below 1e-300; a
    response within 32 ulps (relative to the log-probabilities' magnitude) of the threshold counts
    as on it, so rounding does not decide membership of a response that lies exactly on it.

    Args:
      logp: ``[..., Y]`` normalized log-probabilities (``-inf`` for zero mass).
      gamma: slack in [0, 1); a scalar, may be traced (checked at run time).

    Returns:
      ``[..., Y]`` boolean mask; zero-mass responses are never in the set.
    """
    logp = check_logp(logp, "logp")
    check_scalar(gamma, "gamma")
    gamma = check_gamma(gamma, "gamma")
    return _argmax_mask(logp, gamma)


@jax.jit
def _log_mass_on_argmax(logp_pi: jax.Array, logp_ref: jax.Array, gamma: Any) -> jax.Array:
    """Unvalidated core of :func:`log_mass_on_argmax`."""
    mask = _argmax_mask(logp_ref, gamma)
    shape = jnp.broadcast_shapes(logp_pi.shape, mask.shape)
    log_in, _ = _log_mass_in_set_core(
        jnp.broadcast_to(logp_pi, shape), jnp.broadcast_to(mask, shape)
    )
    return log_in


def log_mass_on_argmax(logp_pi: Any, logp_ref: Any = None, gamma: Any = 0.0) -> jax.Array:
    """``log pi(y*_gamma(x) | x)``, the log-mass that ``pi`` puts on the reference's argmax set.

    The building block of the coverage coefficient (Eq. 6, App. H; the set is taken under ``pi``
    itself) and of the sharpening error (Def. 3.1 / F.1; the set is taken under ``pi_base``).
    When the mass is close to one it is computed as ``log(1 - mass of the complement)``, so a
    policy with ``pi(y*) = 1 - 1e-20`` gets ``-1e-20``, not ``0``.

    Args:
      logp_pi: ``[..., Y]`` normalized log-probabilities of the policy whose mass is measured.
      logp_ref: ``[..., Y]`` normalized log-probabilities that define y*_gamma; ``None`` means
        ``logp_pi`` itself. Leading axes broadcast against ``logp_pi``'s.
      gamma: slack in [0, 1) of the approximate argmax (App. F.1); scalar, may be traced
        (checked at run time).

    Returns:
      ``[...]`` log-masses (``[..., X]`` for ``[..., X, Y]`` tables); ``-inf`` when ``pi`` puts no
      mass on the set.
    """
    logp_pi = check_logp(logp_pi, "logp_pi")
    if logp_ref is None:
        logp_ref = logp_pi
    else:
        logp_ref = check_logp(logp_ref, "logp_ref")
        check_same_shape(logp_pi, logp_ref, "logp_pi", "logp_ref", trailing=1)
    check_scalar(gamma, "gamma")
    gamma = check_gamma(gamma, "gamma")
    return _log_mass_on_argmax(logp_pi, logp_ref, gamma)


def log_mass_in_set(logp_pi: Any, in_set: Any) -> tuple[jax.Array, jax.Array]:
    """``(log pi(S(x)|x), log pi(outside S(x)|x))`` for response sets given as a boolean mask.

    The smaller of the two masses is summed directly and the larger one is ``log(1 - smaller)``,
    so both keep relative precision (a mass of ``1 - 1e-20`` is ``-1e-20``, its complement
    ``log 1e-20``). With ``in_set = argmax_set(logp_base, gamma)`` these are the two masses that
    :func:`sharpening_error_from_log_mass` takes.

    Args:
      logp_pi: ``[..., Y]`` normalized log-probabilities.
      in_set: ``[..., Y]`` boolean mask of the set (leading axes broadcast against ``logp_pi``).

    Returns:
      ``(log_in, log_out)``, each ``[...]``.
    """
    logp_pi = check_logp(logp_pi, "logp_pi")
    in_set = jnp.asarray(in_set)
    if in_set.dtype != jnp.bool_:
        raise TypeError(f"in_set must be a boolean mask, got dtype {in_set.dtype}")
    check_same_shape(logp_pi, in_set, "logp_pi", "in_set", trailing=1)
    shape = jnp.broadcast_shapes(logp_pi.shape, in_set.shape)
    return _log_mass_in_set(jnp.broadcast_to(logp_pi, shape), jnp.broadcast_to(in_set, shape))


_log_mass_in_set = jax.jit(_log_mass_in_set_core)


def margin(logp_base: Any, gamma: Any = 0.0) -> jax.Array:
    """Per-prompt margin gamma_margin(x) of Assumption 4.2.

    gamma_margin(x) = max_y pi(y|x) / max_{y not in y*_gamma(x)} pi(y|x) - 1, the largest value for
    which max_y pi(y|x) >= (1 + gamma_margin) pi(y'|x) holds for every y' outside the argmax set
    (gamma = 0 is Assumption 4.2; gamma > 0 excludes the whole approximate argmax set, as in
    Assumption J.2 but with the maximum rather than the set's mass in the numerator).

    Args:
      logp_base: ``[..., Y]`` normalized log-probabilities.
      gamma: slack in [0, 1) defining y*_gamma; scalar, may be traced (checked at run time).

    Returns:
      ``[...]`` margins in (0, inf]; ``inf`` when every response with positive mass is in y*_gamma.
    """
    logp_base = check_logp(logp_base, "logp_base")
    check_scalar(gamma, "gamma")
    gamma = check_gamma(gamma, "gamma")
    return _margin(logp_base, gamma)


@jax.jit
def _margin(logp_base: jax.Array, gamma: Any) -> jax.Array:
    mask = _argmax_mask(logp_base, gamma)
    top = jnp.max(logp_base, axis=-1)
    runner_up = jnp.max(jnp.where(mask, -jnp.inf, logp_base), axis=-1)
    gap = jnp.where(
        runner_up == -jnp.inf, jnp.inf, top - jnp.where(runner_up == -jnp.inf, 0.0, runner_up)
    )
    return jnp.expm1(gap)
