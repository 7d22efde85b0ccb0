"""The "evaluate" half of the sample-and-evaluate oracle (Definition 3.2): log-likelihoods of
responses under a causal language model, by full forward passes.

:func:`score_tokens` scores token ids (micro-batched under a memory budget), :func:`score_texts`
scores strings (registered as ``simulators.log_prob`` for an :class:`~simulators.hf.HFPolicy`)
and :func:`rescore` gives ``log pi(y | x)`` of any policy's Rollouts under this one (the
generalized oracle of Algorithm 1). The forward-pass plumbing shared with the decoding loop of
:mod:`._decoding` (the key-value cache's name, ``logits_to_keep``, the next-token statistics)
lives here too.

Conventions:

* **End of sequence.** ``log pi(y | x)`` of a complete response includes the end-of-sequence token:
  it is the probability of emitting ``y`` *and then stopping*. Sampling stops at any of
  ``policy.eos_token_ids``, so a response *string* is scored with the probability of stopping,
  ``log sum_{e in eos_token_ids} pi(e | x, y)``, as its last term (:func:`score_texts`).
  Sampled responses keep the EOS token they emitted (counted in ``lengths``; its own
  log-probability is recorded, since that is the law it was drawn from); everything after it is
  padding with zero log-probability. Responses cut at ``max_new_tokens`` or at a stop string have
  no EOS and score the probability of that prefix.
* **EOS inside a response.** Scoring follows what sampling can produce. Sampling stops at the
  first EOS id, so a response whose tokens hold an EOS id before their last position has
  probability 0: every token after the first EOS scores ``-inf`` (:func:`score_tokens`), and so
  does the response. A response *string* is tokenized with its special tokens, so EOS *text*
  (e.g. ``"<|endoftext|>"``) is that EOS id: at the very end of the string it is the stop
  itself (no second EOS is appended; the string scores as the same string without it), anywhere
  else it gives ``-inf``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
import torch
from tqdm.auto import tqdm

from .._api import log_prob
from .._rollouts import Rollouts, check_rollouts
from ._encoding import (
    _as_texts,
    _checked_pairs,
    _pad,
    _prompt_rows,
    _responses_of,
    _tokens_after_eos,
    encode_prompts,
    encode_responses,
)
from ._policy import HFPolicy


def _model_call(model: Any, **kwargs: Any):
    """Forward pass, naming the key-value cache as this transformers version does.

    A ``peft`` wrapper is unwrapped: its adapters live inside the underlying model's layers (and
    follow ``disable_adapter``), and the underlying model takes ``position_ids`` and the cache.
    """
    unwrap = getattr(model, "get_base_model", None)
    if unwrap is not None:
        model = unwrap()
    if "cache" in kwargs:
        params = _forward_params(type(model))
        if "cache" not in params and "past_key_values" in params:
            kwargs["past_key_values"] = kwargs.pop("cache")
    return model(**kwargs)


def _accepts(model: Any, name: str) -> bool:
    """Whether the (unwrapped) model's forward takes the keyword ``name``."""
    unwrap = getattr(model, "get_base_model", None)
    if unwrap is not None:
        model = unwrap()
    return name in _forward_params(type(model))


@functools.cache
def _forward_params(cls: type) -> frozenset[str]:
    """The keyword names of a model class's ``forward`` (read once per class: the decoding loop
    asks at every step)."""
    return frozenset(inspect.signature(cls.forward).parameters)


def _out_cache(out: Any):
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def _float(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32, or as it is when already float32 or float64 (no copy, no downcast)."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _token_stats(logits: torch.Tensor):
    """``log_softmax``, entropy and ``KL(uniform || p)`` of ``[..., V]`` raw logits, in float32+."""
    logp = torch.log_softmax(_float(logits), dim=-1)
    p = logp.exp()
    # 0 log 0 = 0: a token with zero probability contributes nothing to the entropy.
    entropy = -torch.where(p > 0, p * logp, 0.0).sum(-1)
    V = logits.shape[-1]
    kl_uniform = -logp.mean(-1) - float(np.log(V))
    return logp, entropy, kl_uniform


def _target_logp(z: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``log_softmax(z)[..., target]`` as ``z[target] - logsumexp(z)``: one pass over ``V``."""
    return z.gather(-1, targets[..., None])[..., 0] - torch.logsumexp(z, dim=-1)


def _logit_bytes(dtype: torch.dtype, stats: bool) -> int:
    """About the bytes held per computed logit while a micro-batch is scored.

    The model's logits (``dtype``; a non-float head is taken to give float32), their float32 copy
    when narrower, and temporaries of the working width (float32 or wider): two for the
    log-sum-exp, or with ``stats`` five (log-softmax, probabilities, the entropy's product, mask
    and selection).
    """
    size = torch.finfo(dtype).bits // 8 if dtype.is_floating_point else 4
    work = max(size, 4)
    return size + (work if size < work else 0) + (5 if stats else 2) * work


def _memory_budget(policy: HFPolicy) -> int:
    """``policy.memory_budget_bytes``, or its default: on CUDA half the memory torch can still use
    (free on the device plus what its caching allocator holds unused), on the CPU 1 GiB."""
    if policy.memory_budget_bytes is not None:
        return int(policy.memory_budget_bytes)
    if str(policy.device).startswith("cuda"):
        device = torch.device(policy.device)
        free = torch.cuda.mem_get_info(device)[0]
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int((free + cached) // 2)
    return 2**30


def _response_logits(
    policy: HFPolicy, prompt_ids: Sequence[np.ndarray], response_ids: Sequence[np.ndarray]
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(logits, targets, first)`` of the pairs ``prompt + response`` right-padded together.

    Logits at position ``t`` predict token ``t + 1``, so the responses are predicted from
    positions ``n_p - 1`` on and positions before ``first``, the shortest prompt's last one, are
    not needed: ``logits[:, j]`` is the model's prediction at position ``first + j`` and
    ``targets[:, j]`` the token that follows it (padding after the last position). A model whose
    forward takes ``logits_to_keep`` computes the language-model head at those positions only.
    """
    seqs = [np.concatenate((p, r)) for p, r in zip(prompt_ids, response_ids, strict=True)]
    ids, mask = _pad(seqs, policy.pad_token_id)
    ids, mask = ids.to(policy.device), mask.to(policy.device)
    first = min(len(p) for p in prompt_ids) - 1
    L = ids.shape[1]
    inputs = dict(
        input_ids=ids,
        attention_mask=mask,
        position_ids=torch.arange(L, device=ids.device).expand_as(ids),
        use_cache=False,
    )
    keep = {"logits_to_keep": L - first} if _accepts(policy.model, "logits_to_keep") else {}
    # The last L - first positions, whether the model kept only those or returned all of them.
    logits = _model_call(policy.model, **inputs, **keep).logits[:, first - L :]
    targets = torch.nn.functional.pad(ids[:, first + 1 :], (0, 1))
    return logits, targets, first


def _batches(costs: Sequence[int], max_items: int, max_cost: int) -> list[list[int]]:
    """Groups item indices (sorted by cost) so each group has <= max_items and sum cost bound.

    A group's cost is ``len(group) * max(cost)`` (padding to the longest); an item whose cost alone
    exceeds ``max_cost`` forms its own group.
    """
    order = sorted(range(len(costs)), key=lambda i: costs[i])
    groups: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and ((len(current) + 1) * costs[i] > max_cost or len(current) >= max_items):
            groups.append(current)
            current = []
        current.append(i)
    if current:
        groups.append(current)
    return groups


def score_tokens(
    policy: HFPolicy,
    prompt_ids: Sequence[Sequence[int]],
    response_ids: Sequence[Sequence[int]],
    *,
    width: int | None = None,
    desc: str = "scoring",
    stats: bool = True,
    eos_as_stop: bool = False,
) -> dict[str, np.ndarray]:
    """Per-token log-probabilities of each response given its prompt, by full forward passes.

    Sequences ``prompt + response`` are right-padded into micro-batches (sorted by length; each
    batch bounded by ``policy.score_batch_size`` and ``policy.memory_budget_bytes``). Right padding
    keeps every real token at its unpadded position, and causal attention never lets a real token
    see padding, so a sequence scores the same alone or in a batch. The language-model head runs
    only from the shortest prompt's last position on (``logits_to_keep``, where the model takes
    it); the memory budget counts logits at every position of a micro-batch (an upper bound).

    Args:
      policy: the scoring model.
      prompt_ids: ``B`` lists of prompt token ids (non-empty).
      response_ids: ``B`` lists of response token ids (may be empty).
      width: ``T`` of the returned arrays (default: the longest response).
      stats: also compute each position's next-token entropy and ``KL(uniform || p)`` (full
        passes over the vocabulary; ``False`` gives log-probabilities only, as ``log_prob`` needs).
      eos_as_stop: a response whose last token is one of ``policy.eos_token_ids`` scores that
        last term as the probability of stopping there, ``log sum_{e in eos_token_ids} p(e | x,
        y_<t)``, whichever EOS id it holds (as sampling stops at any of them); otherwise every
        token scores its own log-probability (the exact law of sampled tokens).

    Every token after a response's first EOS id scores ``-inf``, and so does the response:
    sampling stops at the first EOS, so it never produces tokens after one (the module
    docstring's "EOS inside a response"). Entropies and KLs there are the model's, as computed.

    Returns:
      dict of numpy arrays: ``logp [B]`` (sum over response tokens, float64), ``token_logp``,
      ``token_entropy``, ``token_kl_uniform`` (``[B, T]``, 0 on padding; the last two only with
      ``stats``), ``lengths [B]``.

    Raises:
      TypeError: a row of ``prompt_ids`` or ``response_ids`` is not a list of integer ids.
      ValueError: an id lies outside ``[0, V)``, or a prompt plus its response is longer than the
        model's positions (``n_positions`` / ``max_position_embeddings``).
    """
    prompt_ids, response_ids, n_p, lengths = _checked_pairs(policy, prompt_ids, response_ids)
    B = len(prompt_ids)
    T = int(max(lengths.max(initial=0), 1)) if width is None else int(width)
    if lengths.max(initial=0) > T:
        raise ValueError(f"width={T} is shorter than the longest response ({lengths.max()})")
    fields = 3 if stats else 1
    scores = np.zeros((fields, B, T), np.float64)  # token_logp, token_entropy, token_kl
    totals = n_p + lengths
    eos_ids = list(policy.eos_token_ids)
    # Responses whose last term is the probability of stopping (any EOS id), not of one id.
    ends = np.array(
        [eos_as_stop and len(r) > 0 and int(r[-1]) in eos_ids for r in response_ids], dtype=bool
    )
    head = policy.model.get_output_embeddings().weight
    max_tokens = max(1, _memory_budget(policy) // (_logit_bytes(head.dtype, stats) * head.shape[0]))
    groups = _batches(totals.tolist(), policy.score_batch_size, max_tokens)
    with torch.inference_mode():
        for group in tqdm(groups, desc=desc, disable=not policy.progress or len(groups) < 2):
            g = np.asarray(group)
            logits, targets, first = _response_logits(
                policy, [prompt_ids[i] for i in group], [response_ids[i] for i in group]
            )
            z = _float(logits)
            del logits
            if stats:
                logp, ent, kl = _token_stats(z)
                found = [logp.gather(-1, targets[..., None])[..., 0], ent, kl]
            else:  # log p(token) = logit - logsumexp: one pass over the vocabulary
                found = [_target_logp(z, targets)]
            stopping = np.nonzero(ends[g])[0]
            if stopping.size:
                # log P(stop) = logsumexp over the EOS ids of the last position's log-probs.
                col = n_p[g][stopping] - 1 - first + lengths[g][stopping] - 1
                at = (torch.from_numpy(stopping).to(z.device), torch.from_numpy(col).to(z.device))
                last = z[at]  # [S, V]
                stop_logp = torch.logsumexp(last[:, eos_ids], -1) - torch.logsumexp(last, -1)
                found[0][at] = stop_logp.to(found[0].dtype)
            del z
            host = torch.stack(found).double().cpu().numpy()  # [fields, G, L - first]
            # Each response's positions, flattened: (row in the group, column in host, t).
            n_r = lengths[g]
            rows = np.repeat(np.arange(len(g)), n_r)
            t = np.arange(rows.size) - np.repeat(np.cumsum(n_r) - n_r, n_r)
            scores[:, g[rows], t] = host[:, rows, np.repeat(n_p[g] - 1 - first, n_r) + t]
    _after_eos_is_impossible(scores[0], response_ids, lengths, eos_ids)
    out = dict(logp=scores[0].sum(-1), token_logp=scores[0], lengths=lengths)
    if stats:
        out.update(token_entropy=scores[1], token_kl_uniform=scores[2])
    return out


def _after_eos_is_impossible(
    token_logp: np.ndarray,
    response_ids: Sequence[np.ndarray],
    lengths: np.ndarray,
    eos_ids: Sequence[int],
) -> None:
    """Sets ``token_logp[i, t] = -inf`` (in place) for every token after response ``i``'s first
    EOS id: sampling stops at the first EOS, so no draw ever continues after one."""
    rows, t = _tokens_after_eos(response_ids, lengths, eos_ids)
    token_logp[rows, t] = -np.inf


@log_prob.register(HFPolicy)
def score_texts(
    policy: HFPolicy,
    x: str | Sequence[str],
    y: str | Sequence[str],
    *,
    add_eos: bool = True,
) -> np.ndarray:
    """``log pi(y_i | x_i)`` of each response string given its prompt string.

    Prompt tokens are never counted. Prompt and response are tokenized separately (see
    :mod:`simulators.hf._encoding`). By default the score is that of the complete response,
    "emit ``y`` and then stop", as sampling produces it::

        log pi(y | x) = sum_t log pi(y_t | x, y_<t) + log sum_{e in eos_token_ids} pi(e | x, y)

    the last term being the probability of stopping after ``y`` at any EOS id (a model may have
    several, e.g. end-of-text and end-of-turn; sampling stops at whichever comes). A sampled
    response that ended with EOS id ``e`` has ``logp_base = sum_t log pi(y_t | ...) + log pi(e |
    x, y)``, the probability of that one id, so its body's score here is
    ``logp_base - log pi(e | x, y) + log sum_e' pi(e' | x, y) >= logp_base``, equal when the model
    has one EOS id. ``add_eos=False`` scores the prefix ``sum_t log pi(y_t | x, y_<t)`` only.

    EOS *text* in a string is tokenized as the EOS id, and scored as sampling would produce it:

    * at the very end (``"42<|endoftext|>"``) it is the stop itself, with ``add_eos`` either
      way: no second EOS is appended, and the score equals that of ``"42"`` with
      ``add_eos=True``;
    * anywhere else (``"4<|endoftext|>2"``, or followed by a space) the score is ``-inf``:
      sampling stops at the first EOS, so no sampled response continues after one.

    Args:
      policy: an :class:`HFPolicy`.
      x: ``P`` prompts (or one string).
      y: ``P`` responses, one per prompt (or one string).

    Returns:
      ``[P]`` float64 numpy array of sequence log-likelihoods.
    """
    prompt_ids, response_ids = encode_text_pairs(policy, x, y, add_eos=add_eos)
    scored = score_tokens(policy, prompt_ids, response_ids, stats=False, eos_as_stop=True)
    return scored["logp"]


def encode_text_pairs(
    policy, x: str | Sequence[str], y: str | Sequence[str], *, add_eos: bool
) -> tuple[list[list[int]], list[list[int]]]:
    """The token ids of paired prompt and response strings, as :func:`score_texts` scores them
    (prompts by :func:`encode_prompts`, responses by :func:`encode_responses`)."""
    prompts, responses = _as_texts(x, "prompts"), _as_texts(y, "responses")
    if len(prompts) != len(responses):
        raise ValueError(
            f"prompts and responses must have the same length, got {len(prompts)} and "
            f"{len(responses)}"
        )
    return encode_prompts(policy, prompts), encode_responses(policy, responses, add_eos=add_eos)


def rescore(policy: HFPolicy, prompts: str | Sequence[str], rollouts: Rollouts) -> Rollouts:
    """Recomputes the oracle's log-likelihoods of ``rollouts`` under ``policy`` (token level).

    ``rollouts.prompts[p]`` indexes ``prompts``. The response tokens are scored as they are (no
    re-tokenization), so this is the exact "evaluate" query for responses sampled from any policy
    with the same tokenizer, e.g. the base likelihood ``log pi_base(y | x)`` of samples from a
    fine-tuned model (the generalized oracle of Algorithm 1). They are scored after the prompt
    tokens they were sampled after: ``rollouts.prompt_tokens`` when the rollouts carry them (as
    those of an :class:`~simulators.hf.HFPolicy` do), else ``prompts`` encoded by ``policy``.

    Returns:
      a copy of ``rollouts`` with ``logp_base``, ``token_logp``, ``token_entropy`` and
      ``token_kl_uniform`` replaced by ``policy``'s values (``answers``, ``correct`` and
      ``prompt_tokens`` kept).
    """
    rollouts = check_rollouts(rollouts)
    texts = _as_texts(prompts, "prompts")
    idx = np.asarray(rollouts.prompts)
    if idx.size and (idx.min() < 0 or idx.max() >= len(texts)):
        raise ValueError(f"rollouts.prompts must index the {len(texts)} prompts given")
    P, N, T = rollouts.tokens.shape
    rows = _prompt_rows(rollouts)
    if rows is None:
        encoded = encode_prompts(policy, texts)
        rows = [encoded[int(idx[p])] for p in range(P)]
    prompt_ids = [rows[p] for p in range(P) for _ in range(N)]
    scored = score_tokens(policy, prompt_ids, _responses_of(rollouts), width=T, desc="rescoring")
    return dataclasses.replace(
        rollouts,
        logp_base=jnp.asarray(scored["logp"].reshape(P, N)),
        token_logp=jnp.asarray(scored["token_logp"].reshape(P, N, T)),
        token_entropy=jnp.asarray(scored["token_entropy"].reshape(P, N, T)),
        token_kl_uniform=jnp.asarray(scored["token_kl_uniform"].reshape(P, N, T)),
    )
