"""Sweeps: tidy frames, one compilation per setting group, shared samples across budgets."""

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import simulators as sim

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


class CompileCounter:
    """Counts XLA backend compilations of the sweep's group call."""

    def __init__(self):
        self.count = 0

    def __call__(self, event, duration, **kw):
        if event == COMPILE_EVENT and "sweep_group" in str(kw.get("fun_name", "")):
            self.count += 1

    def __enter__(self):
        jax.monitoring.register_event_duration_secs_listener(self)
        return self

    def __exit__(self, *exc):
        jax.monitoring.unregister_event_duration_listener(self)


def _instance(X, Y, c_cov, seed=1):
    pol, mu = sim.coverage_tabular(X, Y, c_cov, key=jax.random.key(seed))
    return pol.logp, mu


def _first_samples(key, cfg):
    """Sum of log pi_base over the first sample of the first 4 prompts (in every budget), and
    over the samples a budget uses."""
    oracle = sim.SampleEvaluateOracle(sim.TabularPolicy(cfg.logp_base), cfg.mu)
    rollouts, _ = sim.draw(key, oracle, cfg.n, cfg.N)
    used = (jnp.arange(cfg.n) < cfg.n_used)[:, None] & (jnp.arange(cfg.N) < cfg.N_used)[None, :]
    return {
        "first": jnp.sum(rollouts.logp_base[:4, 0]),
        "used": jnp.sum(jnp.where(used, rollouts.logp_base, 0.0)),
    }


def test_sweep_frame_and_single_compilation():
    logp, mu = _instance(8, 30, 5.0)
    traces = []

    def run(key, cfg):
        traces.append(1)  # runs once per trace
        return sim.run_tabular_sft(key, cfg) | _first_samples(key, cfg)

    settings = {
        "delta=0.1": sim.TabularSFTConfig(logp, mu, n=64, N=16, delta=0.1),
        "delta=0.3": sim.TabularSFTConfig(logp, mu, n=64, N=16, delta=0.3),
        "other": sim.TabularSFTConfig(_instance(8, 30, 10.0, seed=2)[0], mu, n=64, N=16),
    }
    budgets = [
        {"n_used": 16, "N_used": 2},
        {"n_used": 32, "N_used": 8},
        {"n_used": 64, "N_used": 16},
    ]
    with CompileCounter() as counter:
        df = sim.sweep(run, settings, 5, budgets, progress=False)
    assert counter.count == 1 and len(traces) == 1 and df.attrs["num_groups"] == 1
    assert len(df) == 3 * 5 * 3 * 5  # settings x seeds x budgets x metrics
    assert set(df.columns) >= {"setting", "seed", "budget", "n_used", "N_used", "metric", "value"}
    q = df[df.metric == "queries"]
    np.testing.assert_array_equal(q.value, q.n_used * q.N_used)
    # Every budget of a seed sees the same draw (one key), masked to its size: nested samples.
    first = df[df.metric == "first"].pivot_table(
        index=["setting", "seed"], columns="budget", values="value"
    )
    assert np.all(first.nunique(axis=1) == 1)
    # ... but seeds differ, and so do the two instances (the delta settings share one table).
    assert df[df.metric == "first"].value.nunique() == 2 * 5
    used = df[df.metric == "used"].pivot_table(
        index=["setting", "seed"], columns="budget", values="value"
    )
    assert np.all(used[1] < used[0]) and np.all(used[2] < used[1])
    # Same values as running the experiment directly (vmap/jit invariance).
    cfg = dataclasses.replace(settings["delta=0.3"], n_used=32, N_used=8)
    direct = sim.run_tabular_sft(jax.random.key(3), cfg)
    row = df[(df.setting == "delta=0.3") & (df.seed == 3) & (df.budget == 1)]
    for metric, value in direct.items():  # (the sft metrics)
        assert row[row.metric == metric].value.item() == pytest.approx(float(value), rel=1e-12)
    # A second sweep with the same run and shapes (other values, other seeds) reuses it.
    other = [dataclasses.replace(c, delta=0.2) for c in settings.values()]
    with CompileCounter() as counter:
        sim.sweep(run, other, [7, 8, 9, 10, 11], budgets, progress=False)
    assert counter.count == 0
    # Settings with other static fields or shapes form other groups (other compilations).
    more = [*settings.values(), sim.TabularSFTConfig(logp, mu, n=32, N=16)]
    more.append(sim.TabularSFTConfig(logp[:4], mu[:4] * 2, n=64, N=16))
    _, groups = sim._sweep.group_settings(more, {"n_used": [1], "N_used": [1]})
    assert groups == [[0, 1, 2], [3], [4]]
    # Seeds mapped in batches (lax.map) give the same numbers as vmapped seeds.
    df2 = sim.sweep(run, settings["other"], 2, budgets[:2], progress=False, seed_batch_size=1)
    a = df2[df2.metric == "sharpening_error"].sort_values(["seed", "budget"]).value.to_numpy()
    b = df[(df.setting == "other") & (df.seed < 2) & (df.budget < 2)]
    b = b[b.metric == "sharpening_error"].sort_values(["seed", "budget"]).value.to_numpy()
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_sweep_bad_inputs():
    logp, mu = _instance(4, 20, 3.0)
    cfg = sim.TabularSFTConfig(logp, mu, n=8, N=4)
    with pytest.raises(ValueError, match="seeds"):
        sim.sweep(sim.run_tabular_sft, cfg, [], progress=False)
    with pytest.raises(ValueError, match="same config fields"):
        sim.sweep(sim.run_tabular_sft, cfg, 2, [{"n_used": 2}, {"N_used": 2}], progress=False)
    with pytest.raises(TypeError, match="budget fields"):
        sim.sweep(sim.run_tabular_sft, cfg, 2, [{"nope": 2}], progress=False)


def _big_sweep(S, B, X=100, Y=1000, n_max=512, N_max=512, seed_batch_size=16):
    logp, mu = _instance(X, Y, 50.0)
    cfg = sim.TabularSFTConfig(logp, mu, n=n_max, N=N_max, delta=0.1)
    N_used = np.geomspace(4, N_max, B).astype(int)
    n_used = np.geomspace(16, n_max, B).astype(int)
    with CompileCounter() as counter:
        t0 = time.perf_counter()
        df = sim.sweep(
            sim.run_tabular_sft,
            cfg,
            S,
            {"n_used": n_used, "N_used": N_used},
            progress=False,
            seed_batch_size=seed_batch_size,
        )
        seconds = time.perf_counter() - t0
    print(f"sweep {S} seeds x {B} budgets on {X}x{Y}: {seconds:.1f} s, {counter.count} compile(s)")
    assert counter.count == 1 and df.attrs["num_groups"] == 1
    assert len(df) == S * B * 3
    err = df[df.metric == "sharpening_error"].groupby("budget").value.mean().to_numpy()
    assert err[-1] < err[0]
    return df


def test_big_sweep_one_call_quick():
    _big_sweep(16, 16, X=100, Y=1000, n_max=128, N_max=128)


@pytest.mark.slow
def test_big_sweep_one_call_full():
    """256 seeds x 16 budgets of SFT-Sharpening on a 100-prompt x 1000-response instance."""
    _big_sweep(256, 16, X=100, Y=1000, n_max=512, N_max=512)


def test_auto_seed_batches_bound_the_estimated_memory_and_keep_the_results():
    """``seed_batch_size="auto"`` sizes seed batches from the traced program's live bytes: all
    seeds at once when they fit, batches when they do not; results identical either way."""
    from simulators._memory import live_bytes
    from simulators._sweep import _per_seed

    logp, mu = _instance(20, 50, 3.0)
    cfg = sim.TabularSFTConfig(logp, mu, n=32, N=64, delta=0.2)
    budgets = {"N_used": np.array([1, 8, 64])}
    S = 10
    roomy = sim.sweep(sim.run_tabular_sft, cfg, S, budgets, progress=False)
    assert roomy.attrs["seed_batch_size"] == [None]
    est = roomy.attrs["memory"][0]
    # The estimate counts at least the n x N draws (int32 responses, float64 log-likelihoods)
    # each seed holds, and is the liveness of the traced program.
    assert est["per_seed"] >= 32 * 64 * (4 + 8)
    cfg_b = sim.experiments.tabular.check_tabular_sft_config(cfg)
    cfg_b = sim._sweep.group_settings([cfg_b], budgets)[0][0]
    shared, per_seed = live_bytes(
        lambda k, c: _per_seed(sim.run_tabular_sft, k, c, budgets),
        jax.random.key(0),
        cfg_b,
    )
    assert (shared, per_seed) == (est["shared"], est["per_seed"])
    # A limit for three seeds' worth: 4 batches of 3 (the last padded with 2 repeats).
    limit = est["shared"] + 3 * est["per_seed"] + 1
    tight = sim.sweep(sim.run_tabular_sft, cfg, S, budgets, memory_limit=limit, progress=False)
    assert tight.attrs["seed_batch_size"] == [3]
    pd.testing.assert_frame_equal(roomy, tight)
    with pytest.raises(ValueError, match="seed_batch_size"):
        sim.sweep(sim.run_tabular_sft, cfg, S, budgets, seed_batch_size="big", progress=False)
    with pytest.raises(ValueError, match="memory_limit"):
        sim.sweep(sim.run_tabular_sft, cfg, S, budgets, memory_limit=0, progress=False)
