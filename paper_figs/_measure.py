"""Measured sample complexities of sharpening algorithms on tabular instances (Thm 4.1, 4.2, D.1).

The instance (``bounds.hard_instance``): d hard prompts of total mass Delta = 16 eps whose argmax
has mass 2/M, M = ceil(1 + C/eps), and an easy prompt with a deterministic answer. Its coverage
coefficient is C_cov = (1 - Delta) + (M/2) Delta, about 1 + 8C whatever eps, so C, eps and delta
can be varied one at a time. (eps, delta)-sharpening needs every hard prompt sharpened (its mass
Delta/d exceeds eps when d < 16), which makes the instance a worst case for SFT-Sharpening's
coverage (the Markov step of Theorem 4.1's proof is tight on it).

Every run goes through the experiment layer (:mod:`simulators.experiments`, run by
``simulators.sweep`` with seeds ``seed * num_seeds + 0 .. num_seeds - 1``, every budget of a seed
reusing one draw of the largest sample) and is evaluated exactly (``theory.sharpening_error``).

* :func:`fixed_success`: SFT-Sharpening (``run_tabular_sft``: through the sample-and-evaluate
  oracle, the unrestricted tabular class) on a grid of budgets (n prompts x N responses). The
  measured sample complexity is ``bounds.minimal_product_budget``: the least m = nN over n of the
  least N from which on every larger N of the grid succeeds in at least 1 - rho of the seeds.
* :func:`adaptive_success`: adaptive SFT-Sharpening (``run_adaptive_sft``, the stopping rule of
  Eq. 10 with mu = ln(2/delta)) for each n of a grid; its cost is the realized m.
* :func:`dpo_success`: the squared loss of Eq. 8 (``run_dpo``) for each n of a grid (m = 2n).

Tables are padded with zero-mass responses to a common width, so every instance of a figure shares
one compiled program.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import bounds
import simulators
import theory
from simulators import experiments

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


def _seeds(num_seeds: int, seed: int) -> np.ndarray:
    """The sweep seeds of a figure setting: ``num_seeds`` consecutive seeds after ``seed``'s."""
    return seed * num_seeds + np.arange(num_seeds)


def _per_seed(df, metric: str, S: int, B: int) -> np.ndarray:
    """``[B, S]`` values of one metric of a one-setting sweep frame (budgets in grid order)."""
    rows = df[df["metric"] == metric].sort_values(["budget", "seed"])
    return rows["value"].to_numpy().reshape(B, S)


def fixed_success(
    logp, mu, eps: float, delta: float, n_grid, N_grid, num_seeds: int, seed: int
) -> np.ndarray:
    """Success ``[len(n_grid), len(N_grid), num_seeds]`` of SFT-Sharpening: whether the run's
    sharpening error ``P_x[pi_hat(y*|x) <= 1 - delta]`` is at most ``eps``."""
    n_grid, N_grid = np.asarray(n_grid), np.asarray(N_grid)
    nn, NN = np.meshgrid(n_grid, N_grid, indexing="ij")
    config = experiments.TabularSFTConfig(
        logp, mu, n=int(n_grid.max()), N=int(N_grid.max()), delta=jnp.asarray(delta, logp.dtype)
    )
    df = simulators.sweep(
        experiments.run_tabular_sft,
        config,
        _seeds(num_seeds, seed),
        {"n_used": nn.ravel(), "N_used": NN.ravel()},
        progress=False,
    )
    err = _per_seed(df, "sharpening_error", num_seeds, nn.size)
    return theory.error_at_most(err, eps).reshape(*nn.shape, num_seeds)


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
    """Adaptive SFT-Sharpening with each ``n`` of ``n_grid`` prompts: success ``[len(n_grid),
    num_seeds]`` and mean queries E[m] ``[len(n_grid)]``.

    The per-prompt cap defaults to :func:`adaptive_cap`, so truncation is negligible; runs that
    still hit it count as failures. (Pass a common cap to share one compiled program.)
    """
    cap = adaptive_cap(inst.M, delta) if cap is None else cap
    n_grid = np.asarray(n_grid)
    config = experiments.AdaptiveSFTConfig(
        inst.logp,
        inst.mu,
        mu_stop=jnp.log(2.0 / jnp.asarray(delta, inst.logp.dtype)),  # Theorem D.1's parameter
        delta=jnp.asarray(delta, inst.logp.dtype),
        n=int(n_grid.max()),
        cap=cap,
    )
    df = simulators.sweep(
        experiments.run_adaptive_sft,
        config,
        _seeds(num_seeds, seed),
        {"n_used": n_grid},
        progress=False,
    )
    B = len(n_grid)
    err = _per_seed(df, "sharpening_error", num_seeds, B)
    cap_hit = _per_seed(df, "cap_hit", num_seeds, B) > 0
    m = _per_seed(df, "queries", num_seeds, B)
    return theory.error_at_most(err, eps) & ~cap_hit, m.mean(axis=1)


def dpo_success(
    logp, mu, eps: float, delta: float, beta: float, n_grid, num_seeds: int, seed: int
) -> np.ndarray:
    """Success ``[len(n_grid), num_seeds]`` of RLHF-Sharpening by the squared loss (Eq. 8,
    tabular class, ``m = 2n``): whether the run's sharpening error is at most ``eps``."""
    n_grid = np.asarray(n_grid)
    config = experiments.DPOConfig(
        logp,
        mu,
        beta=jnp.asarray(beta, logp.dtype),
        delta=jnp.asarray(delta, logp.dtype),
        n=int(n_grid.max()),
    )
    df = simulators.sweep(
        experiments.run_dpo, config, _seeds(num_seeds, seed), {"n_used": n_grid}, progress=False
    )
    err = _per_seed(df, "sharpening_error", num_seeds, len(n_grid))
    return theory.error_at_most(err, eps)
