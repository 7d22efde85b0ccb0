"""Dense linear algebra for the model classes, computed by numpy's LAPACK on the host.

Why this module exists: on the CPU, jaxlib 0.10's LAPACK custom calls (``eigh``, ``lstsq``,
``solve``, ...) run through ``jax::ParallelBatchMap``, which splits the batch into tasks on XLA's
intra-op thread pool and blocks the pool worker it runs on until a ``BlockingCounter`` reaches
zero. When XLA's thunk executor runs two such calls concurrently (independent branches of one
program, as in XPO's vmapped fits of claim C9), the process can deadlock: both workers wait on
their counters while every other pool thread sleeps in ``WaitForWork`` with no task queued. That
is what hung ``sharpen verify`` (full) at commit fa9eff2. ``--xla_cpu_multi_thread_eigen=false``
does not avoid it (4 of 5 runs of the reproducer still hung), and neither does batching the call
sequentially (``jax.custom_batching.sequential_vmap``): a single-matrix call still enters
``ParallelBatchMap``, and the reproducer still hung (native stacks: two workers in
``lapack_dsyevd_ffi`` -> ``ParallelBatchMap`` -> ``BlockingCounter::Wait``). Native stacks and a
12-line reproducer are in ``tests/simulators/test_linalg_deadlock.py``.

The cure is to keep LAPACK out of XLA's pool: each function here is a :func:`jax.pure_callback`
into :mod:`numpy.linalg`, which runs on the calling thread (numpy's own BLAS threads, never
XLA's pool). Under ``vmap`` the whole batch goes to numpy in one call (``expand_dims``:
``numpy.linalg.eigh`` factors a stack of matrices). The matrices in this toolkit are ``d x d``
with ``d`` in the tens, so the host round trip costs little. Nothing differentiates through
these (the fits are closed form); a gradient raises JAX's error for callbacks. Model classes
call these instead of ``jnp.linalg``; a test keeps it so.
"""

from __future__ import annotations

import jax
import numpy as np


def _eigh_host(a):
    lam, q = np.linalg.eigh(np.asarray(a))
    return lam.astype(a.dtype, copy=False), q.astype(a.dtype, copy=False)


def eigh(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Eigen-decomposition of a symmetric ``[..., d, d]`` matrix: ``(eigenvalues [..., d],
    Q [..., d, d])``, ascending, ``a = Q diag(lam) Q^T`` (``numpy.linalg.eigh``, lower triangle)."""
    a = jax.numpy.asarray(a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"eigh: a must be a square [..., d, d] matrix, got shape {a.shape}")
    out = (
        jax.ShapeDtypeStruct(a.shape[:-1], a.dtype),
        jax.ShapeDtypeStruct(a.shape, a.dtype),
    )
    return jax.pure_callback(_eigh_host, out, a, vmap_method="expand_dims")


def _lstsq_host(a, b):
    a, b = np.asarray(a), np.asarray(b)
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-1])
    a = np.broadcast_to(a, batch + a.shape[-2:]).reshape((-1,) + a.shape[-2:])
    b = np.broadcast_to(b, batch + b.shape[-1:]).reshape((-1,) + b.shape[-1:])
    x = np.stack([np.linalg.lstsq(ai, bi, rcond=None)[0] for ai, bi in zip(a, b, strict=True)])
    return x.reshape(batch + x.shape[-1:]).astype(a.dtype, copy=False)


def lstsq(a: jax.Array, b: jax.Array) -> jax.Array:
    """Minimum-norm least-squares solution of ``a x = b`` for an ``[m, d]`` matrix and ``[m]``
    vector (``numpy.linalg.lstsq`` with machine-precision ``rcond``); batched in one callback."""
    a, b = jax.numpy.asarray(a), jax.numpy.asarray(b)
    if a.ndim != 2 or b.shape != a.shape[:1]:
        raise ValueError(
            f"lstsq: expected a of shape [m, d] and b of shape [m], got {a.shape} and {b.shape}"
        )
    dtype = jax.numpy.result_type(a, b)
    out = jax.ShapeDtypeStruct(a.shape[1:], dtype)
    return jax.pure_callback(
        _lstsq_host, out, a.astype(dtype), b.astype(dtype), vmap_method="expand_dims"
    )
