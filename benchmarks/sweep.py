"""Benchmark 4: a sweep of SFT-Sharpening over seeds and budgets.

The toolkit's way (``simulators.sweep(run_tabular_sft, ...)``: one ``jax.jit`` of ``vmap`` over
seeds of ``vmap`` over budgets, each run ending in the exact sharpening error) against a Python
loop over seeds of the same function jitted per seed (vmapped over budgets), and against the numpy
implementation a careful researcher would write (``benchmarks/_numpy_sft.py``: vectorized within
a run, looping over seeds and budgets), both with fresh samples per run and with the toolkit's
sharing of one draw across budgets.
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


def _breakdown(config, keys, n_used, N_used, reps):
    """Fused (seeds x budgets) timings of the pipeline's stages: draw, + BoN + MLE, + evaluation."""
    from simulators import run_tabular_sft
    from simulators._algorithms import prefix_best_of_n
    from simulators._classes import TabularClass, mle_params
    from simulators._oracle import SampleEvaluateOracle, draw
    from simulators._tabular import TabularPolicy

    X, Y = config.logp_base.shape
    n, N = config.n, config.N
    oracle = SampleEvaluateOracle(TabularPolicy(config.logp_base), config.mu)

    def stage_draw(key, nu, Nu):
        ro, _ = draw(key, oracle, n, N)
        return ro.logp_base.sum() + ro.tokens.sum()

    def stage_fit(key, nu, Nu):
        k_draw, k_bon = jax.random.split(key)
        ro, _ = draw(k_draw, oracle, n, N)
        j = prefix_best_of_n(k_bon, ro.logp_base)[:, Nu - 1]
        y = jnp.take_along_axis(ro.tokens[..., 0], j[:, None], axis=1)[:, 0]
        w = (jnp.arange(n) < nu).astype(ro.logp_base.dtype)
        return mle_params(TabularClass(X, Y, 0.0), ro.prompts, y, w).sum()

    def stage_full(key, nu, Nu):
        return run_tabular_sft(key, dataclasses.replace(config, n_used=nu, N_used=Nu))

    calls = {}
    for name, fn in (
        ("draw", stage_draw),
        ("draw + BoN + MLE", stage_fit),
        ("full run", stage_full),
    ):
        f = jax.vmap(jax.vmap(fn, in_axes=(None, 0, 0)), in_axes=(0, None, None))
        compiled = jax.jit(f).lower(keys, n_used, N_used).compile()
        calls[name] = (f"stage: {name}", lambda c=compiled: c(keys, n_used, N_used))
    # Round-robin: the three stages have the same memory footprint, and their differences are
    # what is reported, so load drifts must hit them alike.
    return H.measure_interleaved(calls, repeats=reps)


def run(quick: bool = False) -> H.Section:
    from simulators import TabularSFTConfig, run_tabular_sft, sweep

    if quick:
        X, Y, seeds_n = 8, 32, 8
        ns, Ns = (8, 16), (2, 4)
    else:
        X, Y, seeds_n = 32, 256, 256
        ns, Ns = (16, 32, 64, 128), (1, 4, 16, 64)
    budgets = list(itertools.product(ns, Ns))
    delta = 0.25
    n_max, N_max = max(ns), max(Ns)
    reps = 1 if quick else 3

    rng = np.random.default_rng(0)
    logp_np = np.log(rng.dirichlet(np.full(Y, 0.3), size=X))
    mu_np = rng.dirichlet(np.ones(X))
    logp_base, mu = jnp.asarray(logp_np), jnp.asarray(mu_np)
    inst = NS.Instance(logp_np, mu_np)

    config = TabularSFTConfig(
        logp_base=logp_base, mu=mu, n=n_max, N=N_max, n_used=n_max, N_used=N_max, delta=delta
    )
    budget_list = [{"n_used": n, "N_used": N} for n, N in budgets]

    n_used = jnp.asarray([n for n, _ in budgets], jnp.int32)
    N_used = jnp.asarray([N for _, N in budgets], jnp.int32)

    def per_budget(key, nu, Nu):
        return run_tabular_sft(key, dataclasses.replace(config, n_used=nu, N_used=Nu))

    over_budgets = jax.vmap(per_budget, in_axes=(None, 0, 0))
    over_seeds = jax.vmap(over_budgets, in_axes=(0, None, None))
    keys = jax.vmap(jax.random.key)(jnp.arange(seeds_n))

    # Compile ahead of time what can be (the sweep compiles inside its first call).
    compile_s = {}
    t0 = time.perf_counter()
    per_seed = jax.jit(over_budgets).lower(keys[0], n_used, N_used).compile()
    compile_s["loop"] = time.perf_counter() - t0
    fused = None
    if not quick:  # one compilation fewer in the smoke run
        t0 = time.perf_counter()
        fused = jax.jit(over_seeds).lower(keys, n_used, N_used).compile()
        compile_s["fused"] = time.perf_counter() - t0
        fused_temp = fused.memory_analysis().temp_size_in_bytes

    def loop():
        return [jax.tree_util.tree_map(np.asarray, per_seed(k, n_used, N_used)) for k in keys]

    seeds = list(range(seeds_n))
    calls = {
        "sweep": (
            "toolkit `sweep(run_tabular_sft, ...)` (one compiled call + DataFrame)",
            lambda: sweep(run_tabular_sft, config, seeds_n, budget_list, progress=False),
        )
    }
    if not quick:
        calls["sweep_batched"] = (
            "toolkit `sweep(..., seed_batch_size=4)` (seeds mapped in batches of 4)",
            lambda: sweep(
                run_tabular_sft, config, seeds_n, budget_list, seed_batch_size=4, progress=False
            ),
        )
        calls["fused"] = (
            "toolkit: bare `jit(vmap seeds(vmap budgets))` of `run_tabular_sft`",
            lambda: fused(keys, n_used, N_used),
        )
    calls["loop"] = (
        "toolkit: the same function jitted per seed, Python loop over seeds",
        loop,
    )
    calls["np_fresh"] = (
        "numpy, loop over seeds x budgets, fresh samples per run",
        lambda: NS.sweep_fresh(seeds, inst, budgets, delta),
    )
    calls["np_shared"] = (
        "numpy, loop over seeds x budgets, one draw per seed shared by budgets",
        lambda: NS.sweep_shared(seeds, inst, budgets, delta),
    )
    # Each entry's repeats back to back (see H.measure_all on round-robin timing).
    ms = {k: H.measure(label, fn, repeats=reps) for k, (label, fn) in calls.items()}
    for k, c in compile_s.items():
        ms[k].extra["compile_s"] = c
    if fused is not None:
        ms["fused"].xla_temp = int(fused_temp)

    df = sweep(run_tabular_sft, config, seeds_n, budget_list, progress=False)
    err = df[df.metric == "sharpening_error"].sort_values(["seed", "budget"])
    errors_tk = err.value.to_numpy().reshape(seeds_n, len(budgets))
    errors_np = NS.sweep_fresh(seeds, inst, budgets, delta)[..., 0]

    stages = {} if quick else _breakdown(config, keys, n_used, N_used, reps)

    # Same algorithm, different random numbers: per budget, the mean errors must agree within
    # Monte Carlo error (a check that the baseline is the same computation).
    se = np.sqrt(errors_tk.var(0, ddof=1) / seeds_n + errors_np.var(0, ddof=1) / seeds_n)
    gap = np.abs(errors_tk.mean(0) - errors_np.mean(0))
    z = np.where(se > 0, gap / np.where(se > 0, se, 1.0), np.where(gap > 0, np.inf, 0.0))

    ref = ms["sweep"].median_s
    table = H.md_table(H.TIMING_HEADERS, H.timing_rows(list(ms.values()), ms["sweep"]))
    runs = seeds_n * len(budgets)
    summary_rows = [
        ["runs (seeds x budgets)", f"{seeds_n} x {len(budgets)} = {runs}"],
        ["`sweep` time per run", H.fmt_s(ref / runs)],
        ["per-seed loop / `sweep`", H.fmt_ratio(ms["loop"].median_s / ref)],
        ["numpy (fresh samples) / `sweep`", H.fmt_ratio(ms["np_fresh"].median_s / ref)],
        ["numpy (shared samples) / `sweep`", H.fmt_ratio(ms["np_shared"].median_s / ref)],
        ["largest |z| between the mean errors (toolkit vs numpy)", f"{z.max():.1f}"],
    ]
    body = table + "\n\n" + H.md_table(["quantity", "value"], summary_rows)
    if stages:
        full = stages["full run"].median_s
        d = stages["draw"].median_s
        f = stages["draw + BoN + MLE"].median_s
        body += (
            "\n\nWhere the fused call's time goes (each stage compiled on its own over the same "
            "seeds x budgets and the three timed round-robin, so their total differs from the bare "
            "call's time above):\n\n"
            + H.md_table(
                ["stage", "time", "share of the full run"],
                [
                    ["draw n x N samples per seed (oracle)", H.fmt_s(d), H.fmt_pct(d / full)],
                    ["best-of-N + count MLE per budget", H.fmt_s(f - d), H.fmt_pct((f - d) / full)],
                    [
                        "exact evaluation (`sharpening_error`, mass on argmax)",
                        H.fmt_s(full - f),
                        H.fmt_pct((full - f) / full),
                    ],
                ],
            )
        )
    check_rows = [
        [f"n = {n}, N = {N}", f"{a:.3f}", f"{b:.3f}", f"{zz:.1f}"]
        for (n, N), a, b, zz in zip(budgets, errors_tk.mean(0), errors_np.mean(0), z, strict=True)
    ]
    body += (
        "\n\nMean sharpening error per budget over the seeds (toolkit `sweep` vs numpy with fresh "
        "samples) and their difference in standard errors, a check that both run the same "
        "algorithm:\n\n" + H.md_table(["budget", "toolkit", "numpy", "|z|"], check_rows)
    )
    met = all(ms[k].median_s >= 10 * ref for k in ("loop", "np_fresh", "np_shared"))
    return H.Section(
        key=NAME,
        title=TITLE,
        compared=(
            "`simulators.sweep(run_tabular_sft, ...)` (SFT-Sharpening + exact "
            "`theory.sharpening_error` and mass on the argmax, one compiled call over seeds x "
            "budgets, tidy DataFrame out) and the same computation as a bare "
            "`jit(vmap(vmap(...)))`, vs a Python loop over seeds of the same function jitted per "
            "seed (vmapped over budgets), vs numpy (`benchmarks/_numpy_sft.py`), with fresh "
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
        explanation=_explain(ms, stages, X, Y, n_max, N_max, seeds_n, len(budgets)),
        data={k: m.as_dict() for k, m in ms.items()}
        | {f"stage {k}": m.as_dict() for k, m in stages.items()}
        | {"z_max": float(z.max())},
    )


def _explain(ms, stages, X, Y, n, N, S, B) -> str:
    ref = ms["sweep"].median_s
    t = {k: m.median_s for k, m in ms.items()}
    text = (
        f"Per run the work is the same in every implementation: {n} x {N} draws per seed, a "
        f"best-of-N per prompt and an [X, Y] = [{X}, {Y}] count table per budget, scored "
        "exactly. Sharing one draw across the budgets (the toolkit's sweep does it by "
        "construction: the key does not depend on the budget, so `vmap` leaves the draw "
        f"unbatched) is worth {t['np_fresh'] / t['np_shared']:.1f}x to numpy too. Fusion "
        "removes only Python dispatch, which is small against that work: the per-seed loop "
        f"makes {S} calls and takes {t['loop'] / ref:.2f}x the time of `sweep`."
    )
    if "fused" in t:
        text += (
            " The one big call is not faster than the loop because its intermediates are "
            f"[{S} seeds x {B} budgets x {X} x {Y}] tables (XLA temp "
            f"{H.fmt_bytes(ms['fused'].xla_temp)}), allocated and page-faulted afresh on every "
            "call (benchmark 7) and streamed through main memory on every elementwise pass, "
            f"while a per-seed call's {B} small tables are recycled by the allocator and stay in "
            "cache; `sweep`'s `seed_batch_size=4` keeps one compiled call and recovers part of "
            f"this ({H.fmt_s(t['sweep_batched'])} vs {H.fmt_s(ref)})."
        )
    if stages:
        full = stages["full run"].median_s
        d = stages["draw"].median_s
        f = stages["draw + BoN + MLE"].median_s
        text += (
            f" The stage breakdown shows where the rest goes: drawing the samples takes "
            f"{H.fmt_pct(d / full)} of the run, although they are only {S * n * N / 1e6:.1f}M "
            "draws, because `sample(TabularPolicy)` recomputes for every drawn prompt its row's "
            "CDF (exp, cumsum) and the row entropy / KL-to-uniform that Rollouts carry "
            f"({n} x {Y} transcendental evaluations per seed where numpy builds one global CDF "
            "per instance and searches it once); the best-of-N and count MLE take "
            f"{H.fmt_pct((f - d) / full)} (a log over each budget's full table) and the exact "
            f"evaluation {H.fmt_pct((full - f) / full)} (log-space masses on the argmax set over "
            "each full table, where numpy counts hits on y* from integer counts)."
        )
    text += (
        " What would close the gap: tabular sampling from one precomputed [X, Y] CDF with "
        "`search_rows` (as the autoregressive sampler already does; a prototype drew the same "
        "samples ~2.5x faster), the row statistics only when a self-reward asks for them, an "
        "evaluation of the count MLE from its counts (mass on y* = hits / visits, no table of "
        "logs), and seed batching by default. None of these reaches 10x over numpy on this "
        "workload: the numpy baseline is itself vectorized within each run, so it pays Python "
        "overhead only ~10 times per run."
    )
    return text
