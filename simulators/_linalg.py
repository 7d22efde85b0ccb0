"""Dense linear algebra for the model classes, one LAPACK call per matrix.

Why this module exists: on the CPU, jaxlib 0.10 runs a *batched* LAPACK custom call (``eigh``,
``lstsq``, ``solve``, ... on an array with batch dimensions, which is what ``vmap`` over seeds
produces) through ``jax::ParallelBatchMap``: the call splits its batch into tasks on XLA's
intra-op thread pool and blocks the pool worker it runs on until a ``BlockingCounter`` reaches
zero. When XLA's thunk executor runs two such calls concurrently (independent branches of one
program, as in XPO's vmapped fits of claim C9), the process can deadlock: both workers wait on
their counters while every other pool thread sleeps in ``WaitForWork`` with no task queued. That
is what hung ``sharpen verify`` (full) at commit fa9eff2; native stacks and a 12-line reproducer
are in ``tests/simulators/test_linalg_deadlock.py``. ``--xla_cpu_multi_thread_eigen=false`` does
not avoid it (4 of 5 runs of the reproducer still hung).

The cure is at the source of the batch: every function here is a
:func:`jax.custom_batching.sequential_vmap`, so ``vmap`` turns it into a loop of unbatched calls
(``lax.map``), each a single-matrix LAPACK call that never fans out over the pool. The matrices
in this toolkit are ``d x d`` with ``d`` in the tens, so the loop costs little (measured in the
test module's docstring). Model classes call these instead of ``jnp.linalg``; a test keeps it so.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


@jax.custom_batching.sequential_vmap
def eigh(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Eigen-decomposition of one symmetric ``[d, d]`` matrix: ``(eigenvalues [d], Q [d, d])``,
    ascending, ``a = Q diag(lam) Q^T`` (``jnp.linalg.eigh``); batched by a sequential loop."""
    lam, q = jnp.linalg.eigh(a)
    return lam, q


@jax.custom_batching.sequential_vmap
def lstsq(a: jax.Array, b: jax.Array) -> jax.Array:
    """Minimum-norm least-squares solution of ``a x = b`` for one ``[m, d]`` matrix and ``[m]``
    vector (``jnp.linalg.lstsq``); batched by a sequential loop."""
    return jnp.linalg.lstsq(a, b)[0]
