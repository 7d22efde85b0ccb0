"""Tabular policies: an explicit ``[X, Y]`` table of log-probabilities (THEORY.md section 1.1).

The response of a tabular policy is a single index ``y in [Y]``; as Rollouts it is a length-1 token
sequence. Sampling is by inverse CDF (binary search on cumulative masses), so drawing ``n``
responses costs O(n log Y) time and O(n + Y) memory, never the ``n x Y`` Gumbel noise of
``jax.random.categorical`` (DESIGN.md pitfalls).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from theory.checks import (
    as_array,
    check_allocation,
    check_count,
    check_logp,
    check_nonnegative,
    check_probs,
    is_concrete,
)

from ._api import greedy, log_mass_in_set, log_prob, sample, sequence_argmax, to_table
from ._rollouts import Rollouts

# jnp.searchsorted's 'scan' method is a vectorized binary search: O(n log Y) time, O(n) memory.
# Measured on a 2-core CPU for 10^6 draws over 1000 classes (float64, after compilation):
# 'scan' ~0.016 s, 'scan_unrolled' ~0.06 s, 'sort' ~0.63 s; 'compare_all' would build n x Y.
_SEARCH_METHOD = "scan"


# --------------------------------------------------------------------------------------------------
# Validated construction, shared by every policy kind (and the oracle).
#
# A policy is checked once, when it is constructed (the constructor, its ``from_*`` class methods
# and ``dataclasses.replace``): shapes and dtypes always, values (NaN, +inf, normalization,
# finiteness) when the arrays are concrete. JAX rebuilds pytrees when they cross ``jit``,
# ``vmap`` or ``tree_map``; those rebuilds skip the checks (see :func:`validated_pytree`), so
# compiled outputs and hot paths never re-scan a table, and tracers, ``ShapeDtypeStruct`` or
# ``None`` leaves (in_axes specs) are fine there.


# Every class registered by validated_pytree: constructing one (dataclasses.replace included)
# runs its checks.
VALIDATED_CLASSES: set[type] = set()


def revalidate(obj: Any) -> Any:
    """``obj`` rebuilt through its constructor (its checks run again) when its class was
    registered by :func:`validated_pytree`; other objects are returned as they are. For
    constructors of composite objects (the oracle), whose parts may come from a
    ``jax.tree_util`` rebuild that skipped the checks."""
    if type(obj) in VALIDATED_CLASSES:
        return dataclasses.replace(obj)
    return obj


def validated_pytree(data_fields: tuple[str, ...], meta_fields: tuple[str, ...] = ()):
    """Registers a frozen dataclass as a pytree whose unflattening skips ``__init__``.

    ``jax.tree_util.register_dataclass`` rebuilds an instance with its constructor, so a
    validating ``__post_init__`` would run on every jit output (a re-scan of the table) and on
    tracers, abstract values or the placeholders of ``tree_map``. Here a rebuilt instance gets
    its fields set directly: the checks run exactly when user code constructs the object.
    Keys are attribute names, as for a registered dataclass.
    """

    def register(cls):
        VALIDATED_CLASSES.add(cls)

        def flatten_with_keys(obj):
            children = tuple((jax.tree_util.GetAttrKey(f), getattr(obj, f)) for f in data_fields)
            return children, tuple(getattr(obj, f) for f in meta_fields)

        def flatten(obj):
            children = tuple(getattr(obj, f) for f in data_fields)
            return children, tuple(getattr(obj, f) for f in meta_fields)

        def unflatten(meta, children):
            return unchecked(
                cls,
                **dict(zip(data_fields, children, strict=True)),
                **dict(zip(meta_fields, meta, strict=True)),
            )

        jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
        return cls

    return register


def unchecked(cls, **fields):
    """An instance of the frozen dataclass ``cls`` with ``fields`` set as given, without
    ``__post_init__`` (for values that were just validated or computed from validated ones)."""
    obj = object.__new__(cls)
    for name, value in fields.items():
        object.__setattr__(obj, name, value)
    return obj


def is_abstract(x: Any) -> bool:
    """True for a value that has a shape and dtype but no entries (tracers, abstract arrays)."""
    return isinstance(x, (jax.core.Tracer, jax.ShapeDtypeStruct, jax.core.ShapedArray))


def _abstract_or_array(x: Any, name: str):
    if is_abstract(x):
        return x
    return as_array(x, name)


def check_field_shape(arr: Any, name: str, ndim: int, layout: str) -> None:
    """``arr`` has ``ndim`` non-empty axes (``layout`` names them, e.g. ``"[X, Y]"``)."""
    shape = tuple(arr.shape)
    if len(shape) != ndim:
        raise ValueError(f"{name} must have shape {layout}, got shape {shape}")
    if 0 in shape:
        raise ValueError(f"{name} must have non-empty axes {layout}, got shape {shape}")


def check_table_field(logp: Any, name: str, ndim: int, layout: str) -> Any:
    """A policy's log-probability table: float, ``ndim`` non-empty axes and, when concrete,
    rows normalized along the last axis with no NaN or ``+inf`` (:func:`theory` conventions).

    Returns the table as a jax array (abstract values are returned as they are).
    """
    arr = _abstract_or_array(logp, name)
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        raise TypeError(
            f"{name} must be a floating-point array of log-probabilities {layout}, got {arr.dtype}"
        )
    check_field_shape(arr, name, ndim, layout)
    if is_abstract(arr):
        return arr
    return check_logp(arr, name, min_ndim=ndim)


def check_finite_field(values: Any, name: str, ndims: tuple[int, ...], layout: str) -> Any:
    """A policy's real parameter array (features, theta): ``ndims`` axes, finite when concrete.

    Integer arrays are taken as floats; booleans and other dtypes are refused.
    """
    arr = _abstract_or_array(values, name)
    if jnp.issubdtype(arr.dtype, jnp.integer) and not is_abstract(arr):
        arr = arr.astype(jnp.result_type(float))
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        raise TypeError(f"{name} must be a real floating-point array {layout}, got {arr.dtype}")
    if len(arr.shape) not in ndims:
        raise ValueError(f"{name} must have shape {layout}, got shape {tuple(arr.shape)}")
    if not is_abstract(arr) and not np.isfinite(np.asarray(arr)).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def set_field(obj: Any, name: str, value: Any) -> None:
    """Sets a field of a frozen dataclass from its ``__post_init__``."""
    object.__setattr__(obj, name, value)


# Bytes per response of a sampled Rollouts (tokens, lengths, logp_base, per-token log-probs,
# entropies and KL(uniform || p), and the uniforms drawn): what sample() budgets against memory.
ROLLOUT_BYTES_PER_ENTRY = 48


def check_rollout_size(P: int, n: int, T: int, name: str = "n") -> None:
    """Refuses, before drawing, Rollouts of ``[P, n, T]`` too large to allocate (names ``n``)."""
    check_allocation(
        P * n * T,
        f"the [P, N, T] = [{P}, {n:.3g}, {T}] rollouts",
        name,
        ROLLOUT_BYTES_PER_ENTRY,
    )


@validated_pytree(("logp",))
@dataclasses.dataclass(frozen=True)
class TabularPolicy:
    """pi(y | x) given by a normalized ``[X, Y]`` log-probability table.

    The constructor validates (when ``logp`` is concrete: float, ``[X, Y]``, no NaN or ``+inf``,
    every row summing to 1 within :func:`theory._validation.normalization_atol`); so do
    :meth:`from_logits` (which normalizes), :meth:`from_table` and :meth:`from_probs`.

    Attributes:
      logp: ``[X, Y]`` log-probabilities, rows normalized, ``-inf`` for zero mass.
    """

    logp: jax.Array

    def __post_init__(self):
        set_field(self, "logp", check_table_field(self.logp, "logp", 2, "[X, Y]"))

    @classmethod
    def from_logits(cls, logits) -> TabularPolicy:
        """Normalizes arbitrary ``[X, Y]`` logits (``-inf`` allowed) into a policy."""
        logits = check_logits(logits, "logits", ndim=2)
        check_field_shape(logits, "logits", 2, "[X, Y]")
        return unchecked(
            cls, logp=logits - jax.scipy.special.logsumexp(logits, axis=-1, keepdims=True)
        )

    @classmethod
    def from_table(cls, logp) -> TabularPolicy:
        """Builds a policy from an already normalized ``[X, Y]`` log-probability table."""
        return cls(logp)

    @classmethod
    def from_probs(cls, probs) -> TabularPolicy:
        """Builds a policy from an ``[X, Y]`` probability table (rows summing to 1)."""
        arr = as_array(probs, "probs")
        check_field_shape(arr, "probs", 2, "[X, Y]")
        return unchecked(cls, logp=check_probs(arr, "probs", min_ndim=2))

    @property
    def num_prompts(self) -> int:
        return self.logp.shape[0]

    @property
    def num_responses(self) -> int:
        return self.logp.shape[1]


def check_logits(logits: Any, name: str, *, ndim: int) -> jax.Array:
    """Validates unnormalized log-weights: float, ``ndim`` axes, no NaN or ``+inf``, no empty row.

    ``-inf`` is allowed (zero mass) as long as every row keeps some finite entry.
    """
    arr = as_array(logits, name)
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.result_type(float))
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} axes, got shape {arr.shape}")
    if arr.shape[-1] == 0:
        raise ValueError(f"{name} must have a non-empty last axis, got shape {arr.shape}")
    if is_concrete(arr):
        _check_log_weights(np.asarray(arr), name, "finite logits")
    return arr


def _check_log_weights(a: np.ndarray, name: str, expected: str) -> None:
    """Refuses NaN, ``+inf`` and rows that are all ``-inf`` (or empty) in concrete log-weights
    ``a [..., Y]`` (numpy, so that it also runs while a jit trace is active)."""
    if np.isnan(a).any():
        raise ValueError(f"{name} contains NaN; expected {expected} (-inf for zero mass)")
    if np.isposinf(a).any():
        raise ValueError(f"{name} contains +inf; expected {expected} (-inf for zero mass)")
    if a.shape[-1] == 0 or np.isneginf(a).all(axis=-1).any():
        raise ValueError(f"{name} has a row that is all -inf (no mass); each row needs mass")


def check_ids(x: Any, size: int, name: str, what: str, *, ndim: int | None = None) -> jax.Array:
    """Checks integer ``what`` ids in ``[0, size)`` (values only when concrete).

    JAX indexing clamps an out-of-range index and wraps a negative one, which would silently
    read another prompt's, response's or token's entry. Every policy kind checks its prompt,
    response and token ids with this. Traced ids (inside ``jit``) are checked for dtype and
    shape only.

    Args:
      x: the ids.
      size: ids must lie in ``[0, size)``.
      name: the argument's name, for messages.
      what: ``"prompt"``, ``"response"`` or ``"token"``.
      ndim: the number of axes ``x`` must have (``None``: any).
    """
    x = as_array(x, name)
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(f"{name} must hold integer {what} ids, got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(
            f"{name} must be a {ndim}-d array of {what} ids ([P] for P prompts), got shape "
            f"{x.shape}"
        )
    if is_concrete(x) and x.size:
        a = np.asarray(x)
        if a.min() < 0 or a.max() >= size:
            raise ValueError(
                f"{name} must hold {what} ids in [0, {size}), got range [{a.min()}, {a.max()}]"
            )
    return x


def check_prompts(
    x: Any, num_prompts: int, name: str = "x", *, ndim: int | None = None
) -> jax.Array:
    """Checks int prompt ids in ``[0, X)`` (values only when concrete)."""
    return check_ids(x, num_prompts, name, "prompt", ndim=ndim)


def check_sample_args(x: Any, n: Any, num_prompts: int, T: int) -> tuple[jax.Array, int]:
    """The checks of every ``sample(key, policy, x, n)``: ``x [P]`` prompt ids in ``[0, X)``,
    ``n >= 1`` an int, and ``[P, n, T]`` Rollouts small enough to allocate (before drawing)."""
    n = check_count(n, "n")
    x = check_prompts(x, num_prompts, ndim=1)
    check_rollout_size(x.shape[0], n, T)
    return x, n


def row_stats(logp: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Entropy and ``KL(uniform || p)`` of each distribution along the last axis.

    Both are used by the negative-entropy and self-certainty self-rewards. ``0 log 0 = 0`` is
    written out; ``KL(uniform || p)`` is ``+inf`` when ``p`` has a zero entry.
    """
    finite = jnp.isfinite(logp)
    safe = jnp.where(finite, logp, 0.0)
    entropy = -jnp.sum(jnp.where(finite, jnp.exp(safe) * safe, 0.0), axis=-1)
    V = logp.shape[-1]
    kl_uniform = -jnp.log(jnp.asarray(V, logp.dtype)) - jnp.mean(logp, axis=-1)
    return entropy, kl_uniform


# The 'scan' search makes ~log2(Y) passes over its n-element operands; for large n they stream from
# main memory on every pass. On a CPU, searching blocks of this many draws keeps them in cache, with
# the same result (10^7 draws over 1000 classes: ~2x faster; see BENCHMARKS.md, sampling). On a GPU
# the blocks would run one after another and leave the device idle (12x slower on an H100), so
# there the search runs over all draws at once.
_SEARCH_BLOCK = 2**16


def _guide(cdf: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Guide tables (the cutpoint method of Chen and Asau, 1974) of the rows ``cdf [R, Y]``.

    Each row's ``[0, total)`` is cut into ``K = 2 Y`` equal bins; ``g[r, j]`` is the search result
    at the bin edge ``j total_r / K``. A draw in bin ``k`` has its answer in ``[g[k - 1],
    g[k + 2]]`` (one bin of margin on each side absorbs the rounding of ``u K / total`` and of the
    edges), since the result is monotone in ``u``. A binary search over the widest such interval
    needs ``bit_length(width)`` halvings, usually 2-4 instead of ``log2(Y) = 10``: an
    O(R Y log Y) set-up that pays off for ``R Y`` draws or more. (``K = 2 Y`` saved one halving
    over ``K = Y`` on a Dirichlet(1) table of 1000 classes, ~17% of the search; finer guides saved
    nothing more.)

    Returns:
      ``(lo_of_bin [R, K], hi_of_bin [R, K], halvings)``: the search interval of every bin and the
      number of halvings that closes the widest of them (a scalar for all rows).
    """
    Y = cdf.shape[-1]
    K = 2 * Y
    total = cdf[:, -1:]
    edges = jnp.arange(K + 1, dtype=cdf.dtype) * (total / K)
    g = jax.vmap(lambda c, e: jnp.searchsorted(c, e, side="right", method=_SEARCH_METHOD))(
        cdf, edges
    ).astype(jnp.int32)
    g = g.at[:, K].set(Y)
    j = jnp.arange(K)
    lo_of_bin = g[:, jnp.maximum(j - 1, 0)]
    hi_of_bin = g[:, jnp.minimum(j + 2, K)]
    width = jnp.max(hi_of_bin - lo_of_bin)
    return lo_of_bin, hi_of_bin, 32 - jax.lax.clz(width)  # bit_length(width)


def _row_search(cdf: jax.Array, guide, rows: jax.Array, u: jax.Array) -> jax.Array:
    """``searchsorted(cdf[rows[i]], u[i], side='right')`` for every draw ``i``, bit-identical.

    ``cdf [R, Y]`` holds one CDF per row and each draw reads only its own row's entries (no
    ``[m, Y]`` gather of rows per draw). With ``guide`` (:func:`_guide` of ``cdf``) the binary
    search starts from the draw's bin interval; without it, from ``[0, Y]`` (``log2(Y)``
    halvings). ``rows [m]`` int, ``u [m]`` in ``[0, cdf[rows, -1])``.
    """
    Y = cdf.shape[-1]
    if guide is None:
        halvings = Y.bit_length()

        def bounds(r, b):
            return jnp.zeros(b.shape, jnp.int32), jnp.full(b.shape, Y, jnp.int32)

    else:
        lo_of_bin, hi_of_bin, halvings = guide
        K = lo_of_bin.shape[-1]

        def bounds(r, b):
            k = jnp.clip(jnp.floor(b * (K / cdf[r, -1])).astype(jnp.int32), 0, K - 1)
            return lo_of_bin[r, k], hi_of_bin[r, k]

    def search(r: jax.Array, b: jax.Array) -> jax.Array:
        def halve(_, lo_hi):
            lo, hi = lo_hi
            mid = (lo + hi) // 2  # < Y while lo < hi
            right = (cdf[r, jnp.minimum(mid, Y - 1)] <= b) & (lo < hi)  # lo == hi: done
            return jnp.where(right, mid + 1, lo), jnp.where(right, hi, mid)

        lo, _ = jax.lax.fori_loop(0, halvings, halve, bounds(r, b))
        return lo

    return _map_blocks(search, rows, u)


def _guided_search(cdf: jax.Array, u: jax.Array) -> jax.Array:
    """``searchsorted(cdf, u, side='right')`` for one ``cdf [Y]`` and ``u [n]`` in
    ``[0, cdf[-1])``, bit-identical, through a guide table (:func:`_guide`)."""
    rows = cdf[None]
    return _row_search(rows, _guide(rows), jnp.zeros(u.shape, jnp.int32), u)


def _map_blocks(search, *arrays: jax.Array) -> jax.Array:
    """``search(*arrays)`` (elementwise over ``[n]`` arrays) in cache-sized blocks for large ``n``
    on a CPU backend."""
    n = arrays[0].shape[0]
    # Read at trace time: the backend that jit compiles this for, unless placed elsewhere.
    if n <= _SEARCH_BLOCK or jax.default_backend() != "cpu":
        return search(*arrays)
    num_blocks = -(-n // _SEARCH_BLOCK)
    size = -(-n // num_blocks)  # padding stays below num_blocks entries
    blocks = [jnp.pad(a, (0, num_blocks * size - n)).reshape(num_blocks, size) for a in arrays]
    return jax.lax.map(lambda b: search(*b), blocks).reshape(-1)[:n]


def _search(cdf: jax.Array, u: jax.Array) -> jax.Array:
    """``searchsorted(cdf, u, side='right')`` for u [n], by the cheaper exact route."""
    if u.shape[0] >= cdf.shape[0]:
        return _guided_search(cdf, u)
    return _map_blocks(lambda b: jnp.searchsorted(cdf, b, side="right", method=_SEARCH_METHOD), u)


def sample_indices(key: jax.Array, logp: jax.Array, n: int) -> jax.Array:
    """Draws ``n`` i.i.d. indices from one distribution given as log-probabilities ``[Y]``.

    Inverse-CDF sampling: the CDF is formed after subtracting the max log-probability, so masses far
    below float range relative to the mode are handled exactly (they are simply never drawn).
    Cost: O(n log Y) time and O(n + Y) memory; for ``n >= Y`` a guide table cuts the binary search
    to a few steps per draw (same draws).

    Raises:
      ValueError: (concrete ``logp`` only) NaN, ``+inf``, or no entry with mass; ``n`` not an
        int >= 1 or too many draws to allocate.
    """
    n = check_count(n, "n")
    check_allocation(n, f"{n:.3g} draws", "n", 16)
    if is_concrete(logp):
        logp = as_array(logp, "logp")
        if logp.ndim != 1:
            raise ValueError(f"logp must have shape [Y], got {logp.shape}")
        check_table_values(logp, "logp")
    return _inverse_cdf(key, logp, n, _search)


def _inverse_cdf(key: jax.Array, logp: jax.Array, n: int, search) -> jax.Array:
    """:func:`sample_indices` with ``search(cdf, u)`` in place of ``searchsorted`` (side right)."""
    return _draw(key, *_cdf(logp), n, search)


def _cdf(logp: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(cdf, last)`` of each distribution along the last axis: the cumulative sums of the masses
    relative to the mode, and the last index with positive mass."""
    p = jnp.exp(logp - jnp.max(logp, axis=-1, keepdims=True))
    last = logp.shape[-1] - 1 - jnp.argmax(jnp.flip(p > 0, axis=-1), axis=-1)
    return jnp.cumsum(p, axis=-1), last


def _draw(key: jax.Array, cdf: jax.Array, last: jax.Array, n: int, search) -> jax.Array:
    """``n`` inverse-CDF draws from one ``cdf [Y]`` (see :func:`_cdf`)."""
    u = jax.random.uniform(key, (n,), dtype=cdf.dtype) * cdf[-1]
    # Should u ever round up to cdf[-1], fall back to the last index with positive mass rather than
    # Y - 1, which may have none.
    return jnp.minimum(search(cdf, u), last).astype(jnp.int32)


def draw_rows(key: jax.Array, logp: jax.Array, x: jax.Array, n: int) -> jax.Array:
    """``[P, n]`` draws from the rows ``x [P]`` of a table ``logp [X, Y]``, one key per prompt.

    Each row's CDF (and guide table, when there are at least as many draws as CDF entries) is
    formed once per table row when prompts outnumber rows (``P >= X``, e.g. many prompts drawn
    from few), else once per drawn prompt, and every draw searches its own row in place: the
    same draws either way (the CDFs agree up to rounding in the last bits), and under ``vmap``
    over seeds the per-row set-up is not batched (it depends on the table only).
    """
    P = x.shape[0]
    keys = jax.random.split(key, P)
    if P >= logp.shape[0]:
        (cdf, last), rows = _cdf(logp), x
    else:
        (cdf, last), rows = _cdf(logp[x]), jnp.arange(P)
    u = jax.vmap(lambda k, total: jax.random.uniform(k, (n,), dtype=cdf.dtype) * total)(
        keys, cdf[rows, -1]
    )
    guide = _guide(cdf) if P * n >= cdf.size else None
    y = _row_search(cdf, guide, jnp.repeat(rows, n), u.reshape(-1)).reshape(P, n)
    # Should u ever round up to the total, fall back to the last index with positive mass.
    return jnp.minimum(y, last[rows][:, None]).astype(jnp.int32)


def _of_rows(f, logp: jax.Array, x: jax.Array):
    """``f(logp[x])`` for a row-wise ``f``, computed once per table row and gathered when the
    prompts ``x`` outnumber the rows (equal up to rounding in the last bits)."""
    if x.shape[0] >= logp.shape[0]:
        return jax.tree.map(lambda a: a[x], f(logp))
    return f(logp[x])


@sample.register(TabularPolicy)
def _sample_tabular(key: jax.Array, policy: TabularPolicy, x: jax.Array, n: int) -> Rollouts:
    x, n = check_sample_args(x, n, policy.logp.shape[0], 1)
    # The table was validated when the policy was constructed: no re-scan here.
    return _sample_rows(key, policy.logp, x, n)


@functools.partial(jax.jit, static_argnames="n")
def _sample_rows(key: jax.Array, logp: jax.Array, x: jax.Array, n: int) -> Rollouts:
    y = draw_rows(key, logp, x, n)  # [P, N]
    logp_base = logp[x[:, None], y]
    entropy, kl_uniform = _of_rows(row_stats, logp, x)
    return Rollouts(
        prompts=x,
        tokens=y[..., None],
        lengths=jnp.ones_like(y),
        logp_base=logp_base,
        token_logp=logp_base[..., None],
        token_entropy=jnp.broadcast_to(entropy[:, None, None], y.shape + (1,)),
        token_kl_uniform=jnp.broadcast_to(kl_uniform[:, None, None], y.shape + (1,)),
    )


def check_responses(y: Any, num_responses: int, name: str = "y") -> jax.Array:
    """Checks int response indices in ``[0, Y)`` (values only when concrete)."""
    return check_ids(y, num_responses, name, "response")


def check_table_values(logp: Any, name: str = "logp") -> None:
    """Refuses NaN, ``+inf`` and all ``-inf`` rows of a concrete log-probability table (no value
    check under tracing). Inverse-CDF sampling would otherwise return the last index."""
    if not is_concrete(logp):
        return
    # numpy, not jnp: this may run while a jit trace is active (a concrete closure), where jnp
    # operations would return tracers.
    a = np.asarray(logp)
    if a.ndim == 0:
        raise ValueError(f"{name} must have a last axis of responses, got a scalar")
    _check_log_weights(a, name, "log-probabilities")


@log_prob.register(TabularPolicy)
def _log_prob_tabular(policy: TabularPolicy, x, y) -> jax.Array:
    X, Y = policy.logp.shape
    x = check_prompts(x, X)
    y = check_responses(y, Y)
    return policy.logp[x, y]


@to_table.register(TabularPolicy)
def _to_table_tabular(policy: TabularPolicy, *, max_entries: int | None = None) -> jax.Array:
    return policy.logp


@greedy.register(TabularPolicy)
def _greedy_tabular(policy: TabularPolicy, x) -> jax.Array:
    x = check_prompts(x, policy.logp.shape[0])
    return jnp.argmax(policy.logp[x], axis=-1)


@sequence_argmax.register(TabularPolicy)
def _sequence_argmax_tabular(policy: TabularPolicy, x) -> jax.Array:
    x = check_prompts(x, policy.logp.shape[0])
    return jnp.argmax(policy.logp[x], axis=-1)


# ----------------------------------------------------------------------------------------------
# The count maximum-likelihood table, kept as its examples


@validated_pytree(("x", "y", "weights", "smoothing"), ("num_prompts", "num_responses"))
@dataclasses.dataclass(frozen=True)
class CountPolicy:
    """The smoothed count MLE of the unrestricted tabular class, stored as the examples it fits.

    ::

        c(x, y) = sum_i w_i [x_i = x, y_i = y],   n_x = sum_i w_i [x_i = x]
        pi(y|x) = (c(x, y) + s) / (n_x + s Y)      (the uniform law where n_x + s Y = 0)

    the maximizer of ``sum_i w_i log pi(y_i|x_i)`` (pseudo-code B's MLE step; an unseen prompt
    gets the uniform law, one of its maximizers). It is what ``TabularClass.mle_params``
    returns: ``n`` examples instead of an ``[X, Y]`` table, so that evaluating the learned
    policy exactly (:func:`log_mass_in_set`, hence :func:`simulators.sharpening_metrics`) costs
    ``O(n + X)`` reads of the set mask, and a sweep over seeds and budgets never holds ``[S, B,
    X, Y]`` tables. :attr:`logp` (and :func:`to_table`) builds the dense table on demand; every
    generic function (``sample``, ``log_prob``, ``greedy``, ...) works on it.

    Attributes:
      x: ``[n]`` int prompt ids in ``[0, X)``.
      y: ``[n]`` int response ids in ``[0, Y)``.
      weights: ``[n]`` nonnegative float weights (0 masks an example out).
      smoothing: additive pseudo-count ``s >= 0`` on every entry.
      num_prompts, num_responses: X and Y (static).
    """

    x: jax.Array
    y: jax.Array
    weights: jax.Array
    smoothing: Any
    num_prompts: int
    num_responses: int

    def __post_init__(self):
        w = _check_entries(self, "weights", "[n]")
        check_nonnegative(w, "weights")
        check_nonnegative(self.smoothing, "smoothing")
        set_field(self, "weights", w)

    @property
    def logp(self) -> jax.Array:
        """The ``[X, Y]`` log-probability table (dense; ``O(X Y)``)."""
        return _count_table(self)

    def row_counts(self, in_set: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(mass_in, mass_out, total)``, each ``[X]``: the smoothed counts on the set
        ``in_set [X, Y]``, off it, and in all, with unseen rows as the uniform law (``|S|``,
        ``Y - |S|``, ``Y``). One gather of ``in_set`` per example and one segment sum."""
        w = self.weights
        hit = in_set[self.x, self.y]
        both = jax.ops.segment_sum(
            jnp.stack([w, jnp.where(hit, w, 0)], axis=-1), self.x, num_segments=self.num_prompts
        )
        size = jnp.sum(in_set, axis=-1).astype(w.dtype)
        return count_masses(both[:, 0], both[:, 1], size, self.num_responses, self.smoothing)


def _check_entries(policy: Any, values: str, layout: str) -> jax.Array:
    """Checks (and sets) the ``x``, ``y`` entries of a sparse tabular policy and returns its float
    ``values`` field (weights or logits), all three of shape ``layout``."""
    set_field(policy, "x", check_prompts(policy.x, policy.num_prompts, "x", ndim=1))
    set_field(policy, "y", check_responses(policy.y, policy.num_responses, "y"))
    v = as_array(getattr(policy, values), values)
    if not jnp.issubdtype(v.dtype, jnp.floating):
        raise TypeError(f"{values} must be a float array, got dtype {v.dtype}")
    if policy.y.shape != policy.x.shape or v.shape != policy.x.shape:
        raise ValueError(
            f"x, y and {values} must all have shape {layout}, got {policy.x.shape}, "
            f"{policy.y.shape} and {v.shape}"
        )
    return v


def count_masses(n_x, k_x, size, Y: int, smoothing):
    """``(mass_in, mass_out, total)`` of a smoothed count MLE's rows on a response set.

    ``n_x [X]`` examples per prompt, ``k_x [X]`` of them in the set, ``size [X]`` the set's
    size, ``Y`` responses, pseudo-count ``smoothing`` on every entry. A row without data or
    pseudo-counts is the uniform law: ``(size, Y - size, Y)``. The shared arithmetic of
    :class:`CountPolicy` and the exact-law simulation of its sufficient statistics.
    """
    dtype = jnp.result_type(n_x, k_x, size, float)
    n_x, k_x, size = (jnp.asarray(v, dtype) for v in (n_x, k_x, size))
    s = jnp.asarray(smoothing, dtype)
    total = n_x + s * Y
    seen = total > 0
    mass_in = jnp.where(seen, k_x + s * size, size)
    mass_out = jnp.where(seen, n_x - k_x + s * (Y - size), Y - size)
    return mass_in, mass_out, jnp.where(seen, total, jnp.asarray(Y, dtype))


@jax.jit
def _count_table(policy: CountPolicy) -> jax.Array:
    X, Y = policy.num_prompts, policy.num_responses
    w = policy.weights
    counts = jnp.zeros((X, Y), dtype=w.dtype).at[policy.x, policy.y].add(w)
    counts = counts + jnp.asarray(policy.smoothing, dtype=w.dtype)
    total = jnp.sum(counts, axis=-1, keepdims=True)
    # A prompt with no data: every distribution maximizes its (empty) likelihood; return uniform.
    with np.errstate(divide="ignore"):
        return jnp.where(
            total > 0,
            jnp.log(counts) - jnp.log(jnp.where(total > 0, total, 1.0)),
            -jnp.log(float(Y)),
        )


@log_mass_in_set.register(CountPolicy)
def _log_mass_in_set_counts(policy: CountPolicy, in_set: jax.Array):
    in_set = _check_set_mask(in_set, policy.num_prompts, policy.num_responses)
    mass_in, mass_out, total = policy.row_counts(in_set)
    with np.errstate(divide="ignore"):
        log_total = jnp.log(total)
        return jnp.log(mass_in) - log_total, jnp.log(mass_out) - log_total


@validated_pytree(("x", "y", "logits"), ("num_prompts", "num_responses"))
@dataclasses.dataclass(frozen=True)
class SparseSoftmaxPolicy:
    """A softmax over the responses observed at each prompt, stored as its ``m`` entries.

    ::

        pot(x, y) = max {logits_i : x_i = x, y_i = y}          (-inf where no entry)
        pi(y|x)   = exp(pot(x, y)) / sum_y' exp(pot(x, y'))     (the uniform law on a row
                                                                 without a finite entry)

    The tabular squared-loss fit (Eq. 8, DPO-style RLHF-Sharpening) is of this form: it puts
    ``log pi_base + r / beta`` (up to a per-prompt constant) on the responses observed at ``x``
    and no mass on the others (the loss does not involve them). Like :class:`CountPolicy` it is
    kept as its entries, so exact evaluation (:func:`log_mass_in_set`) costs ``O(m log m + X)``
    and no ``[X, Y]`` table; :attr:`logp` builds the table on demand. An entry with logit
    ``-inf`` is masked out; a NaN logit makes the whole table NaN.

    Attributes:
      x: ``[m]`` int prompt ids; y: ``[m]`` int response ids; logits: ``[m]`` float.
      num_prompts, num_responses: X and Y (static).
    """

    x: jax.Array
    y: jax.Array
    logits: jax.Array
    num_prompts: int
    num_responses: int

    def __post_init__(self):
        logits = _check_entries(self, "logits", "[m]")
        if is_concrete(logits) and np.isposinf(np.asarray(logits)).any():
            raise ValueError("logits contains +inf; expected finite logits (-inf masks an entry)")
        set_field(self, "logits", logits)

    @property
    def logp(self) -> jax.Array:
        """The ``[X, Y]`` log-probability table (dense; ``O(X Y)``)."""
        return _sparse_softmax_table(self)


@jax.jit
def _sparse_softmax_table(policy: SparseSoftmaxPolicy) -> jax.Array:
    X, Y = policy.num_prompts, policy.num_responses
    logits = policy.logits
    pot = jnp.full((X, Y), -jnp.inf, dtype=logits.dtype).at[policy.x, policy.y].max(logits)
    seen = jnp.any(pot > -jnp.inf, axis=-1, keepdims=True)
    pot = jnp.where(seen, pot, 0.0)
    logp = pot - jax.nn.logsumexp(pot, axis=-1, keepdims=True)
    return jnp.where(jnp.any(jnp.isnan(logits)), jnp.nan, logp)


# Pairs are deduplicated through a dense [X, Y] table of first indices when it has at most this
# many entries per policy entry; through a sort of the keys otherwise. XLA's CPU sort is slow
# (BENCHMARKS.md, benchmark 1): on 256 seeds x 4096 entries it took 186 ms, half the tabular
# squared-loss sweep of benchmark 8, where the dense table costs one fill and one scatter.
_DENSE_DEDUP_FACTOR = 64


@log_mass_in_set.register(SparseSoftmaxPolicy)
def _log_mass_in_set_sparse_softmax(policy: SparseSoftmaxPolicy, in_set: jax.Array):
    X, Y = policy.num_prompts, policy.num_responses
    in_set = _check_set_mask(in_set, X, Y)
    logits = policy.logits
    m = logits.shape[0]
    # Distinct (x, y) pairs: each entry's representative is the first entry of its pair, found
    # through a dense [X, Y] table of first indices when that is small (one scatter, no sort),
    # else by sorting the keys. Neither depends on which entries are masked (-inf), so under
    # vmap over budgets that differ only in the mask it is done once per seed.
    if X * Y <= _DENSE_DEDUP_FACTOR * m:
        first = (
            jnp.full((X, Y), m, jnp.int32)
            .at[policy.x, policy.y]
            .min(jnp.arange(m, dtype=jnp.int32))
        )
        rep = first[policy.x, policy.y]
    else:
        key = policy.x.astype(jnp.int64 if jax.config.jax_enable_x64 else jnp.int32) * Y + policy.y
        order = jnp.argsort(key)
        key_s = key[order]
        start = jnp.concatenate([jnp.ones(1, bool), key_s[1:] != key_s[:-1]])
        rep = (
            jnp.zeros(m, jnp.int32)
            .at[order]
            .set(order[jax.lax.cummax(jnp.where(start, jnp.arange(m), 0))].astype(jnp.int32))
        )
    is_rep = rep == jnp.arange(m, dtype=jnp.int32)
    # A pair's potential: the max over its unmasked entries (-inf if all are masked).
    pot = jax.ops.segment_max(logits, rep, num_segments=m)
    live = is_rep & (pot > -jnp.inf)
    top = jax.ops.segment_max(jnp.where(live, pot, -jnp.inf), policy.x, num_segments=X)
    w = jnp.where(live, jnp.exp(pot - jnp.where(live, top[policy.x], 0.0)), 0.0)
    # The in-set and out-of-set sums relative to the row's max, each summed directly (relative
    # precision for both); rows without entries are uniform: |S| / Y and 1 - |S| / Y.
    hit = in_set[policy.x, policy.y]
    parts = jnp.stack([jnp.where(hit, w, 0.0), jnp.where(hit, 0.0, w)], -1)
    both = jax.ops.segment_sum(parts, policy.x, X)
    seen = top > -jnp.inf
    size = jnp.sum(in_set, axis=-1).astype(logits.dtype)
    with np.errstate(divide="ignore"):
        log_total = jnp.log(both[:, 0] + both[:, 1])
        log_in = jnp.where(seen, jnp.log(both[:, 0]) - log_total, jnp.log(size / Y))
        log_out = jnp.where(seen, jnp.log(both[:, 1]) - log_total, jnp.log((Y - size) / Y))
    bad = jnp.any(jnp.isnan(logits))
    return jnp.where(bad, jnp.nan, log_in), jnp.where(bad, jnp.nan, log_out)


def _check_set_mask(in_set: Any, X: int, Y: int) -> jax.Array:
    in_set = jnp.asarray(in_set)
    if in_set.shape != (X, Y) or in_set.dtype != jnp.bool_:
        raise ValueError(
            f"in_set must be an [X, Y] = [{X}, {Y}] boolean mask, got {in_set.dtype} {in_set.shape}"
        )
    return in_set


@to_table.register(SparseSoftmaxPolicy)
def _to_table_sparse_softmax(policy, *, max_entries: int | None = None) -> jax.Array:
    return policy.logp


def register_tabular_view(cls: type, view) -> None:
    """Registers ``sample``, ``log_prob``, ``greedy`` and ``sequence_argmax`` for policies of
    type ``cls`` as those of ``view(policy)``, the same policy as a :class:`TabularPolicy` (for
    policy types that are tables in another parametrization)."""
    sample.register(cls)(lambda key, policy, x, n: sample(key, view(policy), x, n))
    log_prob.register(cls)(lambda policy, x, y: log_prob(view(policy), x, y))
    greedy.register(cls)(lambda policy, x: greedy(view(policy), x))
    sequence_argmax.register(cls)(lambda policy, x: sequence_argmax(view(policy), x))


@to_table.register(CountPolicy)
def _to_table_counts(policy: CountPolicy, *, max_entries: int | None = None) -> jax.Array:
    return policy.logp


register_tabular_view(CountPolicy, lambda policy: unchecked(TabularPolicy, logp=policy.logp))
register_tabular_view(
    SparseSoftmaxPolicy, lambda policy: unchecked(TabularPolicy, logp=policy.logp)
)
