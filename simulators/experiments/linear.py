"""Experiments on linear-softmax instances: XPO (Algorithm 1) and the offline squared loss (Eq. 8).

One home for the measurement that claim C9 (Example J.1, Theorems 4.3/J.2/J.3) and the separation
figure share: run the learner through the sample-and-evaluate oracle (XPO through its generalized
oracle) and evaluate what it learned exactly on the instance's table.

* :func:`xpo_iterates`: every XPO iterate ``pi^(t+1)``, ``t = 1..T`` (round ``t`` has used ``2t``
  queries), scored by its exact mass on the argmax of the target and its exact ``J_beta``;
* :func:`squared_loss_mass`: the squared-loss fit on the first ``n_used`` of ``n`` pairs, scored by
  its exact mass on the argmax.

Both are pure functions of one key, written for one run: vmap them over seeds and budgets at the
call site (one draw serves every ``n_used``, as the budget leaves of :func:`simulators.sweep` do).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

import theory

from .._algorithms import dpo_sharpening, xpo_sharpening


def xpo_iterates(
    key: jax.Array,
    oracle: Any,
    model_class: Any,
    T: int,
    beta: Any,
    alpha: Any,
    logp_target: jax.Array,
    mu: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """XPO's iterates ``pi^(2..T+1)`` scored exactly: ``(mass [T], J [T])``.

    ``mass[t]`` is ``pi^(t+2)(y*(x_0) | x_0)``, the mass on the first prompt's argmax of
    ``logp_target`` (``theory.log_mass_on_argmax``), and ``J[t]`` the KL-regularized objective
    ``J_beta`` of Eq. 3 against ``logp_target`` and ``mu`` (``theory.kl_regularized_objective``).
    """
    res = xpo_sharpening(
        key,
        oracle,
        model_class,
        T,
        beta,
        alpha,
        selection="last",
        realizability="skip",
        return_history=True,
    )
    tables = jax.vmap(model_class.table)(res.diagnostics["history"])
    mass = jnp.exp(theory.log_mass_on_argmax(tables, logp_target))[:, 0]
    J = jax.vmap(lambda lp: theory.kl_regularized_objective(lp, logp_target, mu, beta))(tables)
    return mass, J


def squared_loss_mass(
    key: jax.Array,
    oracle: Any,
    model_class: Any,
    n: int,
    beta: Any,
    n_used: Any,
    logp_target: jax.Array,
) -> jax.Array:
    """The squared-loss fit (Eq. 8) on the first ``n_used`` of ``n`` pairs: its exact mass
    ``pi_hat(y*(x_0) | x_0)`` on the first prompt's argmax of ``logp_target``."""
    res = dpo_sharpening(key, oracle, model_class, n, beta, n_used=n_used, realizability="skip")
    table = model_class.table(res.policy.theta)
    return jnp.exp(theory.log_mass_on_argmax(table, logp_target))[0]
