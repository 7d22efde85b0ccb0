"""Token ids of prompts and responses for the sample-and-evaluate oracle (Definition 3.2).

The one place where text becomes token ids and back, and where id lists are checked before a
forward pass:

* **Prompt tokens.** A prompt string is encoded once by :func:`encode_prompts` (through the chat
  template when ``policy.chat`` is set, else the plain tokenizer with its special tokens), and a
  response is the token sequence that follows. Only response tokens are ever scored. Rollouts of
  an :class:`~simulators.hf.HFPolicy` carry the encoded prompts (``Rollouts.prompt_tokens``, see
  :func:`_prompt_token_array`), so scoring or training on them never encodes the strings again
  (:func:`_prompt_rows`).
* **Response tokens at the boundary.** A response *string* is tokenized on its own
  (``add_special_tokens=False``) and appended to the prompt's tokens; prompt and response are never
  tokenized jointly, so a BPE merge can never straddle the boundary and "prompt tokens" stay the
  same tokens for every response. This is the segmentation that sampling produces (sampled tokens
  follow the encoded prompt). Decoding sampled tokens and re-encoding the text can give a different
  (non-canonical) segmentation, so exact comparisons with sampling use the token-level
  :func:`~simulators.hf.rescore`, not :func:`~simulators.log_prob` on strings.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

from .._rollouts import Rollouts, check_rollouts
from ._policy import HFPolicy, _policy_context_length, _policy_vocab_size


def _as_id_rows(x: Any, name: str, V: int | None) -> list[np.ndarray]:
    """``x`` as a list of 1-d int64 arrays of token ids, each id checked to lie in ``[0, V)``.

    Each row must be a list, tuple or 1-d integer array of ints (a string is refused: it is not
    a list of token ids). The conversion is the only per-token work on the host: padding
    concatenates the arrays (:func:`_pad`), so checking costs no extra pass over the tokens.
    """
    if isinstance(x, (str, bytes)) or not isinstance(x, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a list of token-id lists, got {type(x).__name__}")
    rows = []
    for i, row in enumerate(x):
        if isinstance(row, (str, bytes)) or not isinstance(row, (Sequence, np.ndarray)):
            raise TypeError(
                f"{name}[{i}] must be a list of integer token ids, got {type(row).__name__} "
                f"{row!r:.60}"
            )
        arr = np.asarray(row)
        # Booleans (kind "b"), floats and objects are refused; an empty row is fine.
        if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
            raise TypeError(
                f"{name}[{i}] must be a list or 1-d array of integer token ids, got {row!r:.60}"
            )
        rows.append(arr.astype(np.int64, copy=False))
    flat = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    if flat.size and (flat.min() < 0 or (V is not None and flat.max() >= V)):
        i = next(i for i, a in enumerate(rows) if a.size and (a.min() < 0 or (V and a.max() >= V)))
        bad = rows[i].min() if rows[i].min() < 0 else rows[i].max()
        raise ValueError(f"{name}[{i}] holds token id {bad}, outside the vocabulary [0, {V})")
    return rows


def _check_new_tokens(policy: HFPolicy, longest_prompt: int, T: int) -> None:
    """Refuses ``T`` new tokens after a prompt when together they exceed the model's positions."""
    n_ctx = _policy_context_length(policy)
    if n_ctx is not None and longest_prompt + T > n_ctx:
        raise ValueError(
            f"max_new_tokens={T} plus the longest prompt ({longest_prompt} tokens) exceeds the "
            f"model's {n_ctx} positions; max_new_tokens must be at most "
            f"{max(n_ctx - longest_prompt, 0)} for these prompts"
        )


def _check_context(policy: HFPolicy, longest: int, what: str) -> None:
    """Refuses sequences longer than the model's positions (they would index past its table)."""
    n_ctx = _policy_context_length(policy)
    if n_ctx is not None and longest > n_ctx:
        raise ValueError(f"{what} ({longest} tokens) exceeds the model's {n_ctx} positions")


def _as_texts(x: Any, name: str) -> list[str]:
    if isinstance(x, str):
        return [x]
    if not isinstance(x, Sequence) or not all(isinstance(s, str) for s in x):
        raise TypeError(f"{name} must be a string or a list of strings, got {type(x).__name__}")
    return list(x)


def encode_prompts(policy: HFPolicy, prompts: str | Sequence[str]) -> list[list[int]]:
    """Token ids of each prompt (chat template applied when ``policy.chat``).

    Empty prompts are conditioned on the BOS token (an autoregressive model needs one token to
    condition on); a tokenizer without one cannot score empty prompts.
    """
    tok = policy.tokenizer
    out = []
    for text in _as_texts(prompts, "prompts"):
        if policy.chat:
            rendered = tok.apply_chat_template(
                [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
            )
            ids = list(tok(rendered, add_special_tokens=False)["input_ids"])
        else:
            ids = list(tok(text, add_special_tokens=True)["input_ids"])
        if not ids:
            if tok.bos_token_id is None:
                raise ValueError("prompts contains an empty prompt and the tokenizer has no BOS")
            ids = [int(tok.bos_token_id)]
        out.append([int(i) for i in ids])
    return out


def encode_responses(
    policy: HFPolicy, responses: str | Sequence[str], *, add_eos: bool = True
) -> list[list[int]]:
    """Token ids of each response, tokenized on its own (see the module docstring).

    Special-token text is tokenized as the special token (the tokenizer's default), so EOS text
    in a string becomes an EOS id.

    Args:
      add_eos: mark the response as complete by appending an EOS id (the first of
        ``policy.eos_token_ids``), unless its tokens already end with one: a string ending with
        EOS text is already complete, and a second EOS would score the impossible "stop, then
        emit EOS again". :func:`score_texts` scores the final EOS as the probability of
        stopping (any EOS id).
    """
    tok = policy.tokenizer
    eos = set(policy.eos_token_ids)
    out = []
    for text in _as_texts(responses, "responses"):
        ids = [int(i) for i in tok(text, add_special_tokens=False)["input_ids"]]
        if add_eos and not (ids and ids[-1] in eos):
            ids.append(policy.eos_token_ids[0])
        out.append(ids)
    return out


def _pad(
    seqs: Sequence[Sequence[int]], pad: int, *, left: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, mask)``, ``[B, L]`` int64 with ``L`` the longest sequence: each sequence written
    from position 0 (right padding) or ending at position ``L - 1`` (``left``), ``pad`` elsewhere.
    """
    lens = np.fromiter((len(s) for s in seqs), np.int64, count=len(seqs))
    if all(isinstance(s, np.ndarray) for s in seqs):  # checked id rows: no per-token work
        flat = np.concatenate([*seqs, np.zeros(0, np.int64)]).astype(np.int64, copy=False)
    else:
        flat = np.fromiter(itertools.chain.from_iterable(seqs), np.int64, count=int(lens.sum()))
    B, L = len(seqs), int(lens.max(initial=0))
    rows = np.repeat(np.arange(B), lens)
    cols = np.arange(flat.size) - np.repeat(np.cumsum(lens) - lens, lens)
    if left:
        cols += np.repeat(L - lens, lens)
    ids = np.full((B, L), pad, np.int64)
    mask = np.zeros((B, L), np.int64)
    ids[rows, cols] = flat
    mask[rows, cols] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


def _checked_pairs(
    policy: HFPolicy, prompt_ids: Any, response_ids: Any
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray]:
    """``(prompt_ids, response_ids, prompt lengths, response lengths)`` of prompt + response
    pairs to score, checked: lists of ids in ``[0, V)``, paired one to one, every prompt at least
    one token long, every pair within the model's positions."""
    V = _policy_vocab_size(policy)
    prompt_ids = _as_id_rows(prompt_ids, "prompt_ids", V)
    response_ids = _as_id_rows(response_ids, "response_ids", V)
    if len(prompt_ids) != len(response_ids):
        raise ValueError(
            f"prompts and responses must pair up one to one, got {len(prompt_ids)} prompts and "
            f"{len(response_ids)} responses"
        )
    n_p = np.array([len(p) for p in prompt_ids], dtype=np.int64)
    n_r = np.array([len(r) for r in response_ids], dtype=np.int64)
    if (n_p == 0).any():
        raise ValueError("every prompt must have at least one token to condition on")
    _check_context(policy, int((n_p + n_r).max(initial=0)), "a prompt plus its response")
    return prompt_ids, response_ids, n_p, n_r


def _tokens_after_eos(
    response_ids: Sequence[np.ndarray], lengths: np.ndarray, eos_ids: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, t)`` of every response token that follows an EOS id of the same response.

    Sampling stops at the first EOS, so these are the tokens no draw can ever hold.
    """
    flat = np.concatenate([*response_ids, np.zeros(0, np.int64)])
    is_eos = np.isin(flat, np.asarray(eos_ids, np.int64))
    if not is_eos.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows = np.repeat(np.arange(len(response_ids)), lengths)
    t = np.arange(flat.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    first_eos = np.full(len(response_ids), np.iinfo(np.int64).max)
    np.minimum.at(first_eos, rows[is_eos], t[is_eos])
    after = t > first_eos[rows]
    return rows[after], t[after]


def _responses_of(rollouts: Rollouts) -> list[list[int]]:
    tokens = np.asarray(rollouts.tokens)
    lengths = np.asarray(rollouts.lengths)
    P, N, _ = tokens.shape
    return [tokens[p, n, : lengths[p, n]].tolist() for p in range(P) for n in range(N)]


def _prompt_token_array(encoded: Sequence[Sequence[int]]) -> jax.Array:
    """``[P, L]`` int32 ``Rollouts.prompt_tokens`` of encoded prompts: row ``p`` holds the ids of
    prompt ``p``, then ``-1`` (no token id) up to the longest prompt's length ``L``."""
    ids, _ = _pad(encoded, -1)
    return jnp.asarray(ids.numpy().astype(np.int32))


def _prompt_rows(rollouts: Rollouts) -> list[np.ndarray] | None:
    """The prompt token ids of each row ``p`` of ``rollouts`` (``prompt_tokens[p]`` without its
    ``-1`` padding), or None when the rollouts carry no prompt tokens."""
    if rollouts.prompt_tokens is None:
        return None
    return [row[row >= 0].astype(np.int64) for row in np.asarray(rollouts.prompt_tokens)]


def decode(policy: HFPolicy, rollouts: Rollouts, *, skip_special_tokens: bool = True):
    """The text of every response: ``texts[p][n]`` (EOS and other special tokens dropped)."""
    rollouts = check_rollouts(rollouts)
    P, N, _ = rollouts.tokens.shape
    flat = _responses_of(rollouts)
    texts = policy.tokenizer.batch_decode(flat, skip_special_tokens=skip_special_tokens)
    return [texts[p * N : (p + 1) * N] for p in range(P)]
