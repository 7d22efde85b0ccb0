"""Autoregressive tabular policies over ``V^H`` with an optional end-of-sequence token.

The paper's autoregressive setting (THEORY.md section 1.1) is ``Y = V^H`` with
``pi(y_{1:H} | x) = prod_h pi_h(y_h | y_{1:h-1}, x)``. Here every conditional next-token
distribution is stored explicitly, one row per (prompt, prefix), so small ``V`` and ``H`` can be
enumerated exactly and compared with sampling, greedy decoding and the sequence-level argmax
(Proposition 3.1).

**Prefix indexing.** Prefixes are numbered as the nodes of the complete ``V``-ary tree in level
order: the empty prefix is node 0 and the prefix ``y_{1:h}`` is node
``node(y_{1:h-1}) * V + 1 + y_h``, i.e. ``(V^h - 1)/(V - 1) + sum_i y_i V^(h-i)``. Prefixes of
length ``0..H-1`` give ``S = (V^H - 1)/(V - 1)`` rows, and
``logp[x, s, v] = log pi(v | x, prefix s)``. Rows of prefixes that contain the end-of-sequence
token are never used.

**Response encoding.** A response is a token array ``[H]``. With ``eos = None`` every response has
exactly ``H`` tokens (``Y = V^H``). With an ``eos`` token, a response ends at its first ``eos``
(included in its length) or after ``H`` tokens; positions after the end are padding, filled with
``eos`` by every function here and ignored by :func:`log_prob`. The length is the number of tokens
including the ``eos``. There are ``Y = sum_{k=0}^{H} (V - 1)^k`` responses with an ``eos``.

**Enumeration order** (the columns of :func:`to_table` and the rows of
:func:`enumerate_responses`): lexicographic order of the ``eos``-padded token arrays, first token
most significant. With ``eos = None`` response ``y`` is column ``sum_h y_h V^(H-h)``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from theory.checks import (
    MAX_TABLE_ENTRIES,
    as_array,
    check_allocation,
    check_count,
    check_probs,
    check_table_size,
    format_count,
)

from ._api import greedy, log_prob, sample, sequence_argmax, to_table
from ._dirichlet import dirichlet_logp
from ._rollouts import Rollouts
from ._tabular import (
    CountPolicy,
    SparseSoftmaxPolicy,
    TabularPolicy,
    check_field_shape,
    check_ids,
    check_logits,
    check_prompts,
    check_sample_args,
    check_table_field,
    row_stats,
    set_field,
    unchecked,
    validated_pytree,
)


def _geometric_sum(r: int, k: int) -> int:
    """``sum_{h < k} r^h`` exactly, in closed form (a loop over ``h`` is quadratic in ``k``)."""
    if r == 1:
        return k
    return (r**k - 1) // (r - 1)


def num_prefixes(V: int, H: int) -> int:
    """``S = (V^H - 1)/(V - 1)``: the number of prefixes of length ``0..H-1`` over ``V`` tokens."""
    return _geometric_sum(V, H)


def num_responses(V: int, H: int, eos: int | None = None) -> int:
    """``Y``: ``V^H`` without an end-of-sequence token, ``sum_{k<=H} (V-1)^k`` with one."""
    if eos is None:
        return V**H
    return _geometric_sum(V - 1, H + 1)


def _infer_horizon(S: int, V: int, name: str) -> int:
    if V < 2:
        raise ValueError(f"{name} must have a vocabulary of V >= 2 tokens, got V = {V}")
    total, H = 0, 0
    while total < S:
        total += V**H
        H += 1
    if total != S or H == 0:
        raise ValueError(
            f"{name} must have S = (V^H - 1)/(V - 1) prefixes (axis 1) for some H >= 1, i.e. the "
            f"prefixes of length 0..H-1; got S = {S} with V = {V}"
        )
    return H


def _check_eos(eos: Any, V: int) -> int | None:
    if eos is None:
        return None
    if isinstance(eos, bool) or not isinstance(eos, (int, np.integer)) or not 0 <= eos < V:
        raise ValueError(f"eos must be None or a token id in [0, {V}), got {eos!r}")
    return int(eos)


def _check_conditionals_shape(arr: jax.Array, name: str, H: int | None) -> int:
    if arr.ndim != 3:
        raise ValueError(
            f"{name} must have shape [X, S, V] (prompt, prefix, token), got {arr.shape}"
        )
    V = arr.shape[-1]
    if V < 2:
        raise ValueError(f"{name} must have a vocabulary of V >= 2 tokens, got shape {arr.shape}")
    inferred = _infer_horizon(arr.shape[1], V, name)
    if H is not None and H != inferred:
        raise ValueError(
            f"{name} has S = {arr.shape[1]} prefixes, which means H = {inferred}, not H = {H}"
        )
    return inferred


@validated_pytree(("logp",), ("H", "eos"))
@dataclasses.dataclass(frozen=True)
class AutoregressivePolicy:
    """``pi(y_{1:H} | x) = prod_h pi(y_h | x, y_{1:h-1})`` with one stored row per prefix.

    See the module docstring for the prefix indexing and the response encoding. Every
    construction validates: the constructor and :meth:`from_table` take normalized
    log-probabilities (float ``[X, S, V]`` with ``V >= 2`` and ``S = (V^H - 1)/(V - 1)``, and when
    concrete no NaN or ``+inf`` and every row summing to 1), :meth:`from_logits` normalizes,
    :meth:`from_probs` takes probabilities; ``eos`` is ``None`` or a token id. (``jax.tree_util``
    rebuilds skip the checks, so tracers and jit outputs are not re-scanned.)

    Attributes:
      logp: ``[X, S, V]`` next-token log-probabilities, ``S = (V^H - 1)/(V - 1)``, rows normalized.
      H: static int, the horizon (largest response length).
      eos: static int end-of-sequence token, or ``None`` for fixed-length responses ``V^H``.
    """

    logp: jax.Array
    H: int
    eos: int | None = None

    def __post_init__(self):
        logp = check_table_field(self.logp, "logp", 3, "[X, S, V] (prompt, prefix, token)")
        H = check_count(self.H, "H")
        _check_conditionals_shape(logp, "logp", H)
        set_field(self, "logp", logp)
        set_field(self, "H", H)
        set_field(self, "eos", _check_eos(self.eos, logp.shape[-1]))

    @classmethod
    def from_logits(cls, logits, *, eos: int | None = None) -> AutoregressivePolicy:
        """Normalizes ``[X, S, V]`` next-token logits (``-inf`` allowed) into a policy."""
        logits = check_logits(logits, "logits", ndim=3)
        check_field_shape(logits, "logits", 3, "[X, S, V] (prompt, prefix, token)")
        H = _check_conditionals_shape(logits, "logits", None)
        eos = _check_eos(eos, logits.shape[-1])
        logp = logits - jax.scipy.special.logsumexp(logits, axis=-1, keepdims=True)
        return unchecked(cls, logp=logp, H=H, eos=eos)

    @classmethod
    def from_table(cls, logp, *, eos: int | None = None) -> AutoregressivePolicy:
        """Builds a policy from normalized ``[X, S, V]`` next-token log-probabilities."""
        arr = as_array(logp, "logp")
        check_field_shape(arr, "logp", 3, "[X, S, V] (prompt, prefix, token)")
        return cls(arr, _check_conditionals_shape(arr, "logp", None), eos)

    @classmethod
    def from_probs(cls, probs, *, eos: int | None = None) -> AutoregressivePolicy:
        """Builds a policy from ``[X, S, V]`` next-token probabilities (rows summing to 1)."""
        arr = as_array(probs, "probs")
        if arr.ndim != 3:
            raise ValueError(
                f"probs must have shape [X, S, V] (prompt, prefix, token), got {arr.shape}"
            )
        check_field_shape(arr, "probs", 3, "[X, S, V] (prompt, prefix, token)")
        H = _check_conditionals_shape(arr, "probs", None)
        logp = check_probs(arr, "probs", min_ndim=3)
        return unchecked(cls, logp=logp, H=H, eos=_check_eos(eos, arr.shape[-1]))

    @property
    def num_prompts(self) -> int:
        """X."""
        return self.logp.shape[0]

    @property
    def V(self) -> int:
        """The vocabulary size (the end-of-sequence token included)."""
        return self.logp.shape[-1]

    @property
    def num_responses(self) -> int:
        """Y, the number of distinct responses (columns of :func:`to_table`)."""
        return num_responses(self.V, self.H, self.eos)


def random_autoregressive(
    key: jax.Array,
    num_prompts: int,
    V: int,
    H: int,
    *,
    eos: int | None = None,
    concentration: float = 1.0,
) -> AutoregressivePolicy:
    """A random autoregressive policy: every next-token row is ``Dirichlet(concentration)``.

    Args:
      key: PRNG key.
      num_prompts: X.
      V: vocabulary size (the ``eos`` token included), ``>= 2``.
      H: horizon, ``>= 1``.
      eos: optional end-of-sequence token id.
      concentration: Dirichlet parameter (> 0): small values give peaked next-token rows (and a
        sharper sequence distribution), large values nearly uniform ones.
    """
    num_prompts = check_count(num_prompts, "num_prompts")
    V = check_count(V, "V", minimum=2)
    H = check_count(H, "H")
    eos = _check_eos(eos, V)

    # The size is checked in log space first: V^H itself is not formed for an absurd H.
    if H * math.log2(V) > 64:
        S_text = f"{V}^{H}"
        check_allocation(
            2**64, f"the [X, S, V] = [{num_prompts}, ~{S_text}, {V}] table", "num_prompts, V, H", 24
        )
    S = num_prefixes(V, H)
    check_allocation(
        num_prompts * S * V,
        f"the [X, S, V] = [{num_prompts}, {format_count(S)}, {V}] next-token table",
        "num_prompts, V, H",
        24,
    )
    logp = dirichlet_logp(key, (num_prompts, S, V), concentration)
    return unchecked(AutoregressivePolicy, logp=logp, H=H, eos=eos)


# --------------------------------------------------------------------------------------------------
# Chains: shared machinery for policies whose next-token row is a function of a discrete state.
# AutoregressivePolicy uses state = prefix node (tree=True), MarkovPolicy state = previous token.


def _next_state(state: jax.Array, tok: jax.Array, V: int, tree: bool) -> jax.Array:
    return state * V + 1 + tok if tree else tok


def search_rows(cdf: jax.Array, rows: jax.Array, u: jax.Array) -> jax.Array:
    """Inverse-CDF lookup in many rows of one table without gathering whole rows.

    Args:
      cdf: ``[R, V]`` nondecreasing cumulative masses per row.
      rows: ``[B]`` row index of each query.
      u: ``[B]`` query values in ``[0, cdf[row, -1])``.

    Returns:
      ``[B]`` int32 ``#{j : cdf[row, j] <= u}`` (``searchsorted(side='right')``), by a binary search
      of ``ceil(log2(V + 1))`` steps that gathers one entry per query and step: O(B log V) time and
      O(B) memory, rather than the ``B x V`` of gathering rows.
    """
    R, V = cdf.shape
    flat = cdf.reshape(-1)
    base = rows.astype(jnp.int32) * V
    lo = jnp.zeros(rows.shape, jnp.int32)
    hi = jnp.full(rows.shape, V, jnp.int32)

    def body(_, carry):
        lo, hi = carry
        mid = (lo + hi) // 2
        val = flat[base + jnp.minimum(mid, V - 1)]
        right = (val <= u) & (lo < hi)
        return jnp.where(right, mid + 1, lo), jnp.where(right, hi, jnp.where(lo < hi, mid, hi))

    lo, _ = jax.lax.fori_loop(0, int(V).bit_length(), body, (lo, hi))
    return lo


@functools.partial(jax.jit, static_argnames=("init_state", "tree", "eos"))
def _chain_log_prob(
    table: jax.Array,
    x: jax.Array,
    y: jax.Array,
    init_state: int,
    tree: bool,
    eos: int | None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Per-token log-probs, lengths and the sequence log-prob of ``y [..., T]`` under a chain.

    The sum is a left fold in token order, the same order as in :func:`_chain_sample`, so sampled
    ``logp_base`` and :func:`log_prob` agree bit for bit.
    """
    X, S, V = table.shape
    y = jnp.asarray(y).astype(jnp.int32)
    x = jnp.asarray(x).astype(jnp.int32)
    batch = jnp.broadcast_shapes(x.shape, y.shape[:-1])
    x = jnp.broadcast_to(x, batch)
    y = jnp.broadcast_to(y, batch + y.shape[-1:])
    flat = table.reshape(X * S, V)

    def step(carry, y_t):
        state, done, total = carry
        lp = flat[x * S + state, y_t]
        active = ~done
        lp = jnp.where(active, lp, jnp.zeros_like(lp))
        total = total + lp
        if eos is not None:
            done = done | (y_t == eos)
        state = jnp.where(done, state, jnp.minimum(_next_state(state, y_t, V, tree), S - 1))
        return (state, done, total), (lp, active)

    init = (
        jnp.full(x.shape, init_state, jnp.int32),
        jnp.zeros(x.shape, bool),
        jnp.zeros(x.shape, table.dtype),
    )
    (_, _, total), (token_logp, active) = jax.lax.scan(step, init, jnp.moveaxis(y, -1, 0))
    lengths = jnp.sum(active, axis=0).astype(jnp.int32)
    return jnp.moveaxis(token_logp, 0, -1), lengths, total


@functools.partial(jax.jit, static_argnames=("n", "T", "init_state", "tree", "eos"))
def _chain_sample(
    key: jax.Array,
    table: jax.Array,
    x: jax.Array,
    n: int,
    T: int,
    init_state: int,
    tree: bool,
    eos: int | None,
) -> Rollouts:
    """Draws ``n`` responses per prompt, one ``lax.scan`` step per token, by inverse CDF."""
    X, S, V = table.shape
    flat = table.reshape(X * S, V)
    mx = jnp.max(flat, axis=-1, keepdims=True)
    p = jnp.exp(flat - mx)
    cdf = jnp.cumsum(p, axis=-1)
    total_mass = cdf[:, -1]
    # u may round up to the row total; fall back to the last token with mass, not V - 1.
    last = V - 1 - jnp.argmax((p > 0)[:, ::-1], axis=-1).astype(jnp.int32)
    entropy, kl_uniform = row_stats(flat)

    P = x.shape[0]
    xb = jnp.repeat(x.astype(jnp.int32), n)  # [B], B = P * n
    keys = jax.random.split(key, T)

    def step(carry, key_t):
        state, done, total = carry
        row = xb * S + state
        u = jax.random.uniform(key_t, xb.shape, dtype=cdf.dtype) * total_mass[row]
        tok = jnp.minimum(search_rows(cdf, row, u), last[row])
        active = ~done
        lp = jnp.where(active, flat[row, tok], jnp.zeros((), flat.dtype))
        ent = jnp.where(active, entropy[row], jnp.zeros((), flat.dtype))
        klu = jnp.where(active, kl_uniform[row], jnp.zeros((), flat.dtype))
        total = total + lp
        if eos is not None:
            tok = jnp.where(done, eos, tok)
            done = done | (tok == eos)
        state = jnp.where(done, state, jnp.minimum(_next_state(state, tok, V, tree), S - 1))
        return (state, done, total), (tok, lp, ent, klu, active)

    init = (
        jnp.full(xb.shape, init_state, jnp.int32),
        jnp.zeros(xb.shape, bool),
        jnp.zeros(xb.shape, table.dtype),
    )
    (_, _, total), (tok, lp, ent, klu, active) = jax.lax.scan(step, init, keys)

    def shape(a):  # [T, B] -> [P, N, T]
        return jnp.moveaxis(a, 0, -1).reshape(P, n, T)

    return Rollouts(
        prompts=x,
        tokens=shape(tok),
        lengths=jnp.sum(active, axis=0).astype(jnp.int32).reshape(P, n),
        logp_base=total.reshape(P, n),
        token_logp=shape(lp),
        token_entropy=shape(ent),
        token_kl_uniform=shape(klu),
    )


@functools.partial(jax.jit, static_argnames=("T", "init_state", "tree", "eos"))
def _chain_greedy(
    table: jax.Array,
    x: jax.Array,
    T: int,
    init_state: int,
    tree: bool,
    eos: int | None,
) -> jax.Array:
    """Token-wise greedy decoding ``y_t = argmax_v pi(v | x, y_<t)`` (ties: lowest token)."""
    X, S, V = table.shape
    flat = table.reshape(X * S, V)
    x = jnp.asarray(x).astype(jnp.int32)

    def step(carry, _):
        state, done = carry
        tok = jnp.argmax(flat[x * S + state], axis=-1).astype(jnp.int32)
        if eos is not None:
            tok = jnp.where(done, eos, tok)
            done = done | (tok == eos)
        state = jnp.where(done, state, jnp.minimum(_next_state(state, tok, V, tree), S - 1))
        return (state, done), tok

    init = (jnp.full(x.shape, init_state, jnp.int32), jnp.zeros(x.shape, bool))
    _, toks = jax.lax.scan(step, init, None, length=T)
    return jnp.moveaxis(toks, 0, -1)


def _check_tokens(y: Any, policy_V: int, T: int, name: str = "y") -> jax.Array:
    y = as_array(y, name)
    if y.ndim < 1 or y.shape[-1] != T:
        raise ValueError(
            f"{name} must be a [..., {T}] token array (one row per response), got {y.shape}"
        )
    return check_ids(y, policy_V, name, "token")


# --------------------------------------------------------------------------------------------------
# Enumeration.


def enumerate_sequences(V: int, H: int, eos: int | None = None, *, max_entries: int | None = None):
    """All responses over ``V`` tokens with horizon ``H``, in the module's enumeration order.

    Returns:
      ``tokens [Y, H]`` int32 (``eos``-padded) and ``lengths [Y]`` int32, as numpy arrays.
    """
    Y = num_responses(V, H, eos)
    limit = MAX_TABLE_ENTRIES if max_entries is None else max_entries
    what = f"the {format_count(Y)} responses of length <= {H} over V = {V} tokens"
    check_table_size(Y * H, what, limit)
    toks = np.zeros((1, 0), np.int32)
    for h in range(1, H + 1):  # toks holds the canonical padded arrays of length h - 1
        parts = []
        for v in range(V):
            if v == eos:
                parts.append(np.full((1, h), eos, np.int32))
            else:
                parts.append(np.concatenate([np.full((len(toks), 1), v, np.int32), toks], axis=1))
        toks = np.concatenate(parts, axis=0)
    if eos is None:
        lengths = np.full(len(toks), H, np.int32)
    else:
        is_eos = toks == eos
        lengths = np.where(is_eos.any(axis=1), is_eos.argmax(axis=1) + 1, H).astype(np.int32)
    return toks, lengths


@functools.singledispatch
def enumerate_responses(policy: Any, *, max_entries: int | None = None):
    """Every response of ``policy`` in the column order of :func:`~simulators.to_table`.

    Returns:
      ``tokens [Y, T]`` int and ``lengths [Y]`` int (jax arrays); for tabular policies
      ``tokens[y] = [y]``.

    Raises:
      ValueError: when the enumeration would exceed ``max_entries`` (default
        ``theory._validation.MAX_TABLE_ENTRIES``).
    """
    raise TypeError(f"enumerate_responses is not implemented for {type(policy).__name__}")


@enumerate_responses.register(TabularPolicy)
@enumerate_responses.register(CountPolicy)
@enumerate_responses.register(SparseSoftmaxPolicy)
def _enumerate_tabular(policy: Any, *, max_entries: int | None = None):
    Y = policy.num_responses
    return jnp.arange(Y, dtype=jnp.int32)[:, None], jnp.ones(Y, jnp.int32)


@enumerate_responses.register(AutoregressivePolicy)
def _enumerate_autoregressive(policy: AutoregressivePolicy, *, max_entries: int | None = None):
    toks, lengths = enumerate_sequences(policy.V, policy.H, policy.eos, max_entries=max_entries)
    return jnp.asarray(toks), jnp.asarray(lengths)


def table_from_enumeration(
    policy: Any, what: str, num_prompts: int, Y: int, max_entries: int | None
) -> jax.Array:
    """``[X, Y]`` table of ``log_prob`` over all enumerated responses, after the size check."""
    limit = MAX_TABLE_ENTRIES if max_entries is None else max_entries
    what = f"the [X, Y] = [{num_prompts}, {format_count(Y)}] table of {what}"
    check_table_size(num_prompts * Y, what, limit)
    # The [Y, T] token enumeration is T ints per column of the table: allow it T times the limit.
    T = getattr(policy, "H", 1)
    toks, _ = enumerate_responses(policy, max_entries=limit * T)
    x = jnp.arange(num_prompts, dtype=jnp.int32)[:, None]
    return log_prob(policy, x, toks[None])


# --------------------------------------------------------------------------------------------------
# The generic API.


@sample.register(AutoregressivePolicy)
def _sample_autoregressive(key, policy: AutoregressivePolicy, x, n: int) -> Rollouts:
    x, n = check_sample_args(x, n, policy.num_prompts, policy.H)
    return _chain_sample(key, policy.logp, x, n, policy.H, 0, True, policy.eos)


@log_prob.register(AutoregressivePolicy)
def _log_prob_autoregressive(policy: AutoregressivePolicy, x, y) -> jax.Array:
    x = check_prompts(x, policy.num_prompts)
    y = _check_tokens(y, policy.V, policy.H)
    return _chain_log_prob(policy.logp, x, y, 0, True, policy.eos)[2]


@to_table.register(AutoregressivePolicy)
def _to_table_autoregressive(policy: AutoregressivePolicy, *, max_entries: int | None = None):
    what = f"an AutoregressivePolicy (V = {policy.V}, H = {policy.H}, eos = {policy.eos})"
    return table_from_enumeration(
        policy, what, policy.num_prompts, policy.num_responses, max_entries
    )


@greedy.register(AutoregressivePolicy)
def _greedy_autoregressive(policy: AutoregressivePolicy, x) -> jax.Array:
    x = check_prompts(x, policy.num_prompts)
    return _chain_greedy(policy.logp, x, policy.H, 0, True, policy.eos)


def autoregressive_argmax(policy: AutoregressivePolicy, x) -> tuple[jax.Array, jax.Array]:
    """The exact sequence argmax ``y*(x)`` and ``log pi(y*(x) | x)`` by dynamic programming.

    Bottom-up over the prefix tree: the best completion value of a prefix is
    ``max_v [log pi(v | prefix) + value(prefix + v)]`` (``eos`` and the last step end the response
    with value 0). Cost ``O(P S V)``, the size of the stored rows, instead of ``O(P Y H)`` for
    enumeration. Decoding picks the lowest maximizing token at every step, which returns the
    maximizer of lowest enumeration index.

    Args:
      policy: the policy.
      x: ``[P]`` int prompt ids.

    Returns:
      ``tokens [P, H]`` int32 (``eos``-padded) and ``logp_max [P]``.

    Raises:
      TypeError / ValueError: ``policy`` not an :class:`AutoregressivePolicy`, or ``x`` not
        ``[P]`` int prompt ids in ``[0, X)`` (values checked when concrete).
    """
    if not isinstance(policy, AutoregressivePolicy):
        raise TypeError(f"policy must be an AutoregressivePolicy, got {type(policy).__name__}")
    x = check_prompts(x, policy.num_prompts, ndim=1)
    return _autoregressive_argmax(policy, x)


@jax.jit
def _autoregressive_argmax(policy: AutoregressivePolicy, x) -> tuple[jax.Array, jax.Array]:
    V, H, eos = policy.V, policy.H, policy.eos
    x = jnp.asarray(x).astype(jnp.int32)
    lp = policy.logp[x]  # [P, S, V]
    P = x.shape[0]
    value = jnp.zeros((P, V**H), lp.dtype)  # completion value after a full-length prefix
    choices = [None] * H
    for h in reversed(range(H)):
        off = num_prefixes(V, h)
        rows = lp[:, off : off + V**h, :]  # prefixes of length h, in level order
        cont = value.reshape(P, V**h, V)
        if eos is not None:
            cont = cont.at[..., eos].set(0.0)
        q = rows + cont
        choices[h] = jnp.argmax(q, axis=-1).astype(jnp.int32)
        value = jnp.max(q, axis=-1)
    r = jnp.zeros(P, jnp.int32)  # index of the prefix within its level
    done = jnp.zeros(P, bool)
    toks = []
    for h in range(H):
        tok = jnp.take_along_axis(choices[h], r[:, None], axis=1)[:, 0]
        if eos is not None:
            tok = jnp.where(done, eos, tok)
            done = done | (tok == eos)
        toks.append(tok)
        r = jnp.where(done, 0, r * V + tok)
    return jnp.stack(toks, axis=-1), value[:, 0]


@sequence_argmax.register(AutoregressivePolicy)
def _sequence_argmax_autoregressive(policy: AutoregressivePolicy, x) -> jax.Array:
    return autoregressive_argmax(policy, x)[0]
