"""A 40-line jitted SFT-Sharpening sweep, the prototype of benchmark 8 (issue 15's reference).

What a researcher fluent in JAX writes for one instance and one metric, in float32: ``vmap`` over
seeds, one ``n x N_max`` draw per seed reused by prefix for every budget, the best-of-N response
of every prefix from a running maximum of the log-likelihoods (``lax.cummax``), and the count MLE
by scatter-add. It is exact for the metric it computes and nothing else: with the log-likelihood
self-reward the best-of-N response lies in ``y*(x)`` iff the prefix maximum equals the row
maximum, so ties need no breaking; it has no oracle, no query accounting, no other reward or
model class, and no input checks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def make_sweep(logp_base: np.ndarray, mu: np.ndarray, n: int, budgets_N, delta: float):
    """``sweep(keys) -> [S, B]`` sharpening errors of the unsmoothed count MLE (float32)."""
    logp = jnp.asarray(logp_base, jnp.float32)
    X, Y = logp.shape
    cdf = jnp.cumsum(jnp.exp(logp), axis=1)
    flat_cdf = (cdf / cdf[:, -1:] + jnp.arange(X)[:, None]).ravel()  # row x in [x, x + 1]
    mu_cdf = jnp.cumsum(jnp.asarray(mu, jnp.float32))
    row_max = logp.max(axis=1)
    size = jnp.sum(logp == row_max[:, None], axis=1)  # |y*(x)|
    Ns = jnp.asarray(budgets_N)
    N_max = int(np.max(budgets_N))
    mu32 = jnp.asarray(mu, jnp.float32)

    def run(key):
        kx, ky = jax.random.split(key)
        x = jnp.searchsorted(mu_cdf, jax.random.uniform(kx, (n,)) * mu_cdf[-1], side="right")
        x = jnp.minimum(x, X - 1)
        u = jax.random.uniform(ky, (n, N_max))
        y = jnp.searchsorted(flat_cdf, x[:, None] + u, side="right") - x[:, None] * Y
        lp = logp[x[:, None], jnp.clip(y, 0, Y - 1)]
        best = jax.lax.cummax(lp, axis=1)[:, Ns - 1]  # [n, B] best-of-N log-likelihood
        hit = best == row_max[x][:, None]
        n_x = jax.ops.segment_sum(jnp.ones(n, jnp.float32), x, num_segments=X)
        k_x = jax.ops.segment_sum(hit.astype(jnp.float32), x, num_segments=X)  # [X, B]
        inside = jnp.where(n_x[:, None] > 0, k_x, size[:, None])
        total = jnp.where(n_x > 0, n_x, Y)[:, None]
        fails = total - inside > delta * total
        return mu32 @ fails.astype(jnp.float32)

    return jax.jit(jax.vmap(run))
