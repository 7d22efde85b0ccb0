"""Self-rewards: maps from :class:`~simulators.Rollouts` to ``[P, N]`` scores (THEORY.md 1.2).

Every self-reward here is "derived purely from the base model ... without external supervision"
(section 1.1): it reads only what the sample-and-evaluate oracle reveals (log-likelihoods, per-token
statistics, extracted answers), never ``correct``. Higher scores are better, so best-of-N
(:func:`simulators.best_of_n`) keeps the argmax.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._rollouts import Rollouts, check_rollouts


def _require(rollouts: Rollouts, field: str, reward: str) -> jax.Array:
    value = getattr(rollouts, field)
    if value is None:
        raise ValueError(
            f"the {reward} self-reward needs rollouts.{field}, which is None; sample with a policy "
            f"(or adapter) that records {field}"
        )
    return value


def _token_mean(values: jax.Array, rollouts: Rollouts) -> jax.Array:
    """Mean over real (non-padding) tokens of ``values[P, N, T]``; 0 for empty responses."""
    mask = rollouts.mask
    total = jnp.sum(jnp.where(mask, values, 0.0), axis=-1)
    count = jnp.sum(mask, axis=-1)
    return jnp.where(count > 0, total / jnp.maximum(count, 1), 0.0)


def log_likelihood(rollouts: Rollouts) -> jax.Array:
    """Sequence log-likelihood ``r_self(y|x) = log pi_base(y|x)`` (Eq. 2, maximum-likelihood
    sharpening).

    Args:
      rollouts: :class:`~simulators.Rollouts` with ``logp_base[P, N]``.

    Returns:
      ``[P, N]`` float scores (``-inf`` allowed for zero-probability responses).
    """
    rollouts = check_rollouts(rollouts)
    return jnp.asarray(rollouts.logp_base)


def length_normalized_log_likelihood(rollouts: Rollouts) -> jax.Array:
    """Length-normalized log-likelihood ``log pi_base(y|x) / |y|`` (App. A.2).

    ``|y|`` is ``rollouts.lengths`` (tokens, end-of-sequence included when present). Empty responses
    (length 0) score their unnormalized log-likelihood, which is 0 for a certain empty response.

    Returns:
      ``[P, N]`` float scores.
    """
    rollouts = check_rollouts(rollouts)
    logp = jnp.asarray(rollouts.logp_base)
    lengths = jnp.asarray(rollouts.lengths)
    return jnp.where(lengths > 0, logp / jnp.maximum(lengths, 1).astype(logp.dtype), logp)


def majority_vote(rollouts: Rollouts) -> jax.Array:
    """Majority / self-consistency self-reward (App. A.2).

    The score of sample ``i`` of prompt ``p`` is the number of samples of the same prompt whose
    extracted answer equals its own, i.e. ``N`` times the sample estimate of the answer marginal
    ``sum_{y': y'_ans = y_ans} pi_base(y'|x)``. Best-of-N under this reward returns a response whose
    answer is the most frequent. Samples with no extracted answer (``answers == -1``) score 0 and
    are not counted as votes.

    Args:
      rollouts: :class:`~simulators.Rollouts` with ``answers[P, N]`` int.

    Returns:
      ``[P, N]`` float vote counts in ``{0, 1, ..., N}``.

    Raises:
      ValueError: when ``rollouts.answers`` is None.
    """
    rollouts = check_rollouts(rollouts)
    answers = jnp.asarray(_require(rollouts, "answers", "majority_vote"))
    valid = answers != -1
    same = (answers[:, :, None] == answers[:, None, :]) & valid[:, None, :]  # [P, N, N]
    votes = jnp.sum(same, axis=-1)
    dtype = jnp.result_type(float)
    return jnp.where(valid, votes, 0).astype(dtype)


def self_certainty(rollouts: Rollouts) -> jax.Array:
    """Self-certainty (Zhao et al. 2025): mean over real tokens of ``KL(uniform || p_t)``.

    Args:
      rollouts: :class:`~simulators.Rollouts` with ``token_kl_uniform[P, N, T]``.

    Returns:
      ``[P, N]`` float scores (larger = more certain).

    Raises:
      ValueError: when ``rollouts.token_kl_uniform`` is None.
    """
    rollouts = check_rollouts(rollouts)
    kl = jnp.asarray(_require(rollouts, "token_kl_uniform", "self_certainty"))
    return _token_mean(kl, rollouts)


def negative_entropy(rollouts: Rollouts) -> jax.Array:
    """Negative mean token entropy ``-(1/|y|) sum_t H(p_t)`` (entropy minimization, App. B).

    Args:
      rollouts: :class:`~simulators.Rollouts` with ``token_entropy[P, N, T]``.

    Returns:
      ``[P, N]`` float scores (larger = lower entropy).

    Raises:
      ValueError: when ``rollouts.token_entropy`` is None.
    """
    rollouts = check_rollouts(rollouts)
    ent = jnp.asarray(_require(rollouts, "token_entropy", "negative_entropy"))
    return -_token_mean(ent, rollouts)
