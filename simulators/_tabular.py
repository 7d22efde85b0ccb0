"""Tabular policies: an explicit ``[X, Y]`` table of log-probabilities (THEORY.md section 1.1).

The response of a tabular policy is a single index ``y in [Y]``; as Rollouts it is a length-1 token
sequence. Sampling is by inverse CDF (``searchsorted`` on cumulative masses), so drawing ``n``
responses costs O(n log Y) time and O(n + Y) memory, never the ``n x Y`` Gumbel noise of
``jax.random.categorical`` (DESIGN.md pitfalls).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from theory._validation import check_count, check_logp

from ._api import greedy, log_prob, sample, sequence_argmax, to_table
from ._rollouts import Rollouts


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TabularPolicy:
    """pi(y | x) given by a normalized ``[X, Y]`` log-probability table.

    Attributes:
      logp: ``[X, Y]`` log-probabilities, rows normalized, ``-inf`` for zero mass.
    """

    logp: jax.Array

    @classmethod
    def from_logits(cls, logits) -> TabularPolicy:
        """Normalizes arbitrary ``[X, Y]`` logits (``-inf`` allowed) into a policy."""
        logits = jnp.asarray(logits)
        return cls(logits - jax.scipy.special.logsumexp(logits, axis=-1, keepdims=True))

    @classmethod
    def from_table(cls, logp) -> TabularPolicy:
        """Builds a policy from an already normalized table, validating it."""
        return cls(check_logp(logp, "logp", min_ndim=2))

    @property
    def num_prompts(self) -> int:
        return self.logp.shape[0]

    @property
    def num_responses(self) -> int:
        return self.logp.shape[1]


def sample_indices(key: jax.Array, logp: jax.Array, n: int) -> jax.Array:
    """Draws ``n`` i.i.d. indices from one distribution given as log-probabilities ``[Y]``.

    Inverse-CDF sampling: the CDF is formed after subtracting the max log-probability, so masses far
    below float range relative to the mode are handled exactly (they are simply never drawn).
    """
    p = jnp.exp(logp - jnp.max(logp))
    cdf = jnp.cumsum(p)
    u = jax.random.uniform(key, (n,), dtype=cdf.dtype) * cdf[-1]
    idx = jnp.searchsorted(cdf, u, side="right", method="sort")
    return jnp.minimum(idx, logp.shape[-1] - 1)


@sample.register(TabularPolicy)
def _sample_tabular(key: jax.Array, policy: TabularPolicy, x: jax.Array, n: int) -> Rollouts:
    n = check_count(n, "n")
    x = jnp.asarray(x)
    keys = jax.random.split(key, x.shape[0])
    rows = policy.logp[x]
    y = jax.vmap(sample_indices, in_axes=(0, 0, None))(keys, rows, n)  # [P, N]
    logp_base = jnp.take_along_axis(rows, y, axis=1)
    return Rollouts(
        prompts=x,
        tokens=y[..., None],
        lengths=jnp.ones_like(y),
        logp_base=logp_base,
        token_logp=logp_base[..., None],
    )


@log_prob.register(TabularPolicy)
def _log_prob_tabular(policy: TabularPolicy, x, y) -> jax.Array:
    return policy.logp[jnp.asarray(x), jnp.asarray(y)]


@to_table.register(TabularPolicy)
def _to_table_tabular(policy: TabularPolicy, *, max_entries: int | None = None) -> jax.Array:
    return policy.logp


@greedy.register(TabularPolicy)
def _greedy_tabular(policy: TabularPolicy, x) -> jax.Array:
    return jnp.argmax(policy.logp[jnp.asarray(x)], axis=-1)


@sequence_argmax.register(TabularPolicy)
def _sequence_argmax_tabular(policy: TabularPolicy, x) -> jax.Array:
    return jnp.argmax(policy.logp[jnp.asarray(x)], axis=-1)
