"""Rollouts: the one data structure every estimator consumes (DESIGN.md, "How data flows" item 3).

Toy policies and the transformer adapter both produce Rollouts, and self-rewards, best-of-N,
coverage estimates and the learners read only Rollouts (or exact tables), never a policy's
internals. That is what lets the same estimators run on toy and real models.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Rollouts:
    """N sampled responses for each of P prompts, with what the sample-and-evaluate oracle reveals.

    Axis letters: ``P`` prompts, ``N`` samples per prompt, ``T`` tokens (``T = 1`` for tabular
    policies, whose response is a single index).

    Attributes:
      prompts: ``[P]`` int prompt ids (index into the instance's prompt space or task list).
      tokens: ``[P, N, T]`` int response tokens; positions at or after ``lengths`` are padding.
      lengths: ``[P, N]`` int number of response tokens (the end-of-sequence token included when the
        response ended with one), ``|y|`` in the length-normalized self-reward.
      logp_base: ``[P, N]`` float ``log pi_base(y | x)`` of each response: the "evaluate" half of
        Definition 3.2's oracle.
      answers: optional ``[P, N]`` int extracted final answers (``-1`` when none could be
        extracted), used by the majority-vote self-reward.
      correct: optional ``[P, N]`` bool ground-truth correctness (for evaluation only; no
        self-reward may read it).
      token_logp: optional ``[P, N, T]`` per-token ``log pi_base(y_t | x, y_<t)``, 0 on padding.
      token_entropy: optional ``[P, N, T]`` entropy of the next-token distribution at each response
        position, 0 on padding (for the negative-entropy self-reward).
      token_kl_uniform: optional ``[P, N, T]`` ``KL(uniform || p_t)`` at each response position,
        0 on padding (for the self-certainty reward of Zhao et al. 2025).
      prompt_tokens: optional ``[P, L]`` int token ids of each row's prompt (``prompt_tokens[p]``
        those of ``prompts[p]``), ``-1`` after the prompt's last token: what the transformer
        adapter conditioned on, so that scoring the responses again never re-encodes the prompt
        strings. Per prompt, like ``prompts``: :meth:`map_samples` leaves it as it is.
    """

    prompts: jax.Array
    tokens: jax.Array
    lengths: jax.Array
    logp_base: jax.Array
    answers: jax.Array | None = None
    correct: jax.Array | None = None
    token_logp: jax.Array | None = None
    token_entropy: jax.Array | None = None
    token_kl_uniform: jax.Array | None = None
    prompt_tokens: jax.Array | None = None

    @property
    def num_prompts(self) -> int:
        """P, the number of prompts."""
        return self.tokens.shape[0]

    @property
    def num_samples(self) -> int:
        """N, the number of responses per prompt."""
        return self.tokens.shape[1]

    @property
    def mask(self) -> jax.Array:
        """``[P, N, T]`` bool, True on real (non-padding) response tokens."""
        t = jnp.arange(self.tokens.shape[-1])
        return t < self.lengths[..., None]

    def map_samples(self, fn: Any) -> Rollouts:
        """Applies ``fn`` to every per-sample ``[P, N, ...]`` field (absent fields stay None)."""
        fields = {
            f.name: None if getattr(self, f.name) is None else fn(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name not in ("prompts", "prompt_tokens")
        }
        return dataclasses.replace(self, **fields)

    def take(self, index: Any) -> Rollouts:
        """Selects samples along the N axis (``index`` is ``[N']`` ints), e.g. to subsample N_max.

        This is how the paper simulates smaller N from N_max = 50 draws (App. A.1).
        """
        index = jnp.asarray(index)
        return self.map_samples(lambda a: jnp.take(a, index, axis=1))


def check_rollouts(rollouts: Any, name: str = "rollouts") -> Rollouts:
    """Checks that ``rollouts`` is a :class:`Rollouts` with consistent ``[P, N, T]`` shapes."""
    if not isinstance(rollouts, Rollouts):
        raise TypeError(f"{name} must be a simulators.Rollouts, got {type(rollouts).__name__}")
    P, N = rollouts.tokens.shape[:2]
    if rollouts.tokens.ndim != 3:
        raise ValueError(f"{name}.tokens must have shape [P, N, T], got {rollouts.tokens.shape}")
    for field in ("lengths", "logp_base", "answers", "correct"):
        a = getattr(rollouts, field)
        if a is not None and a.shape != (P, N):
            raise ValueError(f"{name}.{field} must have shape [P, N] = {(P, N)}, got {a.shape}")
    for field in ("token_logp", "token_entropy", "token_kl_uniform"):
        a = getattr(rollouts, field)
        if a is not None and a.shape != rollouts.tokens.shape:
            raise ValueError(
                f"{name}.{field} must have the tokens' shape {rollouts.tokens.shape}, got {a.shape}"
            )
    if rollouts.prompts.shape != (P,):
        raise ValueError(
            f"{name}.prompts must have shape [P] = ({P},), got {rollouts.prompts.shape}"
        )
    if rollouts.prompt_tokens is not None and (
        rollouts.prompt_tokens.ndim != 2 or rollouts.prompt_tokens.shape[0] != P
    ):
        raise ValueError(
            f"{name}.prompt_tokens must have shape [P, L] with P = {P}, got "
            f"{rollouts.prompt_tokens.shape}"
        )
    return rollouts
