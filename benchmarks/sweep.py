"""Benchmark 4: a sweep of SFT-Sharpening over seeds and budgets.

The toolkit's way (one ``jax.jit`` of ``vmap`` over seeds of ``vmap`` over budgets, each run
ending in the exact sharpening error) against a Python loop over seeds of the same jitted
function (vmapped over budgets), and against the numpy implementation a careful researcher would
write (``benchmarks/_numpy_sft.py``: vectorized within a run, looping over seeds and budgets),
both with fresh samples per run and with the toolkit's sharing of one draw across budgets.
"""

from __future__ import annotations

import dataclasses
import itertools
import time

import jax
import jax.numpy as jnp
import numpy as np

from . import _harness as H
from . import _numpy_sft as NS

NAME = "sweep"
TITLE = "A sweep: SFT-Sharpening over seeds x budgets"


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

    from simulators import TabularSFTConfig, run_tabular_sft, sweep

    config = TabularSFTConfig(
        logp_base=logp_base, mu=mu, n=n_max, N=N_max, n_used=n_max, N_used=N_max, delta=delta
    )
    budget_list = [{"n_used": n, "N_used": N} for n, N in budgets]
    reps = 1 if quick else 3
    ms: dict[str, H.Measurement] = {}

    # 1. The toolkit's sweep: one compiled call over seeds x budgets, returning a tidy DataFrame.
    ms["sweep"] = H.measure(
        "toolkit `sweep(run_tabular_sft, ...)` (one compiled call + DataFrame)",
        lambda: sweep(run_tabular_sft, config, seeds_n, budget_list, progress=False),
        repeats=reps,
    )
    df = sweep(run_tabular_sft, config, seeds_n, budget_list, progress=False)
    err = df[df.metric == "sharpening_error"].sort_values(["seed", "budget"])
    errors_tk = err.value.to_numpy().reshape(seeds_n, len(budgets))

    # 2. The same computation as a bare compiled call (no DataFrame).
    n_used = jnp.asarray([n for n, _ in budgets], jnp.int32)
    N_used = jnp.asarray([N for _, N in budgets], jnp.int32)

    def per_budget(key, nu, Nu):
        return run_tabular_sft(key, dataclasses.replace(config, n_used=nu, N_used=Nu))

    over_budgets = jax.vmap(per_budget, in_axes=(None, 0, 0))
    over_seeds = jax.vmap(over_budgets, in_axes=(0, None, None))
    keys = jax.vmap(jax.random.key)(jnp.arange(seeds_n))
    if not quick:  # one compilation fewer in the smoke run
        ms["fused"] = H.measure_jit(
            "toolkit: `jit(vmap seeds(vmap budgets))` of `run_tabular_sft`",
            over_seeds,
            keys,
            n_used,
            N_used,
            repeats=reps,
        )

    # 3. A Python loop over seeds of the same jitted function (vmapped over budgets).
    t0 = time.perf_counter()
    per_seed = jax.jit(over_budgets).lower(keys[0], n_used, N_used).compile()
    per_seed_compile = time.perf_counter() - t0

    def loop():
        return [jax.tree_util.tree_map(np.asarray, per_seed(k, n_used, N_used)) for k in keys]

    ms["loop"] = H.measure(
        "toolkit: the same function jitted per seed, Python loop over seeds",
        loop,
        repeats=reps,
    )
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
    errors_np = NS.sweep_fresh(seeds, inst, budgets, delta)[..., 0]

    # Same algorithm, different random numbers: per budget, the mean errors must agree within
    # Monte Carlo error (a check that the baseline is the same computation).
    se = np.sqrt(errors_tk.var(0, ddof=1) / seeds_n + errors_np.var(0, ddof=1) / seeds_n)
    gap = np.abs(errors_tk.mean(0) - errors_np.mean(0))
    z = np.where(se > 0, gap / np.where(se > 0, se, 1.0), np.where(gap > 0, np.inf, 0.0))

    fused = ms["sweep"].median_s
    rows = H.timing_rows(list(ms.values()), ms["sweep"])
    table = H.md_table(H.TIMING_HEADERS, rows)
    runs = seeds_n * len(budgets)
    check_rows = [
        [f"n = {n}, N = {N}", f"{a:.3f}", f"{b:.3f}", f"{zz:.1f}"]
        for (n, N), a, b, zz in zip(budgets, errors_tk.mean(0), errors_np.mean(0), z, strict=True)
    ]
    summary = H.md_table(
        ["quantity", "value"],
        [
            ["runs (seeds x budgets)", f"{seeds_n} x {len(budgets)} = {runs}"],
            ["`sweep` time per run", H.fmt_s(fused / runs)],
            ["per-seed loop / `sweep`", H.fmt_ratio(ms["loop"].median_s / fused)],
            ["numpy (fresh samples) / `sweep`", H.fmt_ratio(ms["np_fresh"].median_s / fused)],
            ["numpy (shared samples) / `sweep`", H.fmt_ratio(ms["np_shared"].median_s / fused)],
            ["largest |z| between the mean errors (toolkit vs numpy)", f"{z.max():.1f}"],
        ],
    )
    body = (
        table
        + "\n\n"
        + summary
        + "\n\nMean sharpening error per budget over the seeds (toolkit `sweep` vs numpy fresh), "
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
            "`simulators.sweep(run_tabular_sft, ...)` (SFT-Sharpening + exact "
            "`theory.sharpening_error` and mass on the argmax, one compiled call over seeds x "
            "budgets, tidy DataFrame out) and the same computation as a bare "
            "`jit(vmap(vmap(...)))`, vs a Python loop over seeds of the same function jitted "
            "per seed (vmapped over budgets), vs numpy (`benchmarks/_numpy_sft.py`), with fresh "
            "samples per run and with one draw per seed shared by the budgets"
        ),
        sizes=(
            f"tabular pi_base with X = {X} prompts, Y = {Y} responses (Dirichlet(0.3) rows), "
            f"mu Dirichlet(1); {seeds_n} seeds x {len(budgets)} budgets (n in {list(ns)}, "
            f"N in {list(Ns)}), delta = {delta}, unrestricted tabular class (count MLE)"
        ),
        body=body,
        target="`sweep` >= 10x faster than the per-seed loop and than numpy",
        met=met,
        data={k: m.as_dict() for k, m in ms.items()} | {"z_max": float(z.max())},
    )
