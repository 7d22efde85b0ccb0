"""Which self-reward best-of-N maximizes (App. A.1, A.2): claims C12 (length bias of log pi) and
C13 (majority vote against likelihood), on answer-bearing toys."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

import simulators as sim

from ._registry import Outcome, claim
from ._stats import paired_z, z_critical


@dataclasses.dataclass(frozen=True)
class MajoritySettings:
    """C12, C13: draws of ``max(ns)`` responses per prompt for the majority-vote accuracy."""

    num_draws: int
    ns: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)


C12_QUICK = MajoritySettings(num_draws=1_000)
C12_FULL = MajoritySettings(num_draws=5_000)
C13_QUICK = MajoritySettings(num_draws=1_000)
C13_FULL = MajoritySettings(num_draws=20_000)


# C12, C13. Length bias and majority vote on answer-bearing toys.


def majority_accuracy_prefixes(
    key: jax.Array, toy, ns: tuple[int, ...], num_draws: int
) -> np.ndarray:
    """Per-draw accuracy ``[len(ns), num_draws]`` of best-of-N under majority vote, every N at once
    (``simulators.majority_prefix_correct``: one draw of ``max(ns)`` responses per prompt and draw,
    paired across N), averaged over the prompts (uniform)."""
    ok = np.asarray(sim.majority_prefix_correct(key, toy, ns, num_draws), dtype=np.float64)
    return ok.reshape(len(ns), toy.num_prompts, num_draws).mean(axis=1)


@claim(
    "C12",
    "length bias: BoN(log pi) accuracy falls with N, length-normalized and majority do not",
    "App. A.1/A.2 (THEORY.md 6.12, toy)",
    quick=C12_QUICK,
    full=C12_FULL,
    timeout_s=(60.0, 300.0),
)
def _c12(s: MajoritySettings) -> Outcome:
    from simulators import length_bias_toy

    from .._toys import bon_accuracy

    toy = length_bias_toy()
    ns = s.ns
    ll = bon_accuracy(toy, np.asarray(ns), "log_likelihood")
    ln = bon_accuracy(toy, np.asarray(ns), "length_normalized")
    per_draw = majority_accuracy_prefixes(jax.random.PRNGKey(12), toy, ns, s.num_draws)
    maj = per_draw.mean(axis=1)
    z_steps = [paired_z(per_draw, i, i + 1) for i in range(len(ns) - 1)]
    crit = z_critical(len(z_steps))
    tol = 1e-12
    ll_falls = bool((np.diff(ll) <= tol).all() and ll[-1] < ll[0])
    ln_ok = bool((np.diff(ln) >= -tol).all())
    maj_ok = min(z_steps) >= -crit
    return Outcome(
        holds=ll_falls and ln_ok and maj_ok,
        measured=f"accuracy at N = 1 -> {ns[-1]}: log pi {ll[0]:.3f} -> {ll[-1]:.3f}, "
        f"log pi/|y| {ln[0]:.3f} -> {ln[-1]:.3f}, majority {maj[0]:.3f} -> {maj[-1]:.3f} "
        f"(min paired z of a step {min(z_steps):.2f})",
        predicted=f"log pi: non-increasing and lower at N={ns[-1]}; log pi/|y| non-decreasing "
        f"(exact); majority: no step with z < -{crit:.2f}",
        details={
            "N": list(ns),
            "log_likelihood": ll.tolist(),
            "length_normalized": ln.tolist(),
            "majority": maj.tolist(),
            "majority_step_z": z_steps,
        },
    )


@claim(
    "C13",
    "majority vote's accuracy rises with N while likelihood BoN's falls (answer spread thin)",
    "App. A.2 (THEORY.md 6.13, toy)",
    quick=C13_QUICK,
    full=C13_FULL,
    timeout_s=(60.0, 600.0),
)
def _c13(s: MajoritySettings) -> Outcome:
    from simulators import majority_vs_likelihood_toy

    from .._toys import bon_accuracy

    toy = majority_vs_likelihood_toy()
    ns = s.ns
    ll = bon_accuracy(toy, np.asarray(ns), "log_likelihood")
    per_draw = majority_accuracy_prefixes(jax.random.PRNGKey(13), toy, ns, s.num_draws)
    maj = per_draw.mean(axis=1)
    z_steps = [paired_z(per_draw, i, i + 1) for i in range(len(ns) - 1)]
    z_rise = paired_z(per_draw, 0, len(ns) - 1)
    crit = z_critical(len(z_steps) + 1)
    tol = 1e-12
    ll_falls = bool((np.diff(ll) <= tol).all() and ll[-1] < ll[0])
    maj_rises = z_rise > crit and min(z_steps) >= -crit
    return Outcome(
        holds=ll_falls and maj_rises,
        measured=f"accuracy at N = 1 -> {ns[-1]}: likelihood BoN {ll[0]:.3f} -> {ll[-1]:.2e}, "
        f"majority {maj[0]:.3f} -> {maj[-1]:.3f} (paired z {z_rise:.1f})",
        predicted=f"likelihood BoN non-increasing and lower at N={ns[-1]} (exact); majority "
        f"higher at N={ns[-1]} (z > {crit:.2f}) with no step z < -{crit:.2f}",
        details={
            "N": list(ns),
            "log_likelihood": ll.tolist(),
            "majority": maj.tolist(),
            "majority_step_z": z_steps,
        },
    )
