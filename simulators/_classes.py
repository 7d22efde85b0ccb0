"""Model classes Pi and their exact (or convex) fitting oracles (Sec. 3.1, Sec. 4, App. J).

The paper's algorithms assume an ERM oracle over a user-chosen class Pi: maximum likelihood for
SFT-Sharpening, the squared loss of Eq. 8 for DPO-style RLHF-Sharpening, and XPO's optimistic
objective (Algorithm 1). This module gives four classes and those three fits:

===========================  =============================  ==================================
class                        maximum likelihood             squared loss (Eq. 8) / XPO
===========================  =============================  ==================================
:class:`TabularClass`        closed-form counts (+smoothing)  closed form (zero residual); XPO
                                                              only with ``alpha = 0``
:class:`FiniteClass`         exact ERM over the stack         exact ERM over the stack
:class:`LinearSoftmaxClass`  projected gradient (convex)      exact ball-constrained least
                                                              squares; XPO by projected gradient
:class:`MarkovClass`         closed-form transition counts    not provided (non-convex)
===========================  =============================  ==================================

Fits take the data as arrays (prompts, responses, observed base log-likelihoods) and optional
per-example ``weights`` (0/1 masks let a sweep reuse one draw for several budgets); they never see
``pi_base`` itself. Data and losses are functions of log-probabilities only (``squared_loss``,
``xpo_objective``, ``negative_log_likelihood``), so the same losses serve toy and real models.

A class is any object implementing the :class:`ModelClass` protocol (its docstring says what each
method must satisfy): the algorithms and the public functions (:func:`mle`,
:func:`fit_squared_loss`, :func:`contains`, :func:`log_class_size`) call its methods only, so a
fifth class lives in the researcher's own file. :class:`ColumnIndexedClass` supplies the methods
shared by classes whose members are ``[X, Y]`` tables over ``to_table(pi_base)``'s columns.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from theory.checks import (
    as_array,
    check_logp,
    check_nonnegative,
    check_positive,
    is_concrete,
)

from ._autoregressive import enumerate_responses
from ._linalg import eigh, lstsq
from ._linear_softmax import LinearSoftmaxPolicy, linear_softmax_logp
from ._markov import MarkovPolicy
from ._tabular import CountPolicy, SparseSoftmaxPolicy, TabularPolicy, check_ids, unchecked

# ----------------------------------------------------------------------------------------------
# Losses on arrays of log-probabilities (shared by toy and real models)


def _weighted_sum(values: jax.Array, weights: jax.Array | None) -> jax.Array:
    """sum_i w_i v_i with 0 * (+-inf) = 0 (masked-out examples never contribute)."""
    if weights is None:
        return jnp.sum(values)
    return jnp.sum(jnp.where(weights > 0, weights * values, 0.0))


def squared_loss_residual(
    logp_y, logp_y2, logp_base_y, logp_base_y2, beta, reward_y=None, reward_y2=None
) -> jax.Array:
    """Residual of the DPO/REBEL-style squared loss (Eq. 4 / Eq. 8), one per triple (x, y, y').

    ``beta log(pi(y|x)/pi_base(y|x)) - beta log(pi(y'|x)/pi_base(y'|x)) - (r(x,y) - r(x,y'))``,
    with ``r = log pi_base`` (maximum-likelihood sharpening, Eq. 2) when rewards are omitted. It is
    zero for every triple at ``pi = pi*_beta`` proportional to ``pi_base exp(r / beta)`` (Eq. 3).

    Args:
      logp_y, logp_y2: ``[n]`` ``log pi(y|x)``, ``log pi(y'|x)`` under the candidate model.
      logp_base_y, logp_base_y2: ``[n]`` the base log-likelihoods the oracle revealed.
      beta: KL weight > 0.
      reward_y, reward_y2: ``[n]`` self-rewards; ``None`` means ``log pi_base``.
    """
    reward_y = logp_base_y if reward_y is None else reward_y
    reward_y2 = logp_base_y2 if reward_y2 is None else reward_y2
    return beta * (logp_y - logp_base_y) - beta * (logp_y2 - logp_base_y2) - (reward_y - reward_y2)


def squared_loss(
    logp_y,
    logp_y2,
    logp_base_y,
    logp_base_y2,
    beta,
    reward_y=None,
    reward_y2=None,
    weights=None,
) -> jax.Array:
    """The squared loss of Eq. 8: ``sum_(x,y,y') w residual^2`` (:func:`squared_loss_residual`)."""
    res = squared_loss_residual(
        logp_y, logp_y2, logp_base_y, logp_base_y2, beta, reward_y, reward_y2
    )
    return _weighted_sum(res**2, weights)


def xpo_objective(
    logp_y,
    logp_y2,
    logp_base_y,
    logp_base_y2,
    beta,
    alpha,
    reward_y=None,
    reward_y2=None,
    weights=None,
) -> jax.Array:
    """XPO's objective (Algorithm 1), minimized over pi in Pi.

    ``alpha sum_D log pi(y'|x) + sum_D (beta log pi(y|x)/pi_base(y|x)
    - beta log pi(y'|x)/pi_base(y'|x) - (r(x,y) - r(x,y')))^2``, where ``y ~ pi^(t)`` and
    ``y' ~ pi_base``. The squared term enters with a PLUS: the printed minus in Algorithm 1
    contradicts the proof's objective (THEORY.md section 4). The optimism term
    ``alpha sum log pi(y'|x)`` pushes mass away from responses the base model already covers.
    """
    opt = _weighted_sum(logp_y2, weights)
    return alpha * opt + squared_loss(
        logp_y, logp_y2, logp_base_y, logp_base_y2, beta, reward_y, reward_y2, weights
    )


def negative_log_likelihood(logp_y, weights=None) -> jax.Array:
    """``-sum_i w_i log pi(y_i|x_i)``, the SFT / MLE loss of pseudo-code B."""
    return -_weighted_sum(logp_y, weights)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class PairData:
    """Triples (x, y, y') with what the oracle revealed about them (Eq. 8, Algorithm 1).

    Attributes:
      x: ``[n]`` int prompts.
      y, y2: ``[n]`` int responses (``y2`` is the base-model sample ``y'``).
      logp_base_y, logp_base_y2: ``[n]`` observed ``log pi_base``.
      reward_y, reward_y2: ``[n]`` self-rewards ``r(x, y)``, ``r(x, y')``.
      weights: ``[n]`` nonnegative example weights (0 masks an example out).
    """

    x: jax.Array
    y: jax.Array
    y2: jax.Array
    logp_base_y: jax.Array
    logp_base_y2: jax.Array
    reward_y: jax.Array
    reward_y2: jax.Array
    weights: jax.Array


def make_pair_data(
    x, y, y2, logp_base_y, logp_base_y2, reward_y=None, reward_y2=None, weights=None
) -> PairData:
    """Builds :class:`PairData`; rewards default to ``log pi_base`` and weights to ones."""
    logp_base_y = jnp.asarray(logp_base_y)
    logp_base_y2 = jnp.asarray(logp_base_y2)
    weights = jnp.ones_like(logp_base_y) if weights is None else jnp.asarray(weights)
    return PairData(
        x=jnp.asarray(x),
        y=jnp.asarray(y),
        y2=jnp.asarray(y2),
        logp_base_y=logp_base_y,
        logp_base_y2=logp_base_y2,
        reward_y=logp_base_y if reward_y is None else jnp.asarray(reward_y),
        reward_y2=logp_base_y2 if reward_y2 is None else jnp.asarray(reward_y2),
        weights=weights.astype(logp_base_y.dtype),
    )


def _pair_loss(logp_table: jax.Array, data: PairData, beta, alpha) -> jax.Array:
    """XPO objective (squared loss when ``alpha = 0``) of a ``[X, Y]`` table on ``data``."""
    lp_y = logp_table[data.x, data.y]
    lp_y2 = logp_table[data.x, data.y2]
    return xpo_objective(
        lp_y,
        lp_y2,
        data.logp_base_y,
        data.logp_base_y2,
        beta,
        alpha,
        data.reward_y,
        data.reward_y2,
        data.weights,
    )


# ----------------------------------------------------------------------------------------------
# The protocol


@runtime_checkable
class ModelClass(Protocol):
    """What the sharpening algorithms need of a model class Pi (Sec. 3.1's ERM oracle over Pi).

    Any object with these attributes is a model class: :func:`simulators.sft_sharpening`,
    :func:`~simulators.adaptive_sft_sharpening`, :func:`~simulators.dpo_sharpening`,
    :func:`~simulators.xpo_sharpening`, :func:`mle`, :func:`fit_squared_loss`, :func:`contains`
    and :func:`log_class_size` call only these. It must be a pytree (e.g. a frozen dataclass
    registered with ``jax.tree_util.register_dataclass``, sizes as static fields), since the
    algorithms pass it through ``jit``. Members are described by *parameters* ``params``, any
    pytree of arrays (a table, an index, a vector theta). A capability the class lacks is a method
    that raises ``TypeError`` (or ``ValueError``) naming the class and the fit, e.g. a class
    without a squared-loss fit cannot run DPO or XPO but can run SFT.

    Attributes and methods (everything called inside ``jit`` must be traceable: no Python
    branching on array values except through :func:`theory.checks.is_concrete`):

    * ``num_prompts: int``, ``num_responses: int``: the sizes X and Y; they must match the
      oracle's ``pi_base`` (``num_responses`` may be ``None`` when it is not defined).
    * ``check(name)``: validates the class's own parameters once, before a run (outside ``jit``);
      raises ``ValueError`` naming ``name`` (e.g. ``"model_class.smoothing"``).
    * ``log_size() -> float``: ``log|Pi|`` (Theorem 4.1's ``log(|Pi|/rho)``), ``math.inf`` for an
      infinite class.
    * ``responses(tokens, policy) -> y``: the oracle's responses ``tokens [..., T]`` (int) of the
      base policy ``policy`` in the encoding the fits take; tabular-type classes return
      ``[...]`` column indices of ``to_table(policy)`` (:func:`response_columns`), sequence
      classes may keep the tokens.
    * ``check_responses(y, name)``: range check of concrete responses in that encoding (raises
      ``ValueError`` naming ``name``).
    * ``mle_params(x, y, weights) -> params``: maximizer of the weighted log-likelihood
      ``sum_i w_i log pi(y_i|x_i)`` over Pi (pseudo-code B, SFT-Sharpening); ``weights`` is an
      ``[n]`` nonnegative float array or ``None`` (ones), and examples of weight 0 must not
      influence the result (the budget masks of the sweeps rely on it).
    * ``pair_fit_params(data, beta, alpha=0.0, init=None) -> params``: minimizer over Pi of
      :func:`xpo_objective` on the :class:`PairData` ``data`` (``alpha = 0``: the squared loss of
      Eq. 8, DPO-style RLHF-Sharpening; ``alpha > 0``: Algorithm 1's optimistic objective, with
      ``init`` the previous iterate's parameters as a warm start). Zero-weight examples must not
      influence the result.
    * ``check_xpo(alpha)``: refuses (outside ``jit``) an ``alpha`` the pair fit cannot handle.
    * ``init_params(dtype) -> params``: parameters of some member (XPO's placeholder first
      iterate), of the same pytree structure, shapes and dtypes as ``pair_fit_params`` returns.
    * ``table(params) -> [X, Y]``: the member's normalized log-probability table (XPO samples
      from it and scores it); columns index responses as ``responses`` does.
    * ``to_policy(params)``: the member as a policy pytree (what the algorithms return; e.g.
      :class:`~simulators.TabularPolicy` of ``table(params)``).
    * ``contains(logp_target, atol) -> bool | None``: whether the ``[X, Y]`` table
      ``logp_target`` is in Pi up to ``atol`` (realizability: Assumptions 4.1, 4.3, J.3);
      ``logp_target`` is ``None`` when ``pi_base`` has no exact table; return ``None`` when the
      class does not check (the algorithms then record -1 in ``diagnostics["realizable"]``).
    """

    num_prompts: int
    num_responses: int | None

    def check(self, name: str) -> None: ...

    def log_size(self) -> float: ...

    def responses(self, tokens: jax.Array, policy: Any) -> jax.Array: ...

    def check_responses(self, y: jax.Array, name: str) -> None: ...

    def mle_params(self, x: jax.Array, y: jax.Array, weights: jax.Array | None) -> Any: ...

    def pair_fit_params(self, data: PairData, beta: Any, alpha: Any = 0.0, init: Any = None): ...

    def check_xpo(self, alpha: Any) -> None: ...

    def init_params(self, dtype: Any) -> Any: ...

    def table(self, params: Any) -> jax.Array: ...

    def to_policy(self, params: Any) -> Any: ...

    def contains(self, logp_target: Any, atol: float = 1e-6) -> Any: ...


MODEL_CLASS_ATTRIBUTES = (
    "num_prompts",
    "num_responses",
    "check",
    "log_size",
    "responses",
    "check_responses",
    "mle_params",
    "pair_fit_params",
    "check_xpo",
    "init_params",
    "table",
    "to_policy",
    "contains",
)


def _unsupported(fn: str, model_class: Any, why: str = ""):
    raise TypeError(f"{fn} is not available for {type(model_class).__name__}{why}")


def _enumerated_tokens(policy: Any) -> np.ndarray:
    """``[Y, T]`` tokens of every response of ``policy`` in :func:`simulators.to_table`'s column
    order (static: read from the policy's shapes, not its values)."""
    try:
        # Enumeration depends only on static shapes: evaluate it now, even inside jit.
        with jax.ensure_compile_time_eval():
            tokens, _ = enumerate_responses(policy)
            tokens = np.asarray(tokens)
    except TypeError as err:
        raise TypeError(
            f"a tabular-type model class (TabularClass, FiniteClass, LinearSoftmaxClass) indexes "
            f"responses by the columns of to_table(pi_base), but {type(policy).__name__} has "
            "multi-token responses and no enumerate_responses implementation to map them to "
            "columns; use a MarkovClass or a base policy that enumerates its responses"
        ) from err
    return tokens


def _response_index(policy: Any, tokens: jax.Array) -> jax.Array:
    """Column of ``to_table(policy)`` of each response ``tokens [..., T]`` (int32 ``[...]``).

    Token sequences (``eos``-padded for policies with an end-of-sequence token) are enumerated in
    lexicographic order, first token most significant (``simulators._autoregressive``), so the
    column is found by a binary search over the enumeration's base-``V`` codes; for enumerations
    not in that order (or codes beyond int32) every response is compared with every column.
    """
    table = _enumerated_tokens(policy)
    Y, T = table.shape
    if tokens.shape[-1] != T:
        raise ValueError(
            f"responses have {tokens.shape[-1]} tokens but {type(policy).__name__} enumerates "
            f"responses of {T} tokens"
        )
    tokens = tokens.astype(jnp.int32)
    V = int(table.max()) + 1 if table.size else 1
    V = max(V, int(getattr(policy, "V", V)))
    if V**T < 2**31:
        weights = V ** np.arange(T - 1, -1, -1, dtype=np.int64)
        codes = table.astype(np.int64) @ weights
        if np.all(np.diff(codes) > 0):
            code = tokens @ jnp.asarray(weights, jnp.int32)
            return jnp.searchsorted(jnp.asarray(codes, jnp.int32), code).astype(jnp.int32)
    match = jnp.all(tokens[..., None, :] == jnp.asarray(table, jnp.int32), axis=-1)
    return jnp.argmax(match, axis=-1).astype(jnp.int32)


def response_columns(policy: Any, tokens: jax.Array) -> jax.Array:
    """Responses ``tokens [..., T]`` of ``policy`` as columns of ``to_table(policy)`` (``[...]``).

    A single-token response is its own index; a multi-token response (an autoregressive
    ``pi_base``) is mapped to its column in ``to_table``'s enumeration order. This is
    :meth:`ModelClass.responses` of every tabular-type class.
    """
    if tokens.shape[-1] == 1:
        return tokens[..., 0]
    return _response_index(policy, tokens)


class ColumnIndexedClass:
    """Shared methods of classes whose members are ``[X, Y]`` tables over the columns of
    ``to_table(pi_base)`` (a mixin for :class:`ModelClass` implementations).

    It supplies ``check`` (nothing to check), ``log_size`` (``inf``), ``responses``
    (:func:`response_columns`), ``check_responses`` (ids in ``[0, num_responses)``),
    ``check_xpo`` (nothing refused) and ``to_policy`` (a :class:`~simulators.TabularPolicy` of
    ``table(params)``); a subclass adds ``num_prompts``, ``num_responses``, ``mle_params``,
    ``pair_fit_params``, ``init_params``, ``table`` and ``contains``.
    """

    def check(self, name: str = "model_class") -> None:
        return None

    def log_size(self) -> float:
        return math.inf

    def responses(self, tokens: jax.Array, policy: Any) -> jax.Array:
        return response_columns(policy, tokens)

    def check_responses(self, y: jax.Array, name: str) -> None:
        check_ids(y, self.num_responses, name, "response")

    def check_xpo(self, alpha: Any) -> None:
        return None

    def to_policy(self, params: Any) -> Any:
        return TabularPolicy(self.table(params))


# ----------------------------------------------------------------------------------------------
# The classes


def _static(**kw):
    return dataclasses.field(metadata=dict(static=True), **kw)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TabularClass(ColumnIndexedClass):
    """The unrestricted tabular class: every conditional distribution ``pi(.|x)`` on ``[Y]``.

    It is realizable for every target (Assumptions 4.1, 4.3, D.1 hold trivially) but infinite:
    ``log|Pi|`` is infinite, and Theorem 4.1's ``log|Pi|`` is replaced by its covering number
    (footnote 5, "standard arguments").

    Attributes:
      num_prompts: X (static).
      num_responses: Y (static).
      smoothing: additive (Laplace) smoothing added to every count in the MLE (0 = plain MLE).
    """

    num_prompts: int = _static()
    num_responses: int = _static()
    smoothing: Any = 0.0

    def check(self, name: str = "model_class") -> None:
        # Negative pseudo-counts can make a count negative: log of a negative number is NaN.
        check_nonnegative(self.smoothing, f"{name}.smoothing")

    def mle_params(self, x, y, weights=None):
        return _mle_tabular(self, x, y, weights)

    def pair_fit_params(self, data, beta, alpha=0.0, init=None):
        return _pair_fit_tabular(self, data, beta, alpha, init)

    def check_xpo(self, alpha: Any) -> None:
        if not is_concrete(alpha):
            raise TypeError(
                "alpha must be a concrete value (not traced under jit/vmap) for XPO with a "
                "TabularClass: the tabular fit exists only for alpha = 0 (alpha > 0 is unbounded "
                "below), which can be checked only on a concrete alpha; pass alpha as a Python "
                "number or concrete array, or sweep alpha with a LinearSoftmaxClass or FiniteClass"
            )
        if float(np.max(np.asarray(alpha))) > 0:
            raise ValueError(_TABULAR_XPO_UNBOUNDED)

    def init_params(self, dtype):
        X, Y = self.num_prompts, self.num_responses
        return jnp.full((X, Y), -math.log(Y), dtype=dtype)

    def table(self, params):
        return _table_tabular(self, params)

    def to_policy(self, params):
        sparse = isinstance(params, (CountPolicy, SparseSoftmaxPolicy))
        return params if sparse else TabularPolicy(params)

    def contains(self, logp_target, atol=1e-6):
        return True  # the unrestricted class contains every table


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class FiniteClass(ColumnIndexedClass):
    """A finite class given as an explicit stack of ``K`` tables (section 1.4: finite Pi).

    With ``per_prompt=True`` it is the product class in which each prompt independently picks one
    of the ``K`` rows ``logp[k, x]`` (``|Pi| = K^X``, the structure of Theorem 3.1's hard class);
    ERM then decomposes over prompts. Ties in ERM go to the lowest index.

    Attributes:
      logp: ``[K, X, Y]`` normalized log-probability tables.
      per_prompt: static bool, product structure as above.
    """

    logp: jax.Array
    per_prompt: bool = _static(default=False)

    @property
    def num_members(self) -> int:
        return self.logp.shape[0]

    @property
    def num_prompts(self) -> int:
        return self.logp.shape[1]

    @property
    def num_responses(self) -> int:
        return self.logp.shape[2]

    def log_size(self) -> float:
        return _log_size_finite(self)

    def mle_params(self, x, y, weights=None):
        return _mle_finite(self, x, y, weights)

    def pair_fit_params(self, data, beta, alpha=0.0, init=None):
        return _pair_fit_finite(self, data, beta, alpha, init)

    def init_params(self, dtype):
        if self.per_prompt:
            return jnp.zeros(self.num_prompts, dtype=jnp.int32)
        return jnp.zeros((), dtype=jnp.int32)

    def table(self, params):
        return _table_finite(self, params)

    def contains(self, logp_target, atol=1e-6):
        return None if logp_target is None else _contains_finite(self, logp_target, atol)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class LinearSoftmaxClass(ColumnIndexedClass):
    """Linear softmax policies ``pi_theta(y|x) prop. to pi_zero(y|x) exp(<phi(x,y), theta>)``,
    ``||theta||_2 <= B`` (Theorem J.3's ``Pi_{phi,B}``).

    Attributes:
      features: ``[X, Y, d]`` feature map ``phi``.
      radius: ``B``, the norm bound.
      logp0: ``[X, Y]`` log ``pi_zero`` (``None`` = uniform, as in Theorem J.3).
      steps: static int, projected-gradient steps for the MLE and XPO fits.
      learning_rate: initial Adam step size of the projected gradient (cosine-decayed to 0);
        ``None`` means ``0.05 B``, so the iterates can cross the ball in the step budget (the
        likelihood of a sharp target keeps increasing up to the boundary ``||theta|| = B``).
    """

    features: jax.Array
    radius: Any
    logp0: jax.Array | None = None
    steps: int = _static(default=300)
    learning_rate: Any = None

    @property
    def num_prompts(self) -> int:
        return self.features.shape[0]

    @property
    def num_responses(self) -> int:
        return self.features.shape[1]

    @property
    def dim(self) -> int:
        return self.features.shape[2]

    def mle_params(self, x, y, weights=None):
        return _mle_linear(self, x, y, weights)

    def pair_fit_params(self, data, beta, alpha=0.0, init=None):
        return _pair_fit_linear(self, data, beta, alpha, init)

    def init_params(self, dtype):
        return jnp.zeros(self.dim, dtype=self.features.dtype)

    def table(self, params):
        return _table_linear(self, params)

    def to_policy(self, params):
        return _policy_linear(self, params)

    def contains(self, logp_target, atol=1e-6):
        return None if logp_target is None else _contains_linear(self, logp_target, atol)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class MarkovClass:
    """Prompt-conditioned first-order Markov chains of length ``H`` over ``V`` tokens.

    All :class:`~simulators.MarkovPolicy` with the given shapes; maximum likelihood is the
    closed-form count of first tokens and transitions (plus ``smoothing``). Rows never visited
    get the uniform law (one of their maximizers).

    Attributes:
      num_prompts: X (static).
      V: vocabulary size (static).
      H: response length (static).
      smoothing: additive smoothing added to every count.
    """

    num_prompts: int = _static()
    V: int = _static()
    H: int = _static()
    smoothing: Any = 0.0

    @property
    def num_responses(self) -> int:
        return self.V**self.H

    def check(self, name: str = "model_class") -> None:
        # Negative pseudo-counts can make a count negative: log of a negative number is NaN.
        check_nonnegative(self.smoothing, f"{name}.smoothing")

    def log_size(self) -> float:
        return math.inf

    def responses(self, tokens, policy):
        return tokens  # fitted on the token sequences

    def check_responses(self, y, name):
        check_ids(y, self.V, name, "token")

    def mle_params(self, x, y, weights=None):
        return _mle_markov(self, x, y, weights)

    def pair_fit_params(self, data, beta, alpha=0.0, init=None):
        _unsupported(
            "the squared-loss / XPO fit",
            self,
            " (the squared loss is not convex in a Markov chain's transition logits)",
        )

    def check_xpo(self, alpha):
        return None  # init_params refuses XPO (inside the run, as pair_fit_params)

    def init_params(self, dtype):
        raise TypeError(
            "xpo_sharpening needs a class with a table of its members and a squared-loss fit "
            "(TabularClass, FiniteClass, LinearSoftmaxClass, or any ModelClass providing them), "
            f"got {type(self).__name__}"
        )

    def table(self, params):
        _unsupported("table (an [X, Y] table of the members)", self, " (use to_policy)")

    def to_policy(self, params):
        return _policy_markov(self, params)

    def contains(self, logp_target, atol=1e-6):
        return _contains_markov(self, logp_target, atol)


_TABULAR_XPO_UNBOUNDED = (
    "XPO with alpha > 0 is unbounded below on the unrestricted TabularClass (the optimism "
    "term can put all mass on unobserved responses); use a bounded class such as "
    "LinearSoftmaxClass or a FiniteClass, or alpha = 0"
)


def check_model_class(model_class: Any, name: str = "model_class") -> Any:
    """Checks that ``model_class`` implements the :class:`ModelClass` protocol (by its required
    attributes) and runs the class's own parameter checks (``model_class.check(name)``)."""
    missing = [a for a in MODEL_CLASS_ATTRIBUTES if not hasattr(model_class, a)]
    if missing:
        raise TypeError(
            f"{name} must implement the simulators.ModelClass protocol (e.g. a TabularClass, "
            f"FiniteClass, LinearSoftmaxClass or MarkovClass, or a class of your own with the "
            f"attributes {', '.join(MODEL_CLASS_ATTRIBUTES)}); got {type(model_class).__name__}, "
            f"which lacks {', '.join(missing)}"
        )
    model_class.check(name)
    return model_class


def _check_class_ids(model_class: Any, x: jax.Array, ys: dict[str, jax.Array]) -> None:
    """Range checks of prompts and responses (in the class's encoding) against its spaces."""
    check_ids(x, model_class.num_prompts, "x", "prompt")
    for name, y in ys.items():
        model_class.check_responses(y, name)


# ----------------------------------------------------------------------------------------------
# Generic functions


def log_class_size(model_class: Any) -> float:
    """``log|Pi|`` (Theorem 4.1's ``log(|Pi|/rho)`` uses it); ``inf`` for infinite classes."""
    return check_model_class(model_class).log_size()


def _log_size_finite(model_class: FiniteClass) -> float:
    K, X = model_class.num_members, model_class.num_prompts
    return X * math.log(K) if model_class.per_prompt else math.log(K)


def linear_log_net_size(model_class: LinearSoftmaxClass, eps_disc: float) -> float:
    """``log N(Pi_{phi,B}, eps_disc) <= d log(6 B / eps_disc)`` (Lemma J.4)."""
    check_positive(eps_disc, "eps_disc")
    return model_class.dim * math.log(6 * float(model_class.radius) / eps_disc)


def class_table(model_class: Any, params: Any) -> jax.Array:
    """``[X, Y]`` log-probability table of the member with parameters ``params``
    (:meth:`ModelClass.table`)."""
    return model_class.table(params)


def _table_tabular(model_class: TabularClass, params: Any) -> jax.Array:
    # The MLE's CountPolicy, or (squared-loss fits, XPO's first iterate) the table itself.
    return params.logp if isinstance(params, (CountPolicy, SparseSoftmaxPolicy)) else params


def _table_finite(model_class: FiniteClass, params: Any) -> jax.Array:
    # params: member index (scalar) or [X] per-prompt indices.
    if model_class.per_prompt:
        return model_class.logp[params, jnp.arange(model_class.num_prompts)]
    return model_class.logp[params]


def _table_linear(model_class: LinearSoftmaxClass, params: Any) -> jax.Array:
    return linear_softmax_logp(model_class.features, params, model_class.logp0)


def _project_ball(theta: jax.Array, radius) -> jax.Array:
    norm = jnp.linalg.norm(theta)
    return theta * jnp.minimum(1.0, radius / jnp.maximum(norm, jnp.finfo(theta.dtype).tiny))


def _projected_gradient(loss, theta0: jax.Array, radius, steps: int, learning_rate) -> jax.Array:
    """Projected Adam on ``{||theta|| <= radius}`` with a cosine-decayed step size."""
    if learning_rate is None:
        learning_rate = 0.05 * radius
    schedule = optax.cosine_decay_schedule(learning_rate, steps)
    opt = optax.adam(schedule)
    grad = jax.grad(loss)

    def step(carry, _):
        theta, state = carry
        updates, state = opt.update(grad(theta), state, theta)
        theta = _project_ball(optax.apply_updates(theta, updates), radius)
        return (theta, state), None

    (theta, _), _ = jax.lax.scan(step, (theta0, opt.init(theta0)), None, length=steps)
    return theta


# --- maximum likelihood ------------------------------------------------------------------------


def _check_fit_inputs(x, y, weights):
    x = as_array(x, "x")
    y = as_array(y, "y")
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(f"x must hold integer prompt ids, got dtype {x.dtype}")
    if x.ndim != 1:
        raise ValueError(f"x must have shape [n], got {x.shape}")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have the same leading size as x {x.shape}, got {y.shape}")
    if weights is None:
        weights = jnp.ones(x.shape, dtype=jnp.result_type(float))
    else:
        weights = as_array(weights, "weights")
        if weights.shape != x.shape:
            raise ValueError(f"weights must have shape {x.shape}, got {weights.shape}")
        check_nonnegative(weights, "weights")
    return x, y, weights


def _tabular_responses(y: jax.Array) -> jax.Array:
    """Tabular responses as ``[n]`` ints (accepts Rollouts-style ``[n, 1]`` tokens)."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or not jnp.issubdtype(y.dtype, jnp.integer):
        raise ValueError(f"y must be [n] int response indices for a tabular class, got {y.shape}")
    return y


def mle_params(model_class: Any, x, y, weights=None) -> Any:
    """Parameters of ``argmax_{pi in Pi} sum_i w_i log pi(y_i|x_i)`` (see :func:`mle`;
    :meth:`ModelClass.mle_params`)."""
    return model_class.mle_params(x, y, weights)


def _mle_tabular(model_class: TabularClass, x, y, weights=None):
    x, y, w = _check_fit_inputs(x, y, weights)
    y = _tabular_responses(y)
    # The closed-form count MLE, kept as its n examples (CountPolicy): its table is built only
    # where it is asked for, and exact evaluation reads n entries instead of X Y.
    return unchecked(
        CountPolicy,
        x=x,
        y=y,
        weights=w,
        smoothing=jnp.asarray(model_class.smoothing, dtype=w.dtype),
        num_prompts=model_class.num_prompts,
        num_responses=model_class.num_responses,
    )


def _mle_finite(model_class: FiniteClass, x, y, weights=None):
    x, y, w = _check_fit_inputs(x, y, weights)
    y = _tabular_responses(y)
    ll = model_class.logp[:, x, y]  # [K, n]
    contrib = jnp.where(w > 0, w * ll, 0.0)
    if model_class.per_prompt:
        totals = jnp.zeros((model_class.num_members, model_class.num_prompts), ll.dtype)
        totals = totals.at[:, x].add(contrib)
        return jnp.argmax(totals, axis=0).astype(jnp.int32)
    return jnp.argmax(jnp.sum(contrib, axis=-1)).astype(jnp.int32)


def _mle_linear(model_class: LinearSoftmaxClass, x, y, weights=None):
    x, y, w = _check_fit_inputs(x, y, weights)
    y = _tabular_responses(y)
    scale = jnp.maximum(jnp.sum(w), 1.0)

    def loss(theta):
        table = class_table(model_class, theta)
        return negative_log_likelihood(table[x, y], w) / scale

    theta0 = jnp.zeros(model_class.dim, dtype=model_class.features.dtype)
    return _projected_gradient(
        loss, theta0, model_class.radius, model_class.steps, model_class.learning_rate
    )


def _normalize_counts(counts: jax.Array) -> jax.Array:
    total = jnp.sum(counts, axis=-1, keepdims=True)
    V = counts.shape[-1]
    with np.errstate(divide="ignore"):
        return jnp.where(
            total > 0,
            jnp.log(counts) - jnp.log(jnp.where(total > 0, total, 1.0)),
            -jnp.log(float(V)),
        )


def _mle_markov(model_class: MarkovClass, x, y, weights=None):
    x, y, w = _check_fit_inputs(x, y, weights)
    X, V, H = model_class.num_prompts, model_class.V, model_class.H
    if y.ndim != 2 or y.shape[1] != H or not jnp.issubdtype(y.dtype, jnp.integer):
        raise ValueError(f"y must be [n, H] = [n, {H}] int tokens for a MarkovClass, got {y.shape}")
    smooth = jnp.asarray(model_class.smoothing, dtype=w.dtype)
    init = jnp.zeros((X, V), w.dtype).at[x, y[:, 0]].add(w) + smooth
    xs = jnp.broadcast_to(x[:, None], (x.shape[0], H - 1))
    ws = jnp.broadcast_to(w[:, None], (x.shape[0], H - 1))
    trans = jnp.zeros((X, V, V), w.dtype).at[xs, y[:, :-1], y[:, 1:]].add(ws) + smooth
    return _normalize_counts(init), _normalize_counts(trans)


def params_to_policy(model_class: Any, params: Any) -> Any:
    """The policy pytree of the member with parameters ``params`` (:meth:`ModelClass.to_policy`)."""
    return model_class.to_policy(params)


def _policy_markov(model_class: MarkovClass, params: Any) -> MarkovPolicy:
    init_logp, trans_logp = params
    return MarkovPolicy(init_logp, trans_logp, model_class.H)


def _policy_linear(model_class: LinearSoftmaxClass, params: Any) -> LinearSoftmaxPolicy:
    X, Y = model_class.num_prompts, model_class.num_responses
    logp0 = model_class.logp0
    if logp0 is None:
        logp0 = jnp.full((X, Y), -math.log(Y), dtype=model_class.features.dtype)
    return LinearSoftmaxPolicy(model_class.features, params, logp0)


def mle(model_class: Any, x, y, weights=None) -> Any:
    """Maximum likelihood over Pi: ``argmax_{pi in Pi} sum_i w_i log pi(y_i|x_i)`` (pseudo-code B).

    Tabular: closed-form counts with additive smoothing (an unseen prompt gets the uniform law,
    one of its maximizers). Finite: exact ERM, ties to the lowest index. Linear softmax: projected
    Adam on the convex negative log-likelihood. Markov: closed-form transition counts.

    Args:
      model_class: the class Pi.
      x: ``[n]`` int prompts.
      y: responses: ``[n]`` int indices for tabular classes, ``[n, T]`` tokens for Markov ones.
      weights: optional ``[n]`` nonnegative weights (0 masks an example out).

    Returns:
      The fitted policy (a :class:`~simulators.TabularPolicy` for tabular, finite and linear
      classes; a Markov policy for :class:`MarkovClass`).
    """
    check_model_class(model_class)
    x, y, weights = _check_fit_inputs(x, y, weights)
    _check_class_ids(model_class, x, {"y": y})
    return _mle_jit(model_class, x, y, weights)


@jax.jit
def _mle_jit(model_class, x, y, weights):
    return params_to_policy(model_class, mle_params(model_class, x, y, weights))


# --- squared loss (Eq. 8) and XPO ---------------------------------------------------------------


def _check_pairs(data: Any) -> PairData:
    if not isinstance(data, PairData):
        raise TypeError(f"data must be a PairData (see make_pair_data), got {type(data).__name__}")
    return data


def pair_fit_params(model_class: Any, data: PairData, beta, alpha=0.0, init=None) -> Any:
    """Parameters minimizing :func:`xpo_objective` over Pi (``alpha = 0``: the squared loss of
    Eq. 8; :meth:`ModelClass.pair_fit_params`)."""
    return model_class.pair_fit_params(data, beta, alpha, init)


def _pair_fit_tabular(model_class: TabularClass, data: PairData, beta, alpha=0.0, init=None):
    if is_concrete(alpha) and np.any(np.asarray(alpha) > 0):
        raise ValueError(_TABULAR_XPO_UNBOUNDED)
    # The targets r(x,y) - r(x,y') are differences of the potential log pi_base + r / beta, so the
    # loss is minimized (at zero) by log pi(y|x) = log pi_base(y|x) + r(x,y)/beta + c(x) on observed
    # responses. Among the minimizers we return the one with zero mass on responses never
    # observed at x (the loss does not involve them), and the uniform law on prompts never seen:
    # a SparseSoftmaxPolicy of the 2n observed potentials (no [X, Y] table until one is asked
    # for). With a warm start (XPO's rounds, whose iterates are carried as tables) the result
    # has init's structure: the table.
    w = data.weights
    pot = jnp.concatenate(
        [
            jnp.where(w > 0, data.logp_base_y + data.reward_y / beta, -jnp.inf),
            jnp.where(w > 0, data.logp_base_y2 + data.reward_y2 / beta, -jnp.inf),
        ]
    )
    # A traced alpha cannot be refused above: poison the result rather than silently returning
    # the alpha = 0 fit for alpha > 0 (xpo_sharpening refuses a traced alpha up front).
    pot = jnp.where(jnp.any(jnp.asarray(alpha) > 0), jnp.nan, pot)
    fit = unchecked(
        SparseSoftmaxPolicy,
        x=jnp.concatenate([data.x, data.x]),
        y=jnp.concatenate([data.y, data.y2]),
        logits=pot,
        num_prompts=model_class.num_prompts,
        num_responses=model_class.num_responses,
    )
    return fit if init is None else fit.logp


def _pair_fit_finite(model_class: FiniteClass, data: PairData, beta, alpha=0.0, init=None):
    lp_y = model_class.logp[:, data.x, data.y]  # [K, n]
    lp_y2 = model_class.logp[:, data.x, data.y2]
    res = squared_loss_residual(
        lp_y, lp_y2, data.logp_base_y, data.logp_base_y2, beta, data.reward_y, data.reward_y2
    )
    per_example = res**2 + alpha * lp_y2
    contrib = jnp.where(data.weights > 0, data.weights * per_example, 0.0)
    contrib = jnp.where(jnp.isnan(contrib), jnp.inf, contrib)
    if model_class.per_prompt:
        totals = jnp.zeros((model_class.num_members, model_class.num_prompts), contrib.dtype)
        totals = totals.at[:, data.x].add(contrib)
        return jnp.argmin(totals, axis=0).astype(jnp.int32)
    return jnp.argmin(jnp.sum(contrib, axis=-1)).astype(jnp.int32)


def _ball_least_squares(A: jax.Array, b: jax.Array, w: jax.Array, radius) -> jax.Array:
    """Exact ``argmin_{||theta|| <= radius} sum_i w_i (A_i theta - b_i)^2``, minimum-norm on ties.

    Eigen-decompose ``H = A^T W A``; the unconstrained minimum-norm solution is used if it is
    inside the ball, otherwise the boundary solution ``(H + nu I)^{-1} g`` with ``nu > 0`` found by
    bisection on ``log nu`` (the trust-region subproblem; convex, so this is the global optimum).
    """
    Aw = A * w[:, None]
    H = A.T @ Aw
    g = Aw.T @ b
    lam, Q = eigh(H)
    c = Q.T @ g
    tol = jnp.max(jnp.abs(lam)) * H.shape[0] * 1e3 * jnp.finfo(H.dtype).eps
    pos = lam > tol
    theta_free = Q @ jnp.where(pos, c / jnp.where(pos, lam, 1.0), 0.0)

    def norm_sq(log_nu):
        nu = jnp.exp(log_nu)
        return jnp.sum(jnp.where(pos, (c / (jnp.maximum(lam, 0.0) + nu)) ** 2, 0.0))

    radius = jnp.asarray(radius, H.dtype)
    lo = jnp.log(jnp.maximum(tol, jnp.finfo(H.dtype).tiny)) - 5.0
    hi = jnp.log(jnp.linalg.norm(c) / jnp.maximum(radius, jnp.finfo(H.dtype).tiny) + 1.0) + 5.0

    def bisect(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        too_big = norm_sq(mid) > radius**2
        return jnp.where(too_big, mid, lo), jnp.where(too_big, hi, mid)

    lo, hi = jax.lax.fori_loop(0, 200, bisect, (lo, hi))
    nu = jnp.exp(hi)
    theta_ball = Q @ jnp.where(pos, c / (jnp.maximum(lam, 0.0) + nu), 0.0)
    inside = jnp.linalg.norm(theta_free) <= radius
    return jnp.where(inside, theta_free, theta_ball)


def _linear_design(model_class: LinearSoftmaxClass, data: PairData, beta):
    """Squared-loss residual as ``A theta - b``: log-ratios are linear in theta."""
    phi = model_class.features
    A = beta * (phi[data.x, data.y] - phi[data.x, data.y2])
    b = (data.reward_y - data.reward_y2) + beta * (data.logp_base_y - data.logp_base_y2)
    if model_class.logp0 is not None:
        lp0 = model_class.logp0
        b = b - beta * (lp0[data.x, data.y] - lp0[data.x, data.y2])
    # Masked-out examples may hold -inf log-likelihoods; zero them so 0 * inf never appears.
    b = jnp.where(data.weights > 0, b, 0.0)
    return A, b


def _pair_fit_linear(model_class: LinearSoftmaxClass, data: PairData, beta, alpha=0.0, init=None):
    A, b = _linear_design(model_class, data, beta)
    w = data.weights
    theta_ls = _ball_least_squares(A, b, w, model_class.radius)
    if is_concrete(alpha) and float(np.max(np.asarray(alpha))) == 0.0:
        return theta_ls
    # With alpha > 0 the objective adds alpha * sum log pi(y'|x), a concave term, so it is not
    # convex: projected Adam, started from the warm start (XPO's previous iterate) if given.
    scale = jnp.maximum(jnp.sum(w), 1.0)

    def loss(theta):
        table = class_table(model_class, theta)
        opt = _weighted_sum(table[data.x, data.y2], w)
        return (alpha * opt + _weighted_sum((A @ theta - b) ** 2, w)) / scale

    theta0 = theta_ls if init is None else init
    theta = _projected_gradient(
        loss, theta0, model_class.radius, model_class.steps, model_class.learning_rate
    )
    return jnp.where(alpha > 0, theta, theta_ls)


def fit_squared_loss(model_class: Any, data: PairData, beta) -> Any:
    """DPO-style RLHF-Sharpening fit (Eq. 8): ``argmin_{pi in Pi} sum_D w (residual)^2``.

    ::

        pi_hat in argmin_{pi in Pi} sum_{(x,y,y') in D} ( beta log pi(y|x)/pi_base(y|x)
                 - beta log pi(y'|x)/pi_base(y'|x) - [r(x,y) - r(x,y')] )^2

    Tabular: closed form; the targets are differences of the potential ``log pi_base + r/beta``,
    so the loss is zero at ``log pi = log pi_base + r/beta + c(x)`` on the observed responses; the
    returned minimizer puts zero mass on responses never observed at ``x`` (the loss does not
    constrain them) and is uniform on prompts never drawn. Finite: exact ERM (ties: lowest
    index). Linear softmax: the log-ratios are linear in theta, so this is an exact
    ball-constrained least-squares problem (minimum-norm solution on ties).

    Args:
      model_class: the class Pi.
      data: :class:`PairData` of triples with observed base log-likelihoods.
      beta: KL weight > 0.

    Returns:
      The fitted policy.
    """
    check_model_class(model_class)
    data = _check_pairs(data)
    check_positive(beta, "beta")
    _check_class_ids(model_class, data.x, {"data.y": data.y, "data.y2": data.y2})
    return _fit_squared_loss_jit(model_class, data, beta)


@jax.jit
def _fit_squared_loss_jit(model_class, data, beta):
    return params_to_policy(model_class, pair_fit_params(model_class, data, beta, 0.0))


# --- realizability -----------------------------------------------------------------------------


def contains(model_class: Any, logp_target: Any, atol: float = 1e-6) -> Any:
    """Whether ``logp_target [X, Y]`` is (up to ``atol``) a member of Pi (realizability).

    Assumption 4.1 (SFT: ``pi^BoN_N in Pi``), 4.3 / J.3 (RLHF and XPO: ``pi*_beta in Pi``) and D.1
    need it. Finite: some member within ``atol`` in max absolute probability difference (per
    prompt for product classes). Linear softmax: ``log target - log pi_zero`` is, up to a
    per-prompt constant, ``<phi, theta>`` for some ``||theta|| <= B`` (minimum-norm least squares,
    residual within ``atol`` in log space). Markov: not checked (returns ``None``).

    Returns:
      A bool (a traced bool array inside ``jit``), or ``None`` when the class does not check.
    """
    return check_model_class(model_class).contains(logp_target, atol)


def _contains_markov(model_class: MarkovClass, logp_target: Any, atol: float = 1e-6):
    return None  # not checked: the targets of the theorems are generally not Markov chains


def _contains_finite(model_class: FiniteClass, logp_target: Any, atol: float = 1e-6):
    target = check_logp(logp_target, "logp_target", min_ndim=2)
    if target.shape != model_class.logp.shape[1:]:
        raise ValueError(
            f"logp_target must have shape [X, Y] = {model_class.logp.shape[1:]}, got {target.shape}"
        )
    dist = jnp.max(jnp.abs(jnp.exp(model_class.logp) - jnp.exp(target)), axis=-1)  # [K, X]
    close = dist <= atol
    if model_class.per_prompt:
        ok = jnp.all(jnp.any(close, axis=0))
    else:
        ok = jnp.any(jnp.all(close, axis=1))
    return bool(ok) if is_concrete(ok) else ok


def _contains_linear(model_class: LinearSoftmaxClass, logp_target: Any, atol: float = 1e-6):
    target = check_logp(logp_target, "logp_target", min_ndim=2)
    X, Y, d = model_class.features.shape
    if target.shape != (X, Y):
        raise ValueError(f"logp_target must have shape [X, Y] = {(X, Y)}, got {target.shape}")
    lp0 = jnp.zeros((X, Y), target.dtype) if model_class.logp0 is None else model_class.logp0
    support = jnp.isfinite(lp0)
    same_support = jnp.all(support == jnp.isfinite(target))
    z = jnp.where(support, target - lp0, 0.0)
    cnt = jnp.maximum(jnp.sum(support, axis=-1, keepdims=True), 1)
    z = jnp.where(support, z - jnp.sum(z, axis=-1, keepdims=True) / cnt, 0.0)
    phi = jnp.where(support[..., None], model_class.features, 0.0)
    phi = jnp.where(
        support[..., None], phi - jnp.sum(phi, axis=1, keepdims=True) / cnt[..., None], 0.0
    )
    theta = lstsq(phi.reshape(-1, d), z.reshape(-1))
    resid = jnp.max(jnp.abs(phi.reshape(-1, d) @ theta - z.reshape(-1)))
    norm_ok = jnp.linalg.norm(theta) <= model_class.radius * (1 + 1e-9) + atol
    ok = same_support & (resid <= atol) & norm_ok
    return bool(ok) if is_concrete(ok) else ok


def check_realizable(model_class: Any, logp_target: Any, what: str, mode: str, atol=1e-6):
    """Checks a realizability hypothesis; returns the flag (None when not checkable).

    Args:
      model_class: the class Pi.
      logp_target: ``[X, Y]`` target table (e.g. ``theory.kl_tilt(logp_base, beta)``).
      what: the hypothesis and target, for the error message.
      mode: ``"error"`` raises a ValueError when the (concrete) check fails, ``"flag"`` only
        returns the flag, ``"skip"`` returns None without checking.
    """
    if mode not in ("error", "flag", "skip"):
        raise ValueError(f"realizability must be 'error', 'flag' or 'skip', got {mode!r}")
    if mode == "skip":
        return None
    ok = contains(model_class, logp_target, atol)
    if ok is None:
        return None
    if mode == "error" and is_concrete(ok) and not bool(ok):
        raise ValueError(
            f"{type(model_class).__name__} does not contain {what}, which the theorem assumes "
            "(realizability). Use a class that contains it, or pass realizability='flag' to run "
            "anyway and record the violation in diagnostics['realizable']."
        )
    return ok


def check_class_matches(model_class: Any, num_prompts: int, num_responses: int | None) -> None:
    """Checks that the class's prompt/response spaces match the oracle's base policy."""
    X = getattr(model_class, "num_prompts", None)
    if X is not None and X != num_prompts:
        raise ValueError(
            f"model_class has {X} prompts but the oracle's prompt distribution has {num_prompts}"
        )
    Y = getattr(model_class, "num_responses", None)
    if Y is not None and num_responses is not None and Y != num_responses:
        raise ValueError(
            f"model_class has {Y} responses but the oracle's base policy has {num_responses}"
        )
