"""Autoregressive sampling and scoring in numpy: the baseline of benchmark 3.

What a careful researcher writes for a policy whose next-token distribution is a row of a table
chosen by a discrete state (the previous token for a Markov policy, the prefix for a full
autoregressive tree): vectorized over sequences, a Python loop over time, inverse-CDF draws with
one ``searchsorted`` per step over all rows at once (row r's CDF shifted into ``[r, r + 1]``).
Scoring needs no loop: one gather of every token's log-probability and a sum.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class Chain:
    """``logp[R, V]`` next-token rows; ``row(x, state)`` and ``next_state(state, tok)`` define the
    chain; ``init`` is the state before the first token."""

    def __init__(
        self,
        logp: np.ndarray,
        row: Callable[[np.ndarray, np.ndarray], np.ndarray],
        next_state: Callable[[np.ndarray, np.ndarray], np.ndarray],
        init: int,
    ):
        self.logp = logp
        self.R, self.V = logp.shape
        self.row, self.next_state, self.init = row, next_state, init
        p = np.exp(logp - logp.max(axis=1, keepdims=True))
        cdf = np.cumsum(p, axis=1)
        cdf /= cdf[:, -1:]
        self.flat_cdf = (cdf + np.arange(self.R)[:, None]).ravel()

    def sample(self, rng: np.random.Generator, x: np.ndarray, H: int):
        """``tokens [B, H]``, ``token_logp [B, H]``, ``logp [B]`` for prompts ``x [B]``."""
        B = x.shape[0]
        tokens = np.empty((B, H), np.int64)
        token_logp = np.empty((B, H))
        state = np.full(B, self.init, np.int64)
        for t in range(H):
            r = self.row(x, state)
            tok = np.searchsorted(self.flat_cdf, r + rng.random(B), side="right") - r * self.V
            np.clip(tok, 0, self.V - 1, out=tok)
            tokens[:, t] = tok
            token_logp[:, t] = self.logp[r, tok]
            state = self.next_state(state, tok)
        return tokens, token_logp, token_logp.sum(axis=1)


def markov_chain(init_logp: np.ndarray, trans_logp: np.ndarray) -> Chain:
    """Markov policy: rows ``[x, prev]`` of ``trans`` plus the initial row ``x`` (state ``V``)."""
    X, V = init_logp.shape
    table = np.concatenate([trans_logp, init_logp[:, None, :]], axis=1).reshape(X * (V + 1), V)
    return Chain(table, lambda x, s: x * (V + 1) + s, lambda s, tok: tok, V)


def markov_score(init_logp: np.ndarray, trans_logp: np.ndarray, x, tokens) -> np.ndarray:
    """``log pi(y|x)`` of ``tokens [B, H]``: one gather, no loop over time."""
    first = init_logp[x, tokens[:, 0]]
    rest = trans_logp[x[:, None], tokens[:, :-1], tokens[:, 1:]].sum(axis=1)
    return first + rest


def tree_chain(logp: np.ndarray) -> Chain:
    """Full autoregressive tree: ``logp[X, S, V]``, prefix node ``s -> s V + 1 + tok``."""
    X, S, V = logp.shape
    return Chain(logp.reshape(X * S, V), lambda x, s: x * S + s, lambda s, tok: s * V + 1 + tok, 0)


def tree_score(logp: np.ndarray, x, tokens) -> np.ndarray:
    """``log pi(y|x)``: the prefix node of each position follows from the tokens (a cumulative
    base-V code), then one gather."""
    X, S, V = logp.shape
    B, H = tokens.shape
    node = np.zeros((B, H), np.int64)
    for t in range(1, H):  # node_t = node_{t-1} V + 1 + y_{t-1}
        node[:, t] = node[:, t - 1] * V + 1 + tokens[:, t - 1]
    return logp[x[:, None], node, tokens].sum(axis=1)
