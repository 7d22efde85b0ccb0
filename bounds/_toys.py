"""Small worked instances behind the paper's hardness results and its self-reward comparisons.

* :func:`maxcut_policy`: Proposition E.1's multi-layer softmax model whose sequence argmax encodes a
  maximum cut (computational hardness of sharpening, even at inference time).
* :func:`nonclosure_policy`: Proposition E.2's model whose argmax ``(2, 1)`` has constant mass under
  ``pi_base`` while every model of the class puts at most 1/2 on it (representational failure).
* :func:`bon_accuracy` and :func:`majority_accuracy`: best-of-N accuracy on the answer-bearing toys
  of ``simulators`` (``simulators.length_bias_toy``, THEORY.md section 6 item 12, and
  ``simulators.majority_vs_likelihood_toy``, item 13), on which best-of-N with the log-likelihood
  self-reward loses accuracy as N grows while the length-normalized or majority self-reward gains
  it. :func:`bon_accuracy` gives their exact best-of-N accuracy curves via
  :func:`theory.bon_law`; majority vote is not a per-response reward (a response's score depends on
  the other samples), so :func:`majority_accuracy` estimates its curve by Monte Carlo.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from simulators import (
    REWARDS,
    AnswerToy,
    MultiLayerSoftmaxPolicy,
    Rollouts,
    get_reward,
    majority_prefix_correct,
    sequence_argmax,
)
from theory import bon_law
from theory.checks import check_count, check_positive, check_probs, check_table_size

__all__ = [
    "MaxCutReport",
    "NonClosureReport",
    "bon_accuracy",
    "brute_force_max_cut",
    "cut_value",
    "majority_accuracy",
    "maxcut_policy",
    "maxcut_report",
    "nonclosure_policy",
    "nonclosure_report",
    "nonclosure_table",
    "power_spread_instance",
    "power_spread_tv",
    "sequence_log_probs",
]


# ---------------------------------------------------------------------------------------------
# Proposition E.1: MAX-CUT.
# ---------------------------------------------------------------------------------------------


def _check_adjacency(adjacency: Any) -> np.ndarray:
    A = np.asarray(adjacency)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] < 1:
        raise ValueError(f"adjacency must be a square [n, n] matrix, got shape {A.shape}")
    if not np.isin(A, (0, 1)).all():
        raise ValueError("adjacency must hold 0/1 entries (a simple graph)")
    if not (A == A.T).all() or np.diag(A).any():
        raise ValueError("adjacency must be symmetric with a zero diagonal (undirected, no loops)")
    return A.astype(np.float64)


def _monomial_index(H: int, *idx: int) -> int:
    """Index (0-based token positions) of the feature ``y_i``, ``y_i y_j`` or ``y_i y_j y_k``."""
    if len(idx) == 1:
        return idx[0]
    if len(idx) == 2:
        return H + idx[0] * H + idx[1]
    i, j, k = idx
    return H + H * H + (i * H + j) * H + k


def _monomial_features(H: int, h: int) -> np.ndarray:
    """``phi_h(y_{1:h})`` for every prefix ``y_{1:h}`` in ``{-1, 1}^h`` (token t is ``2t - 1``).

    Rows in lexicographic token order (first token most significant). Every monomial of degree
    1 to 3 whose positions are all ``<= h`` is set; the others are 0 (they involve tokens not yet
    generated).
    """
    d = H + H**2 + H**3
    toks = np.array(list(itertools.product((0, 1), repeat=h)), dtype=np.int64)
    y = 2.0 * toks - 1.0  # [2^h, h]
    phi = np.zeros((len(toks), d))
    phi[:, :h] = y
    pair = y[:, :, None] * y[:, None, :]  # [2^h, h, h]
    for i in range(h):
        phi[:, H + i * H : H + i * H + h] = pair[:, i, :]
    triple = pair[:, :, :, None] * y[:, None, None, :]  # [2^h, h, h, h]
    for i in range(h):
        for j in range(h):
            start = H + H * H + (i * H + j) * H
            phi[:, start : start + h] = triple[:, i, j, :]
    return phi


def maxcut_policy(adjacency: Any) -> MultiLayerSoftmaxPolicy:
    """Proposition E.1's model: its sequence argmax encodes a maximum cut of the graph.

    For a graph ``G`` on ``n`` vertices, ``H = n + 2``, ``X = {bot}``, ``V = {-1, 1}`` (tokens
    ``{0, 1}``), features ``y_i``, ``y_i y_j``, ``y_i y_j y_k`` (``d = H + H^2 + H^3``) and::

        theta_1 = ... = theta_{H-2} = 0
        theta_{H-1} = sum_{i,j <= H-2} J_ij e_(i, j, H-1),    J = -A(G)
        theta_H = 2 (e_(H-1, H) + e_H),                      B = H

    The first ``H - 2`` tokens are uniform; with ``s(y) = -sum_{ij} A_ij y_i y_j = 4 cut(y) - 2|E|``
    (sum over ordered pairs), ``pi(y_{H-1} = 1 | y_{<H-1}) = sigmoid(2 s)`` and the last token is
    ``1`` w.p. ``sigmoid(8)`` after ``y_{H-1} = 1`` and uniform after ``y_{H-1} = -1``. So
    ``pi(y, 1, 1) = 2^-(H-2) sigmoid(2 s(y)) sigmoid(8)``, maximized by a maximum cut; the branch
    ``y_{H-1} = -1`` has mass at most ``2^-(H-2) / 2``, below the cut branch since every graph with
    an edge has a cut above ``|E|/2`` (``s >= 2``; Edwards' bound), and a graph without edges has
    ``s = 0`` and ``sigmoid(8) > 1/2``.

    Args:
      adjacency: ``[n, n]`` symmetric 0/1 adjacency matrix with zero diagonal (n >= 1).

    Returns:
      :class:`~simulators.MultiLayerSoftmaxPolicy` with ``H = n + 2``, one prompt.
    """
    A = _check_adjacency(adjacency)
    n = A.shape[0]
    H = n + 2
    d = H + H**2 + H**3
    theta = np.zeros((H, d))
    for i in range(n):
        for j in range(n):
            theta[H - 2, _monomial_index(H, i, j, H - 2)] = -A[i, j]
    theta[H - 1, _monomial_index(H, H - 2, H - 1)] = 2.0
    theta[H - 1, _monomial_index(H, H - 1)] = 2.0
    steps = [_monomial_features(H, h) for h in range(1, H + 1)]
    return MultiLayerSoftmaxPolicy.from_step_features(steps, theta, num_prompts=1)


def cut_value(adjacency: Any, y: Any) -> np.ndarray:
    """Number of edges cut by sign vectors ``y[..., n]`` in ``{-1, 1}`` (or tokens ``{0, 1}``)."""
    A = _check_adjacency(adjacency)
    y = np.asarray(y, dtype=np.float64)
    if y.shape[-1] != A.shape[0]:
        raise ValueError(f"y must have last axis n = {A.shape[0]}, got shape {y.shape}")
    if np.isin(y, (0.0, 1.0)).all():
        y = 2.0 * y - 1.0
    same = np.einsum("...i,ij,...j->...", y, A, y)  # sum_{ij} A_ij y_i y_j = 2 (|E| - 2 cut)
    return np.rint((A.sum() / 2 - same / 2) / 2).astype(np.int64)


def brute_force_max_cut(adjacency: Any) -> tuple[int, np.ndarray]:
    """The maximum cut by enumeration of all ``2^n`` sign vectors.

    Returns:
      ``(max_cut, maximizers)`` with ``maximizers [K, n]`` every sign vector in ``{-1, 1}^n``
      attaining it.
    """
    A = _check_adjacency(adjacency)
    n = A.shape[0]
    ys = 2 * np.array(list(itertools.product((0, 1), repeat=n)), dtype=np.int64) - 1
    cuts = cut_value(A, ys)
    best = int(cuts.max())
    return best, ys[cuts == best]


class MaxCutReport(NamedTuple):
    """What :func:`maxcut_report` measures on Proposition E.1's model.

    Attributes:
      H: horizon ``n + 2``.
      dim: feature dimension ``H + H^2 + H^3``.
      theta_norms: ``[H]`` ``||theta_h||`` (all ``<= B = H``).
      argmax_tokens: ``[H]`` the brute-force sequence argmax (tokens in ``{0, 1}``).
      argmax_logp: its log-probability.
      argmax_cut: the cut value of its first ``H - 2`` tokens.
      max_cut: the maximum cut by brute force over the graph.
      argmax_is_max_cut: ``argmax_cut == max_cut`` and the last two tokens are ``(1, 1)``.
      dp_argmax_agrees: :func:`simulators.sequence_argmax` returns the same sequence (``None``
        when not checked).
      brute_force_evaluations: ``2^H`` sequence log-likelihoods computed by the enumeration.
      restricted_evaluations: ``2^(H-2)``: the enumeration a solver needs knowing the last two
        tokens (still exponential).
      sampling_cost: ``H`` next-token draws per sample.
      greedy_tokens: ``[H]`` token-wise greedy decoding (ties: lowest token).
      greedy_is_argmax: whether greedy decoding finds the argmax.
    """

    H: int
    dim: int
    theta_norms: np.ndarray
    argmax_tokens: np.ndarray
    argmax_logp: float
    argmax_cut: int
    max_cut: int
    argmax_is_max_cut: bool
    dp_argmax_agrees: bool | None
    brute_force_evaluations: int
    restricted_evaluations: int
    sampling_cost: int
    greedy_tokens: np.ndarray
    greedy_is_argmax: bool


def _next_token_logp(policy: MultiLayerSoftmaxPolicy) -> np.ndarray:
    """Eq. 11's next-token log-probabilities ``[X, S, V]`` in float64 numpy (the same contraction
    as :func:`simulators.multilayer_softmax_logp`, without compiling it for every horizon)."""
    features = np.asarray(policy.features, dtype=np.float64)
    theta = np.asarray(policy.theta, dtype=np.float64)
    V, H = features.shape[2], theta.shape[0]
    level = np.repeat(np.arange(H), [V**h for h in range(H)])
    logits = np.einsum("xsvd,sd->xsv", features, theta[level])
    return logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)


def _greedy_tokens(lp: np.ndarray, H: int) -> np.ndarray:
    """Token-wise greedy decoding of prompt 0 (ties: lowest token), as :func:`simulators.greedy`."""
    V = lp.shape[-1]
    node, toks = 0, []
    for _ in range(H):
        t = int(np.argmax(lp[0, node]))
        toks.append(t)
        node = node * V + 1 + t
    return np.asarray(toks, dtype=np.int64)


def sequence_log_probs(policy: MultiLayerSoftmaxPolicy) -> np.ndarray:
    """Brute force: ``log pi_theta(y | x)`` of every ``y in V^H`` for every prompt, ``[X, V^H]``.

    Evaluates all ``V^H`` sequences (column ``sum_h y_h V^(H-h)``, as :func:`simulators.to_table`)
    by summing the next-token log-probabilities of Eq. 11 along each sequence's prefixes, in
    float64 numpy. This is the exponential enumeration that Proposition E.1 says cannot be avoided
    in general.
    """
    if not isinstance(policy, MultiLayerSoftmaxPolicy):
        raise TypeError(f"policy must be a MultiLayerSoftmaxPolicy, got {type(policy).__name__}")
    lp = _next_token_logp(policy)
    X, _, V = lp.shape
    H = policy.H
    check_table_size(X * V**H, f"the {V}^{H} sequences of a MultiLayerSoftmaxPolicy")
    toks = np.array(list(itertools.product(range(V), repeat=H)), dtype=np.int64)  # [V^H, H]
    total = np.zeros((X, len(toks)))
    node = np.zeros(len(toks), dtype=np.int64)  # level-order prefix node
    for h in range(H):
        total += lp[:, node, toks[:, h]]
        node = node * V + 1 + toks[:, h]
    return total


def maxcut_report(adjacency: Any, *, check_dp: bool = False) -> MaxCutReport:
    """Builds Proposition E.1's model for a graph and checks its argmax against MAX-CUT.

    The sequence argmax is found by brute force over all ``2^H`` sequences
    (:func:`sequence_log_probs`); the maximum cut by enumerating the graph's cuts; they must agree.

    Args:
      adjacency: ``[n, n]`` symmetric 0/1 adjacency matrix.
      check_dp: also run :func:`simulators.sequence_argmax` (dynamic programming over the stored
        prefix tree, itself of size ``2^H``) and record whether it agrees.
    """
    A = _check_adjacency(adjacency)
    policy = maxcut_policy(A)
    H = policy.H
    table = sequence_log_probs(policy)[0]  # [2^H]
    col = int(np.argmax(table))
    toks = np.array([(col >> (H - 1 - h)) & 1 for h in range(H)], dtype=np.int64)
    argmax_cut = int(cut_value(A, toks[: H - 2]))
    max_cut, _ = brute_force_max_cut(A)
    dp_agrees = None
    if check_dp:
        x0 = jnp.zeros((1,), jnp.int32)
        dp_agrees = bool(np.array_equal(np.asarray(sequence_argmax(policy, x0))[0], toks))
    gr = _greedy_tokens(_next_token_logp(policy), H)
    return MaxCutReport(
        H=H,
        dim=policy.theta.shape[1],
        theta_norms=np.linalg.norm(np.asarray(policy.theta), axis=1),
        argmax_tokens=toks,
        argmax_logp=float(table[col]),
        argmax_cut=argmax_cut,
        max_cut=max_cut,
        argmax_is_max_cut=bool(argmax_cut == max_cut and toks[-2] == 1 and toks[-1] == 1),
        dp_argmax_agrees=dp_agrees,
        brute_force_evaluations=2**H,
        restricted_evaluations=2 ** (H - 2),
        sampling_cost=H,
        greedy_tokens=gr,
        greedy_is_argmax=bool(np.array_equal(gr, toks)),
    )


# ---------------------------------------------------------------------------------------------
# Proposition E.2: non-closure under sharpening.
# ---------------------------------------------------------------------------------------------


def _nonclosure_features(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Step features of Proposition E.2 (tokens ``0..n-1`` stand for ``1..n``)."""
    phi1 = np.zeros((n, 2))
    phi1[:2, 0] = 1.0  # phi_1(1) = phi_1(2) = e_1
    phi1[2:, 1] = 1.0  # phi_1(i >= 3) = e_2
    phi2 = np.zeros((n * n, 2))
    row2 = 1 * n  # prefix y_1 = 2 (token 1)
    phi2[row2 + 0, 0] = 1.0  # phi_2(2, 1) = e_1
    phi2[row2 + 1 : row2 + n, 1] = 1.0  # phi_2(2, j != 1) = e_2; phi_2(i != 2, .) = 0
    return phi1, phi2


def nonclosure_policy(
    n: int, theta: Any = None, *, B: float | None = None
) -> MultiLayerSoftmaxPolicy:
    """Proposition E.2's class ``X = {bot}``, ``V = [n]``, ``H = d = 2``, at parameter ``theta``.

    Features (token ``t`` stands for ``t + 1``)::

        phi_1(1) = phi_1(2) = e_1,  phi_1(i >= 3) = e_2
        phi_2(2, 1) = e_1,  phi_2(2, j != 1) = e_2,  phi_2(i != 2, .) = 0

    Args:
      n: vocabulary size (>= 3).
      theta: ``[2, 2]`` parameters; default ``theta*_1 = theta*_2 = B e_1`` (the base model).
      B: the base model's scale (default ``log n``, the least the proposition allows).

    Returns:
      :class:`~simulators.MultiLayerSoftmaxPolicy`.
    """
    n = check_count(n, "n", minimum=3)
    if theta is None:
        B = math.log(n) if B is None else B
        check_positive(B, "B")
        theta = np.array([[B, 0.0], [B, 0.0]])
    phi1, phi2 = _nonclosure_features(n)
    return MultiLayerSoftmaxPolicy.from_step_features([phi1, phi2], theta, num_prompts=1)


def nonclosure_table(n: int, theta: Any) -> np.ndarray:
    """``log pi_theta(y_1, y_2)`` of Proposition E.2's class in closed form, ``[n, n]`` (float64).

    ``pi(y_1) = softmax_{y_1}(<phi_1(y_1), theta_1>)`` and
    ``pi(y_2 | y_1) = softmax_{y_2}(<phi_2(y_1, y_2), theta_2>)``; rows are ``y_1``, columns ``y_2``
    (tokens ``0..n-1`` stand for ``1..n``). Agrees with ``to_table(nonclosure_policy(n, theta))``.
    """
    l1, l2 = _nonclosure_steps(n, theta)
    return l1[:, None] + l2


def _nonclosure_steps(n: int, theta: Any) -> tuple[np.ndarray, np.ndarray]:
    """``log pi_theta(y_1)`` ``[n]`` and ``log pi_theta(y_2 | y_1)`` ``[n, n]``."""
    n = check_count(n, "n", minimum=3)
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (2, 2) or not np.all(np.isfinite(theta)):
        raise ValueError(f"theta must be a finite [2, 2] array, got {theta.shape}")
    phi1, phi2 = _nonclosure_features(n)
    l1 = phi1 @ theta[0]
    l1 = l1 - np.logaddexp.reduce(l1)
    l2 = (phi2 @ theta[1]).reshape(n, n)
    l2 = l2 - np.logaddexp.reduce(l2, axis=1, keepdims=True)
    return l1, l2


class NonClosureReport(NamedTuple):
    """What :func:`nonclosure_report` measures on Proposition E.2's model.

    Attributes:
      n: vocabulary size.
      base_mass_21: ``pi_base(2, 1)``.
      base_max_other: the largest ``pi_base`` mass of any other pair (``O(1/n)``).
      base_argmax_is_21: the sequence argmax of ``pi_base`` is ``(2, 1)``.
      class_sup_21: the largest ``pi_theta(2, 1)`` found over the class (random and extreme
        parameters; the proposition says ``<= 1/2``).
      first_token_tie: every sampled ``theta`` has ``pi_theta(y_1 = 1) = pi_theta(y_1 = 2)``.
      temperatures: ``[K]`` the inverse temperatures ``1/tau`` tried on ``pi_base``.
      tempered_mass_21: ``[K]`` ``pi_{theta*/tau}(2, 1)`` (tends to 1/2, never above).
      greedy_tokens: ``[2]`` greedy decoding of ``pi_base``, ties to the lowest token (tokens;
        ``(0, 0)`` is ``(1, 1)``).
      bon_hit: ``[K']`` exact ``P[BoN_N = (2, 1)] = 1 - (1 - pi_base(2, 1))^N`` for ``N`` in
        ``bon_sizes`` (inference-time BoN sharpens beyond 1/2 where no model of the class can).
      bon_sizes: ``[K']`` the N's.
    """

    n: int
    base_mass_21: float
    base_max_other: float
    base_argmax_is_21: bool
    class_sup_21: float
    first_token_tie: bool
    temperatures: np.ndarray
    tempered_mass_21: np.ndarray
    greedy_tokens: np.ndarray
    bon_hit: np.ndarray
    bon_sizes: np.ndarray


def nonclosure_report(
    key: jax.Array, n: int, *, B: float | None = None, num_random: int = 256, scale: float = 50.0
) -> NonClosureReport:
    """Measures Proposition E.2 on its model (THEORY.md section 6 item 10).

    Args:
      key: PRNG key for the random class members.
      n: vocabulary size (>= 3).
      B: the base model's scale (default ``log n``).
      num_random: number of random ``theta`` (Gaussian with standard deviation ``scale``, plus the
        extreme corners ``+-scale`` in each coordinate) searched for a large ``pi_theta(2, 1)``.
      scale: parameter scale of the search (``B'`` of the proposition).
    """
    n = check_count(n, "n", minimum=3)
    num_random = check_count(num_random, "num_random")
    B = math.log(n) if B is None else B
    check_positive(B, "B")
    theta_star = np.array([[B, 0.0], [B, 0.0]])
    table = np.exp(nonclosure_table(n, theta_star)).ravel()  # column y1 * n + y2
    col21 = 1 * n + 0
    others = np.delete(table, col21)
    thetas = np.asarray(jax.random.normal(key, (num_random, 2, 2))) * scale
    corners = np.array(list(itertools.product((-scale, scale), repeat=4))).reshape(-1, 2, 2)
    masses, ties = [], []
    for th in np.concatenate([thetas, corners]):
        l1, l2 = _nonclosure_steps(n, th)
        masses.append(np.exp(l1[1] + l2[1, 0]))
        ties.append(bool(l1[0] == l1[1]))  # phi_1(1) = phi_1(2): equal logits, exactly
    inv_temps = np.array([1.0, 2.0, 5.0, 10.0, 50.0])
    tempered = np.array([np.exp(nonclosure_table(n, theta_star * s)[1, 0]) for s in inv_temps])
    l1, l2 = _nonclosure_steps(n, theta_star)
    g1 = int(np.argmax(l1))  # ties: lowest token, as simulators.greedy
    gr = np.array([g1, int(np.argmax(l2[g1]))])
    sizes = np.array([1, 4, 16, 64])
    # (2, 1) is the unique argmax, so BoN misses it iff no sample is (2, 1) (Prop. C.1).
    hit = -np.expm1(sizes * np.log1p(-table[col21]))
    return NonClosureReport(
        n=n,
        base_mass_21=float(table[col21]),
        base_max_other=float(others.max()),
        base_argmax_is_21=bool(np.argmax(table) == col21),
        class_sup_21=float(max(masses)),
        first_token_tie=bool(all(ties)),
        temperatures=inv_temps,
        tempered_mass_21=tempered,
        greedy_tokens=gr,
        bon_hit=hit,
        bon_sizes=sizes,
    )


def _response_rollouts(toy: AnswerToy) -> Rollouts:
    """Every response of every prompt as one rollout (``N = Y``): what a per-draw self-reward
    scores to give the per-response reward table ``r[x, y]``."""
    X = toy.num_prompts
    return Rollouts(
        prompts=jnp.arange(X),
        tokens=toy.tokens,
        lengths=toy.lengths,
        logp_base=toy.logp,
        answers=toy.answers,
    )


def bon_accuracy(
    toy: AnswerToy, N: Any, reward: Any = "log_likelihood", mu: Any = None
) -> np.ndarray:
    """Exact best-of-N accuracy ``E_{x~mu} P[BoN_N(x) correct]`` on an :class:`AnswerToy`.

    Uses the exact law :func:`theory.bon_law` (ties broken uniformly) with a per-draw self-reward
    of the registry (``simulators.REWARDS``), e.g. ``log pi_base(y|x)`` (Eq. 2) or
    ``log pi_base(y|x) / |y|`` (App. A.2), scored on every response of the toy.

    Args:
      toy: the instance.
      N: int or ``[K]`` ints >= 1.
      reward: a per-draw self-reward: a registered name (``"log_likelihood"``,
        ``"length_normalized"``, a researcher's own), its function or a ``SelfReward``. Majority
        vote is not per-draw (a response's score depends on the other samples): use
        :func:`majority_accuracy`.
      mu: ``[X]`` prompt weights (default uniform).

    Returns:
      float64 array of ``N``'s shape.
    """
    r_self = get_reward(reward)
    if not r_self.per_draw:
        per_draw = sorted(name for name, r in REWARDS.items() if r.per_draw)
        raise ValueError(
            f"reward must be a per-draw self-reward (one of {per_draw} or one you registered), "
            f"got {r_self.name!r}; for majority vote use majority_accuracy"
        )
    X = toy.num_prompts
    w = np.full(X, 1.0 / X) if mu is None else np.exp(np.asarray(check_probs(mu, "mu")))
    # r = log pi_base (the registry's log_base property) is bon_law's own default reward.
    r = None if r_self.log_base else jnp.asarray(r_self(_response_rollouts(toy)))
    Ns = np.asarray(N)
    out = []
    for k in Ns.ravel():
        law = np.exp(np.asarray(bon_law(toy.logp, int(k), r)))
        out.append(float(w @ (law * np.asarray(toy.correct)).sum(axis=1)))
    return np.asarray(out).reshape(Ns.shape)


def majority_accuracy(
    key: jax.Array, toy: AnswerToy, N: int, num_draws: int
) -> tuple[float, float]:
    """Monte Carlo accuracy of best-of-N under the majority-vote self-reward (App. A.2).

    Majority vote is not a per-response reward (a response's score is the count of samples sharing
    its answer), so :func:`theory.bon_law` does not apply; this draws ``num_draws`` batches of ``N``
    responses per prompt (``simulators.majority_prefix_correct``), picks a response of the most
    frequent answer (ties uniformly) and averages its correctness over prompts (uniform) and draws.

    Returns:
      ``(accuracy, standard_error)`` over the ``num_draws`` batches.
    """
    N = check_count(N, "N")
    num_draws = check_count(num_draws, "num_draws")
    ok = np.asarray(majority_prefix_correct(key, toy, [N], num_draws)[0], dtype=np.float64)
    per_draw = ok.reshape(toy.num_prompts, num_draws).mean(axis=0)
    return float(per_draw.mean()), float(per_draw.std(ddof=1) / math.sqrt(num_draws))


# --------------------------------------------------------------------------------------------------
# Sequence-level power against token-level temperature (issue 16).


def power_spread_instance():
    """An autoregressive policy on which the power law and low temperature disagree by a lot.

    ``V = 3`` (token 2 is ``eos``), ``H = 3``: the first token is 0 with probability 0.6 or 1
    with 0.4; after 1 the response ends; after 0 the mass spreads over the four completions
    ``{0, 1}^2`` (0.15 each). Token-level temperature ``1/alpha`` sharpens the first row alone
    and keeps preferring 0; the power law weighs whole responses, where ``1 eos`` (0.4) beats
    every ``0 . .`` (0.15). Closed form of their distance: :func:`power_spread_tv`.
    """
    from simulators import AutoregressivePolicy

    uniform = [1 / 3] * 3
    rows = [uniform] * 13  # prefixes of length 0..2 in level order (unused rows stay uniform)
    rows[0] = [0.6, 0.4, 0.0]  # the empty prefix
    rows[1] = rows[4] = rows[5] = [0.5, 0.5, 0.0]  # prefixes 0, 00, 01
    rows[2] = [0.0, 0.0, 1.0]  # prefix 1: eos
    return AutoregressivePolicy.from_probs(np.array([rows]), eos=2)


def power_spread_tv(alpha: float) -> float:
    """Exact TV between the power law and temperature ``1/alpha`` on :func:`power_spread_instance`.

    Both put all their mass on ``1 eos`` and the four ``0 . .`` responses, uniformly among the
    latter, so the distance is the difference of their masses on ``1 eos``:
    ``0.4^a / (4 0.15^a + 0.4^a) - 0.4^a / (0.6^a + 0.4^a)``.
    """
    a = float(check_positive(alpha, "alpha"))
    return 0.4**a / (4 * 0.15**a + 0.4**a) - 0.4**a / (0.6**a + 0.4**a)
