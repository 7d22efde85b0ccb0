"""Dirichlet draws in log space, the primitive every random instance family is built from.

It depends on no policy module, so the policy modules (``random_autoregressive``,
``random_markov``) and the instance families (:mod:`simulators._instances`) import it without an
import cycle.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from theory.checks import check_allocation, check_positive

# Gamma variates are drawn in fixed-size chunks by one compiled function, so building instances of
# many shapes compiles the (slow to compile) rejection sampler once per dtype, not once per shape.
# Large draws (more than _GAMMA_MAX_CHUNKS chunks) are drawn in one call instead.
_GAMMA_CHUNK = 4096
_GAMMA_MAX_CHUNKS = 64


@jax.jit
def _loggamma_chunk(key: jax.Array, a: jax.Array) -> jax.Array:
    return jax.random.loggamma(key, a, (_GAMMA_CHUNK,), dtype=a.dtype)


# Bytes per entry of a Dirichlet draw: the log-Gamma variates, their normalization and the result.
_DIRICHLET_BYTES_PER_ENTRY = 24


def dirichlet_logp(
    key: jax.Array, shape: tuple[int, ...], concentration: float, names: str = "shape"
) -> jax.Array:
    """Log of ``Dirichlet(concentration)`` draws along the last axis of ``shape``, in log space.

    Drawn as normalized log-Gamma variables, so very small concentrations (very peaked rows, masses
    far below float range) stay finite instead of underflowing to ``log 0``. The size is checked
    before anything is drawn (``names``: the caller's arguments that set ``shape``).
    """
    check_positive(concentration, "concentration")
    size = math.prod(shape)
    check_allocation(size, f"a {list(shape)} Dirichlet table", names, _DIRICHLET_BYTES_PER_ENTRY)
    a = jnp.asarray(concentration, dtype=jnp.result_type(float))
    num_chunks = -(-size // _GAMMA_CHUNK)
    if num_chunks > _GAMMA_MAX_CHUNKS:
        g = jax.random.loggamma(key, a, shape, dtype=a.dtype)
    else:
        chunks = tuple(_loggamma_chunk(jax.random.fold_in(key, i), a) for i in range(num_chunks))
        g = _assemble(chunks, tuple(shape))
    return _normalize_last(g)


@functools.partial(jax.jit, static_argnames="shape")
def _assemble(chunks: tuple[jax.Array, ...], shape: tuple[int, ...]) -> jax.Array:
    return jnp.concatenate(chunks)[: math.prod(shape)].reshape(shape)


@jax.jit
def _normalize_last(g: jax.Array) -> jax.Array:
    return g - jax.scipy.special.logsumexp(g, axis=-1, keepdims=True)
