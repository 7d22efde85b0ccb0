"""Multi-layer (autoregressive) linear softmax policies of Appendix E, Eq. 11.

``pi_theta(y_{1:H} | x) = prod_h pi_{theta_h}(y_h | x, y_{1:h-1})`` with
``pi_{theta_h}(y_h | x, y_{1:h-1}) ∝ exp(<phi_h(x, y_{1:h}), theta_h>)`` and ``||theta_h|| <= B`` in
the class. For small ``V`` and ``H`` the per-step features are stored for every prefix, in the
prefix-tree layout of :class:`~simulators.AutoregressivePolicy`: ``features[x, s, v]`` is
``phi_h(x, y_{1:h})`` where ``s`` is the node of the prefix ``y_{1:h-1}`` (length ``h - 1``) and
``v = y_h``. This is enough to encode Proposition E.1 (MAX-CUT, ``V = {-1, 1}`` as tokens
``{0, 1}``, features ``y_i``, ``y_i y_j``, ``y_i y_j y_k``) and Proposition E.2 (``H = d = 2``,
``V = [n]``); use
:meth:`MultiLayerSoftmaxPolicy.from_step_features` to build one from one feature table per step.
Responses have fixed length ``H`` (no end-of-sequence token), ``Y = V^H``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from theory.checks import as_array, check_allocation, check_count

from ._api import greedy, log_prob, sample, sequence_argmax, to_table
from ._autoregressive import (
    AutoregressivePolicy,
    _infer_horizon,
    autoregressive_argmax,
    enumerate_responses,
    num_prefixes,
)
from ._linear_softmax import _random_unit_features
from ._rollouts import Rollouts
from ._tabular import check_finite_field, set_field, unchecked, validated_pytree


def multilayer_softmax_logp(features: jax.Array, theta: jax.Array) -> jax.Array:
    """Next-token log-probabilities ``[X, S, V]`` of Eq. 11 (differentiable in ``theta``).

    Args:
      features: ``[X, S, V, d]`` with ``S = (V^H - 1)/(V - 1)``; ``features[x, s, v]`` is
        ``phi_h(x, prefix_s + v)`` for the prefix ``s`` of length ``h - 1``.
      theta: ``[H, d]``, row ``h - 1`` is ``theta_h``.

    Returns:
      ``logp[x, s, v] = <phi_h(x, prefix_s + v), theta_h> - log Z``, normalized over ``v``.
    """
    S, V = features.shape[1], features.shape[2]
    H = theta.shape[0]
    # theta of the step that extends each prefix: prefixes of length h - 1 use theta_h.
    level = np.repeat(np.arange(H), [V**h for h in range(H)])
    if len(level) != S:
        raise ValueError(
            f"features has S = {S} prefixes but theta has H = {H} rows "
            f"(needs S = {num_prefixes(V, H)})"
        )
    logits = jnp.einsum("xsvd,sd->xsv", features, theta[level])
    return logits - jax.scipy.special.logsumexp(logits, axis=-1, keepdims=True)


@validated_pytree(("features", "theta"))
@dataclasses.dataclass(frozen=True)
class MultiLayerSoftmaxPolicy:
    """The autoregressive multi-layer linear softmax model of Eq. 11 (App. E).

    Every construction validates (the constructor, :meth:`create` and
    :meth:`from_step_features`): finite float ``features [X, S, V, d]`` with ``V >= 2`` and
    ``S = (V^H - 1)/(V - 1)``, and finite ``theta [H, d]``.

    Attributes:
      features: ``[X, S, V, d]`` per-step features in the prefix-tree layout (module docstring).
      theta: ``[H, d]`` per-step parameters ``theta_1..theta_H``.
    """

    features: jax.Array
    theta: jax.Array

    def __post_init__(self):
        features = check_finite_field(
            self.features, "features", (4,), "[X, S, V, d] (prompt, prefix, token, feature)"
        )
        theta = check_finite_field(self.theta, "theta", (2,), "[H, d]")
        _check_multilayer_shapes(features, theta)
        set_field(self, "features", features)
        set_field(self, "theta", theta)

    @classmethod
    def create(cls, features, theta) -> MultiLayerSoftmaxPolicy:
        """Validated constructor from ``features [X, S, V, d]`` and ``theta [H, d]`` (cast to
        one floating dtype)."""
        features = check_finite_field(
            features, "features", (4,), "[X, S, V, d] (prompt, prefix, token, feature)"
        )
        theta = check_finite_field(theta, "theta", (2,), "[H, d]")
        _check_multilayer_shapes(features, theta)
        dtype = jnp.result_type(features.dtype, theta.dtype, float)
        return unchecked(cls, features=features.astype(dtype), theta=theta.astype(dtype))

    @classmethod
    def from_step_features(
        cls, step_features: Sequence, theta, *, num_prompts: int | None = None
    ) -> MultiLayerSoftmaxPolicy:
        """Builds the policy from one feature table per step.

        Args:
          step_features: ``H`` arrays; entry ``h - 1`` is ``[X, V^h, d]`` (or ``[V^h, d]`` shared by
            all prompts) with row ``sum_i y_i V^(h-i)`` holding ``phi_h(x, y_{1:h})`` (lexicographic
            order of the length-``h`` prefix, first token most significant).
          theta: ``[H, d]``.
          num_prompts: X when the tables have no prompt axis (default 1).
        """
        if not isinstance(step_features, (list, tuple)) or not step_features:
            raise TypeError("step_features must be a non-empty list of H arrays [X, V^h, d]")
        tables = [as_array(f, f"step_features[{h}]") for h, f in enumerate(step_features)]
        first = tables[0]
        if first.ndim not in (2, 3):
            raise ValueError(
                f"step_features[0] must have shape [X, V, d] or [V, d], got {first.shape}"
            )
        V, d = first.shape[-2:]
        X = first.shape[0] if first.ndim == 3 else check_count(num_prompts or 1, "num_prompts")
        rows = []
        for h, f in enumerate(tables, start=1):
            want = (X, V**h, d)
            if f.ndim == 2:
                f = jnp.broadcast_to(f, (X,) + f.shape)
            if f.shape != want:
                raise ValueError(
                    f"step_features[{h - 1}] must have shape [X, V^{h}, d] = {want}, got {f.shape}"
                )
            rows.append(f)
        # Level-order node numbering: the length-h prefixes, in lexicographic order, are the nodes
        # (V^h - 1)/(V - 1) ... of level h, and the children of node s are s V + 1 + v, so
        # concatenating the levels gives features[x, s * V + v] = phi(prefix_s + v).
        flat = jnp.concatenate(rows, axis=1)
        S = num_prefixes(V, len(tables))
        return cls.create(flat.reshape(X, S, V, d), theta)

    @property
    def num_prompts(self) -> int:
        """X."""
        return self.features.shape[0]

    @property
    def V(self) -> int:
        """Vocabulary size."""
        return self.features.shape[2]

    @property
    def H(self) -> int:
        """Horizon (number of layers)."""
        return self.theta.shape[0]

    @property
    def num_responses(self) -> int:
        """``Y = V^H``."""
        return self.V**self.H


def _check_multilayer_shapes(features, theta) -> None:
    """``features [X, S, V, d]`` with ``V >= 2`` and ``S`` prefixes, ``theta [H, d]``."""
    X, S, V, d = features.shape
    if 0 in (X, S, V, d):
        raise ValueError(f"features must have non-empty axes, got shape {tuple(features.shape)}")
    if V < 2:
        raise ValueError(f"features must have V >= 2 tokens, got shape {tuple(features.shape)}")
    H = _infer_horizon(S, V, "features")
    if tuple(theta.shape) != (H, d):
        raise ValueError(
            f"theta must have shape [H, d] = {(H, d)} for features {tuple(features.shape)}, "
            f"got {tuple(theta.shape)}"
        )


def random_multilayer_softmax(
    key: jax.Array, num_prompts: int, V: int, H: int, dim: int, *, scale: float = 1.0
) -> MultiLayerSoftmaxPolicy:
    """Random unit-norm features for every (prefix, token) and ``theta_h`` of norm ``scale``."""
    num_prompts = check_count(num_prompts, "num_prompts")
    V = check_count(V, "V", minimum=2)
    H = check_count(H, "H")
    dim = check_count(dim, "dim")
    if H * np.log2(V) > 64:
        check_allocation(2**64, f"the features of V^H = {V}^{H} responses", "V, H", 24)
    shape = (num_prompts, num_prefixes(V, H), V, dim)
    check_allocation(
        math.prod(shape), f"the [X, S, V, d] = {list(shape)} features", "num_prompts, V, H, dim", 24
    )
    phi, theta = _random_unit_features(key, shape, (H, dim), scale)
    return MultiLayerSoftmaxPolicy.create(phi, theta)


@jax.jit
def as_autoregressive(policy: MultiLayerSoftmaxPolicy) -> AutoregressivePolicy:
    """The same policy with its next-token tables made explicit (no end-of-sequence token)."""
    return AutoregressivePolicy(multilayer_softmax_logp(policy.features, policy.theta), policy.H)


@sample.register(MultiLayerSoftmaxPolicy)
def _sample_multilayer(key, policy: MultiLayerSoftmaxPolicy, x, n: int) -> Rollouts:
    return sample(key, as_autoregressive(policy), x, n)


@log_prob.register(MultiLayerSoftmaxPolicy)
def _log_prob_multilayer(policy: MultiLayerSoftmaxPolicy, x, y) -> jax.Array:
    return log_prob(as_autoregressive(policy), x, y)


@to_table.register(MultiLayerSoftmaxPolicy)
def _to_table_multilayer(policy: MultiLayerSoftmaxPolicy, *, max_entries: int | None = None):
    return to_table(as_autoregressive(policy), max_entries=max_entries)


@enumerate_responses.register(MultiLayerSoftmaxPolicy)
def _enumerate_multilayer(policy: MultiLayerSoftmaxPolicy, *, max_entries: int | None = None):
    return enumerate_responses(as_autoregressive(policy), max_entries=max_entries)


@greedy.register(MultiLayerSoftmaxPolicy)
def _greedy_multilayer(policy: MultiLayerSoftmaxPolicy, x) -> jax.Array:
    return greedy(as_autoregressive(policy), x)


@sequence_argmax.register(MultiLayerSoftmaxPolicy)
def _sequence_argmax_multilayer(policy: MultiLayerSoftmaxPolicy, x) -> jax.Array:
    """Exact argmax by dynamic programming over the prefix tree (``O(X S V)``).

    That is enumeration cost for these explicitly stored models; Prop. E.1 says no efficient
    method exists in general.
    """
    return autoregressive_argmax(as_autoregressive(policy), x)[0]
