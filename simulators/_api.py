"""The policy interface: free functions dispatched on the policy's type (DESIGN.md item 1).

Policies are immutable pytrees; behaviour lives in these generic functions, and each policy module
registers its implementation with ``@sample.register(MyPolicy)`` and so on. Dispatch happens in
Python on the pytree's class, so it is transparent to ``jax.jit`` and ``jax.vmap``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax

import theory


def _unsupported(fn_name: str, policy: Any):
    raise TypeError(f"{fn_name} is not implemented for policies of type {type(policy).__name__}")


def _dispatch_on_policy(fn):
    """``functools.singledispatch`` on the second positional argument (the policy).

    ``sample`` takes the PRNG key first (house rule), and plain ``singledispatch`` would dispatch on
    the key's type.
    """
    dispatcher = functools.singledispatch(fn)

    @functools.wraps(fn)
    def wrapper(key, policy, *args, **kwargs):
        return dispatcher.dispatch(type(policy))(key, policy, *args, **kwargs)

    wrapper.register = dispatcher.register
    wrapper.dispatch = dispatcher.dispatch
    wrapper.registry = dispatcher.registry
    return wrapper


@_dispatch_on_policy
def sample(key: jax.Array, policy: Any, x: jax.Array, n: int):
    """Draws ``n`` responses per prompt from ``policy`` at temperature 1.

    Args:
      key: a PRNG key (first positional argument, as in every random function of the toolkit).
      policy: a policy pytree.
      x: ``[P]`` int prompt ids.
      n: static int, responses per prompt (``N``).

    Returns:
      :class:`~simulators.Rollouts` with ``logp_base`` the policy's own log-likelihoods.
    """
    _unsupported("sample", policy)


@functools.singledispatch
def log_prob(policy: Any, x: jax.Array, y: jax.Array) -> jax.Array:
    """``log pi(y | x)``, broadcasting over leading axes of ``x`` and ``y``.

    For tabular policies ``y`` is an int response index; for autoregressive ones it is a
    ``[..., T]`` token array in the policy's response encoding.
    """
    _unsupported("log_prob", policy)


@functools.singledispatch
def to_table(policy: Any, *, max_entries: int | None = None) -> jax.Array:
    """Exact enumeration into an ``[X, Y]`` log-probability table (refused when too large)."""
    _unsupported("to_table", policy)


@functools.singledispatch
def greedy(policy: Any, x: jax.Array) -> jax.Array:
    """Token-wise greedy decoding (Proposition 3.1's ``y_hat``) for prompts ``x[P]``."""
    _unsupported("greedy", policy)


@functools.singledispatch
def sequence_argmax(policy: Any, x: jax.Array) -> jax.Array:
    """The exact sequence-level argmax ``y*(x)`` for prompts ``x[P]`` (ties: lowest index)."""
    _unsupported("sequence_argmax", policy)


@functools.singledispatch
def log_mass_in_set(policy: Any, in_set: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(log pi(S(x)|x), log pi(outside S(x)|x))``, each ``[X]``, for sets ``in_set [X, Y]``.

    What exact evaluation of a learned policy needs (Def. 3.1 takes ``S(x) = y*(x)``). The
    default enumerates the policy's table (:func:`to_table`, then :func:`theory.log_mass_in_set`);
    policies that store less than a table register their own (a count MLE kept as its examples
    reads ``n`` entries of ``in_set``, not ``X Y``).
    """
    return theory.log_mass_in_set(to_table(policy), in_set)
