"""The sample-and-evaluate oracle (Definition 3.2), its adaptive (Definition D.1) and generalized
(XPO, footnote 7) variants (THEORY.md section 1.4).

The learner never sees ``pi_base``'s table or parameters: it may

* draw prompts ``x ~ mu``,
* draw responses ``y ~ pi_base(.|x)`` and observe ``pi_base(y|x)`` (one query per pair), and
* (generalized oracle) evaluate ``pi_base(y|x)`` at a pair of its own choosing (one query per pair).

Every algorithm of the toolkit reaches ``pi_base`` only through :func:`draw`,
:func:`draw_adaptive` and :func:`evaluate`, and reports the number of queries ``m`` they counted.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from theory.checks import (
    as_array,
    check_allocation,
    check_count,
    check_mu,
    check_positive,
    is_concrete,
    tie_tolerance,
)

from ._api import log_prob, sample
from ._rollouts import Rollouts
from ._tabular import (
    _inverse_cdf,
    _search,
    is_abstract,
    revalidate,
    set_field,
    validated_pytree,
)


@validated_pytree(("policy", "mu"))
@dataclasses.dataclass(frozen=True)
class SampleEvaluateOracle:
    """Sample-and-evaluate access to ``pi_base`` under the prompt distribution ``mu`` (Def. 3.2).

    The constructor checks that ``policy`` is registered with :func:`simulators.sample` and
    :func:`simulators.log_prob` and that ``mu`` is a ``[X]`` probability vector over the
    policy's ``X`` prompts (values when concrete); :func:`make_oracle` also re-runs the policy's
    own checks. Draws never re-scan either.

    Attributes:
      policy: the base model ``pi_base``, any policy pytree implementing
        :func:`simulators.sample` and :func:`simulators.log_prob`.
      mu: ``[X]`` prompt distribution (probabilities summing to one).
    """

    policy: Any
    mu: jax.Array

    def __post_init__(self):
        for fn in (sample, log_prob):
            if fn.dispatch(type(self.policy)) is fn.dispatch(object):
                raise TypeError(
                    f"policy must be a policy registered with simulators.sample and "
                    f"simulators.log_prob, got {type(self.policy).__name__}"
                )
        mu = self.mu if is_abstract(self.mu) else as_array(self.mu, "mu")
        X = getattr(self.policy, "num_prompts", mu.shape[0] if mu.ndim == 1 else -1)
        if is_abstract(mu):
            if mu.ndim != 1 or mu.shape[0] != X:
                raise ValueError(
                    f"mu must be a probability vector of shape ({X},) matching the policy's "
                    f"prompts, got shape {mu.shape}"
                )
        else:
            mu = check_mu(mu, X, "mu")
        set_field(self, "mu", mu)

    @property
    def num_prompts(self) -> int:
        """X, the size of the prompt space."""
        return self.mu.shape[0]


def make_oracle(policy: Any, mu: Any = None) -> SampleEvaluateOracle:
    """Builds a validated oracle; ``mu=None`` means uniform over the policy's prompts.

    Args:
      policy: the base model ``pi_base`` (a policy pytree with a ``num_prompts`` attribute when
        ``mu`` is omitted).
      mu: ``[X]`` prompt distribution.
    """
    if mu is None:
        X = getattr(policy, "num_prompts", None)
        if X is None:
            raise ValueError("mu is required when the policy does not expose num_prompts")
        mu = jnp.full((X,), 1.0 / X)
    # The policy's own checks run again (once, here): its arrays may come from a jax.tree_util
    # rebuild, which skips them; sampling and evaluating never re-scan a table.
    return SampleEvaluateOracle(policy=revalidate(policy), mu=mu)


def check_oracle(oracle: Any, name: str = "oracle") -> SampleEvaluateOracle:
    """Checks that ``oracle`` is a :class:`SampleEvaluateOracle` (validated when constructed;
    nothing is re-scanned here, on the algorithms' hot path)."""
    if not isinstance(oracle, SampleEvaluateOracle):
        raise TypeError(
            f"{name} must be a simulators.SampleEvaluateOracle (build it with "
            f"make_oracle(policy, mu)), got {type(oracle).__name__}"
        )
    return oracle


def draw_prompts(key: jax.Array, oracle: SampleEvaluateOracle, n: int) -> jax.Array:
    """``n`` i.i.d. prompts ``x ~ mu`` by inverse CDF; returns ``[n]`` int prompt ids.

    Drawing prompts costs no query: Definition 3.2 counts (x, y) pairs. ``mu`` was validated when
    the oracle was built, so it is not re-scanned here (the draws are those of
    :func:`simulators.sample_indices` on ``log mu``).
    """
    oracle = check_oracle(oracle)
    n = check_count(n, "n")
    check_allocation(n, f"{n:.3g} draws", "n", 16)  # as sample_indices
    mu = jnp.asarray(oracle.mu)
    with np.errstate(divide="ignore"):
        logmu = jnp.log(mu)
    return _inverse_cdf(key, logmu, n, _search)


def draw(key: jax.Array, oracle: SampleEvaluateOracle, n: int, N: int) -> tuple[Rollouts, int]:
    """Sample-and-evaluate queries (Definition 3.2): ``n`` prompts, ``N`` responses each.

    ::

        x_1..x_n ~ mu
        y_{i,1..N} ~ pi_base(.|x_i), observing log pi_base(y_{i,j}|x_i)
        m = n * N

    Args:
      key: PRNG key.
      oracle: the :class:`SampleEvaluateOracle`.
      n: static int, number of prompts.
      N: static int, responses per prompt.

    Returns:
      ``(rollouts, m)``: :class:`~simulators.Rollouts` with ``P = n`` prompts and ``N`` samples each
      (``logp_base`` holds the observed base log-likelihoods), and the exact query count ``m = n N``
      (a Python int).
    """
    oracle = check_oracle(oracle)
    n = check_count(n, "n")
    N = check_count(N, "N")
    return _draw(key, oracle, n=n, N=N), n * N


@functools.partial(jax.jit, static_argnames=("n", "N"))
def _draw(key, oracle, *, n, N):
    k_x, k_y = jax.random.split(key)
    x = draw_prompts(k_x, oracle, n)
    return sample(k_y, oracle.policy, x, N)


def evaluate(oracle: SampleEvaluateOracle, x: Any, y: Any) -> tuple[jax.Array, int]:
    """Generalized oracle (footnote 7, used by XPO): ``log pi_base(y|x)`` at chosen pairs.

    Each evaluated pair counts as one query, so the count is the number of pairs: the size of the
    broadcast of ``x`` against ``y``'s leading axes (``y`` carries a trailing token axis for
    autoregressive policies).

    Args:
      oracle: the :class:`SampleEvaluateOracle`.
      x: ``[...]`` int prompt ids.
      y: responses in the policy's encoding (``[...]`` ints for tabular policies).

    Returns:
      ``(logp_base, m)``: ``[...]`` base log-likelihoods and the number of queries ``m``.
    """
    oracle = check_oracle(oracle)
    logp = jnp.asarray(log_prob(oracle.policy, x, y))
    return logp, int(np.prod(logp.shape, dtype=np.int64))


# ----------------------------------------------------------------------------------------------
# Adaptive oracle (Definition D.1)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class AdaptiveDraw:
    """Result of :func:`draw_adaptive`.

    Attributes:
      rollouts: ``[n, cap]`` Rollouts; only the first ``num_draws[i]`` samples of prompt ``i`` were
        looked at (the rest are padding drawn to keep shapes static and are NOT counted).
      num_draws: ``[n]`` int number of responses the stopping rule looked at, ``N_mu(x_i)``.
      used: ``[n, cap]`` bool, ``True`` on the samples that were looked at.
      stopped: ``[n]`` bool, ``True`` where the rule stopped within the cap.
      m: int scalar, the number of queries ``sum_i num_draws[i]`` (Definition D.1's random ``m``).
      cap_hit: bool scalar, ``True`` when some prompt reached the cap without the rule stopping; the
        draw is then a truncation, not a sample from the adaptive oracle.
    """

    rollouts: Rollouts
    num_draws: jax.Array
    used: jax.Array
    stopped: jax.Array
    m: jax.Array
    cap_hit: jax.Array


StoppingRule = Callable[[jax.Array], jax.Array]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class LikelihoodStoppingRule:
    """The stopping rule of Eq. 10 (a pytree, so ``mu_stop`` can be traced or swept).

    Calling it maps ``logp_base[..., cap]`` to ``stop[..., cap]`` where ``stop[k-1]`` is
    ``k * max_{j<=k} pi_base(y_j|x) >= mu_stop``, compared in log space with a tolerance of a
    few rounding errors so that exact ties (e.g. ``p = 1/4``, ``mu = 2`` at ``k = 8``) stop as
    Eq. 10 says, although ``log p`` is stored rounded.
    """

    mu_stop: Any

    def __call__(self, logp_base: jax.Array) -> jax.Array:
        running_max = jax.lax.cummax(logp_base, axis=logp_base.ndim - 1)
        dtype = logp_base.dtype
        k = jnp.arange(1, logp_base.shape[-1] + 1, dtype=dtype)
        lhs = jnp.log(k) + running_max
        rhs = jnp.log(jnp.asarray(self.mu_stop, dtype))
        # Each of log k, log p (rounded once when stored) and log mu carries a relative rounding
        # error of at most eps/2, and the sum one more: an exact tie k p = mu can come out
        # below the threshold by ~ eps (|log k| + |log p| + |log mu|). Within the tie tolerance
        # of that scale it counts as the tie it stands for.
        scale = jnp.abs(jnp.log(k)) + jnp.abs(running_max) + jnp.abs(rhs) + 1.0
        slack = tie_tolerance(dtype) * jnp.where(jnp.isfinite(scale), scale, 0.0)
        return lhs >= rhs - slack


def likelihood_stopping_rule(mu_stop: Any) -> LikelihoodStoppingRule:
    """The stopping rule of Eq. 10 with stopping parameter ``mu_stop``.

    ``N_mu(x) = inf{k : 1 / max_{j<=k} pi_base(y_j|x) <= k / mu}``, i.e. stop after the first ``k``
    with ``k * max_{j<=k} pi_base(y_j|x) >= mu`` (compared in log space:
    ``log k + max_{j<=k} log pi_base(y_j|x) >= log mu``, up to a few rounding errors so that an
    exact tie ``k p = mu`` stops at that ``k``).

    Args:
      mu_stop: the stopping parameter ``mu > 0`` (App. D; Theorem D.1 takes ``ln(2/delta)``).

    Returns:
      A non-anticipating rule mapping ``logp_base[cap]`` to ``stop[cap]`` bool, where ``stop[k-1]``
      depends only on the first ``k`` draws.
    """
    check_positive(mu_stop, "mu_stop")
    return LikelihoodStoppingRule(mu_stop)


def draw_adaptive(
    key: jax.Array,
    oracle: SampleEvaluateOracle,
    n: int,
    stopping_rule: StoppingRule,
    cap: int,
    *,
    on_cap: str = "raise",
) -> AdaptiveDraw:
    """Adaptive sample-and-evaluate queries (Definition D.1).

    ::

        for i in 1..n:
            x_i ~ mu; k = 0
            repeat: k += 1; draw y_{i,k} ~ pi_base(.|x_i), observe pi_base(y_{i,k}|x_i)
            until stopping_rule(first k draws)
        m = sum_i k_i

    With static shapes the ``cap`` responses of each prompt are drawn up front and only those the
    rule looks at are counted; since the draws are i.i.d. and the rule is non-anticipating, the
    counted prefix has exactly the law of sequential sampling, as long as the rule stops before
    ``cap``. A prompt that reaches the cap without stopping makes the draw a truncation.

    Args:
      key: PRNG key.
      oracle: the :class:`SampleEvaluateOracle`.
      n: static int, number of prompts.
      stopping_rule: a non-anticipating rule ``logp_base[cap] -> stop[cap]`` (``stop[k-1]`` may
        read only the first ``k`` draws), e.g. :func:`likelihood_stopping_rule`.
      cap: static int, the most responses drawn per prompt.
      on_cap: ``"raise"`` (default): raise a ValueError when the cap was hit and values are
        concrete (outside ``jit``); ``"flag"``: only report it in ``cap_hit``. Inside ``jit`` the
        value is always only flagged: check ``cap_hit`` before using the result.

    Returns:
      :class:`AdaptiveDraw`.
    """
    if on_cap not in ("raise", "flag"):
        raise ValueError(f"on_cap must be 'raise' or 'flag', got {on_cap!r}")
    cap = check_count(cap, "cap")
    n = check_count(n, "n")
    oracle = check_oracle(oracle)
    if isinstance(stopping_rule, LikelihoodStoppingRule):  # a pytree: traced, no recompilation
        out = _draw_adaptive(key, oracle, stopping_rule, n=n, cap=cap)
    else:  # an arbitrary callable: static
        out = _draw_adaptive_static(key, oracle, n=n, cap=cap, stopping_rule=stopping_rule)
    if on_cap == "raise" and is_concrete(out.cap_hit) and bool(out.cap_hit):
        raise ValueError(
            f"the adaptive stopping rule did not stop within cap={cap} draws for "
            f"{int(jnp.sum(out.num_draws >= cap))} of {n} prompts; the result would be truncated. "
            "Increase cap "
            "(Lemma I.1: E[N_mu] <= (mu + 1)/max_y pi_base(y|x)) or pass on_cap='flag'."
        )
    return out


@functools.partial(jax.jit, static_argnames=("n", "cap", "stopping_rule"))
def _draw_adaptive_static(key, oracle, *, n, cap, stopping_rule):
    return _draw_adaptive_body(key, oracle, stopping_rule, n, cap)


@functools.partial(jax.jit, static_argnames=("n", "cap"))
def _draw_adaptive(key, oracle, stopping_rule, *, n, cap):
    return _draw_adaptive_body(key, oracle, stopping_rule, n, cap)


def _draw_adaptive_body(key, oracle, stopping_rule, n, cap):
    rollouts = _draw(key, oracle, n=n, N=cap)
    stop = jnp.asarray(stopping_rule(rollouts.logp_base))
    if stop.shape != rollouts.logp_base.shape or stop.dtype != jnp.bool_:
        raise ValueError(
            f"stopping_rule must map logp_base [P, cap] to a bool array of the same shape, got "
            f"{stop.dtype} {stop.shape}"
        )
    stopped = jnp.any(stop, axis=-1)
    num_draws = jnp.where(stopped, jnp.argmax(stop, axis=-1) + 1, cap)
    used = jnp.arange(cap) < num_draws[:, None]
    return AdaptiveDraw(
        rollouts=rollouts,
        num_draws=num_draws,
        used=used,
        stopped=stopped,
        m=jnp.sum(num_draws),
        cap_hit=~jnp.all(stopped),
    )
