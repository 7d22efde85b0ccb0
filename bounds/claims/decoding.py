"""What decoding and a model class can represent: claims C6 (greedy decoding, Prop. 3.1), C10
(non-closure under sharpening, Prop. E.2) and C14 (the MAX-CUT model, Prop. E.1)."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

import simulators as sim

from ._registry import Outcome, claim


@dataclasses.dataclass(frozen=True)
class C6Settings:
    """C6: random autoregressive policies per concentration."""

    num_policies: int


C6_QUICK = C6Settings(num_policies=20)
C6_FULL = C6Settings(num_policies=200)


@dataclasses.dataclass(frozen=True)
class C10Settings:
    """C10: the sizes ``n`` of the non-closure toy and random class members per size."""

    ns: tuple[int, ...]
    num_random: int


C10_QUICK = C10Settings(ns=(4, 16, 64), num_random=128)
C10_FULL = C10Settings(ns=(4, 16, 64, 256), num_random=512)


@dataclasses.dataclass(frozen=True)
class C14Settings:
    """C14: the sizes of the random G(n, 1/2) graphs (besides four fixed graphs)."""

    random_sizes: tuple[int, ...]


C14_QUICK = C14Settings(random_sizes=(5, 6))
C14_FULL = C14Settings(random_sizes=(5, 6, 7, 8))


# C6. Greedy decoding succeeds for sharpened policies.


@claim(
    "C6",
    "greedy decoding returns y* whenever pi(y*|x) > 1/2, and can fail at or below 1/2",
    "Prop. 3.1",
    quick=C6_QUICK,
    full=C6_FULL,
    timeout_s=(60.0, 300.0),
)
def _c6(s: C6Settings) -> Outcome:
    num_policies = s.num_policies
    key = jax.random.PRNGKey(6)
    above = fail_above = below = fail_below = 0
    for conc in (0.1, 0.3, 1.0):
        key, k = jax.random.split(key)
        policy = sim.random_autoregressive(k, num_policies, 3, 4, eos=2, concentration=conc)
        x = jnp.arange(num_policies)
        y_star, logp_star = sim.autoregressive_argmax(policy, x)
        y_greedy = sim.greedy(policy, x)
        ok = np.all(np.asarray(y_star) == np.asarray(y_greedy), axis=-1)
        sharp = np.asarray(logp_star) > math.log(0.5)
        above += int(sharp.sum())
        fail_above += int((~ok & sharp).sum())
        below += int((~sharp).sum())
        fail_below += int((~ok & ~sharp).sum())
    cex, _ = sim.greedy_counterexample()
    x0 = jnp.zeros(1, jnp.int32)
    cex_star, cex_logp = sim.autoregressive_argmax(cex, x0)
    cex_fails = bool(np.any(np.asarray(sim.greedy(cex, x0)) != np.asarray(cex_star)))
    holds = above > 0 and fail_above == 0 and cex_fails
    return Outcome(
        holds=holds,
        measured=f"greedy failures: {fail_above}/{above} prompts with pi(y*)>1/2, "
        f"{fail_below}/{below} with pi(y*)<=1/2; counterexample (pi(y*)="
        f"{math.exp(float(cex_logp[0])):.2f}) fails: {cex_fails}",
        predicted="0 failures above 1/2; the two-token counterexample fails",
    )


# -------------------------------------------------------------------------------------------------

# -------------------------------------------------------------------------------------------------
# C10. Non-closure under sharpening.


@claim(
    "C10",
    "no model of the class puts more than 1/2 on the argmax (2,1); BoN reaches it; low temperature "
    "gives greedy",
    "Prop. E.2",
    quick=C10_QUICK,
    full=C10_FULL,
    timeout_s=(60.0, 300.0),
)
def _c10(s: C10Settings) -> Outcome:
    from .._toys import nonclosure_report

    ns = s.ns
    key = jax.random.PRNGKey(10)
    reports = []
    for n in ns:
        key, k = jax.random.split(key)
        reports.append(nonclosure_report(k, n, num_random=s.num_random))
    tol = 1e-12  # the 1/2 of a tied first token, up to rounding
    class_ok = all(r.class_sup_21 <= 0.5 + tol and r.first_token_tie for r in reports)
    tempered_ok = all((r.tempered_mass_21 <= 0.5 + tol).all() for r in reports)
    base_min = min(r.base_mass_21 for r in reports)
    # Omega(1) vs O(1/n): the argmax keeps constant mass while every other pair has O(1/n).
    other_n = [r.base_max_other * r.n for r in reports]
    argmax_ok = all(r.base_argmax_is_21 for r in reports)
    greedy_wrong = all(tuple(r.greedy_tokens) != (1, 0) for r in reports)
    bon_ok = all(r.bon_hit[-1] > 0.5 + tol for r in reports)
    holds = class_ok and tempered_ok and argmax_ok and greedy_wrong and bon_ok and base_min > 0.1
    return Outcome(
        holds=holds,
        measured=f"sup_theta pi(2,1) = {max(r.class_sup_21 for r in reports):.6f}; "
        f"pi_base(2,1) >= {base_min:.3f}, n * max other = {max(other_n):.2f} (n in {list(ns)}); "
        f"P[BoN_{int(reports[0].bon_sizes[-1])} = (2,1)] >= "
        f"{min(r.bon_hit[-1] for r in reports):.4f}; "
        f"tempered pi(2,1) <= {max(r.tempered_mass_21.max() for r in reports):.6f}; greedy "
        f"{'misses' if greedy_wrong else 'finds'} (2,1)",
        predicted="class <= 1/2; pi_base(2,1) = Omega(1) (> 0.1), others O(1/n); BoN > 1/2; "
        "temperature -> 0 stays <= 1/2; greedy != (2,1)",
        details={
            "n": list(ns),
            "base_mass_21": [r.base_mass_21 for r in reports],
            "class_sup_21": [r.class_sup_21 for r in reports],
            "inverse_temperatures": reports[0].temperatures.tolist(),
            "tempered_mass_21": [r.tempered_mass_21.tolist() for r in reports],
        },
    )


# -------------------------------------------------------------------------------------------------

# -------------------------------------------------------------------------------------------------
# C14. MAX-CUT.


def _graphs(random_sizes: tuple[int, ...]) -> dict[str, np.ndarray]:
    def cycle(n):
        A = np.zeros((n, n), int)
        for i in range(n):
            A[i, (i + 1) % n] = A[(i + 1) % n, i] = 1
        return A

    def complete(n):
        return np.ones((n, n), int) - np.eye(n, dtype=int)

    graphs = {"triangle": complete(3), "C4": cycle(4), "C5": cycle(5), "K4": complete(4)}
    # Random G(n, 1/2) graphs from a fixed key (no global RNG).
    for i, n in enumerate(random_sizes):
        u = np.asarray(jax.random.uniform(jax.random.PRNGKey(140 + i), (n, n)))
        A = np.triu((u < 0.5).astype(int), 1)
        graphs[f"G({n},1/2)#{i}"] = A + A.T
    return graphs


@claim(
    "C14",
    "MAX-CUT model: the argmax is a maximum cut, found with 2^(H-2) evaluations; greedy fails",
    "Prop. E.1",
    quick=C14_QUICK,
    full=C14_FULL,
    timeout_s=(60.0, 300.0),
)
def _c14(s: C14Settings) -> Outcome:
    from .._toys import maxcut_report

    reports = {name: maxcut_report(A) for name, A in _graphs(s.random_sizes).items()}
    argmax_ok = all(r.argmax_is_max_cut for r in reports.values())
    norms_ok = all((r.theta_norms <= r.H + 1e-12).all() for r in reports.values())
    greedy_fail = [name for name, r in reports.items() if not r.greedy_is_argmax]
    H_max = max(r.H for r in reports.values())
    return Outcome(
        holds=argmax_ok and norms_ok and len(greedy_fail) > 0,
        measured=f"argmax = max cut on {sum(r.argmax_is_max_cut for r in reports.values())}/"
        f"{len(reports)} graphs (H <= {H_max}: {2 ** (H_max - 2)} evaluations vs {H_max} "
        f"per sample); greedy misses it on {len(greedy_fail)}/{len(reports)}",
        predicted="argmax is a maximum cut on every graph; ||theta_h|| <= B = H; greedy fails "
        "on at least one",
        details={
            name: {"H": r.H, "max_cut": r.max_cut, "argmax_cut": r.argmax_cut}
            for name, r in reports.items()
        },
    )
