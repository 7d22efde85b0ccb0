"""Helpers of claims L1-L3 (bounds/claims/label_free.py)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import theory
from bounds.claims import label_free


def test_linearized_rate_is_the_hessian_of_the_objective():
    """L1's prediction: the Hessian of -J_beta in softmax logits at pi*_beta is mu beta F with
    F = diag(pi*) - pi* pi*^T, so the slowest non-constant mode of one gradient step decays by
    1 - eta mu beta lambda_1 and KL ~ its square."""
    logp = jnp.log(jnp.asarray(label_free._L1_PROBS))
    mu = jnp.array([0.5, 0.5])
    beta, eta = 1.0, 1.0
    star = theory.kl_tilt(logp, beta)

    def minus_j(theta):
        return -theory.kl_regularized_objective(jax.nn.log_softmax(theta), logp, mu, beta)

    H = np.asarray(jax.hessian(minus_j)(star)).reshape(8, 8)
    lam = np.linalg.eigvalsh(H)
    slowest = lam[lam > 1e-12].min()  # the constant direction of each prompt has eigenvalue 0
    want = 2 * math.log1p(-eta * slowest)
    got = label_free.linearized_kl_rate(logp, mu, beta, eta)
    assert got == pytest.approx(want, rel=1e-10)


def test_ttrl_configs_cover_every_fraction():
    s = label_free.L3_QUICK
    configs = label_free.ttrl_configs(s)
    assert set(configs) == {(f, u) for f in s.fs for u in ("sampled", "expected")}
    for (f, _), c in configs.items():
        wrong = int(round(f * s.num_prompts))
        np.testing.assert_array_equal(np.asarray(c.correct)[:, 0], np.arange(s.num_prompts) < wrong)
