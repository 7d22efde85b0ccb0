"""Child process of the huge-page benchmark: times a few large jitted calls, prints JSON.

Run as ``python -m benchmarks._alloc_child SIZE_TABLE SIZE_DRAWS SEEDS`` (the parent sets the
environment, e.g. ``GLIBC_TUNABLES``, which glibc reads only at process start).
"""

from __future__ import annotations

import dataclasses
import json
import sys

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from . import _harness as H  # noqa: E402


def main(argv: list[str]) -> None:
    import theory
    from simulators import TabularSFTConfig, run_tabular_sft, sample_indices

    X = int(argv[0])
    n = int(argv[1])
    seeds = int(argv[2])
    reps = int(argv[3]) if len(argv) > 3 else 3
    quick = len(argv) > 4 and argv[4] == "quick"
    out = {}

    rng = np.random.default_rng(0)
    table = rng.standard_normal((X, X))
    table -= table.max(axis=1, keepdims=True)
    table -= np.log(np.exp(table).sum(axis=1, keepdims=True))
    lp = jnp.asarray(table)
    mu = jnp.full((X,), 1.0 / X)
    del table

    calls = {
        f"JAX copy (jit `x * 2`) of a [{X}, {X}] float64 table": (lambda a: a * 2.0, (lp,)),
        "`theory.argmax_set` (jit)": (lambda a: theory.argmax_set(a, 0.1), (lp,)),
        "`theory.coverage` (jit)": (lambda a, m: theory.coverage(a, m, 0.1), (lp, mu)),
        "`theory.kl_tilt` (jit)": (lambda a: theory.kl_tilt(a, 0.5), (lp,)),
    }
    if quick:  # the smoke run: one call of each kind of buffer is enough
        calls = dict(list(calls.items())[:2])
    y = jnp.asarray(np.log(rng.dirichlet(np.ones(1000))))
    if not quick:
        calls[f"`sample_indices`, {n:.0e} draws over 1000 classes"] = (
            lambda k, a: sample_indices(k, a, n),
            (jax.random.key(0), y),
        )
    base = jnp.asarray(np.log(rng.dirichlet(np.full(256, 0.3), size=32)))
    cfg = TabularSFTConfig(
        logp_base=base, mu=jnp.full((32,), 1 / 32), n=128, N=64, n_used=128, N_used=64, delta=0.25
    )
    nu = jnp.asarray([16, 32, 64, 128] * 4, jnp.int32)
    Nu = jnp.asarray([1] * 4 + [4] * 4 + [16] * 4 + [64] * 4, jnp.int32)

    def fused(keys, nu, Nu):
        def one(key, a, b):
            return run_tabular_sft(key, dataclasses.replace(cfg, n_used=a, N_used=b))

        return jax.vmap(jax.vmap(one, in_axes=(None, 0, 0)), in_axes=(0, None, None))(keys, nu, Nu)

    keys = jax.vmap(jax.random.key)(jnp.arange(seeds))
    if not quick:
        calls[f"SFT sweep, one call over {seeds} seeds x 16 budgets"] = (fused, (keys, nu, Nu))

    for label, (fn, args) in calls.items():
        m = H.measure_jit(label, fn, *args, repeats=reps)
        out[label] = {"median_s": m.median_s, "xla_temp": m.xla_temp}
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
