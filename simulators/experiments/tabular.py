"""Experiments on tabular instances: a frozen config pytree plus ``run(key, config) -> metrics``.

Each config is a ``jax.tree_util.register_dataclass`` dataclass: array fields are leaves (stacked
over settings by :func:`simulators.sweep`), sizes that fix shapes are static, and budgets
(``n_used``, ``N_used``) are integer leaves so every budget of a seed reuses one draw of the
largest sample (App. A.1's protocol of simulating small ``N`` from ``N_max`` draws). Every run
draws through the sample-and-evaluate oracle (Definition 3.2) and evaluates the learned policy
exactly (``theory.sharpening_error``, Definition 3.1).

* :class:`TabularSFTConfig` / :func:`run_tabular_sft`: SFT-Sharpening (Eq. 6, Theorem 4.1) with
  the unrestricted tabular class, sample by sample or, with ``method="exact_law"``
  (:func:`tabular_sft_exact_law`), from the per-prompt sufficient statistics of the count MLE,
  which have the same law at O(n) cost per run.
* :class:`AdaptiveSFTConfig` / :func:`run_adaptive_sft`: adaptive SFT-Sharpening with the
  likelihood stopping rule of Eq. 10 (Theorem D.1).
* :class:`DPOConfig` / :func:`run_dpo`: RLHF-Sharpening by the squared loss of Eq. 8 (Theorem 4.2).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import theory
from theory.checks import (
    check_allocation,
    check_count,
    check_logp,
    check_mu,
    check_nonnegative,
    check_open_unit,
    check_scalar,
)

from .._algorithms import _check_used, adaptive_sft_sharpening, dpo_sharpening, sft_sharpening
from .._classes import TabularClass
from .._evaluation import sharpening_metrics
from .._oracle import SampleEvaluateOracle, draw_prompts
from .._tabular import TabularPolicy, count_masses

_METHODS = ("per_sample", "exact_law")


def _static(**kw):
    return dataclasses.field(metadata=dict(static=True), **kw)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TabularSFTConfig:
    """SFT-Sharpening on a tabular instance with the unrestricted tabular class.

    Attributes:
      logp_base: ``[X, Y]`` base model table.
      mu: ``[X]`` prompt distribution.
      n: static int, the largest number of prompts (drawn once).
      N: static int, the largest number of responses per prompt (drawn once).
      n_used: int leaf, prompts used (a budget, ``<= n``).
      N_used: int leaf, responses used per prompt (a budget, ``<= N``).
      delta: the ``delta`` of the sharpening error (Def. 3.1).
      smoothing: additive smoothing of the tabular MLE.
      method: static str, how :func:`run_tabular_sft` simulates a run: ``"per_sample"`` (default:
        every response drawn through the oracle, best-of-N and the MLE table of
        :func:`simulators.sft_sharpening`) or ``"exact_law"`` (the same distribution of the
        metrics drawn from per-prompt sufficient statistics in O(n); see
        :func:`run_tabular_sft`). The per-sample path stays the default: it is the algorithm
        itself, run through the oracle and the toolkit's own best-of-N and MLE, which the exact
        law is checked against, and sweeps written for it keep their random numbers.
    """

    logp_base: jax.Array
    mu: jax.Array
    n: int = _static()
    N: int = _static()
    n_used: Any = None
    N_used: Any = None
    delta: Any = 0.1
    smoothing: Any = 0.0
    method: str = _static(default="per_sample")


def check_tabular_sft_config(
    config: TabularSFTConfig, budgets: Mapping[str, Any] | None = None
) -> TabularSFTConfig:
    """Validates a :class:`TabularSFTConfig` (values only where concrete) and budget columns.

    Both paths of :func:`run_tabular_sft` run it; :func:`sweep` runs it before compiling (as
    ``run_tabular_sft.validate_config``), where the experiment itself only sees tracers.

    Args:
      config: the config.
      budgets: optional ``{field: [B] values}`` swept over by :func:`sweep`: the tables are
        checked once, the scalar fields (``n_used <= n``, ``N_used <= N``, ``delta`` in (0, 1),
        ``smoothing >= 0``, ...) for every budget row.

    Raises:
      ValueError / TypeError: naming the offending field, as the eager call does.
    """
    if not isinstance(config, TabularSFTConfig):
        raise TypeError(f"config must be a TabularSFTConfig, got {type(config).__name__}")
    logp_base = check_logp(config.logp_base, "config.logp_base", min_ndim=2)
    if logp_base.ndim != 2:
        raise ValueError(f"config.logp_base must have shape [X, Y], got {logp_base.shape}")
    check_mu(config.mu, logp_base.shape[0], "config.mu")
    if budgets is None:
        _check_sft_scalars(config)
        return config
    columns = {field: np.asarray(values) for field, values in budgets.items()}
    for b in range(len(next(iter(columns.values()), ()))):
        # 0-d array leaves, as sweep passes them (v[b] alone would be a numpy scalar).
        row = {k: v[b, ...] for k, v in columns.items()}
        _check_sft_scalars(dataclasses.replace(config, **row))
    return config


def _check_sft_scalars(config: TabularSFTConfig) -> None:
    """The checks of :func:`check_tabular_sft_config` on the scalar fields of one setting."""
    if config.method not in _METHODS:
        raise ValueError(f"config.method must be one of {_METHODS}, got {config.method!r}")
    n = check_count(config.n, "config.n")
    N = check_count(config.N, "config.N")
    # What one run allocates: n prompts, and n x N responses on the per-sample path.
    per_run = n if config.method == "exact_law" else n * N
    check_allocation(per_run, f"a run's {per_run:.3g} draws", "config.n, config.N", 48)
    # The query count n_used N_used is formed in the default integer dtype.
    int_max = int(np.iinfo(jnp.dtype(jnp.result_type(int))).max)
    if n * N > int_max:
        raise ValueError(
            f"config.n * config.N = {n * N:.3g} queries exceed the default integer range "
            f"({int_max:.3g}; enable jax_enable_x64 for int64 counts)"
        )
    _check_used(config.n_used, n, "config.n_used", "config.n")
    _check_used(config.N_used, N, "config.N_used", "config.N")
    check_scalar(config.delta, "config.delta")
    check_open_unit(config.delta, "config.delta")
    check_scalar(config.smoothing, "config.smoothing")
    check_nonnegative(config.smoothing, "config.smoothing")


def run_tabular_sft(key: jax.Array, config: TabularSFTConfig) -> dict[str, jax.Array]:
    """One SFT-Sharpening run (paper section 2.1; THEORY.md section 3.1 and pseudo-code B of
    section 4; Theorem 4.1) with exact evaluation.

    Metrics: ``sharpening_error`` = ``P_{x~mu}[pi_hat(y*(x)|x) < 1 - delta]`` (exact, Def. 3.1),
    ``mass_on_argmax`` = ``E_{x~mu} pi_hat(y*(x)|x)`` and ``queries`` = ``m = n_used N_used``
    (Def. 3.2).

    ``config.method`` picks one of two simulations of the same algorithm:

    * ``"per_sample"`` (default) runs :func:`simulators.sft_sharpening` through the
      sample-and-evaluate oracle (``n x N`` responses, best-of-N, the count MLE) and scores the
      learned :class:`~simulators.CountPolicy` exactly with
      :func:`simulators.sharpening_metrics` (from its counts: no ``[X, Y]`` table). It is the
      algorithm as written and the reference for the other path; cost O(n N + X) per run, plus
      the argmax mask of ``pi_base`` (O(X Y), shared by every seed and budget of a sweep).
    * ``"exact_law"`` draws only what the metrics depend on (:func:`tabular_sft_exact_law`),
      with the same distribution of the metrics; cost O(n + X) per run. Queries are still
      charged ``N_used`` per prompt: the learner it simulates makes them.

    Budgets share samples in both: the per-sample path uses the prefixes of one ``n x N`` draw,
    the exact-law path the prefixes of one prompt draw and one uniform per prompt (see
    :func:`tabular_sft_exact_law` for why this is the same joint law across budgets).

    Raises:
      ValueError: for an unknown ``config.method`` (or the checks of the chosen path).
    """
    check_tabular_sft_config(config)
    if config.method == "exact_law":
        return tabular_sft_exact_law(key, config)
    X, Y = config.logp_base.shape
    oracle = SampleEvaluateOracle(TabularPolicy(config.logp_base), config.mu)
    res = sft_sharpening(
        key,
        oracle,
        TabularClass(X, Y, config.smoothing),
        config.n,
        config.N,
        n_used=config.n_used,
        N_used=config.N_used,
        realizability="skip",
    )
    # The learned CountPolicy is evaluated from its n examples: no [X, Y] table per run.
    metrics = sharpening_metrics(res.policy, config.logp_base, config.mu, config.delta)
    return metrics | {"queries": res.queries}


def tabular_sft_exact_law(key: jax.Array, config: TabularSFTConfig) -> dict[str, jax.Array]:
    """SFT-Sharpening with the tabular count MLE, simulated from its sufficient statistics.

    The metrics of :func:`run_tabular_sft` (paper section 2.1; THEORY.md section 3.1 and
    pseudo-code B of section 4; Theorem 4.1) depend on a run only through, per prompt ``x``,
    ``n_x`` (how many of the ``n`` prompts are ``x``) and ``k_x`` (how many of their best-of-N
    responses lie in the argmax set ``y*(x)``): the count
    MLE with smoothing ``s`` puts ``(k_x + s |y*(x)|) / (n_x + s Y)`` on ``y*(x)`` (uniform on
    prompts with no data and ``s = 0``). With the log-likelihood self-reward the best-of-N
    response lies in ``y*(x)`` iff one of the ``N`` samples does (ties are broken inside the set),
    so given ``x_i`` it is Bernoulli with (Prop. C.1, THEORY.md section 6 item 1)

        p_N(x) = 1 - (1 - pi_base(y*(x)|x))^N,

    the miss probability ``1 - p_N`` in log space from :func:`theory.log_bon_miss_probability`.
    A run is therefore::

        x_1..x_n ~ mu                                  (the oracle's prompt draw)
        v_1..v_n ~ U(0, 1]
        hit_i = N_used log(1 - pi_base(y*(x_i)|x_i)) < log v_i     (P[hit_i] = p_{N_used}(x_i))
        n_x = #{i <= n_used : x_i = x},  k_x = #{i <= n_used : x_i = x, hit_i}

    in O(n + X) instead of the ``n N`` draws and ``[X, Y]`` tables of the per-sample path. The
    sharpening error compares counts, ``pi_hat(outside y*) > delta``, so an exact tie such as
    ``pi_hat(y*) = 3/4`` at ``delta = 1/4`` is not a failure (Def. 3.1's strict inequality).

    Budgets. The prompts are drawn as the per-sample path draws them from the same key (so
    both paths see the same ``x_1..x_n``), and every budget uses the first ``n_used``. One
    uniform per prompt serves every ``N_used``: ``hit_i(N)`` is nondecreasing in ``N``, and the
    first ``N`` with ``hit_i(N)``, ``min{N : v_i > (1 - q)^N}``, is the inverse-CDF draw of the
    geometric index of the first sample in ``y*`` (``q = pi_base(y*(x_i)|x_i)``). The joint law of
    ``(hit_i(N))_N`` is thus exactly that of "one of the first ``N`` samples of one shared draw
    lies in ``y*``", the per-sample path's prefix sharing.

    Oracle cost (Def. 3.2, THEORY.md section 1.4): ``queries = n_used N_used``, the
    sample-and-evaluate queries of the learner simulated (``N_used`` per prompt), although the
    simulation itself draws no response.
    Resolution: ``P[hit]`` is exact up to the spacing of the uniform draws (2^-52 in float64,
    2^-23 in float32), as for inverse-CDF sampling.

    Args:
      key: PRNG key.
      config: :class:`TabularSFTConfig` (``method`` is ignored here).

    Returns:
      ``{"sharpening_error", "mass_on_argmax", "queries"}`` scalars, as :func:`run_tabular_sft`.
    """
    _, _, n_x, k_x, queries = _exact_law_stats(key, config)
    return _count_mle_metrics(n_x, k_x, config) | {"queries": queries}


def _materialized(v: jax.Array) -> jax.Array:
    """``v`` itself, written to a buffer before its consumers read it.

    XLA's CPU backend fuses the elementwise tail of a small ``[X]`` computation (here the
    log-space branches of a log-mass, a few transcendental functions) into a gather that reads it,
    and so redoes it for every gathered element (8x slower for ``[256, 128]`` prompts); it does
    not fuse a scatter, and strips ``optimization_barrier`` before fusion.
    """
    return jnp.zeros_like(v).at[jnp.arange(v.shape[0])].set(v)


def _exact_law_stats(key, config):
    """``(x[n], hit[n], n_x[X], k_x[X], queries)`` of one exact-law run (validated); counts are
    int32."""
    check_tabular_sft_config(dataclasses.replace(config, method="exact_law"))
    logp_base = jnp.asarray(config.logp_base)
    X, Y = logp_base.shape
    mu = jnp.asarray(config.mu)
    n, N = config.n, config.N
    n_used = _check_used(config.n_used, n, "config.n_used", "config.n")
    N_used = _check_used(config.N_used, N, "config.N_used", "config.N")

    # The key splits of sft_sharpening's draw: the same prompts as the per-sample path.
    k_draw, k_hit = jax.random.split(key)
    oracle = SampleEvaluateOracle(TabularPolicy(logp_base), mu)
    x = draw_prompts(jax.random.split(k_draw)[0], oracle, n)
    # v_i = 1 - u_i ~ U(0, 1]; BoN misses y*(x_i) iff v_i <= (1 - pi_base(y*|x_i))^N, compared in
    # log space. Both sides of the comparison are per-seed arrays (the budget enters as the
    # factor N_used only), so under vmap over budgets the draws and gathers are done once.
    log_v = jnp.log1p(-jax.random.uniform(k_hit, (n,), logp_base.dtype))
    log_miss_one = _materialized(theory.log_bon_miss_probability(logp_base, 1))  # [X]
    hit = N_used * log_miss_one[x] < log_v
    used = jnp.arange(n) < n_used
    n_x, k_x = _segment_counts(used, used & hit, x, X)
    return x, hit, n_x, k_x, n_used * N_used


def _segment_counts(a: jax.Array, b: jax.Array, x: jax.Array, X: int):
    """``(#{i : a_i, x_i = x}, #{i : b_i, x_i = x})`` as ``[X]`` int32 counts.

    The scatter-add behind a segment sum dominates an exact-law run once vmap batches it over
    seeds and budgets, so both counts share one int32 scatter when they fit in 15 bits each
    (``a`` in the low bits, ``b`` in the high bits: exact, as no sum carries across).
    """
    shift = x.shape[0].bit_length()  # every count is <= len(x) < 2**shift
    if 2 * shift > 31:
        return tuple(jax.ops.segment_sum(c.astype(jnp.int32), x, num_segments=X) for c in (a, b))
    packed = a.astype(jnp.int32) + (b.astype(jnp.int32) << shift)
    both = jax.ops.segment_sum(packed, x, num_segments=X)
    return both & ((1 << shift) - 1), both >> shift


def _count_mle_metrics(n_x, k_x, config):
    """Exact metrics of the smoothed count MLE from ``n_x[X]`` and ``k_x[X]``."""
    logp_base = jnp.asarray(config.logp_base)
    Y = logp_base.shape[-1]
    dtype = logp_base.dtype
    size = jnp.sum(theory.argmax_set(logp_base), axis=-1)  # |y*(x)|
    mass_in, mass_out, total = count_masses(
        jnp.asarray(n_x, dtype), jnp.asarray(k_x, dtype), size, Y, config.smoothing
    )
    # pi_hat(y*) < 1 - delta  <=>  (mass outside y*) > delta * total: integer counts times one
    # rounding of delta * total, no logarithms of ratios (exact at ties like 3/4 vs 1 - 1/4).
    fails = mass_out > jnp.asarray(config.delta, dtype) * total
    mu = jnp.asarray(config.mu, dtype)
    return {
        # E_{x~mu} as a dot product: a sum of mu * values would have XLA's CPU backend write mu
        # out broadcast to [seeds, budgets, X] under vmap; both values are finite.
        "sharpening_error": fails.astype(dtype) @ mu,
        "mass_on_argmax": (mass_in / total) @ mu,
    }


# sweep() validates settings and budget rows concretely before its traced call.
run_tabular_sft.validate_config = check_tabular_sft_config
tabular_sft_exact_law.validate_config = check_tabular_sft_config


# ----------------------------------------------------------------------------------------------
# Adaptive SFT-Sharpening (Theorem D.1) and the squared loss of Eq. 8 (Theorem 4.2)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class AdaptiveSFTConfig:
    """Adaptive SFT-Sharpening on a tabular instance (for :func:`simulators.sweep`).

    Attributes:
      logp_base: ``[X, Y]`` base table; mu: ``[X]``; mu_stop: Eq. 10's stopping parameter;
      delta: the sharpening error's delta; n: static, prompts drawn; cap: static, draws per
      prompt; n_used: int leaf, prompts used (a budget).
    """

    logp_base: jax.Array
    mu: jax.Array
    mu_stop: jax.Array
    delta: jax.Array
    n: int = _static(default=1)
    cap: int = _static(default=1)
    n_used: object = None


def run_adaptive_sft(key: jax.Array, config: AdaptiveSFTConfig) -> dict[str, jax.Array]:
    """One adaptive SFT-Sharpening run: exact ``sharpening_error``, realized ``queries``,
    ``cap_hit``."""
    X, Y = config.logp_base.shape
    oracle = SampleEvaluateOracle(TabularPolicy(config.logp_base), config.mu)
    res = adaptive_sft_sharpening(
        key,
        oracle,
        TabularClass(X, Y),
        config.n,
        cap=config.cap,
        mu_stop=config.mu_stop,
        n_used=config.n_used,
        on_cap="flag",
    )
    err = sharpening_metrics(res.policy, config.logp_base, config.mu, config.delta)
    return {
        "sharpening_error": err["sharpening_error"],
        "queries": res.queries,
        "cap_hit": res.diagnostics["cap_hit"],
    }


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class DPOConfig:
    """DPO-style RLHF-Sharpening (Eq. 8) on a tabular instance (for :func:`simulators.sweep`).

    Attributes:
      logp_base: ``[X, Y]``; mu: ``[X]``; beta: the KL weight; delta: the sharpening error's
      delta; n: static, triples drawn; n_used: int leaf, triples used (a budget).
    """

    logp_base: jax.Array
    mu: jax.Array
    beta: jax.Array
    delta: jax.Array
    n: int = _static(default=1)
    n_used: object = None


def run_dpo(key: jax.Array, config: DPOConfig) -> dict[str, jax.Array]:
    """One run of :func:`simulators.dpo_sharpening` with the tabular class; exact
    ``sharpening_error`` and ``queries`` (``2 n_used``)."""
    X, Y = config.logp_base.shape
    oracle = SampleEvaluateOracle(TabularPolicy(config.logp_base), config.mu)
    res = dpo_sharpening(
        key,
        oracle,
        TabularClass(X, Y),
        config.n,
        config.beta,
        n_used=config.n_used,
        realizability="skip",
    )
    err = sharpening_metrics(res.policy, config.logp_base, config.mu, config.delta)
    return {"sharpening_error": err["sharpening_error"], "queries": res.queries}
