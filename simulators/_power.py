"""Exact laws of power distributions ``p_alpha(y | x) proportional to pi(y | x)^alpha``.

The sequence-level power law is the target of "power sampling" (Karan & Du, "Reasoning with
Sampling: Your Base Model is Smarter Than You Think", arXiv 2510.14901; Power-SMC, arXiv
2602.10273; "scalable power sampling", arXiv 2601.21590), and at ``alpha = 1 + 1/beta`` it is
RLHF-Sharpening's target ``pi*_beta = pi_base^(1 + 1/beta) / Z_beta`` (the paper's Eq. 3,
:func:`theory.kl_tilt` with the self-reward ``r = log pi_base``). It is *not* the token-level
tempered law (:func:`tempered_policy`), which raises every next-token row to ``1/temperature``:
for an autoregressive policy the power law factorizes as

    p_alpha(y_t | x, y_<t) = pi(y_t | x, y_<t)^alpha zeta(y_<=t) / zeta(y_<t),
    zeta(prefix) = sum over completions c of pi(c | x, prefix)^alpha,

with the look-ahead ``zeta`` (a response that has ended, by ``eos`` or at the horizon, has
``zeta = 1``). Tempering drops ``zeta``: a first token whose mass spreads over many completions
keeps its tempered mass but loses its power-law mass.

Everything here is exact and in log space: ``log zeta`` by a backward recursion over the prefix
tree (:class:`~simulators.AutoregressivePolicy`) or over the remaining horizon (Markov chains), so
sequence masses far below float range (``H = 200`` and more) stay finite.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp

from theory.checks import (
    MAX_TABLE_ENTRIES,
    check_positive,
    check_scalar,
    check_table_size,
    format_count,
)

from ._api import greedy, log_prob, sample, sequence_argmax, to_table
from ._autoregressive import (
    AutoregressivePolicy,
    _check_tokens,
    enumerate_responses,
    enumerate_sequences,
    num_prefixes,
    search_rows,
    table_from_enumeration,
)
from ._markov import MarkovPolicy
from ._rollouts import Rollouts
from ._tabular import (
    TabularPolicy,
    check_prompts,
    check_sample_args,
    check_table_field,
    row_stats,
    set_field,
    unchecked,
    validated_pytree,
)

_lse = jax.scipy.special.logsumexp


def _log_normalize(logits: jax.Array) -> jax.Array:
    return logits - _lse(logits, axis=-1, keepdims=True)


# --------------------------------------------------------------------------------------------------
# A time-inhomogeneous Markov chain: the power law of a Markov chain.


@validated_pytree(("init_logp", "trans_logp"))
@dataclasses.dataclass(frozen=True)
class InhomogeneousMarkovPolicy:
    """A prompt-conditioned Markov chain whose transitions depend on the position, ``H`` steps.

    ``pi(y_{1:H} | x) = pi_1(y_1 | x) prod_{h >= 2} pi_h(y_h | x, y_{h-1})``. This is what the
    power law of a :class:`~simulators.MarkovPolicy` is (:func:`power_policy`): its look-ahead
    depends on the remaining horizon, which :class:`~simulators.MarkovPolicy` cannot represent.
    Responses, ``log_prob``, the enumeration order of ``to_table`` (``Y = V^H``) and Viterbi's
    ``sequence_argmax`` are as for :class:`~simulators.MarkovPolicy`. The constructor validates
    like :class:`~simulators.MarkovPolicy`'s (normalized rows when concrete).

    Attributes:
      init_logp: ``[X, V]`` ``log pi_1(y_1 | x)``.
      trans_logp: ``[X, H - 1, V, V]``: ``log pi_{h+2}(y_{h+2} = w | x, y_{h+1} = v)`` at
        ``[x, h, v, w]`` (0-based ``h``; the axis is empty when ``H = 1``).
    """

    init_logp: jax.Array
    trans_logp: jax.Array

    def __post_init__(self):
        init = check_table_field(self.init_logp, "init_logp", 2, "[X, V]")
        trans = self.trans_logp
        if getattr(trans, "ndim", None) == 4 and trans.shape[1] == 0:
            trans = jnp.asarray(trans, init.dtype)  # H = 1: no transition to check
        else:
            trans = check_table_field(trans, "trans_logp", 4, "[X, H - 1, V, V]")
        X, V = init.shape
        if trans.shape[0] != X or trans.shape[2:] != (V, V) or trans.dtype != init.dtype:
            raise ValueError(
                f"trans_logp must have shape [X, H - 1, V, V] = [{X}, H - 1, {V}, {V}] and the "
                f"dtype of init_logp {init.dtype} (shape {init.shape}), got shape {trans.shape} "
                f"and dtype {trans.dtype}"
            )
        set_field(self, "init_logp", init)
        set_field(self, "trans_logp", trans)

    # The same fields mean the same as MarkovPolicy's: X, V and Y = V^H are its properties.
    num_prompts = MarkovPolicy.num_prompts
    V = MarkovPolicy.V
    num_responses = MarkovPolicy.num_responses

    @property
    def H(self) -> int:
        """The response length."""
        return self.trans_logp.shape[1] + 1


def _step_tables(policy: InhomogeneousMarkovPolicy) -> jax.Array:
    """``[H, X * V, V]``: the next-token row at step ``t`` for state ``x * V + previous token``
    (step 0 repeats the initial row for every state)."""
    X, V = policy.init_logp.shape
    first = jnp.broadcast_to(policy.init_logp[:, None, :], (X, V, V))
    steps = jnp.concatenate([first[:, None], policy.trans_logp], axis=1)  # [X, H, V, V]
    return jnp.moveaxis(steps, 1, 0).reshape(policy.H, X * V, V)


@functools.partial(jax.jit, static_argnames="n")
def _sample_inhomogeneous(key, policy: InhomogeneousMarkovPolicy, x, n: int) -> Rollouts:
    # The inverse-CDF scan of _chain_sample, with one table per step instead of one per chain.
    V, H = policy.V, policy.H
    flat = _step_tables(policy)
    p = jnp.exp(flat - jnp.max(flat, axis=-1, keepdims=True))
    cdf = jnp.cumsum(p, axis=-1)
    last = V - 1 - jnp.argmax((p > 0)[..., ::-1], axis=-1).astype(jnp.int32)
    entropy, kl_uniform = row_stats(flat)
    P = x.shape[0]
    xb = jnp.repeat(x.astype(jnp.int32), n)

    def step(carry, inputs):
        prev, total = carry
        key_t, cdf_t, last_t, flat_t, ent_t, klu_t = inputs
        row = xb * V + prev
        u = jax.random.uniform(key_t, xb.shape, dtype=cdf.dtype) * cdf_t[row, -1]
        tok = jnp.minimum(search_rows(cdf_t, row, u), last_t[row])
        lp = flat_t[row, tok]
        return (tok, total + lp), (tok, lp, ent_t[row], klu_t[row])

    init = (jnp.zeros(xb.shape, jnp.int32), jnp.zeros(xb.shape, flat.dtype))
    inputs = (jax.random.split(key, H), cdf, last, flat, entropy, kl_uniform)
    (_, total), (tok, lp, ent, klu) = jax.lax.scan(step, init, inputs)

    def shape(a):  # [T, B] -> [P, N, T]
        return jnp.moveaxis(a, 0, -1).reshape(P, n, H)

    return Rollouts(
        prompts=x,
        tokens=shape(tok),
        lengths=jnp.full((P, n), H, jnp.int32),
        logp_base=total.reshape(P, n),
        token_logp=shape(lp),
        token_entropy=shape(ent),
        token_kl_uniform=shape(klu),
    )


@jax.jit
def _log_prob_inhomogeneous(policy: InhomogeneousMarkovPolicy, x, y) -> jax.Array:
    # A left fold in token order, as in sampling, so sampled logp_base and log_prob agree exactly.
    flat = _step_tables(policy)
    y = jnp.asarray(y).astype(jnp.int32)
    batch = jnp.broadcast_shapes(jnp.shape(x), y.shape[:-1])
    x = jnp.broadcast_to(jnp.asarray(x).astype(jnp.int32), batch)
    y = jnp.broadcast_to(y, batch + y.shape[-1:])

    def step(carry, inputs):
        prev, total = carry
        flat_t, y_t = inputs
        return (y_t, total + flat_t[x * policy.V + prev, y_t]), None

    init = (jnp.zeros(batch, jnp.int32), jnp.zeros(batch, flat.dtype))
    (_, total), _ = jax.lax.scan(step, init, (flat, jnp.moveaxis(y, -1, 0)))
    return total


@jax.jit
def _greedy_inhomogeneous(policy: InhomogeneousMarkovPolicy, x) -> jax.Array:
    flat = _step_tables(policy)
    x = jnp.asarray(x).astype(jnp.int32)

    def step(prev, flat_t):
        tok = jnp.argmax(flat_t[x * policy.V + prev], axis=-1).astype(jnp.int32)
        return tok, tok

    _, toks = jax.lax.scan(step, jnp.zeros(x.shape, jnp.int32), flat)
    return jnp.moveaxis(toks, 0, -1)


@jax.jit
def _viterbi_inhomogeneous(policy: InhomogeneousMarkovPolicy, x) -> jax.Array:
    """Viterbi with position-dependent transitions (ties: lowest token, as markov_viterbi)."""
    x = jnp.asarray(x).astype(jnp.int32)
    init = policy.init_logp[x]  # [P, V]
    trans = jnp.moveaxis(policy.trans_logp[x], 1, 0)  # [H - 1, P, V, V]

    def backward(b_next, trans_h):
        return jnp.max(trans_h + b_next[:, None, :], axis=-1), b_next

    # b_next[h] is the best log-mass of a completion after position h + 1 (0-based).
    b_first, b_next = jax.lax.scan(backward, jnp.zeros_like(init), trans, reverse=True)
    y0 = jnp.argmax(init + b_first, axis=-1).astype(jnp.int32)

    def forward(prev, inputs):
        trans_h, b_h = inputs
        row = jnp.take_along_axis(trans_h, prev[:, None, None], axis=1)[:, 0, :]
        tok = jnp.argmax(row + b_h, axis=-1).astype(jnp.int32)
        return tok, tok

    _, rest = jax.lax.scan(forward, y0, (trans, b_next))
    return jnp.concatenate([y0[:, None], jnp.moveaxis(rest, 0, 1)], axis=1)


@sample.register(InhomogeneousMarkovPolicy)
def _sample_inhomogeneous_api(key, policy: InhomogeneousMarkovPolicy, x, n: int) -> Rollouts:
    x, n = check_sample_args(x, n, policy.num_prompts, policy.H)
    return _sample_inhomogeneous(key, policy, x, n)


@log_prob.register(InhomogeneousMarkovPolicy)
def _log_prob_inhomogeneous_api(policy: InhomogeneousMarkovPolicy, x, y) -> jax.Array:
    x = check_prompts(x, policy.num_prompts)
    y = _check_tokens(y, policy.V, policy.H)
    return _log_prob_inhomogeneous(policy, x, y)


@enumerate_responses.register(InhomogeneousMarkovPolicy)
def _enumerate_inhomogeneous(policy: InhomogeneousMarkovPolicy, *, max_entries=None):
    toks, lengths = enumerate_sequences(policy.V, policy.H, None, max_entries=max_entries)
    return jnp.asarray(toks), jnp.asarray(lengths)


@to_table.register(InhomogeneousMarkovPolicy)
def _to_table_inhomogeneous(policy: InhomogeneousMarkovPolicy, *, max_entries=None):
    what = f"an InhomogeneousMarkovPolicy (V = {policy.V}, H = {policy.H})"
    return table_from_enumeration(
        policy, what, policy.num_prompts, policy.num_responses, max_entries
    )


@greedy.register(InhomogeneousMarkovPolicy)
def _greedy_inhomogeneous_api(policy: InhomogeneousMarkovPolicy, x) -> jax.Array:
    return _greedy_inhomogeneous(policy, check_prompts(x, policy.num_prompts))


@sequence_argmax.register(InhomogeneousMarkovPolicy)
def _sequence_argmax_inhomogeneous(policy: InhomogeneousMarkovPolicy, x) -> jax.Array:
    return _viterbi_inhomogeneous(policy, check_prompts(x, policy.num_prompts, ndim=1))


# --------------------------------------------------------------------------------------------------
# The exact power laws, one per policy kind.


@functools.partial(jax.jit, static_argnames=("H", "eos"))
def _power_tree(logp: jax.Array, alpha: jax.Array, H: int, eos: int | None):
    """``[X, S, V]`` conditionals of the power law of a prefix tree (level order, as stored), and
    ``[X]`` ``log zeta`` of the empty prefix (the normalizer ``log Z_alpha(x)``).

    Bottom-up over the levels, as :func:`~simulators.autoregressive_argmax` with ``logsumexp``
    for ``max``: ``log zeta = 0`` after a full-length prefix and after ``eos``.
    """
    X, S, V = logp.shape
    log_zeta = jnp.zeros((X, V**H), logp.dtype)
    levels = [None] * H
    for h in reversed(range(H)):
        off = num_prefixes(V, h)
        rows = alpha * logp[:, off : off + V**h, :]  # prefixes of length h
        cont = log_zeta.reshape(X, V**h, V)
        if eos is not None:
            cont = cont.at[..., eos].set(0.0)
        q = rows + cont
        log_zeta = _lse(q, axis=-1)
        levels[h] = q - log_zeta[..., None]
    return jnp.concatenate(levels, axis=1), log_zeta[:, 0]


@jax.jit
def _power_chain(init: jax.Array, trans: jax.Array, alpha: jax.Array):
    """Power law of a chain ``init [X, V]``, ``trans [X, H - 1, V, V]`` (position-dependent).

    ``log zeta_{H}(v) = 0`` after the last position and, backwards,
    ``log zeta_h(v) = logsumexp_w (alpha log pi_{h+1}(w | v) + log zeta_{h+1}(w))``; the power
    law's rows are ``alpha log pi_{h+1}(w | v) + log zeta_{h+1}(w) - log zeta_h(v)``.
    """

    def backward(log_zeta_next, trans_h):
        q = alpha * trans_h + log_zeta_next[:, None, :]
        log_zeta = _lse(q, axis=-1)
        return log_zeta, q - log_zeta[..., None]

    zeros = jnp.zeros(init.shape, init.dtype)
    log_zeta, rows = jax.lax.scan(backward, zeros, jnp.moveaxis(trans, 1, 0), reverse=True)
    return _log_normalize(alpha * init + log_zeta), jnp.moveaxis(rows, 0, 1)


def _check_size(num_entries: int, what: str, max_entries: int | None) -> None:
    limit = MAX_TABLE_ENTRIES if max_entries is None else max_entries
    check_table_size(num_entries, f"{what} of the power law of policy", limit)


def _markov_as_inhomogeneous(policy: MarkovPolicy) -> tuple[jax.Array, jax.Array]:
    X, V, H = policy.num_prompts, policy.V, policy.H
    trans = jnp.broadcast_to(policy.trans_logp[:, None], (X, H - 1, V, V))
    return policy.init_logp, trans


@functools.singledispatch
def _power(policy: Any, alpha: jax.Array, max_entries: int | None):
    raise TypeError(
        "policy must be a TabularPolicy, AutoregressivePolicy, MarkovPolicy or "
        f"InhomogeneousMarkovPolicy, got {type(policy).__name__}"
    )


@_power.register(TabularPolicy)
def _power_tabular(policy: TabularPolicy, alpha, max_entries):
    return unchecked(TabularPolicy, logp=_log_normalize(alpha * policy.logp))


@_power.register(AutoregressivePolicy)
def _power_autoregressive(policy: AutoregressivePolicy, alpha, max_entries):
    X, S, V = policy.logp.shape
    what = f"the [X, S, V] = [{X}, {format_count(S)}, {V}] prefix tree"
    _check_size(X * S * V, what, max_entries)
    logp = _power_tree(policy.logp, alpha, policy.H, policy.eos)[0]
    return unchecked(AutoregressivePolicy, logp=logp, H=policy.H, eos=policy.eos)


def _power_of_chain(policy: Any, init, trans, alpha, max_entries):
    X, V, H = policy.num_prompts, policy.V, policy.H
    what = f"the [X, H - 1, V, V] = [{X}, {H - 1}, {V}, {V}] transitions"
    _check_size(X * (H - 1) * V * V, what, max_entries)
    init, trans = _power_chain(init, trans, alpha)
    return unchecked(InhomogeneousMarkovPolicy, init_logp=init, trans_logp=trans)


@_power.register(MarkovPolicy)
def _power_markov(policy: MarkovPolicy, alpha, max_entries):
    return _power_of_chain(policy, *_markov_as_inhomogeneous(policy), alpha, max_entries)


@_power.register(InhomogeneousMarkovPolicy)
def _power_inhomogeneous(policy: InhomogeneousMarkovPolicy, alpha, max_entries):
    return _power_of_chain(policy, policy.init_logp, policy.trans_logp, alpha, max_entries)


@functools.singledispatch
def _log_normalizer(policy: Any, alpha: jax.Array, max_entries: int | None):
    return _power(policy, alpha, max_entries)  # raises the TypeError naming the kinds


@_log_normalizer.register(TabularPolicy)
def _log_normalizer_tabular(policy: TabularPolicy, alpha, max_entries):
    return _lse(alpha * policy.logp, axis=-1)


@_log_normalizer.register(AutoregressivePolicy)
def _log_normalizer_autoregressive(policy: AutoregressivePolicy, alpha, max_entries):
    X, S, V = policy.logp.shape
    what = f"the [X, S, V] = [{X}, {format_count(S)}, {V}] prefix tree"
    _check_size(X * S * V, what, max_entries)
    return _power_tree(policy.logp, alpha, policy.H, policy.eos)[1]


def _log_normalizer_chain(init, trans, alpha):
    init, trans = jnp.asarray(init), jnp.asarray(trans)

    def backward(log_zeta_next, trans_h):
        return _lse(alpha * trans_h + log_zeta_next[:, None, :], axis=-1), None

    zeros = jnp.zeros(init.shape, init.dtype)
    log_zeta, _ = jax.lax.scan(backward, zeros, jnp.moveaxis(trans, 1, 0), reverse=True)
    return _lse(alpha * init + log_zeta, axis=-1)


@_log_normalizer.register(MarkovPolicy)
def _log_normalizer_markov(policy: MarkovPolicy, alpha, max_entries):
    return jax.jit(_log_normalizer_chain)(*_markov_as_inhomogeneous(policy), alpha)


@_log_normalizer.register(InhomogeneousMarkovPolicy)
def _log_normalizer_inhomogeneous(policy: InhomogeneousMarkovPolicy, alpha, max_entries):
    return jax.jit(_log_normalizer_chain)(policy.init_logp, policy.trans_logp, alpha)


def power_log_normalizer(policy: Any, alpha: Any, *, max_entries: int | None = None) -> jax.Array:
    """``log Z_alpha(x) = log sum_y pi(y | x)^alpha``, ``[X]``, exactly and in log space.

    The look-ahead of the empty prefix in :func:`power_policy`'s recursion (a Markov chain's
    costs ``O(X H V^2)``, so ``H`` in the hundreds is exact). ``alpha = 1`` gives 0. The
    reference for :func:`simulators.smc_sampler`'s unbiased estimate.

    Args:
      policy: as :func:`power_policy`.
      alpha: the exponent, a finite scalar > 0.
      max_entries: as :func:`power_policy`.
    """
    alpha = _check_exponent(alpha, "alpha", _table_dtype(policy))
    return _log_normalizer(policy, alpha, max_entries)


def _check_exponent(value: Any, name: str, dtype) -> jax.Array:
    check_scalar(value, name)
    return jnp.asarray(check_positive(value, name), dtype)


def _table_dtype(policy: Any):
    leaf = getattr(policy, "logp", getattr(policy, "init_logp", None))
    return getattr(leaf, "dtype", jnp.result_type(float))


def power_policy(policy: Any, alpha: Any, *, max_entries: int | None = None) -> Any:
    """The exact sequence-level power law ``p_alpha(y | x) = pi(y | x)^alpha / Z_alpha(x)``.

    The target of power sampling (Karan & Du, "Reasoning with Sampling", arXiv 2510.14901;
    Power-SMC, arXiv 2602.10273; "scalable power sampling", arXiv 2601.21590). At
    ``alpha = 1 + 1/beta`` it is RLHF-Sharpening's maximizer ``pi*_beta = pi_base^(1 + 1/beta) /
    Z`` (Eq. 3; :func:`theory.kl_tilt` on tables); ``alpha = 1`` is ``policy`` itself, ``alpha > 1``
    sharpens, ``alpha < 1`` flattens. Its sequence argmax is the base's for every ``alpha > 0``.

    The result is a policy whose ``sample``, ``log_prob``, ``to_table``, ``greedy`` and
    ``sequence_argmax`` are those of the exact power law:

    * :class:`~simulators.TabularPolicy`: rows ``alpha logp`` normalized in log space.
    * :class:`~simulators.AutoregressivePolicy` (with or without ``eos``): an
      :class:`~simulators.AutoregressivePolicy` whose conditionals are
      ``p_alpha(v | prefix) = pi(v | prefix)^alpha zeta(prefix + v) / zeta(prefix)``, with the
      look-ahead ``zeta(prefix) = sum_c pi(c | prefix)^alpha`` over completions ``c`` (1 for a
      response that ended, by ``eos`` or at ``H``), computed exactly by a backward recursion in
      log space over the stored prefix tree: ``O(X S V)``, the size of the policy.
    * :class:`~simulators.MarkovPolicy`: ``zeta`` depends only on the last token and the
      remaining horizon, ``log zeta_h(v) = logsumexp_w (alpha log P(w | v) + log zeta_{h-1}(w))``,
      ``zeta_0 = 1``, so the power law is a *time-inhomogeneous* chain, which a
      :class:`~simulators.MarkovPolicy` cannot represent (and an
      :class:`~simulators.AutoregressivePolicy` could only for enumerable horizons). Design
      decision: the result is always an :class:`InhomogeneousMarkovPolicy` (``[X, H - 1, V, V]``
      transitions, ``O(X H V^2)``), for every ``H``: exact, finite log-probabilities at ``H = 200``
      and beyond, Viterbi for ``sequence_argmax``. Its own power law is again one
      (``power_policy(power_policy(p, a), b) == power_policy(p, a b)``).

    Args:
      policy: a :class:`~simulators.TabularPolicy`, :class:`~simulators.AutoregressivePolicy`,
        :class:`~simulators.MarkovPolicy` or :class:`InhomogeneousMarkovPolicy`.
      alpha: the exponent, a finite scalar > 0; may be traced (then checked at run time).
      max_entries: the most entries of the power law's conditionals (``X S V`` for a prefix tree,
        ``X (H - 1) V^2`` for a chain); default ``theory.checks.MAX_TABLE_ENTRIES``.

    Returns:
      The power law, a policy as above (same ``H``, ``eos`` and dtype).

    Raises:
      TypeError: ``policy`` of another kind, or ``alpha`` not a real scalar.
      ValueError: ``alpha`` not finite and > 0, or ``policy`` too large (naming ``policy``).
    """
    alpha = _check_exponent(alpha, "alpha", _table_dtype(policy))
    return _power(policy, alpha, max_entries)


@functools.singledispatch
def _tempered(policy: Any, inv_temperature: jax.Array):
    raise TypeError(
        "policy must be a TabularPolicy, AutoregressivePolicy, MarkovPolicy or "
        f"InhomogeneousMarkovPolicy, got {type(policy).__name__}"
    )


@_tempered.register(TabularPolicy)
def _tempered_tabular(policy: TabularPolicy, inv_temperature):
    return _power_tabular(policy, inv_temperature, None)


@_tempered.register(AutoregressivePolicy)
def _tempered_autoregressive(policy: AutoregressivePolicy, inv_temperature):
    logp = _log_normalize(inv_temperature * policy.logp)
    return unchecked(AutoregressivePolicy, logp=logp, H=policy.H, eos=policy.eos)


@_tempered.register(MarkovPolicy)
@_tempered.register(InhomogeneousMarkovPolicy)
def _tempered_chain(policy: Any, inv_temperature):
    fields = {f.name: getattr(policy, f.name) for f in dataclasses.fields(policy)}
    fields["init_logp"] = _log_normalize(inv_temperature * policy.init_logp)
    fields["trans_logp"] = _log_normalize(inv_temperature * policy.trans_logp)
    return unchecked(type(policy), **fields)


def tempered_policy(policy: Any, temperature: Any) -> Any:
    """The token-level tempered law: every next-token row ``proportional to p(. | prefix)^(1/T)``.

    What sampling at temperature ``T`` draws from. For a :class:`~simulators.TabularPolicy` (one
    "token" per response) it equals :func:`power_policy` at ``alpha = 1/T``; for autoregressive
    and Markov policies it differs from the power law in general, since it drops the look-ahead
    ``zeta`` (Karan & Du, arXiv 2510.14901, Sec. 3; "scalable power sampling", arXiv 2601.21590).
    The result is a policy of the same kind as ``policy`` (a Markov chain stays homogeneous).

    Args:
      policy: a :class:`~simulators.TabularPolicy`, :class:`~simulators.AutoregressivePolicy`,
        :class:`~simulators.MarkovPolicy` or :class:`InhomogeneousMarkovPolicy`.
      temperature: a finite scalar > 0; may be traced (then checked at run time).

    Raises:
      TypeError: ``policy`` of another kind, or ``temperature`` not a real scalar.
      ValueError: ``temperature`` not finite and > 0.
    """
    temperature = _check_exponent(temperature, "temperature", _table_dtype(policy))
    return _tempered(policy, 1.0 / temperature)
