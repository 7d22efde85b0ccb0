"""Settings of the SFT sample-complexity figure (Theorem 4.1, Eq. 7; THEORY.md claim 3).

Each setting is one hard instance (:mod:`paper_figs._measure`) and one target (eps, delta):
SFT-Sharpening is run on a grid of budgets (n prompts x N responses per prompt, one shared draw per
seed) and the measured sample complexity is ``bounds.minimal_product_budget``: the least m = nN,
over n, of the least N from which on every larger N of the grid the runs are (eps, delta)-sharpened
with frequency at least 1 - rho. The sweep varies C (hence C_cov = 1 + 8C), eps and delta one at a
time around (C, eps, delta) = (2, 0.05, 0.2).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

import bounds
from paper_figs import _measure as measure

# Budget grids shared by every setting (one compiled program): n = 2..256, N = 1..512.
N_GRID = tuple(int(v) for v in np.unique(np.round(np.geomspace(1, 512, 28))))
n_GRID = tuple(int(v) for v in np.geomspace(2, 256, 8).round())


@dataclasses.dataclass(frozen=True)
class Setting:
    """One instance and target.

    Attributes:
      C: coverage level of the hard instance (C_cov = (1 - Delta) + 8 C).
      eps, delta: the sharpening target (Definition 3.1).
      d: hard prompts.
      rho: allowed failure probability of the learner.
      num_seeds: runs per budget.
      seed: PRNG seed.
    """

    C: float = 2.0
    eps: float = 0.05
    delta: float = 0.2
    d: int = 2
    rho: float = 0.25
    num_seeds: int = 16
    seed: int = 0


# The panels vary one parameter around this point.
BASE = {"C": 2.0, "eps": 0.05, "delta": 0.2}
_VALUES = {
    "C": (1.0, 2.0, 4.0, 8.0, 16.0),
    "eps": (0.05, 0.035, 0.025, 0.0175, 0.0125),
    "delta": (0.4, 0.2, 0.1, 0.05, 0.025),
}
SWEEP: tuple[Setting, ...] = tuple(
    dict.fromkeys(Setting(**{**BASE, k: v}) for k, vals in _VALUES.items() for v in vals)
)
QUICK: tuple[Setting, ...] = (Setting(), Setting(C=8.0), Setting(eps=0.025), Setting(delta=0.05))


def run(setting: Setting) -> pd.DataFrame:
    """One row: the measured ``m`` (least successful n N; inf if none), its ``n`` and ``N``, and the
    instance's ``c_cov``, ``log_card`` and ``M``."""
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
    m, n, N = bounds.minimal_product_budget(success, n_GRID, N_GRID, setting.rho)
    return pd.DataFrame(
        [
            {
                "C": setting.C,
                "eps": setting.eps,
                "delta": setting.delta,
                "rho": setting.rho,
                "seed": setting.seed,
                "m": m,
                "n": n,
                "N": N,
                "c_cov": inst.c_cov,
                "log_card": inst.log_card,
                "M": inst.M,
            }
        ]
    )


# Found by paper_figs' discovery (no list to edit): the figure's place in the report, and the CPU
# seconds of its QUICK sweep on 2 cores (measured), which schedules the longest first and makes
# its smoke test slow above paper_figs.SLOW_QUICK_SECONDS.
REPORT_ORDER = 7
QUICK_CPU_SECONDS = 7.2
