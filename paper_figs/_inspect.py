"""``sharpen inspect INSTANCE``: the exact quantities of a built-in toy instance.

Everything printed is computed exactly from the instance's ``[X, Y]`` table (or, for policies too
large to enumerate, in log space from the policy's structure): coverage (Eq. 6 and App. H),
adaptive coverage (App. D), margin (Assumption 4.2), the best-of-N miss probability (Prop. C.1),
the KL-regularized sharpened policy pi*_beta (Eq. 3) with its mass on y* and concentrability
(Lemma 4.1).
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from simulators import BUILTIN_INSTANCES

    parser.add_argument(
        "instance",
        nargs="?",
        default=None,
        help=f"one of: {', '.join(sorted(BUILTIN_INSTANCES))} (omit to list them)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the quantities as JSON")


def instance_quantities(name: str) -> dict[str, float | int | str]:
    """The exact quantities of built-in instance ``name``, as an ordered dict of scalars."""
    import jax.numpy as jnp

    import theory
    from simulators import BUILTIN_INSTANCES, greedy, sequence_argmax, to_table

    if name not in BUILTIN_INSTANCES:
        raise ValueError(f"instance must be one of {sorted(BUILTIN_INSTANCES)}, got {name!r}")
    policy, mu = BUILTIN_INSTANCES[name]()
    out: dict[str, float | int | str] = {"instance": name, "policy": type(policy).__name__}
    try:
        logp = to_table(policy)
    except ValueError as err:  # too large to enumerate: what the policy's structure gives exactly
        out["table"] = f"not enumerable ({str(err).split(';')[0]})"
        return out | _structural_quantities(policy, mu)
    X, Y = logp.shape
    out["prompts X"] = X
    out["responses |Y|"] = Y
    out["C_cov (Eq. 6)"] = float(theory.coverage(logp, mu))
    out["log C_cov"] = float(theory.log_coverage(logp, mu))
    out["C_cov, gamma=0.5 (App. H)"] = float(theory.coverage(logp, mu, gamma=0.5))
    out["C_cov, p=2 (App. H)"] = float(theory.coverage(logp, mu, p=2.0))
    out["adaptive C_cov (App. D)"] = float(theory.adaptive_coverage(logp, mu))
    marg = np.asarray(theory.margin(logp))
    out["min margin gamma_margin (Asm. 4.2)"] = float(marg.min())
    for n in (1, 10, 100):
        miss = np.asarray(theory.bon_miss_probability(logp, n))
        out[f"E_x P[BoN_{n} misses y*] (Prop. C.1)"] = float(np.dot(np.asarray(mu), miss))
    for beta in (1.0, 0.1):
        tilt = theory.kl_tilt(logp, beta)
        mass = np.exp(np.asarray(theory.log_mass_on_argmax(tilt, logp)))
        out[f"E_x pi*_beta(y*), beta={beta} (Eq. 3)"] = float(np.dot(np.asarray(mu), mass))
        out[f"C_pi*_beta, beta={beta} (Lemma 4.1)"] = float(theory.concentrability(tilt, logp, mu))
    x = jnp.arange(X)
    g = np.asarray(greedy(policy, x))
    s = np.asarray(sequence_argmax(policy, x))
    agree = np.all(g.reshape(X, -1) == s.reshape(X, -1), axis=-1)
    out["P_x[greedy = sequence argmax] (Prop. 3.1)"] = float(np.dot(np.asarray(mu), agree))
    return out


def _structural_quantities(policy, mu) -> dict[str, float]:
    """Exact quantities of a policy whose response space is too large for a table.

    The sequence argmax (Viterbi for Markov policies) and its log-probability give log C_cov in
    log space (Eq. 6; it overflows float64 for long horizons), assuming a unique argmax per prompt,
    which holds almost surely for the random built-in instances.
    """
    import jax.numpy as jnp

    import theory
    from simulators import greedy, log_prob, sequence_argmax

    X = np.asarray(mu).shape[0]
    x = jnp.arange(X)
    y_star = sequence_argmax(policy, x)
    log_mass = log_prob(policy, x, y_star)
    g = greedy(policy, x)
    agree = np.all(np.asarray(g).reshape(X, -1) == np.asarray(y_star).reshape(X, -1), axis=-1)
    return {
        "prompts X": X,
        "min_x log pi(y*|x)": float(np.min(np.asarray(log_mass))),
        "log C_cov (Eq. 6)": float(theory.log_coverage_from_log_mass(log_mass, mu)),
        "P_x[greedy = sequence argmax] (Prop. 3.1)": float(np.dot(np.asarray(mu), agree)),
    }


def main(args: argparse.Namespace) -> int:
    from simulators import BUILTIN_INSTANCES

    if args.instance is None:
        print("built-in instances:")
        for name in sorted(BUILTIN_INSTANCES):
            doc = (BUILTIN_INSTANCES[name].__doc__ or "").strip().splitlines()
            print(f"  {name:28s} {doc[0] if doc else ''}")
        return 0
    q = instance_quantities(args.instance)
    width = max(len(k) for k in q)
    for k, v in q.items():
        if isinstance(v, float):
            text = f"{v:.6g}" if math.isfinite(v) else str(v)
        else:
            text = str(v)
        print(f"{k:<{width}}  {text}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(q, f, indent=2)
    return 0
