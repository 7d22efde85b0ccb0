"""The liveness estimate behind sweep's automatic seed batches (simulators._memory)."""

import jax
import jax.numpy as jnp

from simulators._memory import live_bytes


def test_live_bytes_counts_peak_intermediates_and_splits_what_depends_on_the_key():
    table = jnp.ones((100, 50))  # 40 kB, an input that does not depend on the key

    def fn(key, t):
        u = jax.random.uniform(key, (1000,))  # 8 kB per key
        v = jnp.cumsum(u)  # alive together with u: 16 kB
        shared = jnp.exp(t)  # 40 kB, no key
        return (v * u).sum() + shared.sum()

    shared, per_key = live_bytes(fn, jax.random.key(0), table)
    assert 16_000 <= per_key < 40_000
    assert 80_000 <= shared < 200_000

    # A loop body's own intermediates count while it runs, not once per iteration.
    def looped(key):
        def body(c, _):
            return c + jax.random.uniform(key, (1000,)), None

        return jax.lax.scan(body, jnp.zeros(1000), None, length=50)[0].sum()

    _, per_key = live_bytes(looped, jax.random.key(0))
    assert 8_000 <= per_key < 50 * 8_000
