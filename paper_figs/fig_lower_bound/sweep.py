"""Settings of the lower-bound figure (Theorem 3.1 / 3.1' / D.2, Lemma H.3; THEORY.md claim 4).

The hard instance of section 3.2: d hard prompts of total mass Delta = 16 eps, M = ceil(1 + C/eps)
responses, gamma = 1/2. Two kinds of settings:

* ``curve``: the exact per-hard-prompt Bayes error of the best learner after m = n queries (N = 1,
  ``bounds.nonadaptive_bayes_error``) on a grid of m, Lemma H.3's exact constant c* (the error stays
  >= 1/8 while m <= c* d M / Delta), and Monte Carlo runs of the same Bayes learner through the
  sample-and-evaluate oracle (``bounds.simulate_nonadaptive_bayes_learner``).
* ``threshold``: the exact minimax budget of (eps, 1/2)-sharpening, non-adaptive (m) and adaptive
  (E[m]) (``bounds.hard_instance_thresholds``), to compare with Theorem 3.1's d C / eps^2 and
  Theorem D.2's d C / eps.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pandas as pd


@dataclasses.dataclass(frozen=True)
class Setting:
    """One hard instance.

    Attributes:
      kind: "curve" or "threshold".
      C: coverage level (sup_pi C_cov(pi) <~ C).
      eps: sharpening accuracy; Delta = 16 eps.
      d: number of hard prompts.
      num_points: points of the exact error curve (log-spaced m).
      mc_points: budgets with a Monte Carlo check (0: exact only).
      num_seeds: Monte Carlo runs per budget (a multiple of 10).
      seed: PRNG seed.
    """

    kind: str
    C: float
    eps: float
    d: int = 4
    num_points: int = 60
    mc_points: int = 5
    num_seeds: int = 100
    seed: int = 0


_EPS = (0.004, 0.006, 0.01, 0.015, 0.025, 0.04, 0.06)
SWEEP: tuple[Setting, ...] = (
    *(Setting("curve", C, 0.05) for C in (2.0, 8.0, 32.0)),
    *(Setting("threshold", C, e) for C in (2.0, 8.0) for e in _EPS),
)
QUICK: tuple[Setting, ...] = (
    # The Monte Carlo simulator compiles once per budget (~10 s each): the quick run is exact only.
    *(Setting("curve", C, 0.05, num_points=40, mc_points=0) for C in (2.0, 8.0)),
    *(Setting("threshold", 2.0, e) for e in _EPS[::2]),
)


def _curve(setting: Setting) -> pd.DataFrame:
    import bounds

    M, Delta = bounds.hard_instance_params(setting.C, setting.eps)
    d = setting.d
    c_star = bounds.lemma_h3_constant(M).c_star
    m_star = c_star * d * M / Delta  # Lemma H.3: error >= 1/8 for every m <= m_star
    m_grid = np.unique(np.geomspace(1, 40 * d * M / Delta, setting.num_points).astype(int))
    err = bounds.nonadaptive_bayes_error(m_grid, M, d, Delta)
    rows = [
        {"estimator": "exact", "m": int(m), "value": float(e), "se": 0.0}
        for m, e in zip(m_grid, err, strict=True)
    ]
    m_mc = np.unique(
        np.geomspace(d * M / Delta / 4, 4 * d * M / Delta, setting.mc_points).astype(int)
    )
    key = jax.random.PRNGKey(setting.seed)
    for i, m in enumerate(m_mc):
        # Seeds in chunks of 10: the simulator's memory grows like seeds x m x M.
        chunks = [
            bounds.simulate_nonadaptive_bayes_learner(
                jax.random.fold_in(jax.random.fold_in(key, i), j), M, d, Delta, int(m), 10
            )
            for j in range(max(1, setting.num_seeds // 10))
        ]
        per_seed = np.concatenate([np.asarray(c, dtype=float) for c in chunks])
        rows.append(
            {
                "estimator": "monte_carlo",
                "m": int(m),
                "value": float(per_seed.mean()),
                "se": float(per_seed.std(ddof=1) / np.sqrt(per_seed.size)),
            }
        )
    df = pd.DataFrame(rows)
    df["M"] = M
    df["Delta"] = Delta
    df["c_star"] = c_star
    df["m_star"] = m_star
    df["coverage"] = bounds.hard_instance_coverage(M, Delta)
    return df


def _threshold(setting: Setting) -> pd.DataFrame:
    import bounds

    t = bounds.hard_instance_thresholds(setting.C, setting.eps, setting.d)
    return pd.DataFrame(
        [
            {"estimator": "nonadaptive", "value": float(t.nonadaptive)},
            {"estimator": "adaptive", "value": float(t.adaptive)},
        ]
    ).assign(M=t.M, Delta=t.Delta, log_card=t.log_card, coverage=t.coverage, target=t.target)


def run(setting: Setting) -> pd.DataFrame:
    """Tidy rows: ``curve`` gives ``estimator (exact | monte_carlo), m, value (error), se`` plus the
    instance (``M``, ``Delta``, ``c_star``, ``m_star``, ``coverage``); ``threshold`` gives
    ``estimator (nonadaptive | adaptive), value (budget)`` plus the instance."""
    if setting.kind == "curve":
        df = _curve(setting)
    elif setting.kind == "threshold":
        df = _threshold(setting)
    else:
        raise ValueError(f"kind must be 'curve' or 'threshold', got {setting.kind!r}")
    df.insert(0, "kind", setting.kind)
    df.insert(1, "C", setting.C)
    df.insert(2, "eps", setting.eps)
    df.insert(3, "d", setting.d)
    return df


# Found by paper_figs' discovery (no list to edit): the figure's place in the report, and the CPU
# seconds of its QUICK sweep on 2 cores (measured), which schedules the longest first and makes
# its smoke test slow above paper_figs.SLOW_QUICK_SECONDS.
REPORT_ORDER = 9
QUICK_CPU_SECONDS = 0.2
