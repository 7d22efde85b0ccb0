"""Instance families: ``(policy, mu)`` pairs with controlled coverage, margin and sharpness.

* :func:`dirichlet_tabular`: random tabular ``pi_base`` with a concentration knob.
* :func:`coverage_tabular`: a tabular ``pi_base`` whose coverage coefficient
  ``C_cov = E_x[1 / pi(y*(x) | x)]`` (Eq. 6) is exactly the requested value, optionally with an
  exact margin ``gamma_margin`` (Assumption 4.2).
* :func:`greedy_counterexample`: the ``H = 2`` autoregressive policy on which greedy decoding misses
  the sequence argmax (THEORY.md section 6 item 6; Proposition 3.1 is tight).
* :data:`BUILTIN_INSTANCES`: named small instances (``sharpen inspect NAME``).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from theory.checks import check_allocation, check_count, check_positive

from ._autoregressive import AutoregressivePolicy, random_autoregressive
from ._dirichlet import dirichlet_logp
from ._linear_softmax import random_linear_softmax
from ._markov import random_markov
from ._multilayer_softmax import random_multilayer_softmax
from ._tabular import TabularPolicy, unchecked


def _default_key(key: jax.Array | None) -> jax.Array:
    return jax.random.key(0) if key is None else key


def uniform_mu(num_prompts: int) -> jax.Array:
    """The uniform prompt distribution ``mu = 1/X``."""
    return jnp.full((num_prompts,), 1.0 / num_prompts)


def dirichlet_tabular(
    key: jax.Array, num_prompts: int, num_responses: int, concentration: float = 1.0
) -> tuple[TabularPolicy, jax.Array]:
    """Random tabular ``pi_base(.|x) ~ Dirichlet(concentration)`` i.i.d. over prompts, uniform mu.

    Args:
      key: PRNG key.
      num_prompts: X.
      num_responses: Y.
      concentration: Dirichlet parameter > 0; small values give peaked (already sharp) rows with
        small ``C_cov``, large values nearly uniform rows with ``C_cov`` near ``Y``.

    Returns:
      ``(policy, mu)``.
    """
    num_prompts = check_count(num_prompts, "num_prompts")
    num_responses = check_count(num_responses, "num_responses")
    logp = dirichlet_logp(
        key, (num_prompts, num_responses), concentration, "num_prompts, num_responses"
    )
    return unchecked(TabularPolicy, logp=logp), uniform_mu(num_prompts)  # normalized as drawn


def _spread(key: jax.Array | None, rows: int, total: float, count: int, cap: float) -> np.ndarray:
    """``[rows, count]`` masses, each row summing to ``total`` with entries at most ``cap``.

    Requires ``total / count <= cap``. Without a key the spread is uniform. With one, each row mixes
    the uniform spread with a ``Dirichlet(1)`` draw, with the largest mixing weight that keeps every
    mass at most halfway between the uniform level and ``cap``.
    """
    level = total / count if count else 0.0
    if key is None or count <= 1 or total == 0.0:
        return np.full((rows, count), level)
    w = np.exp(np.asarray(dirichlet_logp(key, (rows, count), 1.0), np.float64))
    w = w / w.sum(axis=1, keepdims=True)
    excess = total * (w.max(axis=1) - 1.0 / count)
    with np.errstate(divide="ignore"):
        lam = np.where(excess > 0, np.minimum(1.0, 0.5 * (cap - level) / excess), 1.0)
    return total * ((1.0 - lam[:, None]) / count + lam[:, None] * w)


def coverage_tabular(
    num_prompts: int,
    num_responses: int,
    c_cov: float,
    *,
    margin: float | None = None,
    key: jax.Array | None = None,
) -> tuple[TabularPolicy, jax.Array]:
    """A tabular ``pi_base`` with coverage coefficient exactly ``c_cov`` under uniform ``mu``.

    Every prompt has ``pi(y*(x) | x) = 1/c_cov``, so ``C_cov = E_x[1/pi(y*(x)|x)] = c_cov`` (Eq. 6)
    and also ``C_cov,gamma,p = c_cov`` for ``gamma`` below the margin. The other responses share the
    remaining mass ``1 - 1/c_cov`` strictly below ``1/c_cov`` (so ``y*(x)`` is unique).

    With ``margin = gamma_margin > 0`` (Assumption 4.2), the second most likely response has exactly
    ``pi(y*)/(1 + gamma_margin)`` and the others at most that, so the margin is exactly
    ``gamma_margin``. This needs ``1 + 1/(1 + gamma) <= c_cov <= 1 + (Y - 1)/(1 + gamma)``.

    Args:
      num_prompts: X.
      num_responses: Y.
      c_cov: the coverage coefficient, ``1 <= c_cov < Y`` (``c_cov = 1``: deterministic policy).
      margin: optional exact margin ``gamma_margin > 0``.
      key: optional PRNG key: with it the non-argmax masses are spread at random (below the caps)
        and each prompt's responses are randomly permuted; without it ``y* = 0`` (and the runner-up
        is ``1`` with a margin) and the other masses are equal.

    Returns:
      ``(policy, mu)`` with ``mu`` uniform.

    Raises:
      ValueError: ``c_cov`` (or ``margin``) infeasible for ``Y``, with the feasible range.
    """
    X = check_count(num_prompts, "num_prompts")
    Y = check_count(num_responses, "num_responses")
    c = float(c_cov)
    if not np.isfinite(c) or c < 1.0:
        raise ValueError(f"c_cov must be a finite number >= 1 (C_cov >= 1 always), got {c_cov}")
    if c > 1.0 and c >= Y:
        raise ValueError(
            f"c_cov must satisfy 1 <= c_cov < Y = {Y} for a unique argmax: pi(y*) = 1/c_cov has to "
            f"exceed the average of the other Y - 1 masses; got c_cov = {c_cov}"
        )
    check_allocation(X * Y, f"the [X, Y] = [{X}, {Y}] table", "num_prompts, num_responses", 32)
    p_star = 1.0 / c
    k_spread, k_perm = (None, None) if key is None else jax.random.split(key)
    probs = np.zeros((X, Y))
    probs[:, 0] = p_star
    if margin is None:
        probs[:, 1:] = _spread(k_spread, X, 1.0 - p_star, Y - 1, p_star)
    else:
        check_positive(margin, "margin")
        g = float(margin)
        second = p_star / (1.0 + g)
        lo, hi = 1.0 + 1.0 / (1.0 + g), 1.0 + (Y - 1) / (1.0 + g)
        tol = 1e-12 * c
        if Y < 2 or not lo - tol <= c <= hi + tol:
            raise ValueError(
                f"c_cov = {c_cov} is infeasible with margin = {margin} and Y = {Y}: need "
                f"{lo:.12g} <= c_cov <= {hi:.12g} (pi(y*) = 1/c_cov, runner-up = "
                "pi(y*)/(1 + margin), the rest at most the runner-up)"
            )
        probs[:, 1] = second
        probs[:, 2:] = _spread(k_spread, X, max(0.0, 1.0 - p_star - second), Y - 2, second)
    with np.errstate(divide="ignore"):
        logp = np.log(probs)
    logp[:, 0] = -np.log(c)  # exact 1/pi(y*) = c_cov up to one rounding
    if k_perm is not None:
        # A uniformly random permutation of each row (argsort of i.i.d. uniforms).
        perm = np.argsort(np.asarray(jax.random.uniform(k_perm, (X, Y))), axis=1)
        logp = np.take_along_axis(logp, perm, axis=1)
    logp = jnp.asarray(logp)
    return TabularPolicy(logp), uniform_mu(X)


def greedy_counterexample() -> tuple[AutoregressivePolicy, jax.Array]:
    """Greedy decoding misses the sequence argmax when pi(y*) <= 1/2 (Prop. 3.1 is tight).

    ``H = 2``, ``V = {a, b}`` as tokens ``{0, 1}``, one prompt, and
    ``P(ab) = .40, P(aa) = .05, P(ba) = .30, P(bb) = .25`` (THEORY.md section 6 item 6). Then
    ``P(first = a) = .45 < P(first = b) = .55``, so greedy returns ``ba`` (tokens ``[1, 0]``,
    mass .30) while the sequence argmax is ``ab`` (tokens ``[0, 1]``, mass .40 < 1/2).
    """
    joint = np.array([[0.05, 0.40], [0.30, 0.25]])  # joint[y1, y2]
    logits = np.log(np.stack([joint.sum(axis=1), joint[0], joint[1]]))[None]  # [1, 3, 2]
    return AutoregressivePolicy.from_logits(logits), uniform_mu(1)


# --------------------------------------------------------------------------------------------------
# Named instances. Each builder takes no required argument and returns (policy, mu).


def _dirichlet_small(key=None):
    """Tabular, X=8 prompts, Y=10 responses, Dirichlet(0.3) rows."""
    return dirichlet_tabular(_default_key(key), 8, 10, 0.3)


def _coverage_10(key=None):
    """Tabular, X=16, Y=100, C_cov = 10 exactly, random spread of the other masses."""
    return coverage_tabular(16, 100, 10.0, key=_default_key(key))


def _coverage_100(key=None):
    """Tabular, X=16, Y=1000, C_cov = 100 exactly, random spread of the other masses."""
    return coverage_tabular(16, 1000, 100.0, key=_default_key(key))


def _coverage_margin(key=None):
    """Tabular, X=16, Y=100, C_cov = 10 and margin gamma_margin = 0.1 exactly (Asm. 4.2)."""
    return coverage_tabular(16, 100, 10.0, margin=0.1, key=_default_key(key))


def _markov_long(key=None):
    """Markov, X=4, V=8, H=300 (too long to enumerate: exact argmax by Viterbi)."""
    return random_markov(_default_key(key), 4, 8, 300, concentration=0.3), uniform_mu(4)


def _markov_small(key=None):
    """Markov, X=4, V=3, H=6 (|Y| = 729, enumerable)."""
    return random_markov(_default_key(key), 4, 3, 6, concentration=0.5), uniform_mu(4)


def _autoregressive_small(key=None):
    """Autoregressive with EOS, X=8, V=3 (token 2 = EOS), H=4, Dirichlet(0.5) next-token rows."""
    policy = random_autoregressive(_default_key(key), 8, 3, 4, eos=2, concentration=0.5)
    return policy, uniform_mu(8)


def _linear_softmax_small(key=None):
    """Linear softmax (Thm J.3), X=4, Y=50, d=5, unit features, ||theta|| = 3."""
    return random_linear_softmax(_default_key(key), 4, 50, 5, scale=3.0), uniform_mu(4)


def _multilayer_small(key=None):
    """Multi-layer linear softmax (App. E, Eq. 11), X=2, V=3, H=3, d=4, ||theta_h|| = 2."""
    return random_multilayer_softmax(_default_key(key), 2, 3, 3, 4, scale=2.0), uniform_mu(2)


def _greedy_counterexample(key=None):
    """H=2, V={a,b}: greedy returns 'ba' (.30) but the sequence argmax is 'ab' (.40) (Prop. 3.1)."""
    return greedy_counterexample()


BUILTIN_INSTANCES: dict[str, Callable[..., tuple[object, jax.Array]]] = {
    "dirichlet-small": _dirichlet_small,
    "coverage-10": _coverage_10,
    "coverage-100": _coverage_100,
    "coverage-margin": _coverage_margin,
    "markov-long": _markov_long,
    "markov-small": _markov_small,
    "autoregressive-small": _autoregressive_small,
    "linear-softmax-small": _linear_softmax_small,
    "multilayer-small": _multilayer_small,
    "greedy-counterexample": _greedy_counterexample,
}
