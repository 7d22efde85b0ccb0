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
        fit = mle_params(TabularClass(X, Y, 0.0), ro.prompts, y, w)  # a CountPolicy
        return fit.weights.sum() + fit.y.sum()

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


def _medians(ms: dict) -> dict:
    return {k: m.median_s for k, m in ms.items()}


def _z(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per budget, |mean difference| of ``[S, B]`` samples in standard errors (independent)."""
    se = np.sqrt(a.var(0, ddof=1) / a.shape[0] + b.var(0, ddof=1) / b.shape[0])
    gap = np.abs(a.mean(0) - b.mean(0))
    return np.where(se > 0, gap / np.where(se > 0, se, 1.0), np.where(gap > 0, np.inf, 0.0))


def _tie_failures(n_max: int, delta: float = 0.25) -> tuple[int, int]:
    """``(failures, fits)``: count MLEs (the toolkit's ``mle``) with ``pi_hat(y*) = 1 - delta``
    exactly, which Def. 3.1 does not count as failures, that the per-sample path's evaluation
    (``simulators.sharpening_metrics`` on the fitted CountPolicy) counts as failures."""
    from simulators import TabularClass, mle, sharpening_metrics

    Y = n_max + 2
    base = jnp.log(jnp.full((1, Y), 0.5 / (Y - 1)).at[0, 0].set(0.5))  # y* = {0}
    ys, ws = [], []
    for total in range(1, n_max + 1):
        out = total * delta
        if out != int(out) or out < 1:
            continue
        out = int(out)
        # The misses on one response, or on one plus another, or each on its own.
        for split in ([out], [out - 1, 1], [1] * out):
            if min(split) < 1:
                continue
            y = [0] * (total - out) + [j + 1 for j, c in enumerate(split) for _ in range(c)]
            ys.append(y + [0] * (n_max - total))
            ws.append([1.0] * total + [0.0] * (n_max - total))
    x = jnp.zeros(n_max, jnp.int32)

    def error(y, w):
        fit = mle(TabularClass(1, Y), x, y, w)
        return sharpening_metrics(fit, base, jnp.ones(1), delta)["sharpening_error"]

    err = jax.vmap(error)(jnp.asarray(ys), jnp.asarray(ws))
    return int(np.sum(np.asarray(err) > 0)), len(ys)


def _errors(df, seeds_n: int, num_budgets: int) -> np.ndarray:
    err = df[df.metric == "sharpening_error"].sort_values(["seed", "budget"])
    return err.value.to_numpy().reshape(seeds_n, num_budgets)


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
    reps_law = 1 if quick else 7  # the exact-law calls take milliseconds

    rng = np.random.default_rng(0)
    logp_np = np.log(rng.dirichlet(np.full(Y, 0.3), size=X))
    mu_np = rng.dirichlet(np.ones(X))
    logp_base, mu = jnp.asarray(logp_np), jnp.asarray(mu_np)
    inst = NS.Instance(logp_np, mu_np)

    config = TabularSFTConfig(
        logp_base=logp_base, mu=mu, n=n_max, N=N_max, n_used=n_max, N_used=N_max, delta=delta
    )
    config_law = dataclasses.replace(config, method="exact_law")
    budget_list = [{"n_used": n, "N_used": N} for n, N in budgets]

    n_used = jnp.asarray([n for n, _ in budgets], jnp.int32)
    N_used = jnp.asarray([N for _, N in budgets], jnp.int32)
    keys = jax.vmap(jax.random.key)(jnp.arange(seeds_n))
    seeds = list(range(seeds_n))

    def compiled_calls(cfg, fused_too: bool):
        """The per-seed loop and (optionally) the bare fused call of ``cfg``'s experiment,
        compiled ahead of time; their compile times."""

        def per_budget(key, nu, Nu):
            return run_tabular_sft(key, dataclasses.replace(cfg, n_used=nu, N_used=Nu))

        over_budgets = jax.vmap(per_budget, in_axes=(None, 0, 0))
        compile_s = {}
        t0 = time.perf_counter()
        per_seed = jax.jit(over_budgets).lower(keys[0], n_used, N_used).compile()
        compile_s["loop"] = time.perf_counter() - t0
        fused = None
        if fused_too:
            t0 = time.perf_counter()
            over_seeds = jax.vmap(over_budgets, in_axes=(0, None, None))
            fused = jax.jit(over_seeds).lower(keys, n_used, N_used).compile()
            compile_s["fused"] = time.perf_counter() - t0

        def loop():
            return [jax.tree_util.tree_map(np.asarray, per_seed(k, n_used, N_used)) for k in keys]

        return loop, fused, compile_s

    # --- The per-sample algorithm (the default path; O(n N) per run, O(n + X) per budget).
    loop, fused, compile_s = compiled_calls(config, fused_too=not quick)
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
    calls["loop"] = ("toolkit: the same function jitted per seed, Python loop over seeds", loop)
    calls["np_fresh"] = (
        "numpy, loop over seeds x budgets, fresh samples per run",
        lambda: NS.sweep_fresh(seeds, inst, budgets, delta),
    )
    calls["np_shared"] = (
        "numpy, loop over seeds x budgets, one draw per seed shared by budgets",
        lambda: NS.sweep_shared(seeds, inst, budgets, delta),
    )
    # Back to back (see H.measure_all): these calls differ in memory by 100x, and round-robin
    # would time each in the others' memory state.
    ms = {k: H.measure(label, fn, repeats=reps) for k, (label, fn) in calls.items()}
    for k, c in compile_s.items():
        ms[k].extra["compile_s"] = c
    if fused is not None:
        ms["fused"].xla_temp = int(fused.memory_analysis().temp_size_in_bytes)

    # --- The exact-law algorithm (`method="exact_law"`, O(n + X) per run), like for like.
    loop_law, fused_law, compile_law = compiled_calls(config_law, fused_too=True)
    calls_law = {
        "sweep": (
            'toolkit `sweep(run_tabular_sft, ...)`, `method="exact_law"` (one compiled call + '
            "DataFrame)",
            lambda: sweep(run_tabular_sft, config_law, seeds_n, budget_list, progress=False),
        ),
        "fused": (
            "toolkit: bare `jit(vmap seeds(vmap budgets))`, exact law",
            lambda: fused_law(keys, n_used, N_used),
        ),
        "loop": ("toolkit: the same function jitted per seed, Python loop, exact law", loop_law),
        "np": (
            "numpy, loop over seeds x budgets, exact law (one draw per seed shared by budgets)",
            lambda: NS.sweep_exact_law(seeds, inst, budgets, delta),
        ),
    }
    # Small memory on every side: timed round-robin, so the machine's load hits them alike.
    ms_law = H.measure_interleaved(calls_law, repeats=reps_law)
    for k, c in compile_law.items():
        ms_law[k].extra["compile_s"] = c
    ms_law["fused"].xla_temp = int(fused_law.memory_analysis().temp_size_in_bytes)

    stages = {} if quick else _breakdown(config, keys, n_used, N_used, reps)

    # Same algorithm, different random numbers: per budget, the mean errors must agree within
    # Monte Carlo error (a check that the baselines are the same computation).
    nb = len(budgets)
    errors = {
        "tk": _errors(
            sweep(run_tabular_sft, config, seeds_n, budget_list, progress=False), seeds_n, nb
        ),
        "np": NS.sweep_fresh(seeds, inst, budgets, delta)[..., 0],
        "tk_law": _errors(
            sweep(run_tabular_sft, config_law, seeds_n, budget_list, progress=False), seeds_n, nb
        ),
        "np_law": NS.sweep_exact_law(seeds, inst, budgets, delta)[..., 0],
    }
    z = _z(errors["tk"], errors["np"])
    z_law = _z(errors["tk_law"], errors["np_law"])
    z_alg = _z(errors["tk"], errors["tk_law"])
    ties = _tie_failures(n_max, delta)

    t, tl = _medians(ms), _medians(ms_law)
    ref, ref_law = t["sweep"], tl["sweep"]
    runs = seeds_n * nb
    body = (
        'The per-sample algorithm (the default, `method="per_sample"`: every response drawn, '
        "best-of-N, the MLE table, evaluated on tables):\n\n"
        + H.md_table(H.TIMING_HEADERS, H.timing_rows(list(ms.values()), ms["sweep"]))
        + '\n\nThe exact-law algorithm (`method="exact_law"`: per prompt one uniform against '
        "the best-of-N hit probability, then counts; the same distribution of the metrics), "
        "timed round-robin:\n\n"
        + H.md_table(H.TIMING_HEADERS, H.timing_rows(list(ms_law.values()), ms_law["sweep"]))
    )
    summary_rows = [
        ["runs (seeds x budgets)", f"{seeds_n} x {nb} = {runs}"],
        [
            "**exact law: per-seed loop / `sweep`** (decides the target)",
            H.fmt_ratio(tl["loop"] / ref_law),
        ],
        ["**exact law: numpy / `sweep`** (decides the target)", H.fmt_ratio(tl["np"] / ref_law)],
        ["exact law: per-seed loop / bare fused call", H.fmt_ratio(tl["loop"] / tl["fused"])],
        ["exact law: `sweep` time per run", H.fmt_s(ref_law / runs)],
        [
            "exact law: `sweep` overhead over the bare call (keys, DataFrame)",
            H.fmt_s(ref_law - tl["fused"]),
        ],
        ["algorithm, toolkit: per-sample `sweep` / exact-law `sweep`", H.fmt_ratio(ref / ref_law)],
        [
            "algorithm, numpy: per-sample (shared draws) / exact law (shared draws)",
            H.fmt_ratio(t["np_shared"] / tl["np"]),
        ],
        ["per-sample: per-seed loop / `sweep`", H.fmt_ratio(t["loop"] / ref)],
        ["per-sample: numpy (fresh samples) / `sweep`", H.fmt_ratio(t["np_fresh"] / ref)],
        ["per-sample: numpy (shared samples) / `sweep`", H.fmt_ratio(t["np_shared"] / ref)],
        ["largest |z|, per-sample toolkit vs numpy", f"{z.max():.1f}"],
        ["largest |z|, exact-law toolkit vs numpy", f"{z_law.max():.1f}"],
        ["largest |z|, per-sample vs exact-law toolkit", f"{z_alg.max():.1f}"],
    ]
    body += "\n\n" + H.md_table(["quantity", "value"], summary_rows)
    if stages:
        full, d, f = (stages[k].median_s for k in ("full run", "draw", "draw + BoN + MLE"))
        body += (
            "\n\nWhere the per-sample fused call's time goes (each stage compiled on its own over "
            "the same seeds x budgets and the three timed round-robin, so their total differs "
            "from the bare call's time above):\n\n"
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
        [f"n = {n}, N = {N}", *(f"{errors[k][:, b].mean():.3f}" for k in errors)]
        + [f"{z[b]:.1f}", f"{z_law[b]:.1f}", f"{z_alg[b]:.1f}"]
        for b, (n, N) in enumerate(budgets)
    ]
    body += (
        "\n\nMean sharpening error per budget over the seeds, and differences in standard "
        "errors (a check that each pair runs the same algorithm, or the same law):\n\n"
        + H.md_table(
            [
                "budget",
                "toolkit per-sample",
                "numpy per-sample (fresh)",
                "toolkit exact law",
                "numpy exact law",
                "|z| per-sample",
                "|z| exact law",
                "|z| per-sample vs exact law",
            ],
            check_rows,
        )
    )
    met = all(tl[k] >= 10 * ref_law for k in ("loop", "np"))
    return H.Section(
        key=NAME,
        title=TITLE,
        compared=(
            "`simulators.sweep(run_tabular_sft, ...)` (SFT-Sharpening + exact sharpening error "
            "and mass on the argmax, one compiled call over seeds x budgets, tidy DataFrame out) "
            "and the same computation as a bare `jit(vmap(vmap(...)))`, vs a Python loop over "
            "seeds of the same function jitted per seed (vmapped over budgets), vs numpy "
            "(`benchmarks/_numpy_sft.py`); each for two algorithms with the same law of the "
            "metrics: per-sample (the default; numpy with fresh samples per run and with one draw "
            'per seed shared by the budgets) and exact law (`method="exact_law"`, per-prompt '
            "sufficient statistics; numpy runs the same exact-law algorithm)"
        ),
        sizes=(
            f"tabular pi_base with X = {X} prompts, Y = {Y} responses (Dirichlet(0.3) rows), "
            f"mu Dirichlet(1); {seeds_n} seeds x {nb} budgets (n in {list(ns)}, "
            f"N in {list(Ns)}), delta = {delta}, unrestricted tabular class (count MLE)"
        ),
        body=body,
        target=(
            "`sweep` >= 10x faster than the per-seed loop and than numpy, like for like (the "
            "same algorithm on both sides: the exact law)"
        ),
        met=met,
        explanation=_explain(ms, ms_law, stages, z, ties, budgets, X, Y, n_max, N_max, seeds_n),
        data={k: m.as_dict() for k, m in ms.items()}
        | {f"exact_law {k}": m.as_dict() for k, m in ms_law.items()}
        | {f"stage {k}": m.as_dict() for k, m in stages.items()}
        | {
            "z_max": float(z.max()),
            "z_law_max": float(z_law.max()),
            "z_alg_max": float(z_alg.max()),
        },
    )


def _explain(ms, ms_law, stages, z, ties, budgets, X, Y, n, N, S) -> str:
    B = len(budgets)
    t, tl = _medians(ms), _medians(ms_law)
    ref, ref_law = t["sweep"], tl["sweep"]
    runs = S * B
    text = (
        "Two factors, reported apart. *Algorithm:* the per-sample path does O(n N) work per "
        f"run ({n} x {N} draws per seed and one best-of-N pass over their prefixes), then per "
        "budget O(n + X): the count MLE is kept as its n examples (a `CountPolicy`) and scored "
        "from counts (one gather of the argmax mask per example, one segment sum); the exact "
        "law does O(n + X) per run (the count MLE's error and mass depend only on each prompt's "
        "visits n_x and best-of-N hits k_x on y*, and a hit is one uniform against "
        "1 - (1 - pi_base(y*|x))^N), so per run it touches "
        f"{n} prompts and {X} counts instead of {n * N} samples. This "
        f"is worth {ref / ref_law:.0f}x to the toolkit (per-sample `sweep` / exact-law `sweep`) "
        f"and {t['np_shared'] / tl['np']:.1f}x to numpy (shared draws, both sides): numpy gains "
        "less because its per-sample baseline already builds one global CDF and counts hits "
        "on y* from integer counts, and its exact-law runs are bounded by Python overhead. "
        "*Fusion / dispatch:* with the exact law a run is a few microseconds of arithmetic, so "
        f"what is left is the price of each call: `sweep` makes one compiled call for all {runs} "
        f"runs ({H.fmt_s(tl['fused'])} bare, {H.fmt_s(ref_law - tl['fused'])} more for the keys "
        f"and the tidy DataFrame), the per-seed loop makes {S} calls "
        f"({H.fmt_s(tl['loop'] / S)} each, mostly per-call overhead: indexing the key, dispatch "
        f"and three device-to-host copies; {tl['loop'] / ref_law:.0f}x the `sweep`), and numpy "
        "makes "
        f"{runs} runs of about a dozen array calls each ({H.fmt_s(tl['np'] / runs)} per run, "
        f"{tl['np'] / ref_law:.0f}x). "
        "These two ratios, same algorithm on both sides, decide the target. With the "
        "per-sample algorithm fusion buys nothing: the per-seed loop takes "
        f"{t['loop'] / ref:.2f}x the time of `sweep`, because the work, not the dispatch, "
        "dominates."
    )
    if "fused" in t:
        text += (
            " The one big per-sample call holds every seed's draws at once (XLA temp "
            f"{H.fmt_bytes(ms['fused'].xla_temp)}), streamed through main memory on every pass, "
            "while `sweep`'s automatic seed batches (`seed_batch_size='auto'`, sized from its "
            "estimate of one seed's live memory) keep the working set in cache "
            f"({H.fmt_s(ref)} for `sweep` against {H.fmt_s(t['fused'])} for the bare call; an "
            f"explicit `seed_batch_size=4`: {H.fmt_s(t['sweep_batched'])})."
        )
    if stages:
        full, d, f = (stages[k].median_s for k in ("full run", "draw", "draw + BoN + MLE"))
        text += (
            f" In the per-sample run, drawing the samples takes {H.fmt_pct(d / full)} of the "
            f"time ({S * n * N / 1e6:.1f}M draws: a uniform and a binary search in its prompt's "
            "CDF each, plus the Rollouts fields; the CDFs and the row entropy / KL-to-uniform are "
            f"formed once per table row, as there are more drawn prompts ({n}) than rows ({X})); "
            "the best-of-N and count MLE take "
            f"{H.fmt_pct((f - d) / full)} (one pass over the prefixes for every budget, a "
            "gather of the winners) and the exact evaluation "
            f"{H.fmt_pct((full - f) / full)} (per budget a gather of the argmax mask at the n "
            "examples and a segment sum; no table). The exact law removes all three stages."
        )
    worst = int(np.argmax(z))
    text += (
        " The |z| columns compare means over the seeds. The exact-law toolkit and numpy run one "
        "algorithm; the per-sample and exact-law paths have one law of the metrics, which holds "
        "at exact ties too only if they are decided alike: with delta = 1/4 a count MLE often "
        "has pi_hat(y*) = 3/4 exactly, which is not a failure (Def. 3.1's strict inequality). "
        "The exact law and numpy decide it on counts; the per-sample path evaluates the learned "
        "CountPolicy with `simulators.sharpening_metrics`, where log(count) - log(total) is "
        "compared with log(1 - delta) after rounding (masses within 32 ulps of 1 - delta count "
        f"as the tie): of {ties[1]} such fits from the toolkit's count MLE (up to {n} visits), "
        f"{ties[0]} come out as failures"
        + (
            ", as Def. 3.1 asks"
            if ties[0] == 0
            else ", so the per-sample error is biased upward where ties are common"
        )
        + f" (largest |z| between the per-sample toolkit and numpy here: {z[worst]:.1f}, at "
        f"n = {budgets[worst][0]}, N = {budgets[worst][1]})."
    )
    return text
