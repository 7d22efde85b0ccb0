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
import functools

import jax
import jax.numpy as jnp

from theory._validation import as_array, check_count, check_logp, check_probs

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
from ._rollouts import Rollouts
from ._tabular import check_logits, check_prompts


def _check_markov_shapes(init, trans, names: tuple[str, str]) -> None:
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


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["init_logp", "trans_logp"],
    meta_fields=["H"],
)
@dataclasses.dataclass(frozen=True)
class MarkovPolicy:
    """Prompt-conditioned first-order Markov chain over tokens, run for ``H`` steps.

    Build with :meth:`from_logits`, :meth:`from_table` or :meth:`from_probs`, which validate.

    Attributes:
      init_logp: ``[X, V]`` ``log pi(y_1 | x)``.
      trans_logp: ``[X, V, V]`` ``log pi(y_h = w | x, y_{h-1} = v)`` at ``[x, v, w]``.
      H: static int, the response length.
    """

    init_logp: jax.Array
    trans_logp: jax.Array
    H: int

    @classmethod
    def from_logits(cls, init_logits, trans_logits, H: int) -> MarkovPolicy:
        """Normalizes logits ``[X, V]`` and ``[X, V, V]`` (``-inf`` allowed) into a policy."""
        init = check_logits(init_logits, "init_logits", ndim=2)
        trans = check_logits(trans_logits, "trans_logits", ndim=3)
        _check_markov_shapes(init, trans, ("init_logits", "trans_logits"))
        lse = jax.scipy.special.logsumexp
        return cls(
            init - lse(init, axis=-1, keepdims=True),
            trans - lse(trans, axis=-1, keepdims=True),
            check_count(H, "H"),
        )

    @classmethod
    def from_table(cls, init_logp, trans_logp, H: int) -> MarkovPolicy:
        """Builds a policy from normalized log-probabilities ``[X, V]`` and ``[X, V, V]``."""
        init = check_logp(init_logp, "init_logp", min_ndim=2)
        trans = check_logp(trans_logp, "trans_logp", min_ndim=3)
        _check_markov_shapes(init, trans, ("init_logp", "trans_logp"))
        return cls(init, trans, check_count(H, "H"))

    @classmethod
    def from_probs(cls, init_probs, trans_probs, H: int) -> MarkovPolicy:
        """Builds a policy from probabilities ``[X, V]`` and ``[X, V, V]`` (rows summing to 1)."""
        init, trans = as_array(init_probs, "init_probs"), as_array(trans_probs, "trans_probs")
        _check_markov_shapes(init, trans, ("init_probs", "trans_probs"))
        return cls(
            check_probs(init, "init_probs"), check_probs(trans, "trans_probs"), check_count(H, "H")
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
    from ._instances import dirichlet_logp

    num_prompts = check_count(num_prompts, "num_prompts")
    V = check_count(V, "V")
    H = check_count(H, "H")
    k_init, k_trans = jax.random.split(key)
    return MarkovPolicy(
        dirichlet_logp(k_init, (num_prompts, V), concentration),
        dirichlet_logp(k_trans, (num_prompts, V, V), concentration),
        H,
    )


def _chain_table(policy: MarkovPolicy) -> jax.Array:
    # State v < V is "previous token v"; the extra state V is "no token yet" (the initial row).
    return jnp.concatenate([policy.trans_logp, policy.init_logp[:, None, :]], axis=1)


@sample.register(MarkovPolicy)
def _sample_markov(key, policy: MarkovPolicy, x, n: int) -> Rollouts:
    n = check_count(n, "n")
    x = check_prompts(x, policy.num_prompts)
    return _chain_sample(key, _chain_table(policy), x, n, policy.H, policy.V, False, None)


@log_prob.register(MarkovPolicy)
def _log_prob_markov(policy: MarkovPolicy, x, y) -> jax.Array:
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
    return _chain_greedy(_chain_table(policy), x, policy.H, policy.V, False, None)


@jax.jit
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
    """
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
