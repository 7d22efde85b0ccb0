"""Linear softmax instances separating exploration from coverage (Example J.1, Theorem J.3).

* :func:`spherical_code_instance`: Example J.1. One prompt, responses a spherical code
  ``Y subset R^d``, ``phi(x, y) = y``, ``theta* = y*``; the margin is ``Omega(1)`` while
  ``C_cov = Omega(|Y|)``, so SFT-Sharpening pays ``exp(Omega(d))`` and XPO only ``poly(d)``.
* :func:`hidden_direction_instance`: a second instance where exploration is necessary. Almost
  all of ``pi_base``'s mass sits on a "bulk" of responses whose features span only part of
  ``R^d``, and ``y*`` (individually the most likely response) lies in a "hidden" group whose
  features leave that part. Base samples then only reveal ``theta`` on the bulk's directions.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import theory
from theory.checks import check_allocation, check_count, check_positive, check_scalar

from ._classes import LinearSoftmaxClass
from ._linear_softmax import LinearSoftmaxPolicy, linear_softmax_logp
from ._oracle import SampleEvaluateOracle


@dataclasses.dataclass(frozen=True)
class LinearInstance:
    """A linear softmax base model with the quantities the theorems need.

    Attributes:
      oracle: the sample-and-evaluate oracle of ``pi_base = pi_{theta*}`` (uniform ``pi_zero``).
      features: ``[X, Y, d]`` features ``phi``.
      theta_star: ``[d]`` the base parameter ``theta*``.
      y_star: ``[X]`` int the argmax response ``y*(x)``.
      logp_base: ``[X, Y]`` exact table of ``pi_base`` (for evaluation only).
      gamma_margin: the margin of Assumption 4.2 (min over prompts).
      c_cov: the coverage coefficient ``C_cov`` (Eq. 6).
    """

    oracle: SampleEvaluateOracle
    features: jax.Array
    theta_star: jax.Array
    y_star: jax.Array
    logp_base: jax.Array
    gamma_margin: float
    c_cov: float

    @property
    def num_responses(self) -> int:
        return self.features.shape[1]

    @property
    def dim(self) -> int:
        return self.features.shape[2]

    def model_class(self, beta: float, *, slack: float = 1.5, **kw: Any) -> LinearSoftmaxClass:
        """``Pi_{phi,B}`` with ``B = slack (1 + 1/beta) ||theta*||``: ``pi*_beta`` is realizable."""
        check_scalar(beta, "beta")
        check_positive(beta, "beta")
        radius = slack * (1 + 1 / beta) * float(jnp.linalg.norm(self.theta_star))
        return LinearSoftmaxClass(self.features, radius, **kw)


def _finish(features: np.ndarray, theta: np.ndarray) -> LinearInstance:
    features = jnp.asarray(features)
    theta = jnp.asarray(theta)
    policy = LinearSoftmaxPolicy.create(features, theta)
    logp = linear_softmax_logp(policy.features, policy.theta, policy.logp0)
    mu = jnp.ones(features.shape[0]) / features.shape[0]
    return LinearInstance(
        oracle=SampleEvaluateOracle(policy, mu),
        features=policy.features,
        theta_star=policy.theta,
        y_star=jnp.argmax(logp, axis=-1),
        logp_base=logp,
        gamma_margin=float(jnp.min(theory.margin(logp))),
        c_cov=float(theory.coverage(logp, mu)),
    )


def random_spherical_code(
    key: jax.Array, d: int, num_points: int, max_inner: float, *, num_candidates: int = 20_000
) -> np.ndarray:
    """Greedy random spherical code: unit vectors in ``R^d`` with pairwise ``<y, y'> <= max_inner``.

    Candidates are drawn uniformly on the sphere (``jax.random``) and kept greedily when they are
    far from every kept point; stops at ``num_points`` points or when candidates run out. A
    ``1/4``-packing (Example J.1) is ``max_inner = 1 - 1/32``.

    Returns:
      ``[M, d]`` float64 numpy array, ``M <= num_points``.
    """
    d = check_count(d, "d")
    num_points = check_count(num_points, "num_points")
    num_candidates = check_count(num_candidates, "num_candidates")
    check_allocation(
        num_candidates * d, f"{num_candidates:.3g} candidates in R^{d}", "num_candidates, d", 24
    )
    check_allocation(num_points * d, f"{num_points:.3g} code points in R^{d}", "num_points, d", 8)
    if not -1 < max_inner < 1:
        raise ValueError(f"max_inner must lie in (-1, 1), got {max_inner}")
    z = np.array(jax.random.normal(key, (num_candidates, d)), dtype=np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    kept = np.empty((num_points, d))
    m = 0
    for c in z:
        if m == 0 or np.max(kept[:m] @ c) <= max_inner:
            kept[m] = c
            m += 1
            if m == num_points:
                break
    return kept[:m]


def spherical_code_instance(
    key: jax.Array,
    d: int,
    num_responses: int,
    *,
    max_inner: float = 1 - 1 / 32,
    theta_norm: float = 1.0,
    num_candidates: int = 20_000,
) -> LinearInstance:
    """Example J.1: ``X = {x}``, ``Y`` a random spherical code, ``phi(x, y) = y``, ``theta* = y*``.

    For ``y != y*``, ``<y, y*> <= max_inner``, so ``pi_base(y*)/pi_base(y) >=
    exp(theta_norm (1 - max_inner))`` (the margin), while every ``pi_base(y) >= e^(-2 theta_norm)
    pi_base(y*)``, so ``C_cov >= |Y| e^(-2 theta_norm)``: SFT-Sharpening needs ``exp(Omega(d))``
    samples, XPO ``poly(d)`` (Theorem J.3).

    Args:
      key: PRNG key.
      d: dimension.
      num_responses: the largest ``|Y|`` (the code may come out smaller in low dimension).
      max_inner: largest inner product between codewords (``1 - 1/32``: a 1/4-packing).
      theta_norm: ``||theta*||`` (1 in Example J.1).
      num_candidates: random candidates tried by the greedy code.

    Returns:
      :class:`LinearInstance` with ``y*`` = codeword 0; ``gamma_margin`` and ``c_cov`` exact.
    """
    check_positive(theta_norm, "theta_norm")
    code = random_spherical_code(key, d, num_responses, max_inner, num_candidates=num_candidates)
    if code.shape[0] < 2:
        raise ValueError("the spherical code has fewer than 2 points; lower max_inner")
    return _finish(code[None], theta_norm * code[0])


def hidden_direction_instance(
    key: jax.Array,
    d: int = 8,
    num_bulk: int = 5000,
    num_hidden: int = 12,
    hidden_dim: int = 4,
    *,
    bulk_level: float = 0.6,
    hidden_level: float = 0.8,
    hidden_radius: float = 0.6,
    gap: float = 2.0,
    max_inner: float = 0.5,
) -> LinearInstance:
    """An instance where base samples never reveal the direction of ``y*``.

    Coordinates: ``e_1`` (a level), ``bulk_dim = d - 1 - hidden_dim`` bulk directions and
    ``hidden_dim`` hidden directions. Bulk responses have ``phi = (bulk_level, u, 0)`` with ``u``
    random of norm ``< 1 - bulk_level``; hidden responses ``phi = (hidden_level, 0, r v)`` with
    ``v`` a spherical code in ``R^hidden_dim`` and ``r = hidden_radius``. The base parameter is
    ``theta* = (gap / r) (0, 0, v*)`` for the codeword ``v*`` of ``y*``: every bulk response has
    the same probability ``p_0``, ``y*`` has ``e^gap p_0`` (the unique maximum) and the other hidden
    responses at most ``e^(gap max_inner) p_0``.

    With ``num_bulk`` much larger than ``num_hidden e^gap``, base samples are bulk responses
    almost surely, and bulk differences span only the bulk directions, on which ``theta* = 0``:
    squared-loss regression on base pairs (offline, or on-policy from an unsharpened model) leaves
    ``theta`` undetermined on ``e_1`` and the hidden directions. XPO's optimism term lowers
    ``log pi`` of the bulk samples, which raises ``theta_1`` (hidden responses have the larger
    first coordinate) and moves mass onto the hidden group, where on-policy samples reveal
    ``v*``.

    Returns:
      :class:`LinearInstance` (one prompt; ``y*`` is hidden response 0, index ``num_bulk``).
    """
    d = check_count(d, "d")
    hidden_dim = check_count(hidden_dim, "hidden_dim")
    bulk_dim = d - 1 - hidden_dim
    if bulk_dim < 1:
        raise ValueError(f"need d >= hidden_dim + 2, got d = {d}, hidden_dim = {hidden_dim}")
    num_bulk = check_count(num_bulk, "num_bulk")
    num_hidden = check_count(num_hidden, "num_hidden", minimum=2)
    check_allocation(
        (num_bulk + num_hidden) * d,
        f"the [Y, d] = [{num_bulk + num_hidden:.3g}, {d}] features",
        "num_bulk, num_hidden, d",
        48,
    )
    if not (0 < bulk_level < hidden_level < 1):
        raise ValueError("need 0 < bulk_level < hidden_level < 1")
    if hidden_level**2 + hidden_radius**2 > 1 + 1e-12:
        raise ValueError("need hidden_level^2 + hidden_radius^2 <= 1 (||phi|| <= 1, Theorem J.3)")
    check_positive(gap, "gap")
    k_bulk, k_norm, k_code = jax.random.split(key, 3)
    u = np.array(jax.random.normal(k_bulk, (num_bulk, bulk_dim)), dtype=np.float64)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    scale = np.asarray(jax.random.uniform(k_norm, (num_bulk, 1)), dtype=np.float64)
    u *= scale * math.sqrt(1 - bulk_level**2)
    v = random_spherical_code(k_code, hidden_dim, num_hidden, max_inner)
    if v.shape[0] < num_hidden:
        raise ValueError(
            f"could only place {v.shape[0]} hidden codewords with max_inner={max_inner} in "
            f"R^{hidden_dim}; lower num_hidden or raise max_inner"
        )
    phi = np.zeros((num_bulk + num_hidden, d))
    phi[:num_bulk, 0] = bulk_level
    phi[:num_bulk, 1 : 1 + bulk_dim] = u
    phi[num_bulk:, 0] = hidden_level
    phi[num_bulk:, 1 + bulk_dim :] = hidden_radius * v
    theta = np.zeros(d)
    theta[1 + bulk_dim :] = (gap / hidden_radius) * v[0]
    return _finish(phi[None], theta)
