"""A Walker/Vose alias sampler in JAX, used by the sampling benchmark as a reference point.

Inverse-CDF sampling (``simulators.sample_indices``) pays a ``log2(Y)``-step binary search per
draw; the alias method pays one table look-up and one comparison per draw after an ``O(Y)`` set-up.
It is measured here to show how much of the toolkit's sampling time is the search rather than the
random numbers. It is exact up to floating-point rounding of the table, like inverse CDF.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def alias_table(logp: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Builds the alias table of the distribution ``exp(logp)`` over ``[Y]``.

    Items are sorted by mass; light items are filled from the left, the current heavy item from
    the right, and a heavy item that has given away enough mass closes its own bucket with the next
    heavy one (Vose's two-stack algorithm with the stacks laid out in sorted order).

    Returns:
      ``(threshold[Y], own[Y], alias[Y])``: a draw picks bucket ``k`` uniformly and returns
      ``own[k]`` when a second uniform is below ``threshold[k]``, else ``alias[k]``.
    """
    Y = logp.shape[-1]
    p = jnp.exp(logp - jnp.max(logp))
    w = p * (Y / jnp.sum(p))
    order = jnp.argsort(w)
    ws = w[order]

    def step(_, state):
        # Each step closes exactly one bucket, so Y - 1 steps leave one open bucket (i == j).
        i, j, wj, q, al = state
        heavy_spent = wj < 1.0
        # Heavy item j has given away enough to be light: close bucket j, topped up by j - 1
        # (mass conservation makes j - 1 heavy). Otherwise fill light bucket i from j.
        k = jnp.where(heavy_spent, j, i)
        q = q.at[k].set(jnp.where(heavy_spent, wj, jnp.minimum(ws[i], 1.0)))
        al = al.at[k].set(jnp.where(heavy_spent, j - 1, j))
        new_wj = jnp.where(heavy_spent, ws[j - 1] - (1.0 - wj), wj - (1.0 - ws[i]))
        return (
            jnp.where(heavy_spent, i, i + 1),
            jnp.where(heavy_spent, j - 1, j),
            new_wj,
            q,
            al,
        )

    q0 = jnp.ones((Y,), ws.dtype)  # buckets never closed keep threshold 1 (rounding leftovers)
    al0 = jnp.arange(Y)
    state = (jnp.asarray(0), jnp.asarray(Y - 1), ws[Y - 1], q0, al0)
    i, j, wj, q, al = jax.lax.fori_loop(0, Y - 1, step, state)
    q = q.at[j].set(1.0)
    return q, order, order[al]


def alias_sample(key: jax.Array, table, n: int) -> jax.Array:
    """``n`` draws from an alias table: one uniform gives the bucket and the coin (Walker 1977)."""
    q, own, alias = table
    Y = q.shape[0]
    u = jax.random.uniform(key, (n,), dtype=q.dtype) * Y
    k = jnp.minimum(jnp.floor(u).astype(jnp.int32), Y - 1)
    return jnp.where(u - k < q[k], own[k], alias[k])
