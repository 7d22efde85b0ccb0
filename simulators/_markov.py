"""First-order Markov (bigram) autoregressive policies with long fixed horizons.

``pi(y_{1:H} | x) = pi_1(y_1 | x) prod_{h >= 2} pi(y_h | x, y_{h-1})``: an autoregressive model
(THEORY.md section 1.1) whose next-token distribution depends on the prompt and the previous token
only. Unlike :class:`~simulators.AutoregressivePolicy` its parameters do not grow with ``H``, so
horizons of hundreds of tokens are fine: sampling is a ``lax.scan`` over ``H``, ``log_prob`` a sum
in log space (sequence masses far below float range stay exact), and the sequence argmax ``y*(x)``
is exact by the Viterbi recursion. Responses are token arrays ``[H]`` of fixed length ``H``
(``Y = V^H``); :func:`~simulators.to_table` enumerates them in lexicographic order (response ``y``
is column ``sum_h y_h V^(H-h)``) and refuses when that is too large.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from theory.checks import as_array, check_allocation, check_count, check_probs

from ._api import greedy, log_prob, sample, sequence_argmax, to_table
from ._autoregressive import (
    _chain_greedy,
    _chain_log_prob,
    _chain_sample,
    _check_tokens,
    enumerate_responses,
    enumerate_sequences,
    table_from_enumeration,
)
from ._dirichlet import dirichlet_logp
from ._rollouts import Rollouts
from ._tabular import (
    check_logits,
    check_prompts,
    check_sample_args,
    check_table_field,
    set_field,
    unchecked,
    validated_pytree,
)


def _check_markov_shapes(init, trans, names: tuple[str, str]) -> None:
    if init.dtype != trans.dtype:
        raise TypeError(
            f"{names[0]} and {names[1]} must have the same dtype, got {init.dtype} and "
            f"{trans.dtype}"
        )
    if init.ndim != 2:
        raise ValueError(
            f"{names[0]} must have shape [X, V] (prompt, first token), got {init.shape}"
        )
    X, V = init.shape
    if trans.shape != (X, V, V):
        raise ValueError(
            f"{names[1]} must have shape [X, V, V] = {(X, V, V)} (prompt, previous token, next "
            f"token) to match {names[0]} {init.shape}, got {trans.shape}"
        )


@validated_pytree(("init_logp", "trans_logp"), ("H",))
@dataclasses.dataclass(frozen=True)
class MarkovPolicy:
    """Prompt-conditioned first-order Markov chain over tokens, run for ``H`` steps.

    Every construction validates: the constructor and :meth:`from_table` take normalized
    log-probabilities (float, shapes ``[X, V]`` and ``[X, V, V]``, same dtype, and when concrete
    no NaN or ``+inf`` and every row summing to 1), :meth:`from_logits` normalizes,
    :meth:`from_probs` takes probabilities; ``H`` is an int >= 1.

    Attributes:
      init_logp: ``[X, V]`` ``log pi(y_1 | x)``.
      trans_logp: ``[X, V, V]`` ``log pi(y_h = w | x, y_{h-1} = v)`` at ``[x, v, w]``.
      H: static int, the response length.
    """

    init_logp: jax.Array
    trans_logp: jax.Array
    H: int

    def __post_init__(self):
        init = check_table_field(self.init_logp, "init_logp", 2, "[X, V]")
        trans = check_table_field(self.trans_logp, "trans_logp", 3, "[X, V, V]")
        _check_markov_shapes(init, trans, ("init_logp", "trans_logp"))
        set_field(self, "init_logp", init)
        set_field(self, "trans_logp", trans)
        set_field(self, "H", check_count(self.H, "H"))

    @classmethod
    def from_logits(cls, init_logits, trans_logits, H: int) -> MarkovPolicy:
        """Normalizes logits ``[X, V]`` and ``[X, V, V]`` (``-inf`` allowed) into a policy."""
        init = check_logits(init_logits, "init_logits", ndim=2)
        trans = check_logits(trans_logits, "trans_logits", ndim=3)
        _check_markov_shapes(init, trans, ("init_logits", "trans_logits"))
        lse = jax.scipy.special.logsumexp
        return unchecked(
            cls,
            init_logp=init - lse(init, axis=-1, keepdims=True),
            trans_logp=trans - lse(trans, axis=-1, keepdims=True),
            H=check_count(H, "H"),
        )

    @classmethod
    def from_table(cls, init_logp, trans_logp, H: int) -> MarkovPolicy:
        """Builds a policy from normalized log-probabilities ``[X, V]`` and ``[X, V, V]``."""
        return cls(init_logp, trans_logp, H)

    @classmethod
    def from_probs(cls, init_probs, trans_probs, H: int) -> MarkovPolicy:
        """Builds a policy from probabilities ``[X, V]`` and ``[X, V, V]`` (rows summing to 1)."""
        init, trans = as_array(init_probs, "init_probs"), as_array(trans_probs, "trans_probs")
        _check_markov_shapes(init, trans, ("init_probs", "trans_probs"))
        return unchecked(
            cls,
            init_logp=check_probs(init, "init_probs"),
            trans_logp=check_probs(trans, "trans_probs"),
            H=check_count(H, "H"),
        )

    @property
    def num_prompts(self) -> int:
        """X."""
        return self.init_logp.shape[0]

    @property
    def V(self) -> int:
        """The vocabulary size."""
        return self.init_logp.shape[-1]

    @property
    def num_responses(self) -> int:
        """``Y = V^H``."""
        return self.V**self.H


def random_markov(
    key: jax.Array, num_prompts: int, V: int, H: int, *, concentration: float = 1.0
) -> MarkovPolicy:
    """A random Markov policy whose initial and transition rows are ``Dirichlet(concentration)``.

    Small ``concentration`` gives peaked rows (a sharper sequence distribution).
    """

    num_prompts = check_count(num_prompts, "num_prompts")
    V = check_count(V, "V")
    H = check_count(H, "H")
    check_allocation(
        num_prompts * V * V,
        f"the [X, V, V] = [{num_prompts}, {V}, {V}] transition table",
        "num_prompts, V",
        24,
    )
    k_init, k_trans = jax.random.split(key)
    return unchecked(
        MarkovPolicy,
        init_logp=dirichlet_logp(k_init, (num_prompts, V), concentration),
        trans_logp=dirichlet_logp(k_trans, (num_prompts, V, V), concentration),
        H=H,
    )


def _chain_table(policy: MarkovPolicy) -> jax.Array:
    # State v < V is "previous token v"; the extra state V is "no token yet" (the initial row).
    return jnp.concatenate([policy.trans_logp, policy.init_logp[:, None, :]], axis=1)


@sample.register(MarkovPolicy)
def _sample_markov(key, policy: MarkovPolicy, x, n: int) -> Rollouts:
    x, n = check_sample_args(x, n, policy.num_prompts, policy.H)
    return _chain_sample(key, _chain_table(policy), x, n, policy.H, policy.V, False, None)


@log_prob.register(MarkovPolicy)
def _log_prob_markov(policy: MarkovPolicy, x, y) -> jax.Array:
    x = check_prompts(x, policy.num_prompts)
    y = _check_tokens(y, policy.V, policy.H)
    return _chain_log_prob(_chain_table(policy), x, y, policy.V, False, None)[2]


@enumerate_responses.register(MarkovPolicy)
def _enumerate_markov(policy: MarkovPolicy, *, max_entries: int | None = None):
    toks, lengths = enumerate_sequences(policy.V, policy.H, None, max_entries=max_entries)
    return jnp.asarray(toks), jnp.asarray(lengths)


@to_table.register(MarkovPolicy)
def _to_table_markov(policy: MarkovPolicy, *, max_entries: int | None = None) -> jax.Array:
    what = f"a MarkovPolicy (V = {policy.V}, H = {policy.H})"
    return table_from_enumeration(
        policy, what, policy.num_prompts, policy.num_responses, max_entries
    )


@greedy.register(MarkovPolicy)
def _greedy_markov(policy: MarkovPolicy, x) -> jax.Array:
    x = check_prompts(x, policy.num_prompts)
    return _chain_greedy(_chain_table(policy), x, policy.H, policy.V, False, None)


def markov_viterbi(policy: MarkovPolicy, x) -> tuple[jax.Array, jax.Array]:
    """Exact sequence argmax ``y*(x) = argmax_y log pi(y | x)`` by the Viterbi recursion.

    Backward pass in log space: ``b_H(v) = 0`` and ``b_h(v) = max_w [log T(v, w) + b_{h+1}(w)]``
    (the best log-mass of a completion after token ``v`` at position ``h``); then a forward decode
    ``y_1 = argmax_v [log pi_1(v) + b_1(v)]``, ``y_h = argmax_w [log T(y_{h-1}, w) + b_h(w)]`` with
    the lowest maximizing token, i.e. the maximizer of lowest enumeration index. Cost ``O(P H V^2)``
    time and ``O(P H V)`` memory; sequence masses far below float range are exact in log space.

    Args:
      policy: the policy.
      x: ``[P]`` int prompt ids.

    Returns:
      ``tokens [P, H]`` int32 and the Viterbi score ``max_y log pi(y | x)`` ``[P]``.

    Raises:
      TypeError / ValueError: ``policy`` not a :class:`MarkovPolicy`, or ``x`` not ``[P]`` int
        prompt ids in ``[0, X)`` (values checked when concrete).
    """
    if not isinstance(policy, MarkovPolicy):
        raise TypeError(f"policy must be a MarkovPolicy, got {type(policy).__name__}")
    x = check_prompts(x, policy.num_prompts, ndim=1)
    return _markov_viterbi(policy, x)


@jax.jit
def _markov_viterbi(policy: MarkovPolicy, x) -> tuple[jax.Array, jax.Array]:
    x = jnp.asarray(x).astype(jnp.int32)
    init = policy.init_logp[x]  # [P, V]
    trans = policy.trans_logp[x]  # [P, V, V]

    def backward(b_next, _):
        b = jnp.max(trans + b_next[:, None, :], axis=-1)
        return b, b_next

    # bs[h] = b_{h+1} for h = 0..H-1 in 0-based positions: the value-to-go after position h.
    _, bs = jax.lax.scan(backward, jnp.zeros_like(init), None, length=policy.H, reverse=True)
    q0 = init + bs[0]
    y0 = jnp.argmax(q0, axis=-1).astype(jnp.int32)
    score = jnp.max(q0, axis=-1)

    def forward(prev, b_h):
        row = jnp.take_along_axis(trans, prev[:, None, None], axis=1)[:, 0, :]  # [P, V]
        tok = jnp.argmax(row + b_h, axis=-1).astype(jnp.int32)
        return tok, tok

    _, rest = jax.lax.scan(forward, y0, bs[1:])
    return jnp.concatenate([y0[:, None], jnp.moveaxis(rest, 0, 1)], axis=1), score


@sequence_argmax.register(MarkovPolicy)
def _sequence_argmax_markov(policy: MarkovPolicy, x) -> jax.Array:
    return markov_viterbi(policy, x)[0]
