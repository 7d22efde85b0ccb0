"""Answer-bearing toy policies: tabular policies whose responses carry an extracted answer.

:class:`AnswerToy` is a tabular ``pi_base`` over token-sequence responses, each with a length, an
extracted answer and whether it is correct, so that self-rewards that read the response
(length-normalized log-likelihood, majority vote over answers; App. A.1/A.2) and task accuracy
can be computed exactly. Two built-in instances (THEORY.md section 6 items 12 and 13):

* :func:`length_bias_toy`: the likelihood favours short wrong answers, so best-of-N with the
  log-likelihood self-reward loses accuracy as N grows while the length-normalized one gains it;
* :func:`majority_vs_likelihood_toy`: the single most likely response is wrong while most mass is on
  correct answers spread over many paths, so majority vote gains and likelihood loses.

``bounds.bon_accuracy`` and ``bounds.majority_accuracy`` compute their best-of-N accuracy curves.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from theory.checks import check_count, check_probs

from ._api import log_prob, sample, to_table
from ._best_of_n import best_of_n
from ._rewards import majority_vote
from ._rollouts import Rollouts
from ._tabular import TabularPolicy, check_prompts


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["logp", "tokens", "lengths", "answers", "correct"],
    meta_fields=[],
)
@dataclasses.dataclass(frozen=True)
class AnswerToy:
    """A tabular policy whose responses are token sequences with an extracted answer.

    Response ``y`` of prompt ``x`` is the token sequence ``tokens[x, y, :lengths[x, y]]`` (padding
    0 after), its final answer is ``answers[x, y]`` and it is correct iff ``correct[x, y]``.
    :func:`simulators.sample` on it returns Rollouts with ``answers`` and ``correct`` filled in.

    Attributes:
      logp: ``[X, Y]`` normalized log-probabilities of ``pi_base``.
      tokens: ``[X, Y, T]`` int token sequences (distinct within a prompt; 0 is padding).
      lengths: ``[X, Y]`` int ``|y|``.
      answers: ``[X, Y]`` int extracted answers.
      correct: ``[X, Y]`` bool ground-truth correctness (evaluation only).
    """

    logp: jax.Array
    tokens: jax.Array
    lengths: jax.Array
    answers: jax.Array
    correct: jax.Array

    @classmethod
    def create(cls, probs: Any, lengths: Any, answers: Any, correct_answer: Any) -> AnswerToy:
        """Validated constructor.

        Args:
          probs: ``[X, Y]`` probabilities (rows summing to 1).
          lengths: ``[X, Y]`` ints ``>= 1``.
          answers: ``[X, Y]`` ints ``>= 0``.
          correct_answer: ``[X]`` the correct answer of each prompt.
        """
        logp = check_probs(probs, "probs", min_ndim=2)
        if logp.ndim != 2:
            raise ValueError(f"probs must have shape [X, Y], got {logp.shape}")
        X, Y = logp.shape
        lengths = np.asarray(lengths)
        answers = np.asarray(answers)
        correct_answer = np.asarray(correct_answer)
        for name, a in (("lengths", lengths), ("answers", answers)):
            if a.shape != (X, Y) or not np.issubdtype(a.dtype, np.integer):
                raise ValueError(
                    f"{name} must be an [X, Y] = {(X, Y)} int array, got {a.dtype} {a.shape}"
                )
        if (lengths < 1).any():
            raise ValueError("lengths must be >= 1")
        if (answers < 0).any():
            raise ValueError("answers must be >= 0 (-1 is reserved for 'no answer')")
        if correct_answer.shape != (X,):
            raise ValueError(
                f"correct_answer must have shape [X] = ({X},), got {correct_answer.shape}"
            )
        T = int(lengths.max())
        # Response y of every prompt: first token y + 1 (makes sequences distinct), then filler
        # tokens Y + 1; padding 0.
        tokens = np.zeros((X, Y, T), np.int32)
        pos = np.arange(T)
        tokens[:] = np.where(pos[None, None, :] < lengths[..., None], Y + 1, 0)
        tokens[:, :, 0] = np.arange(1, Y + 1)[None, :]
        return cls(
            logp=jnp.asarray(logp),
            tokens=jnp.asarray(tokens),
            lengths=jnp.asarray(lengths.astype(np.int32)),
            answers=jnp.asarray(answers.astype(np.int32)),
            correct=jnp.asarray(answers == correct_answer[:, None]),
        )

    @property
    def num_prompts(self) -> int:
        return self.logp.shape[0]

    @property
    def num_responses(self) -> int:
        return self.logp.shape[1]


@sample.register(AnswerToy)
def _sample_answer_toy(key: jax.Array, toy: AnswerToy, x: Any, n: int) -> Rollouts:
    n = check_count(n, "n")
    x = check_prompts(x, toy.num_prompts)
    r = sample(key, TabularPolicy(toy.logp), x, n)
    y = r.tokens[..., 0]  # [P, N] response indices
    xb = jnp.broadcast_to(x[:, None], y.shape)
    return Rollouts(
        prompts=x,
        tokens=toy.tokens[xb, y],
        lengths=toy.lengths[xb, y],
        logp_base=r.logp_base,
        answers=toy.answers[xb, y],
        correct=toy.correct[xb, y],
    )


@log_prob.register(AnswerToy)
def _log_prob_answer_toy(toy: AnswerToy, x, y) -> jax.Array:
    """``y`` is the response index (as for tabular policies)."""
    return toy.logp[jnp.asarray(x), jnp.asarray(y)]


@to_table.register(AnswerToy)
def _to_table_answer_toy(toy: AnswerToy, *, max_entries: int | None = None) -> jax.Array:
    return toy.logp


def _per_prompt(value: Any, X: int, name: str) -> np.ndarray:
    v = np.broadcast_to(np.asarray(value, dtype=np.float64), (X,))
    if not np.all(np.isfinite(v)) or (v <= 0).any() or (v >= 1).any():
        raise ValueError(f"{name} must lie in (0, 1), got {value}")
    return v


def length_bias_toy(
    num_prompts: int = 4,
    *,
    short_mass: Any = (0.2, 0.25, 0.3, 0.35),
    correct_mass: float = 0.5,
    num_correct_paths: int = 10,
    num_wrong_paths: int = 10,
    short_length: int = 2,
    long_length: int = 12,
    wrong_length: int = 6,
) -> AnswerToy:
    """Length bias (THEORY.md section 6 item 12): short responses are likelier but wrong.

    Each prompt has one short wrong response (mass ``short_mass``, length ``short_length``, answer
    1), ``num_correct_paths`` long correct responses (total mass ``correct_mass``, length
    ``long_length``, answer 0) and ``num_wrong_paths`` medium wrong responses sharing the rest (each
    with its own wrong answer ``2, 3, ...``). With the defaults the short response has the largest
    sequence likelihood but the smallest per-token likelihood, so best-of-N under ``log pi_base``
    converges to the wrong short answer while length normalization and majority vote converge to
    the correct one (the correct answer also has the largest answer marginal).

    Args:
      num_prompts: X.
      short_mass: scalar or ``[X]`` mass of the short wrong response.
      correct_mass: total mass of the correct responses.
      num_correct_paths, num_wrong_paths: numbers of long correct / medium wrong responses.
      short_length, long_length, wrong_length: response lengths in tokens.

    Returns:
      :class:`AnswerToy` with ``Y = 1 + num_correct_paths + num_wrong_paths``.
    """
    X = check_count(num_prompts, "num_prompts")
    Kc = check_count(num_correct_paths, "num_correct_paths")
    Kw = check_count(num_wrong_paths, "num_wrong_paths")
    for name, v in (
        ("short_length", short_length),
        ("long_length", long_length),
        ("wrong_length", wrong_length),
    ):
        check_count(v, name)
    s = _per_prompt(short_mass, X, "short_mass")
    c = _per_prompt(correct_mass, X, "correct_mass")
    rest = 1.0 - s - c
    if (rest <= 0).any():
        raise ValueError("short_mass + correct_mass must be < 1")
    probs = np.concatenate(
        [
            s[:, None],
            np.repeat(c[:, None] / Kc, Kc, axis=1),
            np.repeat(rest[:, None] / Kw, Kw, axis=1),
        ],
        axis=1,
    )
    lengths = np.concatenate([[short_length], [long_length] * Kc, [wrong_length] * Kw])
    answers = np.concatenate([[1], [0] * Kc, 2 + np.arange(Kw)])
    return AnswerToy.create(
        probs,
        np.broadcast_to(lengths, probs.shape).astype(np.int64),
        np.broadcast_to(answers, probs.shape).astype(np.int64),
        np.zeros(X, np.int64),
    )


def majority_vs_likelihood_toy(
    num_prompts: int = 1,
    *,
    top_wrong_mass: Any = 0.3,
    correct_mass: float = 0.5,
    num_correct_paths: int = 20,
    num_other_paths: int = 20,
    length: int = 8,
) -> AnswerToy:
    """Majority vs likelihood (THEORY.md section 6 item 13): the correct answer is spread thin.

    Each prompt has one wrong response of mass ``top_wrong_mass`` (the single most likely
    sequence, answer 1), ``num_correct_paths`` correct reasoning paths sharing ``correct_mass``
    (answer 0) and ``num_other_paths`` wrong paths sharing the rest (answers ``2, 3, ...``), all of
    the same length. The answer marginal's mode is correct (``correct_mass > top_wrong_mass``)
    while the sequence argmax is wrong, so majority vote sharpens toward the correct answer and
    best-of-N under ``log pi_base`` (or its length-normalized version) toward the wrong one.

    Args:
      num_prompts: X.
      top_wrong_mass: scalar or ``[X]`` mass of the most likely (wrong) response.
      correct_mass: total mass of the correct paths.
      num_correct_paths, num_other_paths: numbers of correct / other wrong paths.
      length: common response length.

    Returns:
      :class:`AnswerToy` with ``Y = 1 + num_correct_paths + num_other_paths``.
    """
    X = check_count(num_prompts, "num_prompts")
    Kc = check_count(num_correct_paths, "num_correct_paths")
    Kw = check_count(num_other_paths, "num_other_paths")
    L = check_count(length, "length")
    t = _per_prompt(top_wrong_mass, X, "top_wrong_mass")
    c = _per_prompt(correct_mass, X, "correct_mass")
    rest = 1.0 - t - c
    if (rest <= 0).any():
        raise ValueError("top_wrong_mass + correct_mass must be < 1")
    probs = np.concatenate(
        [
            t[:, None],
            np.repeat(c[:, None] / Kc, Kc, axis=1),
            np.repeat(rest[:, None] / Kw, Kw, axis=1),
        ],
        axis=1,
    )
    answers = np.concatenate([[1], [0] * Kc, 2 + np.arange(Kw)])
    return AnswerToy.create(
        probs,
        np.full(probs.shape, L, np.int64),
        np.broadcast_to(answers, probs.shape).astype(np.int64),
        np.zeros(X, np.int64),
    )


def majority_prefix_correct(key: jax.Array, toy: AnswerToy, ns: Any, num_draws: int) -> jax.Array:
    """Correctness ``[len(ns), X * num_draws]`` of best-of-N under the majority-vote self-reward
    (App. A.2), every ``N`` of ``ns`` from one draw.

    Each prompt (all ``X``, ``num_draws`` times each, prompt-major) draws ``max(ns)`` responses
    once; best-of-N votes among the first ``N`` only: the later responses' answers are hidden
    (``-1``, which :func:`~simulators.majority_vote` neither counts nor scores above a real vote),
    so the prefix is an i.i.d. sample of size ``N`` and the ``N`` are paired (the same draws).
    Ties are broken uniformly, with one key per ``N``. Majority vote is not per-draw, so its
    best-of-N law is not :func:`theory.bon_law`: this is its Monte Carlo estimate.

    Args:
      key: PRNG key.
      toy: the instance.
      ns: ``[K]`` ints >= 1, the budgets ``N``.
      num_draws: int >= 1, draws per prompt.

    Returns:
      ``[K, X * num_draws]`` bool: whether the chosen response is correct; row ``k`` is ``N =
      ns[k]``, column ``x * num_draws + d`` is prompt ``x``'s draw ``d``.
    """
    ns = np.asarray(ns)
    if ns.ndim != 1 or ns.size == 0 or not np.issubdtype(ns.dtype, np.integer) or ns.min() < 1:
        raise ValueError(f"ns must be a non-empty [K] array of ints >= 1, got {ns!r}")
    num_draws = check_count(num_draws, "num_draws")
    return _majority_prefix_correct(key, toy, jnp.asarray(ns), int(ns.max()), num_draws)


@functools.partial(jax.jit, static_argnames=("N_max", "num_draws"))
def _majority_prefix_correct(key, toy, ns, N_max: int, num_draws: int):
    X = toy.logp.shape[0]
    k_draw, k_tie = jax.random.split(key)
    rollouts = sample(k_draw, toy, jnp.repeat(jnp.arange(X), num_draws), N_max)

    def correct(args):  # one N at a time: majority_vote builds [P, N, N] comparisons
        k, n = args
        hide = jnp.arange(N_max) >= n
        r = dataclasses.replace(rollouts, answers=jnp.where(hide, -1, rollouts.answers))
        pick = best_of_n(k, r, majority_vote)
        return jnp.take_along_axis(r.correct, pick[:, None], axis=1)[:, 0]

    return jax.lax.map(correct, (jax.random.split(k_tie, ns.shape[0]), ns))
