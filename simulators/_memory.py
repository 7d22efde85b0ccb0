"""Working-memory estimates of traced programs, to size :func:`simulators.sweep`'s seed batches.

A sweep's compiled call holds every seed's intermediates at once when it ``vmap``\\ s over seeds;
``lax.map`` over batches of seeds bounds that to one batch. Which batch size fits a memory budget
follows from how many bytes one seed's run keeps alive. :func:`live_bytes` estimates it from the
program's jaxpr, before anything is compiled: a liveness scan that counts each intermediate from
the equation that makes it to its last use (nested jaxprs -- scans, loops, conditionals, inner
``jit`` calls -- add their own peak while they run). It ignores fusion and buffer reuse, so it
overestimates, which errs on the side of the memory budget. Intermediates that do not depend on
the seed's key (a table's CDF, its argmax mask) exist once per call, not once per seed: they are
counted apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.extend.core as jcore
import numpy as np


def _nbytes(v: Any) -> int:
    aval = v.aval
    shape = getattr(aval, "shape", None)
    dtype = getattr(aval, "dtype", None)
    if shape is None or dtype is None:
        return 0
    try:
        itemsize = np.dtype(dtype).itemsize
    except TypeError:  # PRNG key arrays and other extended dtypes
        itemsize = getattr(dtype, "itemsize", 8) or 8
    return math.prod(shape) * itemsize


def _sub_jaxprs(eqn) -> list:
    out = []
    for sub in jcore.jaxprs_in_params(eqn.params):
        out.append(sub.jaxpr if isinstance(sub, jcore.ClosedJaxpr) else sub)
    return out


def _peak(jaxpr, tainted_in: Sequence[bool]) -> tuple[int, int, list[bool]]:
    """``(shared_peak, per_key_peak, tainted_outvars)`` of one jaxpr whose invars are tainted
    (depend on the key) as given."""
    tainted: dict[Any, bool] = {v: t for v, t in zip(jaxpr.invars, tainted_in, strict=True)}
    for v in jaxpr.constvars:
        tainted[v] = False
    last_use: dict[Any, int] = {}
    for i, eqn in enumerate(jaxpr.eqns):
        for v in eqn.invars:
            if isinstance(v, jcore.Var):
                last_use[v] = i
    end = len(jaxpr.eqns)
    for v in jaxpr.outvars:
        if isinstance(v, jcore.Var):
            last_use[v] = end
    live = [0, 0]  # [shared, per-key]
    for v in list(jaxpr.invars) + list(jaxpr.constvars):
        live[tainted[v]] += _nbytes(v)
    peak = list(live)
    for i, eqn in enumerate(jaxpr.eqns):
        t_in = [isinstance(v, jcore.Var) and tainted.get(v, False) for v in eqn.invars]
        inner = [0, 0]
        t_out = any(t_in)
        for sub in _sub_jaxprs(eqn):
            # Operands map to the inner invars positionally from the end (consts come first in
            # some primitives); a nested invar is tainted when any operand is: conservative.
            s_shared, s_key, _ = _peak(sub, [t_out] * len(sub.invars))
            inner = [max(inner[0], s_shared), max(inner[1], s_key)]
        out = [0, 0]
        for v in eqn.outvars:
            if not isinstance(v, jcore.DropVar):
                tainted[v] = t_out
                out[t_out] += _nbytes(v)
        peak = [max(p, l + o + s) for p, l, o, s in zip(peak, live, out, inner, strict=True)]
        live = [l + o for l, o in zip(live, out, strict=True)]
        for v in {v for v in eqn.invars if isinstance(v, jcore.Var)}:
            if last_use.get(v) == i:
                live[tainted.get(v, False)] -= _nbytes(v)
        for v in eqn.outvars:
            if not isinstance(v, jcore.DropVar) and v not in last_use:
                live[tainted[v]] -= _nbytes(v)
    t_outvars = [isinstance(v, jcore.Var) and tainted.get(v, False) for v in jaxpr.outvars]
    return peak[0], peak[1], t_outvars


def jaxpr_live_bytes(closed: Any, num_key_leaves: int) -> tuple[int, int]:
    """``(shared, per_key)``: estimated peak bytes of a closed jaxpr whose first
    ``num_key_leaves`` inputs are the key, split into what does not depend on the key and what
    does (the latter is what each seed of a vmapped call adds)."""
    tainted = [i < num_key_leaves for i in range(len(closed.jaxpr.invars))]
    shared, per_key, _ = _peak(closed.jaxpr, tainted)
    return shared, per_key


def live_bytes(fn: Callable, key: jax.Array, *args: Any) -> tuple[int, int]:
    """:func:`jaxpr_live_bytes` of ``fn(key, *args)`` (traced here)."""
    closed = jax.make_jaxpr(fn)(key, *args)
    return jaxpr_live_bytes(closed, len(jax.tree_util.tree_leaves(key)))
