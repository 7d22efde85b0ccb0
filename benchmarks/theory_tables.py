"""Benchmark 1: the exact theory functions on a large ``[X, Y]`` table.

Each ``theory`` function is timed as users call it (eagerly, which validates the table's values
first) and under ``jax.jit`` (values of tracers cannot be checked, so only the computation runs),
against the straightforward numpy version in ``benchmarks/_numpy_theory.py``. Bytes moved per
second are compared with the machine's memory bandwidth, measured in the same run by copying a
table-sized array with numpy (into a touched array and into a fresh one) and with JAX.

The measurements run in two child processes: one with the environment settings that the README
recommends for large tables (:func:`settings_environment`: glibc asked for huge pages, see
benchmark 7; a value the user already set wins), one without (the default). glibc reads the setting
only when a process starts, hence the children. Each child saves its jitted outputs, and the parent
checks that the setting leaves them bit for bit unchanged.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import _harness as H
from . import _numpy_theory as NP
from .xla_env import NO_YNN, run_child

NAME = "theory_tables"
TITLE = "Exact theory functions on a large table"

FUNCTIONS = ("argmax_set", "coverage", "sharpening_error", "kl", "kl_tilt", "bon_law")


def settings_environment(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the README's large-table settings where they apply and the user has not set
    them (:func:`paper_figs.cli.huge_pages_environment`)."""
    from paper_figs.cli import huge_pages_environment

    return huge_pages_environment(env) or dict(env)


def default_environment(env: dict[str, str]) -> dict[str, str]:
    """``env`` without the huge-page tunable and without the YNNPACK switch of benchmark 7."""
    out = dict(env)
    tunables = [t for t in out.pop("GLIBC_TUNABLES", "").split(":") if t]
    tunables = [t for t in tunables if not t.startswith("glibc.malloc.hugetlb")]
    if tunables:
        out["GLIBC_TUNABLES"] = ":".join(tunables)
    flags = [f for f in out.get("XLA_FLAGS", "").split() if not f.startswith(NO_YNN.rstrip("="))]
    out["XLA_FLAGS"] = " ".join(flags)
    return out


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
    import jax
    import jax.numpy as jnp

    n = nbytes // 8
    src = np.ones(n)
    dst = np.zeros(n)  # touched, so page faults are not timed
    m_np = H.measure(
        f"numpy copy of {H.fmt_bytes(nbytes)} into a touched array (`np.copyto`)",
        lambda: np.copyto(dst, src),
        repeats=repeats,
    )
    m_np_fresh = H.measure(
        f"numpy `x * 2` of {H.fmt_bytes(nbytes)} into a fresh array",
        lambda: src * 2.0,
        repeats=repeats,
    )
    x = jnp.asarray(src)
    # `x * 2` rather than `x.copy()`: XLA may forward an unmodified buffer; a scale is one read and
    # one write per element, the same traffic as a copy.
    f = jax.jit(lambda a: a * 2.0)
    m_jax = H.measure(
        f"JAX `x * 2` of {H.fmt_bytes(nbytes)} (jit; fresh output buffer)",
        lambda: f(x),
        repeats=repeats,
    )
    ms = [m_np, m_np_fresh, m_jax]
    for m in ms:
        m.extra["bandwidth"] = 2 * nbytes / m.median_s
    return max(m.extra["bandwidth"] for m in ms), ms


def sizes(quick: bool) -> dict:
    # bon_law sorts every row (O(XY log Y), not memory-bound) and is far slower per entry than
    # the others, so it runs on a smaller table.
    return {
        "X": 200 if quick else 10_000,
        "Xb": 100 if quick else 2_000,
        # Five repeats: on a shared VM single calls with fresh table-sized buffers (numpy's and
        # XLA's alike) now and then take 2-5x their usual time; the median stays clear of them.
        "reps": 1 if quick else 5,
        "gamma": 0.1,
        "delta": 0.25,
        "beta": 0.5,
        "n_bon": 8,
    }


def _timed(m: H.Measurement) -> dict:
    return {
        "median_s": m.median_s,
        "compile_s": m.compile_s,
        "xla_temp": m.xla_temp,
        "peak_rss_delta": m.peak_rss_delta,
        "load": m.load,
    }


def measure_here(quick: bool, eager: bool, save_dir: str | None) -> dict:
    """Every measurement of this benchmark in this process, as JSON-able numbers.

    Args:
      quick: small sizes.
      eager: also time the eager (validating) calls.
      save_dir: where to save each jitted output as ``NAME.npy`` (None: nowhere).
    """
    import jax
    import jax.numpy as jnp

    import theory

    z = sizes(quick)
    X, Xb, reps = z["X"], z["Xb"], z["reps"]
    gamma, delta, beta, n_bon = z["gamma"], z["delta"], z["beta"], z["n_bon"]

    bw, bw_ms = bandwidth(8 * X * X, reps)
    big = _tables(X, X)
    small = _tables(Xb, Xb)

    # name -> (toolkit call, numpy call, bytes per table entry that must move, tables)
    cases = {
        "argmax_set": (  # read 8 B, write a 1 B bool
            lambda lp, lh, m: theory.argmax_set(lp, gamma),
            lambda b, h, m: NP.argmax_set(b, gamma),
            9,
            big,
        ),
        "coverage": (
            lambda lp, lh, m: theory.coverage(lp, m, gamma),
            lambda b, h, m: NP.coverage(b, m, gamma),
            8,
            big,
        ),
        "sharpening_error": (  # two tables
            lambda lp, lh, m: theory.sharpening_error(lh, lp, m, delta, gamma),
            lambda b, h, m: NP.sharpening_error(h, b, m, delta, gamma),
            16,
            big,
        ),
        "kl": (lambda lp, lh, m: theory.kl(lh, lp, m), lambda b, h, m: NP.kl(h, b, m), 16, big),
        "kl_tilt": (  # read a table, write a table
            lambda lp, lh, m: theory.kl_tilt(lp, beta),
            lambda b, h, m: NP.kl_tilt(b, beta),
            16,
            big,
        ),
        "bon_law": (
            lambda lp, lh, m: theory.bon_law(lp, n_bon),
            lambda b, h, m: NP.bon_law(b, n_bon),
            16,
            small,
        ),
    }
    out = {
        "bandwidth": bw,
        "copies": [
            {"label": m.label, "median_s": m.median_s, "bandwidth": m.extra["bandwidth"]}
            for m in bw_ms
        ],
        "functions": {},
        "env": {k: os.environ.get(k, "") for k in ("GLIBC_TUNABLES", "XLA_FLAGS")},
        "backend": jax.default_backend(),
    }
    for name, (tk, ref, per_entry, tables) in cases.items():
        b_np, h_np, m_np_ = tables
        args = (jnp.asarray(b_np), jnp.asarray(h_np), jnp.asarray(m_np_))
        # Each variant's repeats back to back (round-robin timing would run numpy's table-sized
        # temporaries in the memory state XLA's buffers leave behind, slowing numpy several-fold).
        specs = {
            "jit": (f"{name} jit", tk, args, True),
            "numpy": (f"{name} numpy", ref, tables, False),
        }
        if eager:
            specs["eager"] = (f"{name} eager", tk, args, False)
        ms = H.measure_all(specs, repeats=reps)
        # Cross-check the values (the numpy versions are independent implementations).
        a = np.asarray(ms["jit"].compiled(*args))
        if save_dir is not None:
            np.save(Path(save_dir) / f"{name}.npy", a)
        a = a.astype(np.float64)
        b = np.asarray(ref(b_np, h_np, m_np_), dtype=np.float64)
        fin = np.isfinite(a) & np.isfinite(b)
        diff = (
            float(np.max(np.abs(a[fin] - b[fin]) / np.maximum(np.abs(b[fin]), 1e-300)))
            if fin.any()
            else 0.0
        )
        out["functions"][name] = {
            **{k: _timed(m) for k, m in ms.items()},
            "shape": list(b_np.shape),
            "min_bytes": per_entry * b_np.size,
            "max_rel_diff": diff,
            "same_inf": bool(np.array_equal(np.isfinite(a), np.isfinite(b))),
        }
        del ms, a, b, fin, args
        gc.collect()
    out["bon_profile"] = profile_bon_law(small[0], reps)
    out["tilt_profile"] = profile_kl_tilt(big[0], beta, reps)
    return out


def profile_kl_tilt(table: np.ndarray, beta: float, reps: int) -> dict:
    """Seconds of ``kl_tilt`` on the whole table and in row blocks of 8 (``lax.map``: every
    intermediate stays in cache), and of a row argmax (which its exact normalizer needs) in XLA
    and in numpy."""
    import jax
    import jax.numpy as jnp

    import theory

    x = jnp.asarray(table)
    X, Y = table.shape

    def blocked(a):
        blocks = a.reshape(X // 8, 8, Y)
        return jax.lax.map(lambda b: theory.kl_tilt(b, beta), blocks).reshape(X, Y)

    out = {}
    specs = {
        "blocked": ("`kl_tilt` in row blocks of 8 (jit, `lax.map`)", blocked),
        "xla_argmax": ("row argmax (jit)", lambda a: jnp.argmax(a, axis=-1)),
    }
    for k, (label, fn) in specs.items():
        m = H.measure_jit(label, fn, x, repeats=reps)
        out[k], out[f"{k}_temp"] = m.median_s, m.xla_temp
    out["numpy_argmax"] = H.measure(
        "numpy row argmax", lambda: table.argmax(axis=-1), repeats=reps
    ).median_s
    return out


def profile_bon_law(table: np.ndarray, reps: int) -> dict:
    """Seconds of ``bon_law``'s row sort alone, on XLA and on the host, vs numpy's sorts."""
    import jax.numpy as jnp

    from theory._bon import _row_order

    x = jnp.asarray(table)
    specs = {
        "xla_argsort": ("XLA stable row argsort (jit)", lambda a: jnp.argsort(a, stable=True)),
        "host_order": ("`bon_law`'s row order (jit; numpy in a callback)", _row_order),
    }
    out = {}
    for k, (label, fn) in specs.items():
        out[k] = H.measure_jit(label, fn, x, repeats=reps).median_s
    for kind in ("stable", "quicksort"):
        out[f"numpy_{kind}"] = H.measure(
            f"numpy argsort ({kind})", lambda k=kind: np.argsort(table, kind=k), repeats=reps
        ).median_s
    return out


def _child(env: dict[str, str], quick: bool, eager: bool, save_dir: str) -> dict:
    argv = ["quick" if quick else "full", "eager" if eager else "jit", save_dir]
    return run_child("benchmarks.theory_tables", argv, env, timeout=1800)


def compare_outputs(dir_a: Path, dir_b: Path) -> dict[str, float]:
    """Per function: 0.0 when the saved outputs are equal bit for bit, else the largest relative
    difference of the entries (``inf`` where the pattern of infinities differs)."""
    out = {}
    for name in FUNCTIONS:
        a = np.load(dir_a / f"{name}.npy", mmap_mode="r")
        b = np.load(dir_b / f"{name}.npy", mmap_mode="r")
        if a.shape == b.shape and a.dtype == b.dtype:
            bits = np.dtype(f"u{a.dtype.itemsize}") if a.dtype.itemsize in (1, 2, 4, 8) else None
            if bits is not None and np.array_equal(
                np.atleast_1d(a).view(bits), np.atleast_1d(b).view(bits)
            ):
                out[name] = 0.0
                continue
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if not np.array_equal(np.isfinite(a), np.isfinite(b)):
            out[name] = float("inf")
            continue
        fin = np.isfinite(a)
        rel = np.abs(a[fin] - b[fin]) / np.maximum(np.abs(b[fin]), np.finfo(np.float64).tiny)
        out[name] = float(rel.max()) if rel.size else 0.0
    return out


def _env_words(env: dict[str, str]) -> str:
    parts = []
    if "glibc.malloc.hugetlb" in env.get("GLIBC_TUNABLES", ""):
        parts.append(f"`GLIBC_TUNABLES={env['GLIBC_TUNABLES']}`")
    ynn = [f for f in env.get("XLA_FLAGS", "").split() if f.startswith(NO_YNN.rstrip("="))]
    parts += [f"`XLA_FLAGS={f}`" for f in ynn]
    return ", ".join(parts) or "none (they do not apply on this machine, or you set them off)"


def run(quick: bool = False) -> H.Section:
    import jax  # noqa: F401  (skip cleanly when JAX cannot be imported)

    env_set = settings_environment(dict(os.environ))
    env_def = default_environment(dict(os.environ))
    with tempfile.TemporaryDirectory(prefix="sharpen-theory-") as tmp:
        d_set, d_def = Path(tmp, "settings"), Path(tmp, "default")
        d_set.mkdir()
        d_def.mkdir()
        res = _child(env_set, quick, True, str(d_set))
        res_def = _child(env_def, quick, False, str(d_def))
        same = compare_outputs(d_set, d_def)
    return _section(quick, res, res_def, same, env_set)


def _section(quick: bool, res: dict, res_def: dict, same: dict, env_set: dict) -> H.Section:
    z = sizes(quick)
    bw = res["bandwidth"]
    rows, data = [], {"settings": res, "default": res_def, "settings_vs_default": same}
    speedups, speedups_def, fracs, eager_over_jit = {}, {}, {}, {}
    for name, d in res["functions"].items():
        dd = res_def["functions"][name]
        jit, npy, eag = d["jit"]["median_s"], d["numpy"]["median_s"], d["eager"]["median_s"]
        # numpy at its faster of the two environments (its large temporaries also depend on the
        # memory state: the same call varies up to ~3x between the children).
        npy = min(npy, dd["numpy"]["median_s"])
        speedups[name] = npy / jit
        speedups_def[name] = dd["numpy"]["median_s"] / dd["jit"]["median_s"]
        fracs[name] = d["min_bytes"] / jit / bw
        eager_over_jit[name] = eag / jit
        shape = d["shape"]
        rows.append(
            [
                f"`{name}`" + (f" [{shape[0]}, {shape[1]}]" if shape[0] != z["X"] else ""),
                H.fmt_s(d["numpy"]["median_s"]),
                H.fmt_s(eag),
                H.fmt_s(jit),
                H.fmt_s(d["jit"]["compile_s"]),
                H.fmt_ratio(speedups[name]),
                H.fmt_ratio(npy / eag),
                H.fmt_pct(fracs[name]),
                H.fmt_bytes(d["jit"]["xla_temp"]),
                f"{d['jit']['load']:.2f}",
                H.fmt_s(dd["numpy"]["median_s"]),
                H.fmt_s(dd["jit"]["median_s"]),
                H.fmt_ratio(speedups_def[name]),
                f"{dd['jit']['load']:.2f}",
                f"{d['max_rel_diff']:.1e}" + ("" if d["same_inf"] else " (inf pattern differs)"),
                "bit-identical" if same[name] == 0.0 else f"{same[name]:.1e}",
            ]
        )
    headers = [
        "function",
        "numpy",
        "toolkit eager",
        "toolkit jit",
        "jit compile",
        "best numpy / jit",
        "best numpy / eager",
        "of bandwidth",
        "jit XLA temp",
        "load",
        "numpy (default env)",
        "jit (default env)",
        "numpy / jit (default env)",
        "load (default env)",
        "rel. diff vs numpy",
        "jit output vs default env",
    ]
    copies = [
        [c["label"], H.fmt_s(c["median_s"]), H.fmt_rate(c["bandwidth"], "B/s"), H.fmt_s(cd)]
        for c, cd in zip(res["copies"], [c["median_s"] for c in res_def["copies"]], strict=True)
    ]
    body = (
        f"Settings applied (child process): {_env_words(env_set)}. The *default env* columns "
        "are a second child without them.\n\n"
        "Memory bandwidth measured with the settings (bytes read + written per second):\n\n"
        + H.md_table(["copy", "median", "bandwidth", "median (default env)"], copies)
        + f"\n\nThe bound used below is the largest, {H.fmt_rate(bw, 'B/s')}. Columns without "
        "*(default env)* are the settings' child. *Best numpy* is the faster of numpy's two "
        "medians (with and without the settings), the baseline of the target. *Of bandwidth* is "
        "(min bytes / jit time) / bandwidth, where min bytes counts each input table read once "
        "and each output table written once; *rel. diff vs numpy* compares the toolkit's value "
        "with the numpy version's; *jit output vs default env* compares the jitted outputs of "
        "the two children; *load* is the 1-minute load average when the row was timed.\n\n"
        + H.md_table(headers, rows)
    )
    return H.Section(
        key=NAME,
        title=TITLE,
        compared=(
            "`theory.argmax_set`, `coverage`, `sharpening_error`, `kl`, `kl_tilt`, `bon_law` "
            "(eager with input validation, and under `jax.jit`) vs straightforward numpy "
            "(`benchmarks/_numpy_theory.py`), with the README's environment settings and "
            "without; bytes/s vs copy bandwidth"
        ),
        sizes=(
            f"[X, Y] = [{z['X']}, {z['X']}] float64 tables ({H.fmt_bytes(8 * z['X'] ** 2)} "
            f"each); `bon_law` on [{z['Xb']}, {z['Xb']}]; gamma = {z['gamma']}, delta = "
            f"{z['delta']}, beta = {z['beta']}, n = {z['n_bon']}"
        ),
        body=body,
        target="toolkit (jit) at least as fast as numpy on every function (with the README's "
        "settings); report the fraction of memory bandwidth reached",
        met=all(v >= 1.0 for v in speedups.values()),
        explanation=_explain(res, res_def, speedups, speedups_def, fracs, eager_over_jit, same),
        data=data,
    )


def _explain(res, res_def, speedups, speedups_def, fracs, eager_over_jit, same) -> str:
    mem = {k: v for k, v in fracs.items() if k != "bon_law"}
    lo, hi = min(mem, key=mem.get), max(mem, key=mem.get)
    eager = ", ".join(f"{k} {v:.1f}x" for k, v in eager_over_jit.items())
    if res["backend"] != "cpu":
        return (
            f"On the {res['backend'].upper()} backend the jitted functions reach "
            f"{H.fmt_pct(mem[lo])} (`{lo}`) to {H.fmt_pct(mem[hi])} (`{hi}`) of the copy "
            "bandwidth measured with JAX on the same device; numpy runs on the host CPU, one "
            "core, so the ratios compare the device with a core. Eager calls validate their "
            f"inputs on the host first (eager / jit time: {eager})."
        )
    slower = [k for k, v in speedups.items() if v < 1.0]
    slower_def = [k for k, v in speedups_def.items() if v < 1.0]
    jax_copy = res["copies"][2]["median_s"]
    jax_copy_def = res_def["copies"][2]["median_s"]
    np_fresh = res["copies"][1]["median_s"]
    identical = [k for k, v in same.items() if v == 0.0]
    return (
        "With the settings, numpy is faster on "
        + (", ".join(f"`{k}`" for k in slower) if slower else "no function")
        + "; without them (default env) on "
        + (", ".join(f"`{k}`" for k in slower_def) if slower_def else "none")
        + f". The jitted functions reach {H.fmt_pct(mem[lo])} (`{lo}`) to {H.fmt_pct(mem[hi])} "
        f"(`{hi}`) of the copy bandwidth. What the huge-page setting fixes: XLA allocates every "
        "output and temporary afresh, and with transparent huge pages in `madvise` mode they are "
        "faulted in 4 KiB pages unless glibc asks for huge ones; the same jitted `x * 2` takes "
        f"{H.fmt_s(jax_copy_def)} without the setting and {H.fmt_s(jax_copy)} with it (numpy "
        f"into a fresh array, which asks for huge pages itself: {H.fmt_s(np_fresh)}). It changes "
        "how memory is mapped, not what is computed: the jitted outputs of the two children are "
        + (
            "bit-identical for every function"
            if len(identical) == len(same)
            else "bit-identical for " + ", ".join(f"`{k}`" for k in identical)
        )
        + ". The rest of the gap to the bandwidth bound is the transcendental work of exact "
        "log-space arithmetic (every entry goes through `exp`; masses on the argmax set go "
        "through `log1p`/`log1mexp` so that masses near 1 or below 1e-300 stay exact), which "
        "numpy's straightforward versions skip where a plain sum suffices. Eager calls first "
        "validate their inputs (`check_logp`: a float64 copy, NaN/+inf scans and a per-row "
        f"logsumexp to check normalization; eager / jit time: {eager}); validating once and "
        "calling inside `jit` is the intended pattern for large tables. "
        + _tilt_words(res, speedups["kl_tilt"])
        + _bon_words(res)
    )


def _tilt_words(res: dict, speedup: float) -> str:
    p, f = res["tilt_profile"], res["functions"]["kl_tilt"]
    jit = f["jit"]["median_s"]
    return (
        f"`kl_tilt` ({H.fmt_ratio(speedup)} numpy) is held back by XLA's CPU code for its "
        "per-entry work, not by memory traffic: applied in row blocks of 8 with `lax.map`, so "
        f"that every intermediate stays in cache (XLA temp {H.fmt_bytes(p['blocked_temp'])} "
        f"instead of {H.fmt_bytes(f['jit']['xla_temp'])}), it takes {H.fmt_s(p['blocked'])} "
        f"against {H.fmt_s(jit)} whole. Its exact normalizer (`log_normalize`: the sum of "
        "`exp(logit - max)` off one argmax, so that a mass of 1 - 1e-12 keeps full relative "
        "precision) needs a row argmax, a (value, index) reduction that XLA's CPU backend emits "
        f"as a scalar loop: {H.fmt_s(p['xla_argmax'])} on this table against "
        f"{H.fmt_s(p['numpy_argmax'])} for numpy's. The other "
        f"{H.fmt_s(max(jit - p['xla_argmax'], 0.0))} are its remaining loops over the table "
        "(the compiled program has five more: the masked reward, its row maximum, the logits, "
        "the `exp` terms and the output). What would close it: a vectorized (value, index) "
        "reduction in XLA's CPU backend, or an exact normalizer without an argmax whose loops "
        "XLA fuses (excluding every entry equal to the maximum and adding back the count less "
        "one gave the same time in a one-off test: XLA then writes the equality mask as a "
        "table); no environment setting helps (turning the YNNPACK fusion off, benchmark 7, "
        "saves one table write, not the time). "
    )


def _bon_words(res: dict) -> str:
    p, f = res["bon_profile"], res["functions"]["bon_law"]
    jit, npy = f["jit"]["median_s"], f["numpy"]["median_s"]
    return (
        "`bon_law` is not memory-bound: it sorts every row, then takes segment sums, prefix "
        "sums and the exact log-space law of each tie group. XLA's CPU sort calls the compiled "
        "comparator through a pointer for each comparison: its stable row argsort of the "
        f"[{f['shape'][0]}, {f['shape'][1]}] table takes {H.fmt_s(p['xla_argsort'])}, against "
        f"{H.fmt_s(p['numpy_stable'])} for numpy's stable argsort and "
        f"{H.fmt_s(p['numpy_quicksort'])} for its default (vectorized) one, and was most of "
        "`bon_law`'s time. On the CPU `bon_law` therefore sorts large tables with numpy in a "
        f"host callback ({H.fmt_s(p['host_order'])} inside the jitted call; the same stable "
        "order, so the law is bit-identical); the other "
        f"{H.fmt_s(max(jit - p['host_order'], 0.0))} of its {H.fmt_s(jit)} is the exact "
        "per-group arithmetic (scatter-based segment sums, `cumsum` as an associative scan, "
        f"`log1p`/`expm1`-based `log1mexp`), against numpy's {H.fmt_s(npy)} in all. numpy's "
        "version uses linear-space cumulative sums and `S^n - L^n`, which lose all relative "
        "accuracy for small tail groups, so it is not an equal-accuracy baseline. What would "
        "close more of the gap in XLA: a vectorized sort for primitive keys on its CPU backend "
        "(as numpy's), and a sequential `cumsum` kernel instead of the log-depth scan."
    )


def _main(argv: list[str]) -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    quick, eager, save_dir = argv[0] == "quick", argv[1] == "eager", argv[2]
    print("RESULT " + json.dumps(measure_here(quick, eager, save_dir)), flush=True)


if __name__ == "__main__":
    _main(sys.argv[1:])
