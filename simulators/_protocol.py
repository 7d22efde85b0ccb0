"""The paper's inference-time protocol (App. A.1, THEORY.md section 5) as estimators on Rollouts.

The paper samples ``N_max = 50`` responses per prompt at temperature 1, simulates every smaller
``N`` by subsampling those draws, and reports for best-of-N under each self-reward the accuracy,
its relative lift over greedy decoding, the mean log-likelihood of the selected responses, and
next to them naive temperature-1 sampling, pass@N (the coverage skyline) and the log-likelihood
distributions of correct vs incorrect responses (Figs. 1-6).

Everything here reads :class:`~simulators.Rollouts` only (``logp_base``, ``lengths``, ``tokens``,
``answers``, ``correct``, per-token statistics), never a policy, so the same code measures a toy
policy and a transformer. It uses numpy and JAX, never torch. Tables are tidy pandas DataFrames.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence

import jax
import numpy as np
import pandas as pd

from theory.checks import check_count

from ._best_of_n import best_of_n
from ._rewards import REWARDS, is_per_draw
from ._rollouts import Rollouts, check_rollouts

Reward = Callable[[Rollouts], jax.Array]


# One compiled program per shape (instead of one compilation per primitive): best-of-N on
# precomputed scores, and on a self-reward function (static, hashed by identity).
_best_of_n_scores = jax.jit(best_of_n)
_best_of_n_reward = jax.jit(best_of_n, static_argnames=("reward",))


def _require(rollouts: Rollouts, field: str, what: str) -> np.ndarray:
    value = getattr(rollouts, field)
    if value is None:
        raise ValueError(f"{what} needs rollouts.{field}, which is None")
    return np.asarray(value)


def default_rewards(rollouts: Rollouts) -> dict[str, Reward]:
    """The registered self-rewards applicable to ``rollouts`` (section 1.2 and App. A.2), in
    registration order: every reward of ``simulators.REWARDS`` whose optional fields (``needs``)
    are present. The built-ins: log-likelihood (Eq. 2) and length-normalized log-likelihood
    always; majority vote when ``answers`` are present; self-certainty and negative entropy when
    the per-token statistics are.
    """
    return {
        name: r.fn
        for name, r in REWARDS.items()
        if all(getattr(rollouts, f) is not None for f in r.needs)
    }


# --------------------------------------------------------------------------------------------
# Subsampling N of N_max draws


def subsample_indices(key: jax.Array, num_prompts: int, n_max: int, n: int) -> jax.Array:
    """``[P, n]`` numpy indices of ``n`` distinct draws out of ``n_max``, independently per prompt.

    A uniformly random ``n``-subset of ``N_max`` i.i.d. draws is itself ``n`` i.i.d. draws, which is
    how the paper simulates smaller ``N`` (App. A.1).
    """
    num_prompts = check_count(num_prompts, "num_prompts")
    n_max = check_count(n_max, "n_max")
    n = check_count(n, "n")
    if n > n_max:
        raise ValueError(f"n must be at most n_max={n_max}, got {n}")
    # The ranks of i.i.d. uniforms form a uniformly random permutation (ties have probability 0).
    u = np.asarray(jax.random.uniform(key, (num_prompts, n_max)))
    return np.argsort(u, axis=1, kind="stable")[:, :n]


def take_per_prompt(rollouts: Rollouts, index: jax.Array) -> Rollouts:
    """The rollouts restricted to samples ``index[p, :]`` of each prompt ``p`` (``[P, n]`` ints).

    The result holds numpy arrays (host memory): estimators index them many times, and moving
    them to the device is left to the jitted consumer.
    """
    rollouts = check_rollouts(rollouts)
    index = np.asarray(index)
    if index.ndim != 2 or index.shape[0] != rollouts.num_prompts:
        raise ValueError(
            f"index must have shape [P, n] with P = {rollouts.num_prompts}, got {index.shape}"
        )

    def pick(a):
        a = np.asarray(a)
        idx = index.reshape(index.shape + (1,) * (a.ndim - 2))
        return np.take_along_axis(a, idx, axis=1)

    return rollouts.map_samples(pick)


def _tile(rollouts: Rollouts, times: int) -> Rollouts:
    """The rollouts repeated ``times`` times along the prompt axis (``[times * P, ...]``)."""

    def rep(a):
        return None if a is None else np.tile(np.asarray(a), (times,) + (1,) * (a.ndim - 1))

    return Rollouts(
        **{f.name: rep(getattr(rollouts, f.name)) for f in dataclasses.fields(Rollouts)}
    )


# --------------------------------------------------------------------------------------------
# Exact estimators


def pass_at_k(num_correct, num_samples: int, k: int) -> np.ndarray:
    """Unbiased pass@k from ``num_samples`` draws of which ``num_correct`` are correct.

    ``1 - C(n - c, k) / C(n, k)``, the probability that a uniformly random ``k``-subset of the
    ``n`` draws holds a correct one (Chen et al. 2021), written as the stable product
    ``1 - prod_{i = n - c + 1}^{n} (1 - k / i)``. It is unbiased for the coverage criterion
    "correct if any of k samples is correct" (section 1.2 item 5; Fig. 2c).

    Args:
      num_correct: ``[...]`` ints in ``[0, num_samples]``.
      num_samples: ``n``, the draws per prompt.
      k: ``k <= n``.

    Returns:
      ``[...]`` float64 estimates.
    """
    n = check_count(num_samples, "num_samples")
    k = check_count(k, "k")
    if k > n:
        raise ValueError(f"k must be at most num_samples={n}, got {k}")
    c = np.asarray(num_correct)
    if c.size and (c.min() < 0 or c.max() > n):
        raise ValueError(f"num_correct must lie in [0, {n}], got range [{c.min()}, {c.max()}]")
    out = np.empty(c.shape, np.float64)
    for idx, ci in np.ndenumerate(c):
        ci = int(ci)
        if n - ci < k:
            out[idx] = 1.0
        else:
            out[idx] = 1.0 - float(np.prod(1.0 - k / np.arange(n - ci + 1, n + 1)))
    return out


def bon_subset_weights(scores, n: int) -> np.ndarray:
    """Exact probability that each draw is best-of-``n`` over a random ``n``-subset of the draws.

    For one prompt with ``N_max`` scored draws: a uniformly random ``n``-subset is taken and its
    maximizer kept, ties broken uniformly (pseudo-code A). For draw ``j`` with ``a`` draws scoring
    strictly less and ``t`` scoring the same (``j`` included)::

        P[j kept] = sum_{k=1}^{min(t, n)} C(t-1, k-1) C(a, n-k) / C(N_max, n) / k

    (``k`` tied draws in the subset, none higher, ``j`` among them and chosen with prob. ``1/k``).
    This is the expectation that the paper's repeated subsampling estimates by Monte Carlo.
    NaN scores count as ``-inf`` (as in :func:`~simulators.best_of_n`).

    The binomial coefficients are exact Python integers and each weight is one ratio of two
    integers, ``numerator / (C(N_max, n) * L)`` with ``L = lcm(1..min(t, n))`` clearing the
    ``1/k``, rounded once to float64 by Python's correctly rounded integer division. The ratio
    is at most 1, so nothing overflows however large ``N_max`` is (``C(1100, 550)`` alone is
    ~1e329, beyond float64), and weights below 1e-308 round to subnormals or 0 as they should.

    Args:
      scores: ``[P, N_max]`` self-reward scores.
      n: subset size ``N <= N_max``.

    Returns:
      ``[P, N_max]`` float64 weights, each row summing to 1.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"scores must have shape [P, N_max], got {s.shape}")
    P, N = s.shape
    n = check_count(n, "n")
    if n > N:
        raise ValueError(f"n must be at most N_max={N}, got {n}")
    s = np.where(np.isnan(s), -np.inf, s)
    total = math.comb(N, n)
    w = np.zeros((P, N), np.float64)
    # (a, t) -> weight: prompts with distinct scores share the pairs (a, 1) for a = 0..N-1.
    cache: dict[tuple[int, int], float] = {}
    for p in range(P):
        row = np.sort(s[p])
        below = np.searchsorted(row, s[p], side="left")  # a: draws scoring strictly less
        tied = np.searchsorted(row, s[p], side="right") - below  # t: draws scoring the same
        for j in range(N):
            a, t = int(below[j]), int(tied[j])
            if (a, t) not in cache:
                # Exact integers throughout: float terms such as C(t-1, k-1) C(a, n-k) / k
                # overflow float64 once N_max exceeds about 1030.
                lcm = math.lcm(*range(1, min(t, n) + 1))
                numerator = sum(
                    math.comb(t - 1, k - 1) * math.comb(a, n - k) * (lcm // k)
                    for k in range(1, min(t, n) + 1)
                )
                cache[(a, t)] = numerator / (total * lcm)
            w[p, j] = cache[(a, t)]
    return w


def coverage_plugin(rollouts: Rollouts) -> dict[str, float]:
    """Sample estimates of the adaptive coverage ``C_bar_cov = E_x[1 / max_y pi(y|x)]`` (App. D).

    * ``plugin``: ``mean_x 1 / max_j pi(y_j|x)``, replacing the unknown mode by the likeliest of
      the ``N`` draws. That maximum is a lower-bound-type plug-in for ``max_y pi(y|x)`` (it can
      only miss the mode), so this estimate is biased *upwards*: ``plugin >= C_bar_cov >= C_cov``
      for every draw, with equality once a mode is drawn; it decreases as ``N`` grows.
    * ``lower``: ``mean_x 1 / max(max_j pi(y_j|x), 1 - S_x)`` with ``S_x`` the total mass of the
      distinct drawn responses. The mode is either among the draws or outside them, where all the
      mass is at most ``1 - S_x``, so this is a guaranteed lower bound on ``C_bar_cov`` (it does
      not bound ``C_cov``, whose argmax set may hold several responses).

    Both are returned with their logarithms (``log_plugin``, ``log_lower``), exact when
    probabilities are far below float range.

    Args:
      rollouts: :class:`~simulators.Rollouts` (distinct responses are told apart by their tokens).
    """
    rollouts = check_rollouts(rollouts)
    logp = np.asarray(rollouts.logp_base, dtype=np.float64)
    tokens = np.asarray(rollouts.tokens)
    lengths = np.asarray(rollouts.lengths)
    P, N = logp.shape
    log_inv_plugin = np.empty(P)
    log_inv_lower = np.empty(P)
    for p in range(P):
        seen: dict[tuple, float] = {}
        for n in range(N):
            seen.setdefault(tuple(tokens[p, n, : lengths[p, n]].tolist()), logp[p, n])
        distinct = np.array(list(seen.values()))
        m = float(np.max(logp[p]))
        finite = distinct[np.isfinite(distinct)]
        log_s = float(np.logaddexp.reduce(finite)) if finite.size else -np.inf
        # log(1 - S), 0 log 0 written out: S = 1 leaves no mass outside the draws.
        log_rest = float(np.log1p(-np.exp(log_s))) if log_s < 0 else -np.inf
        log_inv_plugin[p] = -m
        log_inv_lower[p] = -max(m, log_rest)
    log_plugin = float(np.logaddexp.reduce(log_inv_plugin) - np.log(P))
    log_lower = float(np.logaddexp.reduce(log_inv_lower) - np.log(P))
    with np.errstate(over="ignore"):  # beyond float range the coverage is reported as inf
        plugin, lower = float(np.exp(log_plugin)), float(np.exp(log_lower))
    return dict(
        plugin=plugin,
        lower=lower,
        log_plugin=log_plugin,
        log_lower=log_lower,
    )


def lift_percent(accuracy, greedy_accuracy) -> np.ndarray:
    """Relative lift over greedy, ``(acc - acc_greedy) / acc_greedy * 100`` (section 5.1).

    NaN where the greedy accuracy is 0 (the relative lift is undefined).
    """
    acc = np.asarray(accuracy, np.float64)
    g = np.asarray(greedy_accuracy, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(g > 0, (acc - g) / np.where(g > 0, g, 1.0) * 100.0, np.nan)


# --------------------------------------------------------------------------------------------
# Tables


def _greedy_stats(greedy: Rollouts | None) -> tuple[float, float]:
    if greedy is None:
        return math.nan, math.nan
    greedy = check_rollouts(greedy, "greedy")
    acc = math.nan
    if greedy.correct is not None:
        acc = float(np.mean(np.asarray(greedy.correct, np.float64)))
    return acc, float(np.mean(np.asarray(greedy.logp_base, np.float64)))


def bon_curve(
    key: jax.Array,
    rollouts: Rollouts,
    ns: Sequence[int],
    *,
    rewards: Mapping[str, Reward] | None = None,
    num_subsamples: int = 10,
    greedy: Rollouts | None = None,
) -> pd.DataFrame:
    """Best-of-N under each self-reward, for every ``N`` in ``ns``, by subsampling (App. A.1).

    For each subsample ``s`` and each ``N``, ``N`` of the ``N_max`` draws of every prompt are
    chosen at random (:func:`subsample_indices`), each self-reward picks its best-of-N
    (:func:`~simulators.best_of_n`, ties uniform; majority vote counts votes inside the subsample)
    and the chosen responses are measured.

    Args:
      key: PRNG key (subsets and tie-breaking).
      rollouts: ``N_max`` draws per prompt; ``correct`` is needed for the accuracy metrics.
      ns: the ``N`` values (each ``<= N_max``).
      rewards: name -> self-reward (default :func:`default_rewards`).
      num_subsamples: random subsamples per ``N`` (the paper's seeds).
      greedy: greedy-decoding rollouts (``N = 1``) of the same prompts, for the lifts.

    Returns:
      Tidy DataFrame with columns ``reward, N, subsample, metric, value``. Metrics: ``accuracy``
      (when ``correct`` is known), ``logp`` (mean ``log pi_base`` of the chosen responses, Fig. 4),
      ``length`` (mean length of the chosen responses) and, when ``greedy`` is given,
      ``lift_pct`` (relative lift over greedy accuracy, section 5.1) and ``logp_lift`` (minus the
      greedy responses' mean log-likelihood).
    """
    rollouts = check_rollouts(rollouts)
    num_subsamples = check_count(num_subsamples, "num_subsamples")
    ns = [check_count(int(n), "ns") for n in ns]
    P, n_max = rollouts.num_prompts, rollouts.num_samples
    if any(n > n_max for n in ns):
        raise ValueError(f"every N in ns must be at most N_max = {n_max}, got {max(ns)}")
    rewards = default_rewards(rollouts) if rewards is None else dict(rewards)
    if not rewards:
        raise ValueError("rewards must name at least one self-reward")
    acc_greedy, logp_greedy = _greedy_stats(greedy)
    has_correct = rollouts.correct is not None
    names = list(rewards)
    S = num_subsamples
    # All S subsamples of one N are stacked along the prompt axis ([S * P, N] rollouts), so each
    # self-reward and each best-of-N runs once per N.
    tiled = _tile(rollouts, S)
    # Per-draw self-rewards score a draw the same whatever else is in the subset: score all N_max
    # draws once and gather (majority vote, and any user reward, is scored on each subsample).
    per_draw = {
        name: np.tile(np.asarray(rewards[name](rollouts)), (S, 1))
        for name in names
        if is_per_draw(rewards[name])
    }
    rows = []
    for n, key_n in zip(ns, jax.random.split(key, len(ns)), strict=True):
        key_sub, key_tie = jax.random.split(key_n)
        index = np.asarray(subsample_indices(key_sub, S * P, n_max, n))
        sub = take_per_prompt(tiled, index)
        logp = np.asarray(sub.logp_base, np.float64)
        lengths = np.asarray(sub.lengths, np.float64)
        correct = np.asarray(sub.correct, np.float64) if has_correct else None
        rows_sp = np.arange(S * P)
        for name, key_r in zip(names, jax.random.split(key_tie, len(names)), strict=True):
            if name in per_draw:
                scores = np.take_along_axis(per_draw[name], index, axis=1)
                choice = np.asarray(_best_of_n_scores(key_r, sub, scores))
            else:
                choice = np.asarray(_best_of_n_reward(key_r, sub, reward=rewards[name]))
            values = {
                "logp": logp[rows_sp, choice].reshape(S, P).mean(1),
                "length": lengths[rows_sp, choice].reshape(S, P).mean(1),
            }
            if has_correct:
                values["accuracy"] = correct[rows_sp, choice].reshape(S, P).mean(1)
            if greedy is not None:
                values["logp_lift"] = values["logp"] - logp_greedy
                if has_correct:
                    values["lift_pct"] = lift_percent(values["accuracy"], acc_greedy)
            for metric, v in values.items():
                rows += [(name, n, s, metric, float(v[s])) for s in range(S)]
    return pd.DataFrame(rows, columns=["reward", "N", "subsample", "metric", "value"])


def bon_expected(
    rollouts: Rollouts,
    ns: Sequence[int],
    *,
    rewards: Mapping[str, Reward] | None = None,
    greedy: Rollouts | None = None,
) -> pd.DataFrame:
    """The exact expectation over random ``N``-subsets of what :func:`bon_curve` estimates.

    Uses :func:`bon_subset_weights` for rewards whose scores do not depend on which other draws
    are in the subset (the per-draw rewards of the registry: log-likelihood, length-normalized,
    self-certainty, negative entropy); the others (majority vote, any unregistered callable)
    depend on them and are skipped.

    Returns:
      Tidy DataFrame with columns ``reward, N, metric, value`` (metrics as in :func:`bon_curve`).
    """
    rollouts = check_rollouts(rollouts)
    rewards = default_rewards(rollouts) if rewards is None else dict(rewards)
    rewards = {k: v for k, v in rewards.items() if is_per_draw(v)}
    acc_greedy, logp_greedy = _greedy_stats(greedy)
    logp = np.asarray(rollouts.logp_base, np.float64)
    lengths = np.asarray(rollouts.lengths, np.float64)
    rows = []
    for name, reward in rewards.items():
        scores = np.asarray(reward(rollouts))
        for n in ns:
            w = bon_subset_weights(scores, int(n))
            m_logp = float(np.mean(np.sum(w * np.where(w > 0, logp, 0.0), axis=1)))
            metrics = {"logp": m_logp, "length": float(np.mean(np.sum(w * lengths, axis=1)))}
            if rollouts.correct is not None:
                acc = float(np.mean(np.sum(w * np.asarray(rollouts.correct, np.float64), axis=1)))
                metrics["accuracy"] = acc
            if greedy is not None:
                metrics["logp_lift"] = m_logp - logp_greedy
                if rollouts.correct is not None:
                    metrics["lift_pct"] = float(lift_percent(metrics["accuracy"], acc_greedy))
            for metric, value in metrics.items():
                rows.append((name, int(n), metric, value))
    return pd.DataFrame(rows, columns=["reward", "N", "metric", "value"])


def aggregate_subsamples(
    df: pd.DataFrame, by: Sequence[str] = ("reward", "N", "metric")
) -> pd.DataFrame:
    """Mean, standard deviation, standard error and count of ``value`` over subsamples."""
    g = df.groupby(list(by), sort=True)["value"]
    out = g.agg(["mean", "std", "count"]).reset_index()
    out["sem"] = out["std"] / np.sqrt(out["count"])
    return out


def sample_table(rollouts: Rollouts) -> pd.DataFrame:
    """One row per draw: ``prompt, sample, logp, length, logp_per_token`` and, when known,
    ``answer`` and ``correct`` (the data of the log-likelihood histograms, Figs. 1c and 6)."""
    rollouts = check_rollouts(rollouts)
    P, N = rollouts.num_prompts, rollouts.num_samples
    logp = np.asarray(rollouts.logp_base, np.float64)
    lengths = np.asarray(rollouts.lengths)
    data = {
        "prompt": np.repeat(np.asarray(rollouts.prompts), N),
        "sample": np.tile(np.arange(N), P),
        "logp": logp.ravel(),
        "length": lengths.ravel(),
        "logp_per_token": np.where(lengths > 0, logp / np.maximum(lengths, 1), logp).ravel(),
    }
    if rollouts.answers is not None:
        data["answer"] = np.asarray(rollouts.answers).ravel()
    if rollouts.correct is not None:
        data["correct"] = np.asarray(rollouts.correct).ravel().astype(bool)
    return pd.DataFrame(data)


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P[X > Y] + P[X = Y] / 2 for X from ``pos`` and Y from ``neg`` (all pairs)."""
    if pos.size == 0 or neg.size == 0:
        return math.nan
    diff = pos[:, None] - neg[None, :]
    return float(np.mean((diff > 0) + 0.5 * (diff == 0)))


def likelihood_by_correctness(rollouts: Rollouts) -> pd.DataFrame:
    """How log-likelihood separates correct from incorrect draws (Figs. 1c and 6).

    Returns:
      Tidy DataFrame ``metric, value``: ``mean_logp_correct``, ``mean_logp_incorrect``, their
      per-token versions, ``auc`` (probability that a random correct draw is likelier than a
      random incorrect one, ties counting half: above 1/2 is the sharpening mechanism's premise)
      and ``auc_within_prompt`` (the same comparison made inside each prompt, averaged over the
      prompts that have both kinds of draws).
    """
    rollouts = check_rollouts(rollouts)
    correct = _require(rollouts, "correct", "likelihood_by_correctness").astype(bool)
    logp = np.asarray(rollouts.logp_base, np.float64)
    lengths = np.asarray(rollouts.lengths)
    per_token = np.where(lengths > 0, logp / np.maximum(lengths, 1), logp)
    within = [
        _auc(logp[p][correct[p]], logp[p][~correct[p]])
        for p in range(logp.shape[0])
        if correct[p].any() and not correct[p].all()
    ]
    rows = {
        "mean_logp_correct": float(np.mean(logp[correct])) if correct.any() else math.nan,
        "mean_logp_incorrect": float(np.mean(logp[~correct])) if (~correct).any() else math.nan,
        "mean_logp_per_token_correct": (
            float(np.mean(per_token[correct])) if correct.any() else math.nan
        ),
        "mean_logp_per_token_incorrect": (
            float(np.mean(per_token[~correct])) if (~correct).any() else math.nan
        ),
        "auc": _auc(logp[correct], logp[~correct]),
        "auc_within_prompt": float(np.mean(within)) if within else math.nan,
        "prompts_with_both": float(len(within)),
    }
    return pd.DataFrame({"metric": list(rows), "value": list(rows.values())})


def protocol_summary(
    rollouts: Rollouts, ns: Sequence[int] | None = None, *, greedy: Rollouts | None = None
) -> pd.DataFrame:
    """Protocol-level numbers that do not depend on a self-reward.

    Returns:
      Tidy DataFrame ``metric, N, value`` (``N`` is NaN where it does not apply):
      ``greedy_accuracy``, ``greedy_logp``, ``greedy_length``; ``naive_accuracy`` (a single
      temperature-1 draw, exact mean over all draws); ``pass_at_n`` for every ``N`` (unbiased,
      :func:`pass_at_k`); ``mean_logp``; response-length statistics ``length_mean``,
      ``length_median``, ``length_std``, ``length_min``, ``length_max``; the coverage estimates
      ``coverage_plugin`` and ``coverage_lower`` (:func:`coverage_plugin`) with their logarithms.
    """
    rollouts = check_rollouts(rollouts)
    n_max = rollouts.num_samples
    ns = [n_max] if ns is None else [check_count(int(n), "ns") for n in ns]
    rows: list[tuple[str, float, float]] = []
    nan = math.nan
    if greedy is not None:
        acc_g, logp_g = _greedy_stats(greedy)
        rows += [
            ("greedy_accuracy", nan, acc_g),
            ("greedy_logp", nan, logp_g),
            ("greedy_length", nan, float(np.mean(np.asarray(greedy.lengths)))),
        ]
    lengths = np.asarray(rollouts.lengths, np.float64)
    rows.append(("mean_logp", nan, float(np.mean(np.asarray(rollouts.logp_base, np.float64)))))
    if rollouts.correct is not None:
        correct = np.asarray(rollouts.correct).astype(bool)
        rows.append(("naive_accuracy", nan, float(np.mean(correct))))
        counts = correct.sum(axis=1)
        for n in ns:
            rows.append(("pass_at_n", float(n), float(np.mean(pass_at_k(counts, n_max, n)))))
    rows += [
        ("length_mean", nan, float(np.mean(lengths))),
        ("length_median", nan, float(np.median(lengths))),
        ("length_std", nan, float(np.std(lengths))),
        ("length_min", nan, float(np.min(lengths))),
        ("length_max", nan, float(np.max(lengths))),
    ]
    cov = coverage_plugin(rollouts)
    rows += [
        ("coverage_plugin", float(n_max), cov["plugin"]),
        ("coverage_lower", float(n_max), cov["lower"]),
        ("log_coverage_plugin", float(n_max), cov["log_plugin"]),
        ("log_coverage_lower", float(n_max), cov["log_lower"]),
    ]
    return pd.DataFrame(rows, columns=["metric", "N", "value"])


def default_ns(n_max: int) -> list[int]:
    """``1, 2, 4, ...`` up to and including ``n_max`` (the paper's N axis, Fig. 1b)."""
    n_max = check_count(n_max, "n_max")
    ns = [1]
    while ns[-1] * 2 < n_max:
        ns.append(ns[-1] * 2)
    if ns[-1] != n_max:
        ns.append(n_max)
    return ns


def run_protocol(
    key: jax.Array,
    rollouts: Rollouts,
    *,
    greedy: Rollouts | None = None,
    ns: Sequence[int] | None = None,
    rewards: Mapping[str, Reward] | None = None,
    num_subsamples: int = 10,
) -> dict[str, pd.DataFrame]:
    """The whole inference-time protocol of App. A.1 on ``N_max`` draws per prompt.

    Args:
      key: PRNG key.
      rollouts: ``[P, N_max]`` temperature-1 draws with ``answers``/``correct`` where available.
      greedy: greedy rollouts (``N = 1``) of the same prompts.
      ns: the ``N`` axis (default :func:`default_ns`).
      rewards: self-rewards (default :func:`default_rewards`).
      num_subsamples: subsamples per ``N``.

    Returns:
      dict of tidy DataFrames: ``bon`` (:func:`bon_curve`), ``bon_mean`` (its
      :func:`aggregate_subsamples`), ``bon_exact`` (:func:`bon_expected`), ``summary``
      (:func:`protocol_summary`), ``samples`` (:func:`sample_table`) and, when ``correct`` is
      known, ``likelihood`` (:func:`likelihood_by_correctness`).
    """
    rollouts = check_rollouts(rollouts)
    ns = default_ns(rollouts.num_samples) if ns is None else list(ns)
    bon = bon_curve(
        key, rollouts, ns, rewards=rewards, num_subsamples=num_subsamples, greedy=greedy
    )
    out = {
        "bon": bon,
        "bon_mean": aggregate_subsamples(bon),
        "bon_exact": bon_expected(rollouts, ns, rewards=rewards, greedy=greedy),
        "summary": protocol_summary(rollouts, ns, greedy=greedy),
        "samples": sample_table(rollouts),
    }
    if rollouts.correct is not None:
        out["likelihood"] = likelihood_by_correctness(rollouts)
    return out
