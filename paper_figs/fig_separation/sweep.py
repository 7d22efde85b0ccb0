"""Settings of the separation figure (Example J.1, Theorems 4.2, 4.3, J.3; THEORY.md claim 9).

Two kinds of settings:

* ``code``: Example J.1 in dimension d (``simulators`` ``spherical_code_instance``: one prompt,
  |Y| = 2^(d+2) codewords with pairwise inner products <= 1 - 1/32, ``theta* = y*``), so
  C_cov grows like |Y| = exp(Theta(d)) while the margin stays Omega(1). Queries needed for
  pi_hat(y*) >= 1 - delta in at least 1 - rho of the runs:
  SFT-Sharpening: its target pi^BoN_N is itself delta-sharp only once
  N >= log(1/delta) / pi_base(y*) (Prop. C.1, exact), a lower bound on its queries;
  offline squared loss (Eq. 8, ``simulators.dpo_sharpening``, linear softmax class): least 2n on a
  grid of n; XPO (Algorithm 1, ``simulators.xpo_sharpening``, optimism alpha = beta / 10): least 2t
  over rounds t (last iterate). beta = gamma_margin / (2 log(2|Y|/delta)) (Theorem J.2).
* ``hidden``: the hidden-direction instance (``hidden_direction_instance``): base samples almost
  never leave a "bulk" subspace, so offline pairs reveal theta* only after a rare hidden sample;
  success frequency vs queries for the offline squared loss, XPO with optimism and XPO without it
  (alpha = 0).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd


@dataclasses.dataclass(frozen=True)
class Setting:
    """One instance.

    Attributes:
      kind: "code" (Example J.1) or "hidden".
      d: dimension of the spherical code ("code").
      delta: the sharpening target (one prompt, so (eps, delta)-sharpened iff pi_hat(y*) > 1-delta).
      rho: allowed failure frequency over runs.
      num_seeds: runs per budget.
      T: XPO rounds.
      n_max: largest number of offline pairs.
      seed: PRNG seed.
    """

    kind: str
    d: int = 6
    delta: float = 0.25
    rho: float = 0.25
    num_seeds: int = 8
    T: int = 48
    n_max: int = 512
    seed: int = 0


SWEEP: tuple[Setting, ...] = (
    *(Setting("code", d) for d in (3, 4, 5, 6, 7, 8, 9)),
    Setting("hidden", num_seeds=16, T=64),
)
QUICK: tuple[Setting, ...] = (
    *(Setting("code", d, num_seeds=4, T=16, n_max=64) for d in (4, 7)),
    Setting("hidden", T=24),
)

N_GRID = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def _instance(setting: Setting):
    from simulators import hidden_direction_instance, spherical_code_instance

    key = jax.random.PRNGKey(setting.seed)
    if setting.kind == "code":
        return spherical_code_instance(key, setting.d, 2 ** (setting.d + 2))
    if setting.kind == "hidden":
        return hidden_direction_instance(key)
    raise ValueError(f"kind must be 'code' or 'hidden', got {setting.kind!r}")


@functools.partial(jax.jit, static_argnames=("n_max",))
def _dpo_mass(keys, oracle, model_class, beta, n_used, logp_base, *, n_max):
    """``[S, B]`` pi_hat(y*) of the offline squared-loss learner per seed and number of pairs."""
    from simulators.experiments import squared_loss_mass

    def one(key, n_u):
        return squared_loss_mass(key, oracle, model_class, n_max, beta, n_u, logp_base)

    return jax.vmap(lambda k: jax.vmap(one, in_axes=(None, 0))(k, n_used))(keys)


@functools.partial(jax.jit, static_argnames=("T",))
def _xpo_mass(keys, oracle, model_class, beta, alpha, logp_base, *, T):
    """``[S, T]`` pi^(t+1)(y*) of XPO's iterates per seed (round t uses 2t queries)."""
    from simulators.experiments import xpo_iterates

    mu = jnp.ones(logp_base.shape[0], logp_base.dtype) / logp_base.shape[0]
    return jax.vmap(
        lambda k: xpo_iterates(k, oracle, model_class, T, beta, alpha, logp_base, mu)[0]
    )(keys)


def run(setting: Setting) -> pd.DataFrame:
    """``code``: one row per method with the least ``queries`` (inf if not reached) and the
    instance's ``num_responses``, ``c_cov``, ``gamma_margin``. ``hidden``: success frequency
    ``freq`` per method and ``queries``."""
    import bounds

    inst = _instance(setting)
    beta = float(bounds.linear_softmax_beta(inst.gamma_margin, inst.num_responses, setting.delta))
    model_class = inst.model_class(beta)
    keys = jax.random.split(jax.random.PRNGKey(1000 + setting.seed), setting.num_seeds)
    target = 1.0 - setting.delta
    n_grid = np.asarray([n for n in N_GRID if n <= setting.n_max])
    dpo = (
        np.asarray(
            _dpo_mass(
                keys,
                inst.oracle,
                model_class,
                beta,
                jnp.asarray(n_grid),
                inst.logp_base,
                n_max=setting.n_max,
            )
        )
        > target
    )
    curves = {"offline squared loss (Eq. 8)": (2 * n_grid, dpo)}  # success [S, budgets]
    alphas = {"XPO (Algorithm 1)": beta / 10}
    if setting.kind == "hidden":
        alphas["XPO without optimism (alpha = 0)"] = 0.0
    t = np.arange(1, setting.T + 1)
    for name, alpha in alphas.items():
        xpo = (
            np.asarray(
                _xpo_mass(keys, inst.oracle, model_class, beta, alpha, inst.logp_base, T=setting.T)
            )
            > target
        )
        curves[name] = (2 * t, xpo)
    common = {
        "kind": setting.kind,
        "d": inst.dim,
        "num_responses": inst.num_responses,
        "c_cov": inst.c_cov,
        "gamma_margin": inst.gamma_margin,
        "seed": setting.seed,
    }
    if setting.kind == "hidden":
        rows = [
            {**common, "method": name, "queries": int(q), "freq": float(f)}
            for name, (qs, ok) in curves.items()
            for q, f in zip(qs, ok.mean(axis=0), strict=True)
        ]
        return pd.DataFrame(rows)
    p_star = float(np.exp(np.max(np.asarray(inst.logp_base))))
    rows = [
        {
            **common,
            "method": r"SFT-Sharpening (its target $\pi^{BoN}_N$ is sharp; lower bound)",
            "queries": float(np.ceil(bounds.bon_num_samples(p_star, setting.delta))),
        }
    ]
    rows += [
        {**common, "method": name, "queries": bounds.minimal_budget(ok.T, qs, setting.rho)}
        for name, (qs, ok) in curves.items()
    ]
    return pd.DataFrame(rows)


# Found by paper_figs' discovery (no list to edit): the figure's place in the report, and the CPU
# seconds of its QUICK sweep on 2 cores (measured), which schedules the longest first and makes
# its smoke test slow above paper_figs.SLOW_QUICK_SECONDS.
REPORT_ORDER = 11
QUICK_CPU_SECONDS = 25.2
