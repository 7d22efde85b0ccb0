"""Benchmark 4: a sweep of SFT-Sharpening over seeds and budgets.

The toolkit's way (one ``jax.jit`` of ``vmap`` over seeds of ``vmap`` over budgets, each run
ending in the exact sharpening error) against a Python loop over seeds of the same jitted
function (vmapped over budgets), and against the numpy implementation a careful researcher would
write (``benchmarks/_numpy_sft.py``: vectorized within a run, looping over seeds and budgets),
both with fresh samples per run and with the toolkit's sharing of one draw across budgets.
"""

from __future__ import annotations

import itertools
import time

import jax
import jax.numpy as jnp
import numpy as np

from . import _harness as H
from . import _numpy_sft as NS

NAME = "sweep"
TITLE = "A sweep: SFT-Sharpening over seeds x budgets"


def _toolkit_run(logp_base, mu, n_max: int, N_max: int, delta: float):
    """``run(key, n_used, N_used) -> sharpening error``, built from the toolkit's public pieces."""
    import theory
    import simulators as S

    try:
        from simulators import TabularClass, make_oracle, sft_sharpening
    except ImportError:
        from simulators._algorithms import sft_sharpening
        from simulators._classes import TabularClass
        from simulators._oracle import make_oracle

    X, Y = logp_base.shape
    oracle = make_oracle(S.TabularPolicy(logp_base), mu)
    model_class = TabularClass(num_prompts=X, num_responses=Y)

    def run(key, n_used, N_used):
        result = sft_sharpening(
            key,
            oracle,
            model_class,
            n_max,
            N_max,
            n_used=n_used,
            N_used=N_used,
            realizability="skip",
        )
        logp_hat = S.to_table(result.policy)
        return theory.sharpening_error(logp_hat, logp_base, mu, delta)

    return run


def run(quick: bool = False) -> H.Section:
    if quick:
        X, Y, seeds_n = 8, 32, 8
        ns, Ns = (8, 16), (2, 4)
    else:
        X, Y, seeds_n = 32, 256, 256
        ns, Ns = (16, 32, 64, 128), (1, 4, 16, 64)
    budgets = list(itertools.product(ns, Ns))
    delta = 0.25
    n_max, N_max = max(ns), max(Ns)

    rng = np.random.default_rng(0)
    logp_np = np.log(rng.dirichlet(np.full(Y, 0.3), size=X))
    mu_np = rng.dirichlet(np.ones(X))
    logp_base, mu = jnp.asarray(logp_np), jnp.asarray(mu_np)
    inst = NS.Instance(logp_np, mu_np)

    run_one = _toolkit_run(logp_base, mu, n_max, N_max, delta)
    keys = jax.random.split(jax.random.key(0), seeds_n)
    n_used = jnp.asarray([n for n, _ in budgets], jnp.int32)
    N_used = jnp.asarray([N for _, N in budgets], jnp.int32)
    over_budgets = jax.vmap(run_one, in_axes=(None, 0, 0))
    over_seeds = jax.vmap(over_budgets, in_axes=(0, None, None))
    reps = 1 if quick else 3

    ms: dict[str, H.Measurement] = {}
    ms["fused"] = H.measure_jit(
        "toolkit: one jit(vmap seeds(vmap budgets))",
        over_seeds,
        keys,
        n_used,
        N_used,
        repeats=reps,
    )
    errors_tk = np.asarray(ms["fused"].compiled(keys, n_used, N_used))

    t0 = time.perf_counter()
    per_seed = jax.jit(over_budgets).lower(keys[0], n_used, N_used).compile()
    per_seed_compile = time.perf_counter() - t0

    def loop():
        return np.stack([np.asarray(per_seed(k, n_used, N_used)) for k in keys])

    ms["loop"] = H.measure("toolkit jit(vmap budgets), Python loop over seeds", loop, repeats=reps)
    ms["loop"].extra["compile_s"] = per_seed_compile
    seeds = list(range(seeds_n))
    ms["np_fresh"] = H.measure(
        "numpy, loop over seeds x budgets, fresh samples per run",
        lambda: NS.sweep_fresh(seeds, inst, budgets, delta),
        repeats=reps,
    )
    ms["np_shared"] = H.measure(
        "numpy, loop over seeds x budgets, one draw per seed shared by budgets",
        lambda: NS.sweep_shared(seeds, inst, budgets, delta),
        repeats=reps,
    )
    errors_np = NS.sweep_fresh(seeds, inst, budgets, delta)

    # Same algorithm, different random numbers: per budget, the mean errors must agree within
    # Monte Carlo error (a check that the baseline is the same computation).
    se = np.sqrt(errors_tk.var(0, ddof=1) / seeds_n + errors_np.var(0, ddof=1) / seeds_n)
    gap = np.abs(errors_tk.mean(0) - errors_np.mean(0))
    z = np.where(se > 0, gap / np.where(se > 0, se, 1.0), np.where(gap > 0, np.inf, 0.0))

    fused = ms["fused"].median_s
    rows = H.timing_rows(list(ms.values()), ms["fused"])
    table = H.md_table(H.TIMING_HEADERS, rows)
    runs = seeds_n * len(budgets)
    check_rows = [
        [f"n = {n}, N = {N}", f"{a:.3f}", f"{b:.3f}", f"{zz:.1f}"]
        for (n, N), a, b, zz in zip(budgets, errors_tk.mean(0), errors_np.mean(0), z)
    ]
    summary = H.md_table(
        ["quantity", "value"],
        [
            ["runs (seeds x budgets)", f"{seeds_n} x {len(budgets)} = {runs}"],
            ["fused time per run", H.fmt_s(fused / runs)],
            ["per-seed loop / fused", H.fmt_ratio(ms["loop"].median_s / fused)],
            ["numpy (fresh samples) / fused", H.fmt_ratio(ms["np_fresh"].median_s / fused)],
            ["numpy (shared samples) / fused", H.fmt_ratio(ms["np_shared"].median_s / fused)],
            ["largest |z| between the mean errors (toolkit vs numpy)", f"{z.max():.1f}"],
        ],
    )
    body = (
        table
        + "\n\n"
        + summary
        + "\n\nMean sharpening error per budget over the seeds (toolkit fused vs numpy fresh), "
        "and the difference in standard errors:\n\n"
        + H.md_table(["budget", "toolkit", "numpy", "|z|"], check_rows)
    )
    met = (
        ms["loop"].median_s >= 10 * fused
        and ms["np_fresh"].median_s >= 10 * fused
        and ms["np_shared"].median_s >= 10 * fused
    )
    return H.Section(
        key=NAME,
        title=TITLE,
        compared=(
            "`simulators.sft_sharpening` + `theory.sharpening_error` in one "
            "`jit(vmap(vmap(...)))` call vs a Python loop over seeds of the same jitted function "
            "(vmapped over budgets) vs numpy (`benchmarks/_numpy_sft.py`), with fresh and with "
            "shared samples"
        ),
        sizes=(
            f"tabular pi_base with X = {X} prompts, Y = {Y} responses (Dirichlet(0.3) rows), "
            f"mu Dirichlet(1); {seeds_n} seeds x {len(budgets)} budgets (n in {list(ns)}, "
            f"N in {list(Ns)}), delta = {delta}, unrestricted tabular class (count MLE)"
        ),
        body=body,
        target="fused call >= 10x faster than the per-seed loop and than numpy",
        met=met,
        data={k: m.as_dict() for k, m in ms.items()} | {"z_max": float(z.max())},
    )
