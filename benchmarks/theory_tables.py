"""Benchmark 1: the exact theory functions on a large ``[X, Y]`` table.

Each ``theory`` function is timed as users call it (eagerly, which validates the table's values
first) and under ``jax.jit`` (values of tracers cannot be checked, so only the computation runs),
against the straightforward numpy version in ``benchmarks/_numpy_theory.py``. Bytes moved per
second are compared with the machine's memory bandwidth, measured in the same run by copying a
table-sized array with numpy and with JAX.
"""

from __future__ import annotations

import gc

import jax
import jax.numpy as jnp
import numpy as np

from . import _harness as H
from . import _numpy_theory as NP

NAME = "theory_tables"
TITLE = "Exact theory functions on a large table"


def _tables(X: int, Y: int, seed: int = 0):
    """A base table and a sharper 'learned' table, float64, built in place to bound memory."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((X, Y))
    base *= 2.0
    base -= NP.logsumexp(base)
    hat = base * 3.0
    hat -= NP.logsumexp(hat)
    mu = rng.dirichlet(np.ones(X))
    return base, hat, mu


def bandwidth(nbytes: int, repeats: int) -> tuple[float, list[H.Measurement]]:
    """Copy bandwidth (bytes read + written per second), numpy ``copyto`` and a jitted JAX copy."""
    n = nbytes // 8
    src = np.ones(n)
    dst = np.zeros(n)  # touched, so page faults are not timed
    m_np = H.measure(
        f"numpy copy of {H.fmt_bytes(nbytes)} (`np.copyto`)",
        lambda: np.copyto(dst, src),
        repeats=repeats,
    )
    x = jnp.asarray(src)
    # `x * 2` rather than `x.copy()`: XLA may forward an unmodified buffer; a scale is one read and
    # one write per element, the same traffic as a copy.
    f = jax.jit(lambda a: a * 2.0)
    m_jax = H.measure(
        f"JAX copy of {H.fmt_bytes(nbytes)} (jit `x * 2`)", lambda: f(x), repeats=repeats
    )
    del src, dst, x
    gc.collect()
    for m in (m_np, m_jax):
        m.extra["bandwidth"] = 2 * nbytes / m.median_s
    return max(m.extra["bandwidth"] for m in (m_np, m_jax)), [m_np, m_jax]


def run(quick: bool = False) -> H.Section:
    import theory

    X = Y = 200 if quick else 10_000
    reps = 1 if quick else 3
    gamma, delta, beta, n_bon = 0.1, 0.25, 0.5, 8
    entries = X * Y

    bw, bw_ms = bandwidth(8 * entries, reps)

    base_np, hat_np, mu_np = _tables(X, Y)
    base, hat, mu = jnp.asarray(base_np), jnp.asarray(hat_np), jnp.asarray(mu_np)

    # name -> (toolkit call, numpy call, bytes that must be read + written at least)
    cases = {
        "argmax_set": (
            lambda lp, lh, m: theory.argmax_set(lp, gamma),
            lambda: NP.argmax_set(base_np, gamma),
            9 * entries,  # read 8 B, write a 1 B bool
        ),
        "coverage": (
            lambda lp, lh, m: theory.coverage(lp, m, gamma),
            lambda: NP.coverage(base_np, mu_np, gamma),
            8 * entries,
        ),
        "sharpening_error": (
            lambda lp, lh, m: theory.sharpening_error(lh, lp, m, delta, gamma),
            lambda: NP.sharpening_error(hat_np, base_np, mu_np, delta, gamma),
            16 * entries,  # two tables
        ),
        "kl": (
            lambda lp, lh, m: theory.kl(lh, lp, m),
            lambda: NP.kl(hat_np, base_np, mu_np),
            16 * entries,
        ),
        "kl_tilt": (
            lambda lp, lh, m: theory.kl_tilt(lp, beta),
            lambda: NP.kl_tilt(base_np, beta),
            16 * entries,  # read a table, write a table
        ),
        "bon_law": (
            lambda lp, lh, m: theory.bon_law(lp, n_bon),
            lambda: NP.bon_law(base_np, n_bon),
            16 * entries,
        ),
    }

    rows = []
    data = {"bandwidth_bytes_per_s": bw}
    met_all = True
    for name, (tk, ref, nbytes) in cases.items():
        r = 2 if name == "bon_law" and not quick else reps
        m_jit = H.measure_jit(f"{name} jit", tk, base, hat, mu, repeats=r)
        m_eager = H.measure(
            f"{name} eager", lambda tk=tk: tk(base, hat, mu), repeats=r, max_seconds=60
        )
        m_np = H.measure(f"{name} numpy", ref, repeats=r, max_seconds=60)
        # Cross-check the values (the numpy versions are independent implementations).
        a = np.asarray(m_jit.compiled(base, hat, mu), dtype=np.float64)
        b = np.asarray(ref(), dtype=np.float64)
        fin = np.isfinite(a) & np.isfinite(b)
        same_inf = np.array_equal(np.isfinite(a), np.isfinite(b))
        diff = float(np.max(np.abs(a[fin] - b[fin]) / np.maximum(np.abs(b[fin]), 1e-300))) if (
            fin.any()
        ) else 0.0
        frac = nbytes / m_jit.median_s / bw
        speedup = m_np.median_s / m_jit.median_s
        met_all &= speedup >= 1.0
        rows.append(
            [
                f"`{name}`",
                H.fmt_s(m_np.median_s),
                H.fmt_s(m_eager.median_s),
                H.fmt_s(m_jit.median_s),
                H.fmt_s(m_jit.compile_s),
                H.fmt_ratio(speedup),
                H.fmt_ratio(m_np.median_s / m_eager.median_s),
                H.fmt_bytes(nbytes),
                H.fmt_rate(nbytes / m_jit.median_s, "B/s"),
                H.fmt_pct(frac),
                H.fmt_bytes(m_jit.xla_temp),
                H.fmt_bytes(m_eager.peak_rss_delta),
                H.fmt_bytes(m_np.peak_rss_delta),
                f"{diff:.1e}" + ("" if same_inf else " (inf pattern differs)"),
            ]
        )
        data[name] = {
            "numpy": m_np.as_dict(),
            "eager": m_eager.as_dict(),
            "jit": m_jit.as_dict(),
            "min_bytes": nbytes,
            "fraction_of_bandwidth": frac,
            "max_rel_diff": diff,
        }
        gc.collect()

    headers = [
        "function",
        "numpy",
        "toolkit eager",
        "toolkit jit",
        "jit compile",
        "numpy / jit",
        "numpy / eager",
        "min bytes moved",
        "jit bytes/s",
        "of bandwidth",
        "jit XLA temp",
        "eager peak RSS",
        "numpy peak RSS",
        "max rel. diff",
    ]
    bw_rows = [
        [m.label, H.fmt_s(m.median_s), H.fmt_rate(m.extra["bandwidth"], "B/s")] for m in bw_ms
    ]
    body = (
        "Memory bandwidth measured in this run (bytes read + written per second):\n\n"
        + H.md_table(["copy", "median", "bandwidth"], bw_rows)
        + f"\n\nThe bound used below is the larger, {H.fmt_rate(bw, 'B/s')}. *Min bytes moved* "
        "counts each input table read once and each output table written once; *of bandwidth* "
        "is (min bytes / jit time) / bandwidth, the fraction of the memory-bound speed reached. "
        "*max rel. diff* compares the toolkit's value with the numpy version's.\n\n"
        + H.md_table(headers, rows)
    )
    return H.Section(
        key=NAME,
        title=TITLE,
        compared=(
            "`theory.argmax_set`, `coverage`, `sharpening_error`, `kl`, `kl_tilt`, `bon_law` "
            "(eager with input validation, and under `jax.jit`) vs straightforward numpy "
            "(`benchmarks/_numpy_theory.py`); bytes/s vs copy bandwidth"
        ),
        sizes=(
            f"[X, Y] = [{X}, {Y}] float64 tables ({H.fmt_bytes(8 * entries)} each); "
            f"gamma = {gamma}, delta = {delta}, beta = {beta}, n = {n_bon}"
        ),
        body=body,
        target="toolkit (jit) at least as fast as numpy on every function; report the fraction "
        "of memory bandwidth reached",
        met=met_all,
        data=data,
    )
