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

For :func:`simulators.sweep` (settings x seeds x budgets, one compiled call):

* :class:`LinearXPOConfig` / :func:`run_linear_xpo`: XPO for ``T`` rounds, its output scored
  exactly (sharpening error, mass on the argmax, ``J_beta``);
* :class:`LinearDPOConfig` / :func:`run_linear_dpo`: the squared loss (Eq. 8, Theorem 4.2) on the
  first ``n_used`` of ``n`` pairs, scored exactly.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

import theory

from .._algorithms import dpo_sharpening, xpo_sharpening
from .._api import to_table
from .._classes import LinearSoftmaxClass
from .._evaluation import sharpening_metrics
from .._linear_softmax import LinearSoftmaxPolicy
from .._oracle import SampleEvaluateOracle
from .tabular import _static


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


# ----------------------------------------------------------------------------------------------
# Sweepable configs


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class LinearXPOConfig:
    """XPO (Algorithm 1) on a linear-softmax instance ``pi_base = pi_{theta*}`` with uniform
    ``pi_zero`` (for :func:`simulators.sweep`).

    Attributes:
      features: ``[X, Y, d]``; theta_star: ``[d]``; mu: ``[X]``; beta: the KL weight; alpha: the
      optimism weight (0: on-policy, no exploration); radius: ``B`` of ``Pi_{phi,B}``; delta: the
      sharpening error's delta; T: static, rounds (``2 T`` queries); steps: static, the class's
      projected-Adam steps per fit; selection: static, XPO's output rule (``"last"`` or
      ``"exact"``; see :func:`simulators.xpo_sharpening`).
    """

    features: jax.Array
    theta_star: jax.Array
    mu: jax.Array
    beta: jax.Array
    alpha: jax.Array
    radius: jax.Array
    delta: jax.Array
    T: int = _static(default=1)
    steps: int = _static(default=100)
    selection: str = _static(default="last")


def _linear_setup(config) -> tuple[SampleEvaluateOracle, LinearSoftmaxClass, jax.Array]:
    policy = LinearSoftmaxPolicy.create(config.features, config.theta_star)  # uniform pi_zero
    oracle = SampleEvaluateOracle(policy, config.mu)
    model_class = LinearSoftmaxClass(config.features, config.radius, steps=config.steps)
    return oracle, model_class, to_table(policy)


def run_linear_xpo(key: jax.Array, config: LinearXPOConfig) -> dict[str, jax.Array]:
    """One XPO run (Theorems 4.3, J.2, J.3) through the (generalized) oracle, its output scored
    exactly: ``sharpening_error``, ``mass_on_argmax`` (Def. 3.1), ``J`` (``J_beta`` of Eq. 3)
    and ``queries``."""
    oracle, model_class, logp_base = _linear_setup(config)
    res = xpo_sharpening(
        key,
        oracle,
        model_class,
        config.T,
        config.beta,
        config.alpha,
        selection=config.selection,
        realizability="skip",
    )
    metrics = sharpening_metrics(res.policy, logp_base, config.mu, config.delta)
    table = model_class.table(res.policy.theta)
    J = theory.kl_regularized_objective(table, logp_base, config.mu, config.beta)
    return metrics | {"J": J, "queries": res.queries}


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class LinearDPOConfig:
    """The squared loss of Eq. 8 (DPO-style RLHF-Sharpening, Theorem 4.2) on a linear-softmax
    instance (for :func:`simulators.sweep`).

    Attributes:
      features, theta_star, mu, beta, radius, delta, steps: as in :class:`LinearXPOConfig`;
      n: static, pairs drawn; n_used: int leaf, pairs used (a budget: one draw serves all).
    """

    features: jax.Array
    theta_star: jax.Array
    mu: jax.Array
    beta: jax.Array
    radius: jax.Array
    delta: jax.Array
    n: int = _static(default=1)
    steps: int = _static(default=100)
    n_used: object = None


def run_linear_dpo(key: jax.Array, config: LinearDPOConfig) -> dict[str, jax.Array]:
    """One squared-loss run through the oracle, scored exactly: ``sharpening_error``,
    ``mass_on_argmax`` and ``queries`` (``2 n_used``)."""
    oracle, model_class, logp_base = _linear_setup(config)
    res = dpo_sharpening(
        key,
        oracle,
        model_class,
        config.n,
        config.beta,
        n_used=config.n_used,
        realizability="skip",
    )
    metrics = sharpening_metrics(res.policy, logp_base, config.mu, config.delta)
    return metrics | {"queries": res.queries}
