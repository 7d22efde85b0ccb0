"""Inference-time samplers for the power law ``p_alpha proportional to pi_base^alpha`` (issue 16).

At ``alpha = 1 + 1/beta`` the power law is RLHF-Sharpening's target ``pi*_beta`` (the paper's
Eq. 3; :func:`simulators.power_policy` computes it exactly on the toy policies). These samplers
approach it at inference time, without training, through the prefix oracle only
(:func:`simulators.continue_prefix`), so the same code runs on the toy policies and on real models
(any policy registered with :func:`simulators.sample_continuation`). Each is

    sampler(key, oracle, prompts, n, alpha, ...) -> (Rollouts [P, n, T], SamplerCost)

* :func:`temperature_sampler`: token-level temperature ``1/alpha`` (each conditional sharpened; a
  different law from ``p_alpha``: :func:`simulators.tempered_policy`).
* :func:`bon_sampler`: best-of-N with the log-likelihood self-reward (the paper's pseudo-code A);
  its knob is ``N``, not ``alpha``.
* :func:`mh_sampler`: Metropolis-Hastings as in Karan & Du (arXiv 2510.14901, Algorithm 1), with
  the exact acceptance ratio; :func:`mh_law` is its exact output law on enumerable policies.
* :func:`smc_sampler`: sequential Monte Carlo as in Power-SMC (arXiv 2602.10273), with an
  unbiased estimate of the normalizer ``Z_alpha(x) = sum_y pi_base(y|x)^alpha``.
* :func:`lookahead_sampler`: the look-ahead sampler of "scalable power sampling" (arXiv
  2601.21590): the next token drawn from ``pi^alpha(v) zeta_hat(v)``, ``zeta`` estimated from
  rollouts, with a jackknife bias correction (our reading of the paper; see its docstring).

Costs are counted by the oracle: model calls, tokens generated (the cost on a real model) and
sequence evaluations (:class:`simulators.SamplerCost`). The samplers are host loops over a fixed
number of oracle queries, each batched over every prompt, sample, chain and particle (the toy
oracle's query is one jitted scan), so seeds are batched by ``n`` rather than ``vmap``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from theory.checks import as_array, check_count, check_positive, check_scalar

from ._api import to_table
from ._autoregressive import enumerate_sequences
from ._best_of_n import best_of_n
from ._power import _table_dtype
from ._prefix import (
    Continuation,
    SamplerCost,
    _chain_view,
    _continue_chain,
    check_prefix_oracle,
    continue_prefix,
)
from ._rewards import log_likelihood
from ._rollouts import Rollouts

_lse = jax.scipy.special.logsumexp


# --------------------------------------------------------------------------------------------------
# Shared plumbing.


def _check_alpha(alpha: Any, name: str = "alpha") -> float:
    check_scalar(alpha, name)
    return float(check_positive(alpha, name))  # finite and > 0


def _check_proposal_temperature(value: Any, alpha: float) -> float:
    if value is None:
        return 1.0 / alpha
    return _check_alpha(value, "proposal_temperature")


def _setup(oracle: Any, prompts: Any, n: Any):
    oracle = check_prefix_oracle(oracle)
    n = check_count(n, "n")
    prompts = as_array(prompts, "prompts")
    if prompts.ndim != 1 or not jnp.issubdtype(prompts.dtype, jnp.integer):
        raise ValueError(f"prompts must be a [P] int array of prompt ids, got {prompts.shape}")
    return oracle, prompts, n


def _empty(oracle, B: int) -> Continuation:
    """``B`` empty responses in the float dtype of the oracle's policy."""
    T = oracle.horizon
    zeros = jnp.zeros((B, T), _table_dtype(oracle.policy))
    return Continuation(
        tokens=jnp.full((B, T), oracle.pad, jnp.int32),
        lengths=jnp.zeros((B,), jnp.int32),
        token_logp=zeros,
        token_logq=zeros,
        generated=jnp.zeros((B,), jnp.int32),
    )


@functools.partial(jax.jit, static_argnames="groups")
def _to_rollouts(prompts: jax.Array, state: Continuation, groups: int) -> Rollouts:
    P = prompts.shape[0]

    def shape(a):
        return a.reshape((P, groups) + a.shape[1:])

    return Rollouts(
        prompts=prompts,
        tokens=shape(state.tokens),
        lengths=shape(state.lengths),
        logp_base=shape(jnp.sum(state.token_logp, axis=-1)),
        token_logp=shape(state.token_logp),
    )


@jax.jit
def _where_rows(mask: jax.Array, new: Continuation, old: Continuation) -> Continuation:
    def pick(a, b):
        return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b)

    return jax.tree_util.tree_map(pick, new, old)


# --------------------------------------------------------------------------------------------------
# Temperature and best-of-N.


def temperature_sampler(
    key: jax.Array, oracle: Any, prompts: Any, n: int, alpha: Any
) -> tuple[Rollouts, SamplerCost]:
    """``n`` responses per prompt at token-level temperature ``1/alpha``.

    Each next-token row is raised to ``alpha`` and normalized: the law of
    :func:`simulators.tempered_policy` at ``temperature = 1/alpha``, which is the power law only
    when responses are one token (a table) or the look-ahead ``zeta`` is constant.

    Returns:
      ``(rollouts, cost)``: :class:`~simulators.Rollouts` ``[P, n, T]`` whose ``logp_base`` are
      the base log-likelihoods at temperature 1, and the oracle's :class:`SamplerCost`.
    """
    alpha = _check_alpha(alpha)
    oracle, prompts, n = _setup(oracle, prompts, n)
    x = np.repeat(np.asarray(prompts), n)
    empty = _empty(oracle, x.shape[0])
    out, cost = continue_prefix(key, oracle, x, empty.tokens, 0, None, 1.0 / alpha)
    return _to_rollouts(prompts, out, n), cost


def bon_sampler(
    key: jax.Array, oracle: Any, prompts: Any, n: int, *, N: int, reward: Any = log_likelihood
) -> tuple[Rollouts, SamplerCost]:
    """``n`` best-of-``N`` responses per prompt (pseudo-code A; Proposition C.1's law).

    Each output is the best of ``N`` fresh draws from ``pi_base`` under ``reward`` (default the
    log-likelihood self-reward of Eq. 2), ties broken uniformly. As ``N`` grows it concentrates
    on ``y*(x)``: the ``alpha -> infinity`` end of the power family, at ``N`` times the tokens of a
    sample.

    Args:
      N: draws per output (the inference-time budget).
      reward: a self-reward ``Rollouts -> [P, N]`` (see :data:`simulators.REWARDS`).

    Returns:
      ``(rollouts, cost)`` as :func:`temperature_sampler`.
    """
    oracle, prompts, n = _setup(oracle, prompts, n)
    N = check_count(N, "N")
    k_draw, k_tie = jax.random.split(key)
    P = prompts.shape[0]
    x = np.repeat(np.asarray(prompts), n * N)
    empty = _empty(oracle, x.shape[0])
    out, cost = continue_prefix(k_draw, oracle, x, empty.tokens, 0, None, 1.0)
    groups = _to_rollouts(jnp.repeat(prompts, n), out, N)  # [P n, N, T]
    best = np.asarray(best_of_n(k_tie, groups, reward))  # [P n]
    rows = np.arange(P * n) * N + best
    chosen = jax.tree_util.tree_map(lambda a: a[rows], out)
    return _to_rollouts(prompts, chosen, n), cost


# --------------------------------------------------------------------------------------------------
# Metropolis-Hastings (Karan & Du, arXiv 2510.14901, Algorithm 1).


def _suffix_weight(state: Continuation, i: jax.Array, alpha) -> tuple[jax.Array, jax.Array]:
    """``sum_{t >= i} alpha log p_t`` and ``sum_{t >= i} log q_t`` per row."""
    t = jnp.arange(state.tokens.shape[-1])
    keep = t[None, :] >= i[:, None]
    target = jnp.sum(jnp.where(keep, alpha * state.token_logp, 0.0), axis=-1)
    proposal = jnp.sum(jnp.where(keep, state.token_logq, 0.0), axis=-1)
    return target, proposal


@jax.jit
def _mh_log_ratio(current: Continuation, proposed: Continuation, i, alpha) -> jax.Array:
    """The log acceptance ratio of resampling the suffix from position ``i``.

    ``log [p^alpha(y') q(y_{>=i} | y_<i) c(i | y')] - log [p^alpha(y) q(y'_{>=i} | y_<i) c(i | y)]``
    with ``c(i | y) = 1/|y|`` the uniform choice of the position: with an ``eos`` the two lengths
    may differ, and without the ``c`` factor the chain would not leave ``p_alpha`` invariant
    (Karan & Du's code omits it; their responses have a fixed length, where it cancels).
    """
    t_new, q_new = _suffix_weight(proposed, i, alpha)
    t_old, q_old = _suffix_weight(current, i, alpha)
    lengths = jnp.log(current.lengths.astype(t_new.dtype)) - jnp.log(
        proposed.lengths.astype(t_new.dtype)
    )
    return (t_new - t_old) + (q_old - q_new) + lengths


def _default_block_size(T: int) -> int:
    return max(1, -(-T // 16))  # Karan & Du: 16 blocks of T_max / 16 tokens


def _mh_settings(oracle, alpha, num_steps, block_size, proposal_temperature):
    alpha = _check_alpha(alpha)
    num_steps = check_count(num_steps, "num_steps")
    T = oracle.horizon
    block_size = _default_block_size(T) if block_size is None else block_size
    block_size = check_count(block_size, "block_size")
    tau = _check_proposal_temperature(proposal_temperature, alpha)
    horizons = [min(h, T) for h in range(block_size, T + block_size, block_size)]
    return alpha, num_steps, horizons, tau


def mh_sampler(
    key: jax.Array,
    oracle: Any,
    prompts: Any,
    n: int,
    alpha: Any,
    *,
    num_steps: int = 10,
    block_size: int | None = None,
    proposal_temperature: Any = None,
) -> tuple[Rollouts, SamplerCost]:
    """Metropolis-Hastings power sampling (Karan & Du, arXiv 2510.14901, Algorithm 1).

    ::

        y = empty; for each block k = 1..ceil(T / B), horizon h_k = min(k B, T):
            grow y to length h_k from the proposal q = pi_base^(1/tau) per token (tau = 1/alpha)
            repeat num_steps times (target: pi(y_{<= h_k})^alpha over prefixes of length h_k):
                i ~ uniform{0, .., |y| - 1}
                y' = y_<i + a continuation of y_<i from q up to h_k
                accept y' with probability min(1, [p^alpha(y') q(y_{>=i}|y_<i) / |y'|] /
                                                 [p^alpha(y) q(y'_{>=i}|y_<i) / |y|])

    The ratio is exact (the ``1/|y|`` of the position choice included, which matters when an
    ``eos`` makes lengths differ), so each block's chain leaves the block's power law invariant
    and, as ``num_steps`` grows, the output law tends to ``p_alpha``; :func:`mh_law` computes it
    exactly. One difference from Karan & Du's code: it returns as soon as a response holds an
    ``eos`` (after that block's steps); here every block runs its steps, so an ended response can
    still move (a proposal may grow it again up to the block's horizon), which is what the blocks'
    targets ask for. Defaults are the paper's: ``alpha = 4`` is theirs to pass, ``num_steps = 10``
    (``N_MCMC``), 16 blocks (``block_size = ceil(T / 16)``), proposal temperature ``1/alpha``.

    Args:
      key: PRNG key.
      oracle: a :class:`simulators.PrefixOracle` (or a policy it accepts).
      prompts: ``[P]`` int prompt ids.
      n: chains (independent outputs) per prompt.
      alpha: the power, a finite scalar > 0.
      num_steps: MH steps per block, ``K >= 1``.
      block_size: tokens per block, ``>= 1`` (default ``ceil(T / 16)``).
      proposal_temperature: the proposal's temperature (default ``1/alpha``).

    Returns:
      ``(rollouts, cost)``; ``cost.diagnostics["acceptance_rate"]`` is the fraction of accepted
      proposals.
    """
    oracle, prompts, n = _setup(oracle, prompts, n)
    alpha, num_steps, horizons, tau = _mh_settings(
        oracle, alpha, num_steps, block_size, proposal_temperature
    )
    x = np.repeat(np.asarray(prompts), n)
    B = x.shape[0]
    state = _empty(oracle, B)
    cost = SamplerCost()
    accepted = 0
    for h in horizons:
        key, k_grow = jax.random.split(key)
        state, c = continue_prefix(k_grow, oracle, x, state.tokens, state.lengths, h, tau)
        cost = cost + c
        for _ in range(num_steps):
            key, k_pos, k_prop, k_acc = jax.random.split(key, 4)
            i = _mh_position(k_pos, state.lengths, state.token_logp.dtype)
            proposed, c = continue_prefix(k_prop, oracle, x, state.tokens, i, h, tau)
            cost = cost + c
            state, n_accepted = _mh_accept(k_acc, state, proposed, i, alpha)
            accepted += int(n_accepted)
    rate = accepted / (B * num_steps * len(horizons))
    cost = SamplerCost(cost.calls, cost.tokens, cost.evaluations, {"acceptance_rate": rate})
    return _to_rollouts(prompts, state, n), cost


@functools.partial(jax.jit, static_argnames="dtype")
def _mh_position(key, lengths, dtype):
    """A uniform position ``i in {0, .., |y| - 1}`` per row."""
    u = jax.random.uniform(key, lengths.shape, dtype)
    return jnp.minimum((u * lengths).astype(jnp.int32), lengths - 1)


@jax.jit
def _mh_accept(key, state: Continuation, proposed: Continuation, i, alpha):
    """The accept-or-reject step: the new state and the number of accepted proposals."""
    log_r = _mh_log_ratio(state, proposed, i, alpha)
    accept = jnp.log(jax.random.uniform(key, log_r.shape, log_r.dtype)) < log_r
    return _where_rows(accept, proposed, state), jnp.sum(accept)


def _prefix_scores(policy, tokens: np.ndarray, T: int, tau: float):
    """Token log-probabilities (base and proposal) of enumerated prefixes, for every prompt."""
    view = _chain_view(policy)
    X = view.kind[1]
    Y = tokens.shape[0]
    padded = np.zeros((Y, T), np.int32)
    padded[:, : tokens.shape[1]] = tokens
    x = jnp.repeat(jnp.arange(X, dtype=jnp.int32), Y)
    rows = jnp.tile(jnp.asarray(padded), (X, 1))
    length = tokens.shape[1]
    inv = jnp.asarray(1.0 / tau, view.table.dtype)
    out = _continue_chain(jax.random.key(0), view, x, rows, length, length, inv)
    lp = np.asarray(out.token_logp, np.float64).reshape(X, Y, T)
    lq = np.asarray(out.token_logq, np.float64).reshape(X, Y, T)
    return lp, lq, np.asarray(out.lengths).reshape(X, Y)


def mh_law(
    policy: Any,
    alpha: Any,
    *,
    num_steps: int = 10,
    block_size: int | None = None,
    proposal_temperature: Any = None,
    max_entries: int | None = None,
) -> np.ndarray:
    """The exact output law of :func:`mh_sampler` on an enumerable policy, ``[X, Y]`` log-probs.

    Each block is two exact linear maps on the laws over its prefix set ``S_k`` (responses of
    length ``h_k``, or ended earlier by ``eos``): the growth ``S_{k-1} -> S_k`` by the proposal,
    then ``num_steps`` powers of the MH transition matrix on ``S_k``, whose entries are

        M[y, y'] = sum_{i < |y|, y'_<i = y_<i} (1/|y|) q(y'_{>=i} | y_<i) min(1, ratio_i(y, y'))

    with the rejected mass on the diagonal. Columns follow :func:`simulators.to_table`.

    Args:
      policy: a toy policy the prefix oracle answers (:class:`~simulators.TabularPolicy`,
        :class:`~simulators.AutoregressivePolicy`, :class:`~simulators.MarkovPolicy`,
        :class:`~simulators.InhomogeneousMarkovPolicy`) small enough to enumerate.
      alpha, num_steps, block_size, proposal_temperature: as :func:`mh_sampler`.
      max_entries: the most responses times prompts enumerated (default
        ``theory.checks.MAX_TABLE_ENTRIES``); the matrices are ``|S_k|^2`` per prompt.

    Raises:
      ValueError: arguments as :func:`mh_sampler`, or a policy too large to enumerate.
    """
    oracle = check_prefix_oracle(policy, "policy")
    alpha, num_steps, horizons, tau = _mh_settings(
        oracle, alpha, num_steps, block_size, proposal_temperature
    )
    T = oracle.horizon
    eos = _chain_view(oracle.policy).kind[3]
    try:  # the enumerability and size check
        to_table(oracle.policy, max_entries=max_entries)
    except ValueError as err:
        raise ValueError(f"policy cannot be enumerated for its exact MH law: {err}") from None
    law = None  # [X, |S_{k-1}|] probabilities
    prev_tokens = None
    for h in horizons:
        toks, _ = enumerate_sequences(_vocabulary(oracle.policy), h, eos)
        lp, lq, lengths = _prefix_scores(oracle.policy, toks, T, tau)
        X, Y = lengths.shape
        # Growth: y' in S_k extends y in S_{k-1}: q of the tokens after position h_{k-1}.
        start = 0 if prev_tokens is None else prev_tokens.shape[1]
        grow = np.exp(np.sum(lq[:, :, start:], axis=-1))  # [X, Y]
        if prev_tokens is None:
            law = grow
        else:
            parent = _parent_index(prev_tokens, toks, eos)
            law = law[:, parent] * grow
        M = _mh_matrix(lp, lq, lengths, toks, alpha)
        for _ in range(num_steps):
            law = np.einsum("xy,xyz->xz", law, M)
        prev_tokens = toks
    with np.errstate(divide="ignore"):
        return np.log(np.clip(law, 0.0, None))


def _vocabulary(policy) -> int:
    return _chain_view(policy).table.shape[-1]


def _parent_index(prev: np.ndarray, toks: np.ndarray, eos) -> np.ndarray:
    """Index in ``prev`` (prefixes of length ``h``) of each row of ``toks``' first ``h`` tokens."""
    h = prev.shape[1]
    lookup = {tuple(row): j for j, row in enumerate(prev.tolist())}
    return np.array([lookup[tuple(row[:h])] for row in toks.tolist()], np.int64)


def _mh_matrix(lp, lq, lengths, toks, alpha) -> np.ndarray:
    """``[X, Y, Y]`` MH transition matrices on the prefix set ``toks`` (see :func:`mh_law`)."""
    X, Y, T = lp.shape
    h = toks.shape[1]
    # Suffix sums from position i: S[x, y, i] = sum_{t >= i} (...)
    target = np.cumsum((alpha * lp)[..., ::-1], axis=-1)[..., ::-1]
    proposal = np.cumsum(lq[..., ::-1], axis=-1)[..., ::-1]
    same = toks[:, None, :] == toks[None, :, :]  # [Y, Y, h]
    lcp = np.where(same.all(-1), h, np.argmin(same, axis=-1))  # common prefix length
    M = np.zeros((X, Y, Y))
    L = lengths.astype(np.float64)  # [X, Y]
    for i in range(h):
        move = (lcp >= i)[None] & (i < lengths)[:, :, None]  # [X, y, y']
        with np.errstate(invalid="ignore"):
            log_r = (
                target[:, None, :, i]
                - target[:, :, None, i]
                + proposal[:, :, None, i]
                - proposal[:, None, :, i]
                + np.log(np.maximum(L, 1))[:, :, None]
                - np.log(np.maximum(L, 1))[:, None, :]
            )
        # Responses of probability 0 carry no mass (rows) and are never proposed (q = 0): their
        # undefined ratios (inf - inf) are set to anything finite.
        accept = np.exp(np.minimum(np.nan_to_num(log_r, nan=0.0, posinf=0.0), 0.0))
        q = np.exp(proposal[:, None, :, i])
        M += np.where(move & (q > 0), q * accept / np.maximum(L, 1)[:, :, None], 0.0)
    eye = np.eye(Y, dtype=bool)[None]
    off = np.where(eye, 0.0, M)
    return off + np.where(eye, 1.0 - off.sum(-1, keepdims=True), 0.0)


# --------------------------------------------------------------------------------------------------
# Sequential Monte Carlo (Power-SMC, arXiv 2602.10273).


@functools.partial(jax.jit, static_argnames="M")
def _smc_resample(key, log_w, threshold, M: int):
    """Multinomial resampling of the systems whose ESS fell below ``threshold * M``."""
    total = _lse(log_w, axis=-1)
    ess = jnp.exp(2 * total - _lse(2 * log_w, axis=-1))
    resample = ess < threshold * M
    ancestors = jax.random.categorical(key, log_w[:, None, :], axis=-1, shape=log_w.shape)
    keep = jnp.broadcast_to(jnp.arange(M), log_w.shape)
    ancestors = jnp.where(resample[:, None], ancestors, keep)
    log_z = jnp.where(resample, total - jnp.log(M), 0.0)
    return ancestors, jnp.where(resample[:, None], 0.0, log_w), log_z, resample


def smc_sampler(
    key: jax.Array,
    oracle: Any,
    prompts: Any,
    n: int,
    alpha: Any,
    *,
    num_particles: int = 16,
    ess_threshold: Any = 0.5,
    proposal_temperature: Any = None,
) -> tuple[Rollouts, SamplerCost]:
    """Sequential Monte Carlo power sampling (Power-SMC, arXiv 2602.10273).

    ::

        for each output: M particles, log-weights w = 0, log Z_hat = 0
        for t = 1..T:
            extend every unfinished particle by one token from q = pi_base^(1/tau) per token
            w += alpha log pi_base(y_t | y_<t) - log q(y_t | y_<t)   (0 once a particle ended)
            if ESS = (sum e^w)^2 / sum e^(2w) < ess_threshold * M:
                log Z_hat += logsumexp(w) - log M; resample M ancestors ~ e^w; w = 0
        log Z_hat += logsumexp(w) - log M; output one particle ~ e^w

    The weights make ``prod_t p^alpha / q`` the importance weight of the target ``p^alpha``,
    ``eos`` is absorbing, and ``Z_hat`` is an unbiased estimate of
    ``Z_alpha(x) = sum_y pi_base(y | x)^alpha`` (exact: :func:`simulators.power_log_normalizer`).
    The output's law tends to ``p_alpha`` as ``M`` grows (its bias is ``O(1/M)``).

    Args:
      key: PRNG key.
      oracle, prompts, n, alpha: as :func:`mh_sampler` (``n`` independent SMC runs per prompt).
      num_particles: particles per run, ``M >= 1``.
      ess_threshold: resample when the effective sample size falls below this fraction of ``M``,
        in ``(0, 1]`` (1: whenever the weights are not all equal).
      proposal_temperature: the proposal's temperature (default ``1/alpha``).

    Returns:
      ``(rollouts, cost)``; ``cost.diagnostics`` holds ``log_normalizer`` ``[P, n]`` (``log
      Z_hat``), ``resampling_steps`` ``[P, n]``, and the final ``particles`` (a
      :class:`simulators.Continuation` ``[P n M, T]``) with their ``log_weights`` ``[P, n, M]``.
    """
    oracle, prompts, n = _setup(oracle, prompts, n)
    alpha = _check_alpha(alpha)
    M = check_count(num_particles, "num_particles")
    check_scalar(ess_threshold, "ess_threshold")
    threshold = float(ess_threshold)
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"ess_threshold must lie in (0, 1], got {ess_threshold!r}")
    tau = _check_proposal_temperature(proposal_temperature, alpha)
    T = oracle.horizon
    P = prompts.shape[0]
    systems = P * n
    x = np.repeat(np.asarray(prompts), n * M)
    state = _empty(oracle, systems * M)
    dtype = state.token_logp.dtype
    log_w = jnp.zeros((systems, M), dtype)
    log_z = jnp.zeros((systems,), dtype)
    resampled = jnp.zeros((systems,), jnp.int32)
    cost = SamplerCost()
    for t in range(T):
        key, k_ext, k_res = jax.random.split(key, 3)
        new, c = continue_prefix(k_ext, oracle, x, state.tokens, state.lengths, t + 1, tau)
        cost = cost + c
        if c.calls == 0:
            break  # every particle has ended
        state, log_w, log_z, resampled = _smc_step(
            k_res, state, new, log_w, log_z, resampled, alpha, threshold, M=M
        )
    choice = jax.random.categorical(key, log_w, axis=-1)
    chosen, log_z = _smc_output(state, log_w, log_z, choice, M=M)
    diagnostics = {
        "log_normalizer": log_z.reshape(P, n),
        "resampling_steps": resampled.reshape(P, n),
        "particles": state,
        "log_weights": log_w.reshape(P, n, M),
    }
    cost = SamplerCost(cost.calls, cost.tokens, cost.evaluations, diagnostics)
    return _to_rollouts(prompts, chosen, n), cost


@functools.partial(jax.jit, static_argnames="M")
def _smc_step(key, state, new, log_w, log_z, resampled, alpha, threshold, *, M: int):
    """Reweights by the new token's ``alpha log p - log q``, then resamples where the ESS fell."""
    systems = log_w.shape[0]
    inc = _log_weight(new, alpha) - _log_weight(state, alpha)
    log_w = log_w + inc.reshape(systems, M)
    ancestors, log_w, dz, did = _smc_resample(key, log_w, threshold, M)
    rows = (jnp.arange(systems)[:, None] * M + ancestors).reshape(-1)
    state = jax.tree_util.tree_map(lambda a: a[rows], new)
    return state, log_w, log_z + dz, resampled + did


@functools.partial(jax.jit, static_argnames="M")
def _smc_output(state, log_w, log_z, choice, *, M: int):
    systems = log_w.shape[0]
    chosen = jax.tree_util.tree_map(lambda a: a[jnp.arange(systems) * M + choice], state)
    return chosen, log_z + _lse(log_w, axis=-1) - jnp.log(M)


@jax.jit
def _log_weight(state: Continuation, alpha) -> jax.Array:
    return jnp.sum(alpha * state.token_logp - state.token_logq, axis=-1)


# --------------------------------------------------------------------------------------------------
# Look-ahead ("scalable power sampling", arXiv 2601.21590).


def lookahead_sampler(
    key: jax.Array,
    oracle: Any,
    prompts: Any,
    n: int,
    alpha: Any,
    *,
    num_rollouts: int = 8,
    jackknife: bool = True,
) -> tuple[Rollouts, SamplerCost]:
    """Token-by-token power sampling with an estimated look-ahead (arXiv 2601.21590).

    The power law's conditionals are ``p_alpha(v | s) proportional to pi(v | s)^alpha
    zeta(s + v)`` with ``zeta(s) = sum_c pi(c | s)^alpha = E_{c ~ pi(. | s)} pi(c | s)^(alpha-1)``
    (:func:`simulators.power_policy`). At every step each candidate token ``v`` of the
    vocabulary is scored from ``num_rollouts`` base rollouts ``c_1..c_R`` of ``s + v``:
    ``zeta_hat(v) = mean_r pi(c_r | s + v)^(alpha - 1)``, unbiased, and the next token is drawn
    from ``w(v) = pi(v | s)^alpha zeta_hat(v)`` normalized. The normalization makes the drawn
    law biased, ``O(1/R)``; ``jackknife=True`` replaces the probabilities by their jackknife
    ``R p - (R - 1)/R sum_r p^(-r)`` (leave-one-rollout-out), bias ``O(1/R^2)``, clipped at 0 and
    renormalized.

    Our reading of the paper, where its text leaves choices open: candidates are the whole
    vocabulary (the paper restricts to the top-K tokens of a large vocabulary; on the toys every
    token is a candidate, which makes ``R -> infinity`` exact), the rollouts are drawn from
    ``pi_base`` at temperature 1 (the unbiased estimator above), and the leave-one-out replicates
    drop the same rollout index for every candidate. The candidates' ``pi(v | s)`` come with the
    rollouts (the oracle returns the log-probability of the forced first token).

    Args:
      key: PRNG key.
      oracle, prompts, n, alpha: as :func:`mh_sampler`; the oracle's policy must expose its
        vocabulary (the toy policies do).
      num_rollouts: rollouts per candidate and step, ``R >= 1`` (``>= 2`` with ``jackknife``).
      jackknife: the bias correction.

    Returns:
      ``(rollouts, cost)``.
    """
    oracle, prompts, n = _setup(oracle, prompts, n)
    alpha = _check_alpha(alpha)
    R = check_count(num_rollouts, "num_rollouts", minimum=2 if jackknife else 1)
    if not isinstance(jackknife, bool):
        raise TypeError(f"jackknife must be a bool, got {jackknife!r}")
    try:
        V = _vocabulary(oracle.policy)
    except TypeError:
        raise TypeError(
            "lookahead_sampler needs the vocabulary of the oracle's policy (a toy policy), got "
            f"{type(oracle.policy).__name__}"
        ) from None
    T = oracle.horizon
    x = np.repeat(np.asarray(prompts), n)
    B = x.shape[0]
    state = _empty(oracle, B)
    cost = SamplerCost()
    done = np.zeros((B,), bool)
    eos = _chain_view(oracle.policy).kind[3]
    xr = np.repeat(x, V * R)
    for t in range(T):
        key, k_roll, k_pick = jax.random.split(key, 3)
        # Rollouts of s + v for every row, candidate v and replicate r: [B, V, R] rows.
        rows = _lookahead_rows(state.tokens, t, V=V, R=R)
        # A finished row's rollouts replay its eos and draw nothing: the oracle charges them 0.
        out, c = continue_prefix(k_roll, oracle, xr, rows, t + 1, None, 1.0)
        cost = cost + c
        picked = _lookahead_pick(k_pick, out, state.tokens, t, alpha, jackknife, V=V, R=R)
        # The chosen prefix, scored (all tokens kept: nothing is drawn, nothing is paid).
        chosen, _ = continue_prefix(k_pick, oracle, x, picked, t + 1, t + 1)
        state = _where_rows(jnp.asarray(~done), chosen, state)
        if eos is not None:
            done = done | (np.asarray(state.tokens[:, t]) == eos)
            if bool(np.all(done)):
                break
    return _to_rollouts(prompts, state, n), cost


@functools.partial(jax.jit, static_argnames=("V", "R"))
def _lookahead_rows(tokens, t, *, V: int, R: int):
    B, T = tokens.shape
    cand = jnp.broadcast_to(tokens[:, None, None, :], (B, V, R, T))
    at_t = jnp.arange(T) == t
    cand = jnp.where(at_t, jnp.arange(V, dtype=tokens.dtype)[None, :, None, None], cand)
    return cand.reshape(B * V * R, T)


@functools.partial(jax.jit, static_argnames=("jackknife", "V", "R"))
def _lookahead_pick(key, out, tokens, t, alpha, jackknife: bool, *, V: int, R: int):
    B, T = tokens.shape
    probs = _lookahead_probs(out, t, alpha, B, V, R, jackknife)
    pick = jax.random.categorical(key, jnp.log(probs), axis=-1).astype(tokens.dtype)
    return jnp.where(jnp.arange(T) == t, pick[:, None], tokens)


def _lookahead_probs(out: Continuation, t: int, alpha, B: int, V: int, R: int, jackknife: bool):
    """``[B, V]`` next-token probabilities from the rollouts (see :func:`lookahead_sampler`)."""
    lp = out.token_logp.reshape(B, V, R, -1)
    pos = jnp.arange(lp.shape[-1])
    first = jnp.sum(jnp.where(pos == t, lp[:, :, 0, :], 0.0), axis=-1)  # log pi(v | s)
    tail = jnp.sum(jnp.where(pos > t, lp, 0.0), axis=-1)  # log pi(c_r | s + v)
    log_terms = (alpha - 1.0) * tail  # [B, V, R]
    log_zeta = _lse(log_terms, axis=-1) - jnp.log(R)
    logits = alpha * first + log_zeta
    probs = jax.nn.softmax(logits, axis=-1)
    if not jackknife:
        return probs
    # Leave-one-out: zeta without replicate r, for every candidate at once.
    others = jnp.where(jnp.eye(R, dtype=bool)[None, None], -jnp.inf, log_terms[:, :, None, :])
    log_zeta_loo = _lse(others, axis=-1) - jnp.log(R - 1)  # [B, V, R]
    loo = jax.nn.softmax(alpha * first[:, :, None] + log_zeta_loo, axis=1)  # over V
    jk = R * probs - (R - 1) * jnp.mean(loo, axis=-1)
    jk = jnp.clip(jk, 0.0, None)
    return jk / jnp.sum(jk, axis=-1, keepdims=True)
