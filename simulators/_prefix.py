"""The prefix oracle: "continue this prefix from pi_base at temperature tau" (issue 16, item 2).

Definition 3.2's sample-and-evaluate oracle draws whole responses. Power samplers (Karan & Du,
arXiv 2510.14901; Power-SMC, arXiv 2602.10273) also resample *continuations* of a response's
prefix, which is a query beyond Definition 3.2, as the generalized oracle of XPO (footnote 7) is.
This module extends the oracle with that query:

    continue_prefix(key, oracle, prompts, tokens, start, stop, temperature)
        keeps tokens[b, :start[b]], draws tokens start[b] .. stop[b] - 1 (or up to eos) from
        pi_base(. | x, prefix)^(1 / temperature), normalized per token, and returns every
        token's base log-probability log pi_base(y_t | x, y_<t) (temperature 1) and its
        log-probability under the tempered proposal

and counts what a real model pays for it, separately (:class:`SamplerCost`): model calls (one per
continued row), tokens generated, and sequence evaluations (:func:`evaluate_sequences`: scoring
given responses, Definition 3.2's "evaluate" without the sampling). Cost on a real model is
reported in tokens generated.

The toy policies answer it exactly through one shared scan (:func:`sample_continuation`):
:class:`~simulators.TabularPolicy` (one "token" per response), :class:`~simulators.
AutoregressivePolicy` (with or without ``eos``), :class:`~simulators.MarkovPolicy` and
:class:`~simulators.InhomogeneousMarkovPolicy`. Other policies (the transformer adapter's
``HFPolicy``) register their own ``sample_continuation`` and ``response_horizon``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from theory.checks import as_array, check_positive, check_scalar

from ._api import _dispatch_on_policy, log_prob
from ._autoregressive import AutoregressivePolicy, search_rows
from ._markov import MarkovPolicy, _chain_table
from ._power import InhomogeneousMarkovPolicy, _step_tables
from ._tabular import TabularPolicy

_lse = jax.scipy.special.logsumexp


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Continuation:
    """The answer to one batch of prefix queries (``B`` rows, horizon ``T``).

    Attributes:
      tokens: ``[B, T]`` int: the kept prefix, then the drawn tokens; positions at or after
        ``lengths`` are padding (``eos`` where the policy has one, else 0).
      lengths: ``[B]`` int number of real tokens (an ``eos`` included).
      token_logp: ``[B, T]`` ``log pi_base(y_t | x, y_<t)`` at temperature 1 of every real token
        (the kept prefix included), 0 on padding.
      token_logq: ``[B, T]`` log-probability of every real token under the tempered proposal
        ``pi_base(. | x, y_<t)^(1/temperature)`` normalized (the kept prefix included: what the
        proposal would have given it), 0 on padding.
      generated: ``[B]`` int number of tokens drawn (not kept) in each row.
    """

    tokens: jax.Array
    lengths: jax.Array
    token_logp: jax.Array
    token_logq: jax.Array
    generated: jax.Array


@dataclasses.dataclass(frozen=True)
class SamplerCost:
    """What a sampler spent at the prefix oracle (Python ints; add two costs with ``+``).

    Attributes:
      calls: model calls: rows continued by :func:`continue_prefix` (one per row and request,
        however many tokens it drew).
      tokens: tokens generated (drawn by the model): what sampling costs on a real model.
      evaluations: sequence evaluations: responses scored by :func:`evaluate_sequences`.
      diagnostics: what a sampler reports beside its cost (acceptance rates, the SMC
        normalizer estimate, ...); see each sampler.
    """

    calls: int = 0
    tokens: int = 0
    evaluations: int = 0
    diagnostics: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __add__(self, other: SamplerCost) -> SamplerCost:
        """The summed counts (diagnostics are per sampler run and are not carried over)."""
        if not isinstance(other, SamplerCost):
            return NotImplemented
        return SamplerCost(
            self.calls + other.calls,
            self.tokens + other.tokens,
            self.evaluations + other.evaluations,
        )

    def per_output(self, num_outputs: int) -> dict[str, float]:
        """The three counts divided by the number of responses returned."""
        return {
            name: getattr(self, name) / num_outputs for name in ("calls", "tokens", "evaluations")
        }


@_dispatch_on_policy
def sample_continuation(
    key: jax.Array,
    policy: Any,
    prompts: jax.Array,
    tokens: jax.Array,
    start: jax.Array,
    stop: jax.Array,
    temperature: jax.Array,
) -> Continuation:
    """Continues prefixes of ``policy``'s responses (the implementation behind the oracle).

    Registered per policy type, like :func:`simulators.sample`; arguments are already checked
    by :func:`continue_prefix`: ``prompts [B]`` ids, ``tokens [B, T]`` with ``T`` the policy's
    :func:`response_horizon`, ``0 <= start <= stop <= T`` ``[B]`` ints, ``temperature`` a
    scalar > 0. Returns a :class:`Continuation`.
    """
    raise TypeError(
        f"sample_continuation is not implemented for policies of type {type(policy).__name__}"
    )


@functools.singledispatch
def response_horizon(policy: Any) -> int:
    """``T``, the longest response of ``policy`` in tokens (``1`` for a table)."""
    raise TypeError(
        f"response_horizon is not implemented for policies of type {type(policy).__name__}"
    )


@functools.singledispatch
def padding_token(policy: Any) -> int:
    """The token that fills positions after a response's end (``eos`` where there is one)."""
    return 0


@response_horizon.register(TabularPolicy)
def _horizon_tabular(policy: TabularPolicy) -> int:
    return 1


@response_horizon.register(AutoregressivePolicy)
@response_horizon.register(MarkovPolicy)
@response_horizon.register(InhomogeneousMarkovPolicy)
def _horizon_chain(policy: Any) -> int:
    return policy.H


@padding_token.register(AutoregressivePolicy)
def _padding_autoregressive(policy: AutoregressivePolicy) -> int:
    return 0 if policy.eos is None else policy.eos


# --------------------------------------------------------------------------------------------------
# The toy policies: one scan over positions, next-token rows looked up by (prompt, state, step).


@functools.partial(jax.tree_util.register_dataclass, data_fields=["table"], meta_fields=["kind"])
@dataclasses.dataclass(frozen=True)
class _ChainView:
    """Next-token rows ``table [R, V]`` and how a (prompt, state, step) indexes them.

    ``kind`` is ``"tree"`` (state = prefix node, :class:`AutoregressivePolicy`; a table is a tree
    of depth 1), ``"markov"`` (state = previous token, ``V`` = no token yet) or ``"steps"``
    (state = previous token, rows per step: :class:`InhomogeneousMarkovPolicy`).
    """

    table: jax.Array
    kind: tuple  # (name, X, num_states, eos)


@functools.singledispatch
def _chain_view(policy: Any) -> _ChainView:
    raise TypeError(type(policy).__name__)


@_chain_view.register(TabularPolicy)
def _view_tabular(policy: TabularPolicy) -> _ChainView:
    return _ChainView(policy.logp, ("tree", policy.num_prompts, 1, None))


@_chain_view.register(AutoregressivePolicy)
def _view_autoregressive(policy: AutoregressivePolicy) -> _ChainView:
    X, S, V = policy.logp.shape
    return _ChainView(policy.logp.reshape(X * S, V), ("tree", X, S, policy.eos))


@_chain_view.register(MarkovPolicy)
def _view_markov(policy: MarkovPolicy) -> _ChainView:
    table = _chain_table(policy)  # [X, V + 1, V]: state V is "no token yet"
    X, S, V = table.shape
    return _ChainView(table.reshape(X * S, V), ("markov", X, S, None))


@_chain_view.register(InhomogeneousMarkovPolicy)
def _view_inhomogeneous(policy: InhomogeneousMarkovPolicy) -> _ChainView:
    steps = _step_tables(policy)  # [H, X * V, V]
    H, XV, V = steps.shape
    return _ChainView(steps.reshape(H * XV, V), ("steps", policy.num_prompts, V, None))


def _rows(kind: tuple, x, state, t):
    name, X, S, _ = kind
    if name == "steps":
        return (t * X + x) * S + state
    return x * S + state


def _next(kind: tuple, state, tok, V: int):
    name, _, S, _ = kind
    if name == "tree":
        return jnp.minimum(state * V + 1 + tok, S - 1)
    return tok


def _initial_state(kind: tuple) -> int:
    name, _, S, _ = kind
    return S - 1 if name == "markov" else 0


@jax.jit
def _continue_chain(key, view: _ChainView, x, tokens, start, stop, inv_temperature) -> Continuation:
    kind = view.kind
    eos = kind[3]
    table = view.table
    R, V = table.shape
    B, T = tokens.shape
    logq_table = inv_temperature * table
    logq_table = logq_table - _lse(logq_table, axis=-1, keepdims=True)
    p = jnp.exp(logq_table - jnp.max(logq_table, axis=-1, keepdims=True))
    cdf = jnp.cumsum(p, axis=-1)
    last = V - 1 - jnp.argmax((p > 0)[:, ::-1], axis=-1).astype(jnp.int32)
    pad = 0 if eos is None else eos
    x = x.astype(jnp.int32)

    def step(carry, inputs):
        state, done = carry
        t, key_t, given = inputs
        row = _rows(kind, x, state, t)
        u = jax.random.uniform(key_t, (B,), dtype=cdf.dtype) * cdf[row, -1]
        drawn = jnp.minimum(search_rows(cdf, row, u), last[row])
        forced = t < start
        active = ~done & (t < stop)
        tok = jnp.where(active, jnp.where(forced, given, drawn), pad)
        lp = jnp.where(active, table[row, tok], 0.0)
        lq = jnp.where(active, logq_table[row, tok], 0.0)
        if eos is not None:
            done = done | (active & (tok == eos))
        state = jnp.where(active, _next(kind, state, tok, V), state)
        return (state, done | ~active), (tok, lp, lq, active, active & ~forced)

    init = (jnp.full((B,), _initial_state(kind), jnp.int32), jnp.zeros((B,), bool))
    steps = (jnp.arange(T), jax.random.split(key, T), jnp.moveaxis(tokens.astype(jnp.int32), 1, 0))
    _, (tok, lp, lq, active, drawn) = jax.lax.scan(step, init, steps)
    return Continuation(
        tokens=tok.T,
        lengths=jnp.sum(active, axis=0).astype(jnp.int32),
        token_logp=lp.T,
        token_logq=lq.T,
        generated=jnp.sum(drawn, axis=0).astype(jnp.int32),
    )


def _continue_toy(key, policy, prompts, tokens, start, stop, temperature) -> Continuation:
    view = _chain_view(policy)
    inv = jnp.asarray(1.0, view.table.dtype) / jnp.asarray(temperature, view.table.dtype)
    return _continue_chain(key, view, prompts, tokens, start, stop, inv)


for _cls in (TabularPolicy, AutoregressivePolicy, MarkovPolicy, InhomogeneousMarkovPolicy):
    sample_continuation.register(_cls)(_continue_toy)


# --------------------------------------------------------------------------------------------------
# The oracle.


@dataclasses.dataclass(frozen=True)
class PrefixOracle:
    """Prefix-continuation access to ``pi_base`` (see the module docstring).

    Attributes:
      policy: the base model, any policy registered with :func:`sample_continuation` and
        :func:`response_horizon` (the toy policies; ``simulators.hf.HFPolicy``).
    """

    policy: Any

    def __post_init__(self):
        for fn in (sample_continuation, response_horizon):
            if fn.dispatch(type(self.policy)) is fn.dispatch(object):
                raise TypeError(
                    "policy must be registered with simulators.sample_continuation and "
                    f"simulators.response_horizon, got {type(self.policy).__name__}"
                )

    @property
    def horizon(self) -> int:
        """``T``, the longest response in tokens."""
        return response_horizon(self.policy)

    @property
    def num_prompts(self) -> int | None:
        """``X`` where the policy has a prompt space of ids (``None`` otherwise)."""
        return getattr(self.policy, "num_prompts", None)

    @property
    def pad(self) -> int:
        """The padding token of the policy's responses."""
        return padding_token(self.policy)


def check_prefix_oracle(oracle: Any, name: str = "oracle") -> PrefixOracle:
    """Checks that ``oracle`` is a :class:`PrefixOracle`; a bare policy is wrapped in one."""
    if isinstance(oracle, PrefixOracle):
        return oracle
    try:
        return PrefixOracle(oracle)
    except TypeError as err:
        raise TypeError(
            f"{name} must be a simulators.PrefixOracle or a policy it accepts: {err}"
        ) from None


def _host_ints(value: Any, name: str, B: int, expected: str) -> np.ndarray:
    """``value`` as ``[B]`` int32 numpy ints (range checks are the caller's).

    On the host, in numpy: the prefix query is a host-level call (a real model answers it), and
    eager jax checks would compile a small program per shape.
    """
    try:
        arr = np.asarray(value)
    except TypeError:
        raise TypeError(
            f"{name} must be concrete ints (continue_prefix is not traceable)"
        ) from None
    if arr.shape != (B,) or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be a [B] = [{B}] int array {expected}, got {arr.shape}")
    return arr.astype(np.int32)


def _check_positions(value: Any, name: str, B: int, T: int) -> np.ndarray:
    value = np.full((B,), value) if np.ndim(value) == 0 else value
    arr = _host_ints(value, name, B, "or an int")
    if np.any((arr < 0) | (arr > T)):
        raise ValueError(f"{name} must lie in [0, {T}] (the horizon T = {T})")
    return arr


def _check_prompt_ids(prompts: Any, B: int, X: int | None) -> np.ndarray:
    arr = _host_ints(prompts, "prompts", B, "of prompt ids")
    if X is not None and np.any((arr < 0) | (arr >= X)):
        raise ValueError(f"prompts must be prompt ids in [0, {X}), got values outside it")
    return arr


def continue_prefix(
    key: jax.Array,
    oracle: Any,
    prompts: Any,
    tokens: Any,
    start: Any,
    stop: Any = None,
    temperature: Any = 1.0,
) -> tuple[Continuation, SamplerCost]:
    """Continues ``B`` prefixes from ``pi_base`` at ``temperature`` (the prefix query).

    ::

        for each row b: keep y_<start[b] = tokens[b, :start[b]];
            for t = start[b] .. stop[b] - 1, until eos:
                y_t ~ pi_base(. | x_b, y_<t)^(1/temperature) / normalizer
        return the tokens, log pi_base(y_t | x_b, y_<t) and the proposal's log-probabilities

    Args:
      key: PRNG key.
      oracle: a :class:`PrefixOracle` (or a policy it accepts).
      prompts: ``[B]`` int prompt ids.
      tokens: ``[B, T]`` int tokens (only the first ``start[b]`` of row ``b`` are read).
      start: ``[B]`` ints (or one int) in ``[0, T]``: the length of the kept prefix.
      stop: ``[B]`` ints (or one int) in ``[start, T]``: the length the response is grown to
        (default ``T``); a response ends earlier at ``eos``.
      temperature: the proposal's temperature, a finite scalar > 0 (1 is ``pi_base``).

    Returns:
      ``(continuation, cost)``: a :class:`Continuation` and the :class:`SamplerCost` of the
      query: one call per row that drew a token, and the tokens drawn.
    """
    oracle = check_prefix_oracle(oracle)
    T = oracle.horizon
    tokens = as_array(tokens, "tokens")
    if tokens.ndim != 2 or tokens.shape[1] != T or not jnp.issubdtype(tokens.dtype, jnp.integer):
        raise ValueError(f"tokens must be a [B, T] int array with T = {T}, got {tokens.shape}")
    B = tokens.shape[0]
    prompts = _check_prompt_ids(prompts, B, oracle.num_prompts)
    start = _check_positions(start, "start", B, T)
    stop = _check_positions(T if stop is None else stop, "stop", B, T)
    if np.any(stop < start):
        raise ValueError("stop must be >= start in every row")
    check_scalar(temperature, "temperature")
    check_positive(temperature, "temperature")
    out = sample_continuation(key, oracle.policy, prompts, tokens, start, stop, temperature)
    # A row that draws nothing (its prefix has ended, or start = stop) needs no model call.
    generated = np.asarray(out.generated)
    return out, SamplerCost(calls=int(np.sum(generated > 0)), tokens=int(np.sum(generated)))


def evaluate_sequences(oracle: Any, prompts: Any, tokens: Any) -> tuple[jax.Array, SamplerCost]:
    """Scores given responses: ``log pi_base(y | x)`` per row (counted as sequence evaluations).

    Args:
      oracle: a :class:`PrefixOracle` (or a policy it accepts).
      prompts: ``[B]`` int prompt ids.
      tokens: ``[B, T]`` responses in the policy's encoding (``[B, 1]`` for a table).

    Returns:
      ``(logp [B], cost)`` with ``B`` evaluations.
    """
    oracle = check_prefix_oracle(oracle)
    tokens = as_array(tokens, "tokens")
    y = tokens[..., 0] if isinstance(oracle.policy, TabularPolicy) else tokens
    logp = jnp.asarray(log_prob(oracle.policy, prompts, y))
    return logp, SamplerCost(evaluations=int(np.prod(logp.shape, dtype=np.int64)))
