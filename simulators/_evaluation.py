"""Exact evaluation of a learned policy against ``pi_base`` (Def. 3.1), for any policy type.

The metrics of every sharpening experiment depend on the learned ``pi_hat`` only through its
per-prompt masses on the argmax set ``y*(x)`` of ``pi_base`` and off it. :func:`sharpening_metrics`
asks the policy for exactly those (:func:`simulators.log_mass_in_set`), so a policy that stores less
than a table answers from what it stores: the tabular count MLE (:class:`~simulators.CountPolicy`)
reads one mask entry per fitted example, and a sweep of it never forms ``[X, Y]`` tables.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

import theory

from ._api import log_mass_in_set


def sharpening_metrics(
    policy: Any, logp_base: Any, mu: Any, delta: Any, gamma: Any = 0.0
) -> dict[str, jax.Array]:
    """Exact sharpening error and mass on the argmax set of a learned policy (Def. 3.1, F.1).

    ``sharpening_error = P_{x~mu}[pi_hat(y*_gamma(x)|x) < 1 - delta]`` (the rule of
    :func:`theory.sharpening_error`, ties included) and ``mass_on_argmax = E_{x~mu}
    pi_hat(y*_gamma(x)|x)``, with the masses from :func:`simulators.log_mass_in_set`: for a
    :class:`~simulators.TabularPolicy` the same numbers as the theory functions on its table; for
    a :class:`~simulators.CountPolicy` computed from its counts (``O(n + X)`` after the set mask,
    which depends on ``pi_base`` only and is computed once per sweep).

    Args:
      policy: the learned policy (any policy type with ``log_mass_in_set`` or ``to_table``).
      logp_base: ``[X, Y]`` base table that defines ``y*_gamma(x)``.
      mu: ``[X]`` prompt distribution.
      delta: scalar in (0, 1).
      gamma: slack of the approximate argmax set in [0, 1) (App. F.1).

    Returns:
      ``{"sharpening_error": scalar, "mass_on_argmax": scalar}``.
    """
    in_set = theory.argmax_set(logp_base, gamma)
    log_in, log_out = log_mass_in_set(policy, in_set)
    mu = jnp.asarray(mu, log_in.dtype)
    return {
        "sharpening_error": theory.sharpening_error_from_log_mass(log_in, log_out, mu, delta),
        # A dot product: a sum of mu * values would, under vmap, write mu out broadcast.
        "mass_on_argmax": jnp.exp(log_in) @ mu,
    }
