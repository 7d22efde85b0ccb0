"""Benchmark 8: the generic per-sample path (issue 15), the path every algorithm without a closed
form takes.

1. The issue's instance: SFT-Sharpening with the unrestricted tabular class on a [100, 1000]
   Dirichlet(0.3) table, n = 200 prompts, the 15 budgets N = unique(geomspace(1, 1024, 16)), 256
   seeds, delta = 0.1. The toolkit's default ``sweep(run_tabular_sft, ...)`` (per-sample: every
   response drawn through the oracle, best-of-N, the count MLE, exact evaluation) against the
   careful numpy loop (``_numpy_sft.sweep_fresh``), a 40-line jitted prototype
   (``_prototype_sft``) and the exact law, in float64 and float32; peak memory of each; the mean
   errors compared in standard errors.
2. The other learners' sweeps against their baselines: the tabular squared loss (Eq. 8) against
   numpy, and adaptive SFT-Sharpening, the linear-softmax squared loss and XPO against the same
   jitted run looped over seeds in Python.
3. Cost against size: the per-sample SFT sweep with X, Y, N_max, n, S and B doubled in turn (five
   sizes each) and the fitted exponent of each; the work is S n N_max draws.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from . import _harness as H
from . import _numpy_sft as NS
from . import _prototype_sft as PT
from .sweep import _z

NAME = "per_sample"
TITLE = "The generic per-sample path: SFT, DPO, adaptive SFT and XPO sweeps"


def _instance(X: int, Y: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(Y, 0.3), size=X)
    logp = np.log(p)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    return logp, np.full(X, 1.0 / X)


def _errors(df, metric: str = "sharpening_error", by: str = "budget") -> np.ndarray:
    """``[S, B]`` values of one metric from a sweep frame (seeds x budgets)."""
    d = df[df.metric == metric]
    return d.pivot(index="seed", columns=by, values="value").to_numpy()


def _max_z(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |difference of means| / standard error over budgets (benchmark 4's ``_z``)."""
    return float(_z(a, b).max())


def _sft_config(logp, mu, n, Ns, delta, dtype, method="per_sample"):
    from simulators import TabularSFTConfig

    return TabularSFTConfig(
        logp_base=jnp.asarray(logp, dtype),
        mu=jnp.asarray(mu, dtype),
        delta=jnp.asarray(delta, dtype),
        smoothing=jnp.asarray(0.0, dtype),
        n=n,
        N=int(np.max(Ns)),
        n_used=n,
        N_used=1,
        method=method,
    )


def _part_instance(quick: bool, data: dict) -> tuple[str, bool, str]:
    from simulators import run_tabular_sft, sweep

    X, Y, n, S = (20, 100, 40, 16) if quick else (100, 1000, 200, 256)
    Ns = np.unique(np.geomspace(1, 64 if quick else 1024, 16).astype(int))
    delta = 0.1
    logp, mu = _instance(X, Y)
    inst = NS.Instance(logp, mu)
    budgets = {"N_used": Ns}
    reps = 1 if quick else 3
    cfg64 = _sft_config(logp, mu, n, Ns, delta, jnp.float64)
    cfg32 = _sft_config(logp, mu, n, Ns, delta, jnp.float32)
    cfg_law = _sft_config(logp, mu, n, Ns, delta, jnp.float64, "exact_law")
    proto = PT.make_sweep(logp, mu, n, Ns, delta)
    keys = jax.vmap(jax.random.key)(jnp.arange(S))
    out: dict = {}

    def tk(cfg, name):
        def call():
            out[name] = sweep(run_tabular_sft, cfg, S, budgets, progress=False)
            return out[name]["value"].to_numpy()

        return call

    def numpy_fresh():
        out["numpy"] = NS.sweep_fresh(range(S), inst, [(n, int(N)) for N in Ns], delta)
        return out["numpy"]

    def prototype():
        out["proto"] = proto(keys)
        return out["proto"]

    t0 = time.perf_counter()
    proto(keys).block_until_ready()
    proto_compile = time.perf_counter() - t0
    ms = {
        "tk64": H.measure(
            "toolkit `sweep(run_tabular_sft, ...)`, defaults (per-sample), float64",
            tk(cfg64, "tk64"),
            repeats=reps,
        ),
        "np": H.measure(
            "careful numpy loop over seeds x budgets, fresh draws per run, float64",
            numpy_fresh,
            repeats=1,
        ),
        "tk32": H.measure(
            "toolkit `sweep(run_tabular_sft, ...)`, defaults (per-sample), float32 tables",
            tk(cfg32, "tk32"),
            repeats=reps,
        ),
        "proto": H.measure(
            "40-line jitted prototype (`benchmarks/_prototype_sft.py`), float32",
            prototype,
            repeats=reps,
        ),
        "law": H.measure(
            "toolkit `sweep`, `method='exact_law'`, float64", tk(cfg_law, "law"), repeats=reps
        ),
    }
    ms["proto"].extra["compile_s"] = proto_compile - ms["proto"].median_s
    e64, e32, elaw = (_errors(out[k]) for k in ("tk64", "tk32", "law"))
    enp, eproto = out["numpy"][:, :, 0], np.asarray(out["proto"])
    z = {
        "toolkit f64 vs numpy": _max_z(e64, enp),
        "toolkit f64 vs exact law": _max_z(e64, elaw),
        "toolkit f32 vs prototype": _max_z(e32, eproto),
    }
    chosen = out["tk64"].attrs["seed_batch_size"][0]
    estimate = out["tk64"].attrs["memory"][0]
    rows = H.timing_rows(list(ms.values()), ms["tk64"])
    for row, m in zip(rows, ms.values(), strict=True):
        row.insert(6, H.fmt_ratio(ms["np"].median_s / m.median_s))
    headers = list(H.TIMING_HEADERS)
    headers.insert(6, "numpy / this")
    err_rows = [
        [m.label, f"{e[:, -1].mean():.4f}", f"{e[:, -1].std(ddof=1) / np.sqrt(S):.4f}"]
        for m, e in zip(
            [ms["tk64"], ms["np"], ms["tk32"], ms["proto"], ms["law"]],
            [e64, enp, e32, eproto, elaw],
            strict=True,
        )
    ]
    speed_np = ms["np"].median_s / ms["tk64"].median_s
    speed_proto = ms["proto"].median_s / ms["tk32"].median_s
    peak = max(ms["tk64"].peak_rss_delta or 0, ms["tk32"].peak_rss_delta or 0)
    met = speed_np >= 5 and speed_proto >= 1 and peak < 2 * 2**30 and max(z.values()) < 4
    data.update(
        instance={k: m.as_dict() for k, m in ms.items()},
        z=z,
        seed_batch_size=chosen,
        memory_estimate=estimate,
    )
    body = "\n".join(
        [
            f"### 8a. The issue's instance: [X, Y] = [{X}, {Y}], n = {n}, {len(Ns)} budgets "
            f"N = {Ns.min()}..{Ns.max()}, {S} seeds",
            "",
            H.md_table(headers, rows),
            "",
            f"The default `sweep` chose seed batches of {chosen} "
            f"(`df.attrs['seed_batch_size']`) from its estimate of "
            f"{H.fmt_bytes(estimate['per_seed'])} live per seed plus "
            f"{H.fmt_bytes(estimate['shared'])} shared, against a budget of "
            f"{H.fmt_bytes(estimate['limit'])}.",
            "",
            f"Mean sharpening error at N = {Ns.max()} (standard error over {S} seeds):",
            "",
            H.md_table(["implementation", "mean error", "s.e."], err_rows),
            "",
            "Largest difference of mean errors over the budgets, in standard errors: "
            + "; ".join(f"{k} {v:.2f}" for k, v in z.items())
            + ".",
        ]
    )
    summary = (
        f"default per-sample sweep {speed_np:.1f}x the numpy loop (float64), "
        f"{speed_proto:.2f}x the prototype (float32), peak RSS growth {H.fmt_bytes(peak)}"
    )
    return body, met, summary


def _loop_seeds(fn, cfg, S: int, budgets: dict | None):
    """The same jitted run (vmapped over budgets) called once per seed from Python."""
    if budgets is None:
        one = jax.jit(fn)
    else:
        ((field, values),) = budgets.items()
        values = jnp.asarray(values)

        def over(key, c):
            return jax.vmap(lambda v: fn(key, dataclasses.replace(c, **{field: v})))(values)

        one = jax.jit(over)

    def loop():
        return [jax.device_get(one(jax.random.key(s), cfg)) for s in range(S)]

    return loop


def _part_learners(quick: bool, data: dict) -> tuple[str, bool, str]:
    import simulators as sim
    from simulators.experiments import (
        AdaptiveSFTConfig,
        DPOConfig,
        LinearDPOConfig,
        LinearXPOConfig,
        run_adaptive_sft,
        run_dpo,
        run_linear_dpo,
        run_linear_xpo,
    )

    S = 16 if quick else 256
    reps = 1 if quick else 3
    X, Y = (20, 100) if quick else (100, 1000)
    logp, mu = _instance(X, Y, seed=1)
    inst = NS.Instance(logp, mu)
    beta, delta = 0.1, 0.1
    ns = np.unique(np.geomspace(16, 256 if quick else 2048, 8).astype(int))
    dpo = DPOConfig(
        jnp.asarray(logp),
        jnp.asarray(mu),
        jnp.asarray(beta),
        jnp.asarray(delta),
        n=int(ns.max()),
        n_used=int(ns.max()),
    )
    ada = AdaptiveSFTConfig(
        jnp.asarray(logp),
        jnp.asarray(mu),
        jnp.log(2 / jnp.asarray(delta)),
        jnp.asarray(delta),
        n=int(ns.max()),
        cap=256,
        n_used=int(ns.max()),
    )
    code = sim.spherical_code_instance(
        jax.random.key(0), 4 if quick else 8, 32 if quick else 64, theta_norm=2.0
    )
    beta_lin = 0.5
    radius = code.model_class(beta_lin).radius
    f, th, mu_lin = code.features, code.theta_star, code.oracle.mu
    T = 8 if quick else 32
    xpo = LinearXPOConfig(f, th, mu_lin, beta_lin, 1e-3, radius, 0.5, T=T, steps=100)
    ldpo = LinearDPOConfig(f, th, mu_lin, beta_lin, radius, 0.5, n=2 * T, steps=100, n_used=2 * T)
    lns = np.unique(np.geomspace(2, 2 * T, 5).astype(int))
    cases = [
        (
            "tabular squared loss (Eq. 8), `run_dpo`",
            run_dpo,
            dpo,
            {"n_used": ns},
            (
                "numpy loop over seeds x budgets (`_numpy_sft.sweep_dpo`)",
                lambda: NS.sweep_dpo(range(S), inst, ns, beta, delta),
            ),
        ),
        (
            "adaptive SFT-Sharpening (Eq. 10), `run_adaptive_sft`",
            run_adaptive_sft,
            ada,
            {"n_used": ns},
            (
                "numpy loop over seeds x budgets (`_numpy_sft.sweep_adaptive`)",
                lambda: NS.sweep_adaptive(range(S), inst, ns, float(np.log(2 / delta)), 256, delta),
            ),
        ),
        (
            "linear-softmax squared loss, `run_linear_dpo`",
            run_linear_dpo,
            ldpo,
            {"n_used": lns},
            None,
        ),
        (
            f"XPO (Algorithm 1), linear softmax, T = {T}, `run_linear_xpo`",
            run_linear_xpo,
            xpo,
            None,
            None,
        ),
    ]
    rows, ok, worst = [], True, np.inf
    for label, fn, cfg, budgets, numpy_baseline in cases:
        sweep_call = lambda fn=fn, cfg=cfg, b=budgets: sim.sweep(fn, cfg, S, b, progress=False)  # noqa: E731
        m_tk = H.measure(f"toolkit `sweep`: {label}", sweep_call, repeats=reps)
        if numpy_baseline is not None:
            base_label, base = numpy_baseline
        else:
            base_label, base = (
                "the same jitted run (vmapped over budgets) looped over seeds",
                _loop_seeds(fn, cfg, S, budgets),
            )
        m_base = H.measure(base_label, base, repeats=reps)
        ratio = m_base.median_s / m_tk.median_s
        worst = min(worst, ratio)
        ok &= ratio >= 5
        rows.append(
            [
                label,
                base_label,
                H.fmt_s(m_tk.median_s),
                H.fmt_s(m_base.median_s),
                H.fmt_ratio(ratio),
            ]
        )
        data.setdefault("learners", {})[label] = {
            "toolkit": m_tk.as_dict(),
            "baseline": m_base.as_dict(),
        }
    body = "\n".join(
        [
            f"### 8b. The other learners' sweeps ({S} seeds; tabular [{X}, {Y}], budgets "
            f"n = {ns.min()}..{ns.max()}; linear softmax d = {code.dim}, Y = "
            f"{code.num_responses})",
            "",
            H.md_table(
                ["learner", "baseline", "toolkit sweep", "baseline", "baseline / toolkit"], rows
            ),
        ]
    )
    return body, ok, f"other learners' sweeps at least {worst:.1f}x their baselines"


def _part_scaling(quick: bool, data: dict) -> tuple[str, bool, str]:
    from simulators import run_tabular_sft, sweep

    base = (
        dict(X=100, Y=1000, n=200, N=256, S=64, B=8)
        if not quick
        else dict(X=10, Y=50, n=16, N=16, S=4, B=4)
    )
    factors = (1, 2, 4, 8, 16) if not quick else (1, 2)
    reps = 2 if not quick else 1
    table_rows, slopes = [], {}
    for dim in ("X", "Y", "N", "n", "S", "B"):
        times = []
        for k in factors:
            p = dict(base)
            p[dim] = base[dim] * k
            if dim == "B":
                p["N"] = max(p["N"], p["B"])
            logp, mu = _instance(p["X"], p["Y"])
            Ns = np.unique(np.linspace(1, p["N"], p["B"]).astype(int))
            cfg = _sft_config(logp, mu, p["n"], Ns, 0.1, jnp.float64)
            call = lambda cfg=cfg, S=p["S"], Ns=Ns: sweep(  # noqa: E731
                run_tabular_sft, cfg, S, {"N_used": Ns}, progress=False
            )
            m = H.measure(f"{dim} x{k}", call, repeats=reps)
            times.append(m.median_s)
        slope = float(np.polyfit(np.log(factors), np.log(times), 1)[0])
        slopes[dim] = slope
        table_rows.append([dim, str(base[dim]), *[H.fmt_s(t) for t in times], f"{slope:.2f}"])
    data["scaling"] = {"base": base, "factors": factors, "slopes": slopes}
    # The work is S n N_max draws: those exponents near 1, the others near 0.
    met = all(slopes[d] > 0.7 for d in ("N", "n", "S")) and all(
        slopes[d] < 0.3 for d in ("X", "Y", "B")
    )
    body = "\n".join(
        [
            "### 8c. Cost against size (per-sample SFT sweep, defaults)",
            "",
            "Each row doubles one size from the base "
            + ", ".join(f"{k} = {v}" for k, v in base.items())
            + " (N is N_max, B the number of budgets, spread evenly over 1..N_max); the exponent "
            "is the least-squares slope of log(time) against log(size).",
            "",
            H.md_table(
                ["size", "base", *[f"x{k}" for k in factors], "fitted exponent"], table_rows
            ),
        ]
    )
    summary = "exponents " + ", ".join(f"{k} {v:.2f}" for k, v in slopes.items())
    return body, met, summary


def run(quick: bool = False) -> H.Section:
    data: dict = {}
    parts = [_part_instance(quick, data), _part_learners(quick, data), _part_scaling(quick, data)]
    body = "\n\n".join(p[0] for p in parts)
    met = all(p[1] for p in parts)
    return H.Section(
        key=NAME,
        title=TITLE,
        compared=(
            "the toolkit's default `sweep` of the per-sample experiments against a careful "
            "numpy loop, a 40-line jitted prototype, the exact law, and the same jitted run "
            "looped over seeds"
        ),
        sizes="8a: the issue's instance (256 seeds); 8b: 256 seeds; 8c: five sizes per axis",
        body=body,
        target=(
            "8a: default per-sample sweep >= 5x the numpy loop (float64) and >= 1x the "
            "prototype (float32), peak memory < 2 GiB, mean errors within Monte Carlo error; "
            "8b: each sweep >= 5x its baseline; 8c: cost exponents ~1 in S, n, N_max and ~0 in "
            "X, Y, B"
        ),
        met=met,
        explanation="; ".join(p[2] for p in parts) + ".",
        data=data,
    )
