"""Settings of the adaptive-sampling figure (Theorem D.1 vs Theorem 4.1; THEORY.md claim 5).

On the hard instance of :mod:`paper_figs._measure` (C = 2, so C_cov ~ 17 for every eps), for
each eps: fixed-N SFT-Sharpening's least budget m = nN on a grid, and adaptive SFT-Sharpening's
least expected budget E[m] over a grid of n (the stopping rule of Eq. 10 with mu = ln(2/delta)
spends about ln(2/delta) draws on the easy prompt and about M ln(2/delta)/2 on the hard ones).
Theorem 4.1 predicts m ~ 1/eps^2, Theorem D.1 E[m] ~ 1/eps (tight by Theorem D.2).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

import bounds
from paper_figs import _measure as measure
from paper_figs.fig_sft_sample_complexity.sweep import N_GRID, n_GRID

_EPS = (0.05, 0.035, 0.025, 0.0175, 0.0125)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One eps.

    Attributes:
      eps: the sharpening target's eps.
      C, delta, d, rho: the instance and the rest of the target (as in the SFT figure).
      n_grid: prompts tried by the adaptive learner.
      num_seeds: runs per budget.
      seed: PRNG seed.
    """

    eps: float
    C: float = 2.0
    delta: float = 0.2
    d: int = 2
    rho: float = 0.25
    n_grid: tuple[int, ...] = (2, 4, 8, 16, 32, 64)
    num_seeds: int = 16
    seed: int = 0


SWEEP: tuple[Setting, ...] = tuple(Setting(e) for e in _EPS)
QUICK: tuple[Setting, ...] = tuple(Setting(e, n_grid=(4, 8, 16, 32)) for e in _EPS[::2])

# One cap for every eps of the sweep (the largest M), so the adaptive learner compiles once.
CAP = measure.adaptive_cap(int(np.ceil(1 + 2.0 / min(_EPS))), 0.2)


def run(setting: Setting) -> pd.DataFrame:
    """Two rows (``learner`` = fixed | adaptive): least budget ``m`` (E[m] for adaptive; inf if
    none on the grid), the ``n`` (and ``N``) attaining it, and the instance's constants."""
    inst = measure.hard_sft_instance(setting.C, setting.eps, setting.d)
    success = measure.fixed_success(
        inst.logp,
        inst.mu,
        setting.eps,
        setting.delta,
        n_GRID,
        N_GRID,
        setting.num_seeds,
        setting.seed,
    )
    m_fixed, n_fixed, N_fixed = bounds.minimal_product_budget(success, n_GRID, N_GRID, setting.rho)
    ok, m = measure.adaptive_success(
        inst, setting.eps, setting.delta, setting.n_grid, setting.num_seeds, setting.seed, cap=CAP
    )
    # The measured sample complexity over the n grid (bounds.minimal_budget: the least n from
    # which on every larger n succeeds in >= 1 - rho of the runs), and its E[m].
    n_min = bounds.minimal_budget(ok, setting.n_grid, setting.rho)
    hit = setting.n_grid.index(int(n_min)) if np.isfinite(n_min) else None
    m_ada, n_ada = (float(m[hit]), setting.n_grid[hit]) if hit is not None else (float("inf"), 0)
    common = {
        "eps": setting.eps,
        "C": setting.C,
        "delta": setting.delta,
        "rho": setting.rho,
        "seed": setting.seed,
        "c_cov": inst.c_cov,
        "c_bar_cov": inst.c_bar_cov,
        "log_card": inst.log_card,
        "M": inst.M,
    }
    return pd.DataFrame(
        [
            {"learner": "fixed", "m": m_fixed, "n": n_fixed, "N": N_fixed, **common},
            {"learner": "adaptive", "m": m_ada, "n": n_ada, "N": 0, **common},
        ]
    )


# Found by paper_figs' discovery (no list to edit): the figure's place in the report, and the CPU
# seconds of its QUICK sweep on 2 cores (measured), which schedules the longest first and makes
# its smoke test slow above paper_figs.SLOW_QUICK_SECONDS.
REPORT_ORDER = 8
QUICK_CPU_SECONDS = 6.1
