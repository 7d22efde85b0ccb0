"""Settings of the pi*_beta figure (section 2.2 Eq. 3, Lemma 4.1, THEORY.md claim 7).

Two instances: a single-prompt "two-level" table where y* has (1 + gamma_margin) times the mass of
each of the |Y| - 1 other responses (the case where Lemma 4.1's bound is tight), and a random
softmax table (Gaussian logits) over several prompts, where each prompt has its own margin.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

import bounds
import theory

# Grid of gamma_margin / beta: Lemma 4.1's bound is about (|Y| - 1) exp(-gamma_margin / beta), so
# this ratio, not beta itself, sets how sharp pi*_beta is.
_RATIOS = tuple(float(t) for t in np.linspace(0.0, 40.0, 81)[1:])


@dataclasses.dataclass(frozen=True)
class Setting:
    """One base table and a beta grid.

    Attributes:
      instance: "two_level" (y* has (1 + gamma_margin) x the mass of each other response) or
        "random" (rows softmax(logit_scale * z), z i.i.d. standard normal).
      num_responses: |Y|.
      gamma_margin: the two-level table's margin (Assumption 4.2); unused for "random".
      num_prompts: prompts of the "random" table (uniform mu).
      logit_scale: scale of the random table's logits (larger: peakier rows).
      ratios: the values of gamma_margin / beta (beta = gamma_margin / ratio, with the table's
        smallest per-prompt margin).
      seed: PRNG seed of the random table.
    """

    instance: str
    num_responses: int
    gamma_margin: float = 0.0
    num_prompts: int = 1
    logit_scale: float = 2.0
    ratios: tuple[float, ...] = _RATIOS
    seed: int = 0


SWEEP: tuple[Setting, ...] = (
    *(Setting("two_level", y, g) for y in (10, 1000) for g in (0.05, 1.0)),
    *(
        Setting("random", 50, num_prompts=20, logit_scale=a, seed=s)
        for a in (1.0, 3.0)
        for s in (0, 1)
    ),
)
QUICK: tuple[Setting, ...] = (
    Setting("two_level", 1000, 0.05),
    Setting("two_level", 1000, 1.0),
    Setting("random", 50, num_prompts=20, logit_scale=3.0),
)


def base_table(setting: Setting):
    """The ``[X, Y]`` base log-probability table and uniform ``mu`` of ``setting``."""
    if setting.instance == "two_level":
        logits = jnp.zeros((1, setting.num_responses)).at[0, 0].set(jnp.log1p(setting.gamma_margin))
        logp = logits - jnp.log(jnp.sum(jnp.exp(logits), axis=-1, keepdims=True))
    elif setting.instance == "random":
        shape = (setting.num_prompts, setting.num_responses)
        z = jax.random.normal(jax.random.PRNGKey(setting.seed), shape)
        logits = setting.logit_scale * z
        logp = logits - jax.nn.logsumexp(logits, axis=-1, keepdims=True)
    else:
        raise ValueError(f"instance must be 'two_level' or 'random', got {setting.instance!r}")
    mu = jnp.full((logp.shape[0],), 1.0 / logp.shape[0], dtype=logp.dtype)
    return logp, mu


@jax.jit
def _tilt_quantities(logp, mu, betas):
    """Per beta: off-y* mass ``[B, X]``, C_{pi*_beta} and C_{pi_base/pi*_beta; beta} ``[B]``."""

    def one(beta):
        tilt = theory.kl_tilt(logp, beta)
        # 1 - pi*_beta(y*) from the log-mass, exact even when it is 1e-20.
        off = -jnp.expm1(theory.log_mass_on_argmax(tilt, logp))
        conc = theory.concentrability(tilt, logp, mu)
        return off, conc, theory.concentrability_ratio(logp, tilt, mu, beta)

    return jax.vmap(one)(betas)


def run(setting: Setting) -> pd.DataFrame:
    """Exact pi*_beta quantities per beta = gamma_margin / ratio.

    Returns:
      Tidy rows ``instance, num_responses, gamma_margin, seed, beta, metric, value`` with
      metrics ``off_mass`` (E_x[1 - pi*_beta(y*|x)]), ``off_bound`` (E_x of
      min(1, (|Y| - 1)(1 + gamma_margin(x))^-(1 + 1/beta))), ``conc_ratio``
      (C_{pi*_beta} / C_cov, <= 1 by Lemma 4.1), ``loss_ratio`` (C_{pi_base/pi*_beta; beta} / |Y|,
      <= 1 by Lemma 4.1).
    """
    logp, mu = base_table(setting)
    Y = logp.shape[-1]
    marg = np.asarray(theory.margin(logp), dtype=float)  # [X]
    c_cov = float(theory.coverage(logp, mu))
    mu_np = np.asarray(mu, dtype=float)
    ratios = np.asarray(setting.ratios, dtype=float)
    betas = np.min(marg) / ratios  # [B]
    off, conc, loss = _tilt_quantities(logp, mu, jnp.asarray(betas, dtype=logp.dtype))
    off, conc, loss = (np.asarray(a, dtype=float) for a in (off, conc, loss))
    # Lemma 4.1's margin bound 1 - (|Y|-1)(1+gamma)^-(1+1/beta) on pi*_beta(y*), per prompt.
    bound = np.minimum(1.0, 1.0 - bounds.kl_tilt_margin_bound(marg[None, :], betas[:, None], Y))
    metrics = {
        "off_mass": off @ mu_np,
        "off_bound": bound @ mu_np,
        "conc_ratio": conc / c_cov,
        "loss_ratio": loss / Y,
    }
    rows = [
        {"ratio": r, "beta": beta, "metric": m, "value": float(v[i])}
        for m, v in metrics.items()
        for i, (r, beta) in enumerate(zip(ratios, betas, strict=True))
    ]
    df = pd.DataFrame(rows)
    label = (
        f"two-level, |Y|={Y}, margin {setting.gamma_margin:g}"
        if setting.instance == "two_level"
        else f"random softmax table (scale {setting.logit_scale:g}), |Y|={Y}, X={logp.shape[0]}"
    )
    df.insert(0, "label", label)
    df.insert(1, "instance", setting.instance)
    df.insert(2, "num_responses", Y)
    df.insert(3, "gamma_margin", float(np.min(marg)))
    df.insert(4, "seed", setting.seed)
    return df


# Found by paper_figs' discovery (no list to edit): the figure's place in the report, and the CPU
# seconds of its QUICK sweep on 2 cores (measured), which schedules the longest first and makes
# its smoke test slow above paper_figs.SLOW_QUICK_SECONDS.
REPORT_ORDER = 6
QUICK_CPU_SECONDS = 3.7
