"""Linear softmax policies ``pi_theta(y | x) ∝ pi_0(y | x) exp(<phi(x, y), theta>)`` (Theorem J.3).

The model class of Theorem J.3 (Theorem 4.4 in arXiv v2) and Example J.1: features ``phi(x, y)`` in
``R^d`` (the theorem assumes ``||phi|| <= 1``), a parameter ``theta`` (``||theta|| <= B`` in the
class ``Pi_{phi, B}``) and a reference ``pi_0`` (uniform in the theorem). Responses are single
indices ``y in [Y]``, as for :class:`~simulators.TabularPolicy`. With a uniform ``pi_0``,
KL-regularized sharpening stays in the class: ``pi*_beta = pi_{(1 + 1/beta) theta}`` (Theorem J.3's
proof).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from theory.checks import (
    MAX_TABLE_ENTRIES,
    as_array,
    check_allocation,
    check_count,
    check_logp,
    check_table_size,
)

from ._api import to_table
from ._autoregressive import enumerate_responses
from ._tabular import (
    TabularPolicy,
    check_finite_field,
    check_table_field,
    register_tabular_view,
    set_field,
    unchecked,
    validated_pytree,
)


def linear_softmax_logp(features: jax.Array, theta: jax.Array, logp0: jax.Array | None = None):
    """``log pi_theta(y | x) = log pi_0(y | x) + <phi(x, y), theta> - log Z_theta(x)`` (Thm J.3).

    Differentiable in ``theta`` (and ``features``), so learners can take gradients through it.

    Args:
      features: ``[..., Y, d]`` features ``phi(x, y)`` (e.g. ``[X, Y, d]``, or ``[Y, d]`` shared).
      theta: ``[d]`` parameter (or ``[..., d]`` broadcasting against the features' leading axes).
      logp0: optional ``[..., Y]`` reference log-probabilities ``log pi_0``; ``None`` is uniform.

    Returns:
      ``[..., Y]`` normalized log-probabilities (leading axes broadcast).
    """
    logits = jnp.einsum("...yd,...d->...y", features, theta)
    if logp0 is not None:
        logits = logits + logp0
    return logits - jax.scipy.special.logsumexp(logits, axis=-1, keepdims=True)


@validated_pytree(("features", "theta", "logp0"))
@dataclasses.dataclass(frozen=True)
class LinearSoftmaxPolicy:
    """``pi_theta(y | x) ∝ pi_0(y | x) exp(<phi(x, y), theta>)`` over ``Y`` indexed responses.

    Build with :meth:`create`, which validates and fills the uniform default ``pi_0``. The
    constructor validates too: finite float ``features [X, Y, d]`` (or ``[Y, d]``) and
    ``theta [d]``, and a normalized ``logp0 [X, Y]`` with matching ``X``, ``Y`` and ``d``.

    Attributes:
      features: ``[X, Y, d]`` or ``[Y, d]`` (shared by all prompts) features ``phi(x, y)``.
      theta: ``[d]`` parameter.
      logp0: ``[X, Y]`` reference log-probabilities ``log pi_0(y | x)``.
    """

    features: jax.Array
    theta: jax.Array
    logp0: jax.Array

    def __post_init__(self):
        features = check_finite_field(self.features, "features", (2, 3), "[X, Y, d] or [Y, d]")
        theta = check_finite_field(self.theta, "theta", (1,), "[d]")
        logp0 = check_table_field(self.logp0, "logp0", 2, "[X, Y]")
        _check_linear_shapes(features, theta, logp0)
        set_field(self, "features", features)
        set_field(self, "theta", theta)
        set_field(self, "logp0", logp0)

    @classmethod
    def create(cls, features, theta, logp0=None, *, num_prompts: int | None = None):
        """Validated constructor.

        Args:
          features: ``[X, Y, d]`` or ``[Y, d]`` finite features.
          theta: ``[d]`` finite parameter.
          logp0: optional normalized ``[X, Y]`` (or ``[Y]``) reference log-probabilities; default
            uniform ``-log Y``.
          num_prompts: X when neither ``features`` nor ``logp0`` has a prompt axis (default 1).
        """
        features = _check_finite(as_array(features, "features"), "features")
        theta = _check_finite(as_array(theta, "theta"), "theta")
        if features.ndim not in (2, 3):
            raise ValueError(f"features must have shape [X, Y, d] or [Y, d], got {features.shape}")
        Y, d = features.shape[-2:]
        if theta.shape != (d,):
            raise ValueError(
                f"theta must have shape [d] = ({d},) to match features {features.shape}, "
                f"got {theta.shape}"
            )
        X = features.shape[0] if features.ndim == 3 else None
        if logp0 is not None:
            logp0 = check_logp(logp0, "logp0")
            if logp0.ndim not in (1, 2) or logp0.shape[-1] != Y:
                raise ValueError(
                    f"logp0 must have shape [X, Y] or [Y] with Y = {Y}, got {logp0.shape}"
                )
            if logp0.ndim == 2:
                if X is not None and logp0.shape[0] != X:
                    raise ValueError(
                        f"logp0 has {logp0.shape[0]} prompts but features has {X}: {logp0.shape}"
                    )
                X = logp0.shape[0]
        if num_prompts is not None:
            num_prompts = check_count(num_prompts, "num_prompts")
            if X is not None and X != num_prompts:
                raise ValueError(f"num_prompts = {num_prompts} but the arrays have X = {X}")
            X = num_prompts
        X = 1 if X is None else X
        dtype = jnp.result_type(features.dtype, theta.dtype, float)
        if logp0 is None:
            logp0 = jnp.full((X, Y), -np.log(Y), dtype)
        logp0 = jnp.broadcast_to(logp0, (X, Y))
        return unchecked(
            cls,
            features=features.astype(dtype),
            theta=theta.astype(dtype),
            logp0=logp0.astype(dtype),
        )

    @property
    def num_prompts(self) -> int:
        """X."""
        return self.logp0.shape[0]

    @property
    def num_responses(self) -> int:
        """Y."""
        return self.logp0.shape[1]

    @property
    def dim(self) -> int:
        """d, the feature dimension."""
        return self.features.shape[-1]


def _check_finite(arr: jax.Array, name: str) -> jax.Array:
    return check_finite_field(arr, name, (arr.ndim,), "")


def _check_linear_shapes(features, theta, logp0) -> None:
    """``features [X, Y, d]`` or ``[Y, d]``, ``theta [d]`` and ``logp0 [X, Y]`` agree."""
    Y, d = features.shape[-2:]
    if tuple(theta.shape) != (d,):
        raise ValueError(
            f"theta must have shape [d] = ({d},) to match features {tuple(features.shape)}, "
            f"got {tuple(theta.shape)}"
        )
    X = logp0.shape[0]
    want = (X, Y) if len(features.shape) == 2 else (features.shape[0], Y)
    if tuple(logp0.shape) != want:
        raise ValueError(
            f"logp0 must have shape [X, Y] = {want} to match features "
            f"{tuple(features.shape)}, got {tuple(logp0.shape)}"
        )


def random_linear_softmax(
    key: jax.Array, num_prompts: int, num_responses: int, dim: int, *, scale: float = 1.0
) -> LinearSoftmaxPolicy:
    """Random unit-norm features ``[X, Y, d]`` (``||phi|| = 1``, Thm J.3), ``||theta|| = scale``."""
    num_prompts = check_count(num_prompts, "num_prompts")
    num_responses = check_count(num_responses, "num_responses")
    dim = check_count(dim, "dim")
    check_allocation(
        num_prompts * num_responses * dim,
        f"the [X, Y, d] = [{num_prompts}, {num_responses}, {dim}] features",
        "num_prompts, num_responses, dim",
        24,
    )
    phi, theta = _random_unit_features(key, (num_prompts, num_responses, dim), (dim,), scale)
    return LinearSoftmaxPolicy.create(phi, theta)


@functools.partial(jax.jit, static_argnames=("phi_shape", "theta_shape"))
def _random_unit_features(key, phi_shape, theta_shape, scale):
    """Gaussian directions: unit-norm features along the last axis, parameters of norm ``scale``."""
    k_phi, k_theta = jax.random.split(key)
    phi = jax.random.normal(k_phi, phi_shape)
    theta = jax.random.normal(k_theta, theta_shape)
    return (
        phi / jnp.linalg.norm(phi, axis=-1, keepdims=True),
        scale * theta / jnp.linalg.norm(theta, axis=-1, keepdims=True),
    )


@jax.jit
def as_tabular(policy: LinearSoftmaxPolicy) -> TabularPolicy:
    """The same policy as an explicit ``[X, Y]`` table."""
    return TabularPolicy(linear_softmax_logp(policy.features, policy.theta, policy.logp0))


register_tabular_view(LinearSoftmaxPolicy, as_tabular)


@to_table.register(LinearSoftmaxPolicy)
def _to_table_linear(policy: LinearSoftmaxPolicy, *, max_entries: int | None = None):
    X, Y = policy.logp0.shape
    limit = MAX_TABLE_ENTRIES if max_entries is None else max_entries
    check_table_size(X * Y, f"the [X, Y] = [{X}, {Y}] table of a LinearSoftmaxPolicy", limit)
    return as_tabular(policy).logp


enumerate_responses.register(LinearSoftmaxPolicy)(enumerate_responses.dispatch(TabularPolicy))
