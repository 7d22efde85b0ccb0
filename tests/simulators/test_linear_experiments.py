"""The sweepable linear-softmax experiments (XPO and the squared loss of Eq. 8)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import simulators as sim
from simulators.experiments import (
    LinearDPOConfig,
    LinearXPOConfig,
    run_linear_dpo,
    run_linear_xpo,
)


def _instance():
    inst = sim.spherical_code_instance(jax.random.key(0), 4, 24, theta_norm=2.0)
    beta = 0.5
    radius = inst.model_class(beta).radius
    return inst, beta, radius


@pytest.mark.slow  # about 30 s on 2 cores
def test_sweep_cells_are_the_direct_runs_and_the_fit_sharpens():
    inst, beta, radius = _instance()
    f, th, mu = inst.features, inst.theta_star, inst.oracle.mu
    xpo = LinearXPOConfig(f, th, mu, beta, 0.0, radius, 0.5, T=12, steps=40)
    dpo = LinearDPOConfig(f, th, mu, beta, radius, 0.5, n=64, steps=40, n_used=64)
    dfx = sim.sweep(run_linear_xpo, xpo, 3, progress=False)
    dfd = sim.sweep(run_linear_dpo, dpo, 3, {"n_used": [4, 64]}, progress=False)
    for seed in range(3):
        key = jax.random.key(seed)
        direct = run_linear_xpo(key, xpo)
        for metric in ("sharpening_error", "mass_on_argmax", "J", "queries"):
            cell = dfx[(dfx.seed == seed) & (dfx.metric == metric)].value.item()
            np.testing.assert_allclose(cell, float(direct[metric]), rtol=1e-9, atol=1e-12)
        for b, n_used in enumerate([4, 64]):
            direct = run_linear_dpo(key, dataclasses.replace(dpo, n_used=jnp.asarray(n_used)))
            cell = dfd[(dfd.seed == seed) & (dfd.budget == b) & (dfd.metric == "mass_on_argmax")]
            np.testing.assert_allclose(
                cell.value.item(), float(direct["mass_on_argmax"]), rtol=1e-9
            )
    mass = dfd[dfd.metric == "mass_on_argmax"].groupby("n_used").value.mean()
    base = float(jnp.exp(jnp.max(inst.logp_base[0])))
    assert mass[64] > base  # 64 pairs sharpen beyond pi_base's own mass on y*
    assert (dfx[dfx.metric == "queries"].value == 24).all()
