"""Measured sample complexities of sharpening algorithms on tabular instances (Thm 4.1, 4.2, D.1).

The instance (``bounds.hard_instance``): d hard prompts of total mass Delta = 16 eps whose argmax
has mass 2/M, M = ceil(1 + C/eps), and an easy prompt with a deterministic answer. Its coverage
coefficient is C_cov = (1 - Delta) + (M/2) Delta, about 1 + 8C whatever eps, so C, eps and delta
can be varied one at a time. (eps, delta)-sharpening needs every hard prompt sharpened (its mass
Delta/d exceeds eps when d < 16), which makes the instance a worst case for SFT-Sharpening's
coverage (the Markov step of Theorem 4.1's proof is tight on it).

* :func:`fixed_success`: SFT-Sharpening (``simulators.sft_sharpening`` through the
  sample-and-evaluate oracle, the unrestricted tabular class) on a grid of budgets (n prompts x N
  responses), every budget reusing one draw of n_max x N_max samples per seed, evaluated exactly
  (``theory.sharpening_error``). The measured sample complexity is the least m = nN of the grid
  whose success frequency over seeds is at least 1 - rho.
* :func:`adaptive_success`: adaptive SFT-Sharpening (``simulators.adaptive_sft_sharpening``, the
  stopping rule of Eq. 10 with mu = ln(2/delta)) for each n of a grid, every n the prefix of one
  draw of n_max prompts per seed; its cost is the realized m.

Tables are padded with zero-mass responses to a common width, so every instance of a figure shares
one compiled program.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

import bounds
import simulators
import theory

# Responses of every padded table (M + 1 <= Y_PAD).
Y_PAD = 512


@dataclasses.dataclass(frozen=True)
class HardInstance:
    """The padded hard instance and its exact constants."""

    logp: jax.Array  # [d + 1, Y_PAD]
    mu: jax.Array  # [d + 1]
    M: int
    Delta: float
    c_cov: float
    c_bar_cov: float
    log_card: float


def hard_sft_instance(C: float, eps: float, d: int) -> HardInstance:
    """Theorem 3.1''s instance for (C, eps, d), padded to ``Y_PAD`` responses."""
    M, Delta = bounds.hard_instance_params(C, eps)
    if M + 1 > Y_PAD:
        raise ValueError(f"C/eps too large: M + 1 = {M + 1} exceeds the padded width {Y_PAD}")
    # By symmetry the argmax index of each hard prompt does not matter.
    logp, mu = bounds.hard_instance(np.ones(d, dtype=np.int64), M, Delta)
    pad = jnp.full((logp.shape[0], Y_PAD - logp.shape[1]), -jnp.inf, dtype=logp.dtype)
    return HardInstance(
        logp=jnp.concatenate([logp, pad], axis=1),
        mu=mu,
        M=M,
        Delta=Delta,
        c_cov=float(theory.coverage(logp, mu)),
        c_bar_cov=float(theory.adaptive_coverage(logp, mu)),
        log_card=float(bounds.hard_instance_log_cardinality(M, d)),
    )


@functools.partial(jax.jit, static_argnames=("n_max", "N_max"))
def _fixed_errors(keys, logp, mu, delta, n_used, N_used, *, n_max, N_max):
    """Exact sharpening error ``[S, B]`` of SFT-Sharpening per seed and budget (n_used, N_used)."""
    X, Y = logp.shape
    oracle = simulators.SampleEvaluateOracle(simulators.TabularPolicy(logp), mu)
    model_class = simulators.TabularClass(X, Y)

    def one(key, n_u, N_u):
        res = simulators.sft_sharpening(
            key, oracle, model_class, n_max, N_max, n_used=n_u, N_used=N_u, realizability="skip"
        )
        return theory.sharpening_error(res.policy.logp, logp, mu, delta)

    # The same key for every budget: the n_max x N_max draw is shared (computed once per seed).
    per_seed = lambda key: jax.vmap(one, in_axes=(None, 0, 0))(key, n_used, N_used)
    return jax.vmap(per_seed)(keys)


def fixed_success(
    logp, mu, eps: float, delta: float, n_grid, N_grid, num_seeds: int, seed: int
) -> np.ndarray:
    """Success frequency ``[len(n_grid), len(N_grid)]`` of SFT-Sharpening over ``num_seeds`` seeds:
    the fraction of runs with sharpening error ``P_x[pi_hat(y*|x) <= 1 - delta] <= eps``."""
    n_grid, N_grid = np.asarray(n_grid), np.asarray(N_grid)
    nn, NN = np.meshgrid(n_grid, N_grid, indexing="ij")
    keys = jax.random.split(jax.random.PRNGKey(seed), num_seeds)
    err = _fixed_errors(
        keys,
        logp,
        mu,
        jnp.asarray(delta, dtype=logp.dtype),
        jnp.asarray(nn.ravel()),
        jnp.asarray(NN.ravel()),
        n_max=int(n_grid.max()),
        N_max=int(N_grid.max()),
    )
    ok = theory.error_at_most(np.asarray(err), eps)  # [S, B]
    return ok.mean(axis=0).reshape(nn.shape)


def least_budget(freq: np.ndarray, n_grid, N_grid, rho: float) -> tuple[float, int, int]:
    """The least ``m = n N`` on the grid with success frequency ``>= 1 - rho``: ``(m, n, N)``.

    ``(inf, 0, 0)`` when no budget of the grid succeeds.
    """
    nn, NN = np.meshgrid(np.asarray(n_grid), np.asarray(N_grid), indexing="ij")
    m = np.where(freq >= 1.0 - rho, nn * NN, np.inf)
    i = np.unravel_index(np.argmin(m), m.shape)
    if not np.isfinite(m[i]):
        return float("inf"), 0, 0
    return float(m[i]), int(nn[i]), int(NN[i])


@functools.partial(jax.jit, static_argnames=("n_max", "cap"))
def _adaptive_runs(keys, logp, mu, delta, n_used, *, n_max, cap):
    """Adaptive SFT-Sharpening per seed and number of prompts ``n_used``: ``[S, B]`` exact
    sharpening error, queries ``m`` and whether a used prompt hit the cap.

    Each seed draws ``n_max`` prompts with ``cap`` responses each once; the run with ``n`` prompts
    is its first ``n`` prompts (``simulators.adaptive_sft_sharpening``'s ``n_used``: the very run
    with ``n`` prompts and the same key), so every ``n`` shares one compiled program.
    """
    X, Y = logp.shape
    oracle = simulators.SampleEvaluateOracle(simulators.TabularPolicy(logp), mu)
    model_class = simulators.TabularClass(X, Y)
    mu_stop = jnp.log(2.0 / delta)  # Theorem D.1's stopping parameter

    def one(key, n_u):
        res = simulators.adaptive_sft_sharpening(
            key, oracle, model_class, n_max, cap=cap, mu_stop=mu_stop, n_used=n_u, on_cap="flag"
        )
        err = theory.sharpening_error(res.policy.logp, logp, mu, delta)
        return err, res.queries, res.diagnostics["cap_hit"]

    # The same key for every n_used: the n_max x cap draw is shared (computed once per seed).
    return jax.vmap(lambda k: jax.vmap(one, in_axes=(None, 0))(k, n_used))(keys)


def adaptive_cap(M: int, delta: float) -> int:
    """20 times Lemma I.1's bound (mu + 1) M / 2 on the expected draws at a hard prompt."""
    return int(20 * (np.log(2.0 / delta) + 1) * M / 2) + 1


def adaptive_success(
    inst: HardInstance,
    eps: float,
    delta: float,
    n_grid,
    num_seeds: int,
    seed: int,
    cap: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive SFT-Sharpening with each ``n`` of ``n_grid`` prompts: success frequency and mean
    queries E[m] over ``num_seeds`` runs, ``[len(n_grid)]`` each.

    The per-prompt cap defaults to :func:`adaptive_cap`, so truncation is negligible; runs that
    still hit it count as failures. (Pass a common cap to share one compiled program.)
    """
    cap = adaptive_cap(inst.M, delta) if cap is None else cap
    n_grid = np.asarray(n_grid)
    keys = jax.random.split(jax.random.PRNGKey(seed), num_seeds)
    err, m, cap_hit = _adaptive_runs(
        keys,
        inst.logp,
        inst.mu,
        jnp.asarray(delta, dtype=inst.logp.dtype),
        jnp.asarray(n_grid),
        n_max=int(n_grid.max()),
        cap=cap,
    )
    ok = theory.error_at_most(np.asarray(err), eps) & ~np.asarray(cap_hit)
    return ok.mean(axis=0), np.asarray(m, dtype=np.float64).mean(axis=0)


@functools.partial(jax.jit, static_argnames=("n_max",))
def _dpo_errors(keys, logp, mu, beta, delta, n_used, *, n_max):
    """Exact sharpening error ``[S, B]`` of the squared-loss learner (Eq. 8) per seed and n_used."""
    X, Y = logp.shape
    oracle = simulators.SampleEvaluateOracle(simulators.TabularPolicy(logp), mu)
    model_class = simulators.TabularClass(X, Y)

    def one(key, n_u):
        res = simulators.dpo_sharpening(
            key, oracle, model_class, n_max, beta, n_used=n_u, realizability="skip"
        )
        return theory.sharpening_error(res.policy.logp, logp, mu, delta)

    return jax.vmap(lambda k: jax.vmap(one, in_axes=(None, 0))(k, n_used))(keys)


def dpo_success(
    logp, mu, eps: float, delta: float, beta: float, n_grid, num_seeds: int, seed: int
) -> np.ndarray:
    """Success frequency ``[len(n_grid)]`` of RLHF-Sharpening by the squared loss (Eq. 8, tabular
    class, ``m = 2n``): the fraction of runs with sharpening error ``<= eps``."""
    n_grid = np.asarray(n_grid)
    keys = jax.random.split(jax.random.PRNGKey(seed), num_seeds)
    err = _dpo_errors(
        keys,
        logp,
        mu,
        jnp.asarray(beta, dtype=logp.dtype),
        jnp.asarray(delta, dtype=logp.dtype),
        jnp.asarray(n_grid),
        n_max=int(n_grid.max()),
    )
    return theory.error_at_most(np.asarray(err), eps).mean(axis=0)
