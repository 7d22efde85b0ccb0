"""The "sample" half of the sample-and-evaluate oracle (Definition 3.2): responses of a causal
language model drawn at temperature 1, or decoded greedily (Proposition 3.1's ``y_hat``).

:func:`sample_rollouts` and :func:`greedy_rollouts` (registered as ``simulators.sample`` and
``simulators.greedy`` for an :class:`~simulators.hf.HFPolicy`) return
:class:`~simulators.Rollouts` with the recorded log-likelihoods and the encoded prompts
(``prompt_tokens``), from the key-value-cached loop of :func:`decode_tokens`.

* **Exact log-probs.** Sampling runs its own key-value-cached decoding loop at temperature 1 with
  no logits processors (no top-k/top-p, repetition penalty or minimum length that a model's
  ``generation_config`` could switch on), so the recorded ``log_softmax`` of the raw logits is the
  law the token was drawn from. A test checks it against a separate scoring pass.
* **Randomness.** The PRNG key seeds a local ``torch.Generator`` per micro-batch (derived by
  splitting the key); the global torch RNG is untouched. Samples depend on the key and on the
  micro-batch size.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import torch
from tqdm.auto import tqdm

from theory.checks import check_count

from .._api import greedy, sample
from .._rollouts import Rollouts
from ._encoding import (
    _as_id_rows,
    _as_texts,
    _check_new_tokens,
    _pad,
    _prompt_token_array,
    encode_prompts,
)
from ._policy import HFPolicy, _vocab_size
from ._scoring import _accepts, _model_call, _out_cache, _token_stats


def _seed_from_key(key: jax.Array) -> int:
    return int(jax.random.bits(key, dtype=jnp.uint32))


def decode_tokens(
    policy: HFPolicy,
    prompt_ids: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    seed: int | None,
    stop: Sequence[str] = (),
) -> dict[str, np.ndarray]:
    """Decodes one micro-batch at temperature 1 (``seed`` an int) or greedily (``seed=None``).

    Prompts are left-padded, with an attention mask and position ids that count real tokens only,
    so each sequence is decoded as if alone. The next-token law is ``softmax`` of the raw logits
    (nothing else is applied); the drawn token's log-probability, the entropy and the
    ``KL(uniform || p_t)`` of that law are recorded. A response ends at its first EOS token (kept),
    or right after the token that completes a ``stop`` string; later positions are padding.

    Returns:
      dict of numpy arrays ``tokens [B, T]`` (int32), ``lengths [B]``, ``token_logp``,
      ``token_entropy``, ``token_kl_uniform`` (``[B, T]``, 0 on padding) with
      ``T = max_new_tokens``.
    """
    device = policy.device
    model = policy.model
    prompt_ids = _as_id_rows(prompt_ids, "prompt_ids", _vocab_size(model))
    if not prompt_ids or min(len(p) for p in prompt_ids) == 0:
        raise ValueError("every prompt must have at least one token to condition on")
    B = len(prompt_ids)
    T = check_count(max_new_tokens, "max_new_tokens")
    _check_new_tokens(policy, max(len(p) for p in prompt_ids), T)
    ids, mask = _pad(prompt_ids, policy.pad_token_id, left=True)
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    ids, mask, position_ids = ids.to(device), mask.to(device), position_ids.to(device)
    eos = torch.tensor(policy.eos_token_ids, dtype=torch.long, device=device)
    generator = None
    if seed is not None:
        generator = torch.Generator(device=device)
        generator.manual_seed(seed)

    # Per-step records stay on the device; one transfer at the end (stop strings aside).
    pad = torch.tensor(policy.pad_token_id, device=device)
    tokens = torch.full((B, T), policy.pad_token_id, dtype=torch.long, device=device)
    stats = torch.zeros((3, B, T), dtype=torch.float32, device=device)  # logp, entropy, KL
    lengths = torch.zeros(B, dtype=torch.long, device=device)
    finished = torch.zeros(B, dtype=torch.bool, device=device)
    history: list[list[int]] = [[] for _ in range(B)]
    # Only the last prompt position's logits are needed ([B, V], not one row per prompt position).
    keep = {"logits_to_keep": 1} if _accepts(model, "logits_to_keep") else {}
    with torch.inference_mode():
        out = _model_call(
            model,
            input_ids=ids,
            attention_mask=mask,
            position_ids=position_ids,
            use_cache=True,
            **keep,
        )
        cache = _out_cache(out)
        logits = out.logits[:, -1, :]
        next_position = position_ids[:, -1:] + 1
        for t in range(T):
            logp, ent, kl = _token_stats(logits)
            if generator is None:
                tok = logp.argmax(-1)
            else:
                tok = torch.multinomial(logp.exp(), 1, generator=generator)[:, 0]
            active = ~finished
            picked = logp.gather(-1, tok[:, None])[:, 0]
            tokens[:, t] = torch.where(active, tok, pad)
            step = torch.stack([picked, ent, kl])
            stats[:, :, t] = torch.where(active, step, torch.zeros_like(step))
            lengths += active
            finished = finished | (active & torch.isin(tok, eos))
            if stop:
                open_rows = (active & ~finished).cpu().numpy()
                step_tokens = tok.cpu().numpy()
                for row in np.nonzero(open_rows)[0]:
                    history[row].append(int(step_tokens[row]))
                    if stop_reached(policy.tokenizer, history[row], stop):
                        finished[row] = True
            if bool(finished.all()) or t == T - 1:
                break
            mask = torch.cat([mask, torch.ones((B, 1), dtype=mask.dtype, device=device)], dim=1)
            out = _model_call(
                model,
                input_ids=tok[:, None],
                attention_mask=mask,
                position_ids=next_position,
                cache=cache,
                use_cache=True,
            )
            cache = _out_cache(out)
            logits = out.logits[:, -1, :]
            next_position = next_position + 1
    stats = stats.double().cpu().numpy()
    return dict(
        tokens=tokens.cpu().numpy().astype(np.int32),
        lengths=lengths.cpu().numpy().astype(np.int64),
        token_logp=stats[0],
        token_entropy=stats[1],
        token_kl_uniform=stats[2],
    )


def _generate(
    key: jax.Array | None,
    policy: HFPolicy,
    prompts: str | Sequence[str],
    n: int,
    max_new_tokens: int | None,
    stop: Sequence[str] | None,
    desc: str,
) -> Rollouts:
    n, T, stop, encoded = generation_request(policy, prompts, n, max_new_tokens, stop)
    P = len(encoded)
    flat = [encoded[p] for p in range(P) for _ in range(n)]
    starts = list(range(0, len(flat), policy.batch_size))
    keys = None if key is None else jax.random.split(key, len(starts))
    parts = []
    for b, s in enumerate(tqdm(starts, desc=desc, disable=not policy.progress or len(starts) < 2)):
        seed = None if keys is None else _seed_from_key(keys[b])
        parts.append(
            decode_tokens(
                policy, flat[s : s + policy.batch_size], max_new_tokens=T, seed=seed, stop=stop
            )
        )
    cat = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    return rollouts_from_draws(cat, P, n, encoded)


def generation_request(
    policy, prompts: str | Sequence[str], n: int, max_new_tokens: int | None, stop
) -> tuple[int, int, tuple[str, ...], list[list[int]]]:
    """``(n, T, stop, encoded prompts)``: the checked arguments of ``sample`` and ``greedy``.

    ``T`` and ``stop`` default to the policy's settings; the prompts are encoded by
    :func:`~simulators.hf.encode_prompts`, and the longest plus ``T`` must fit the policy's
    positions. Shared by :class:`HFPolicy` and :class:`~simulators.hf.VLLMPolicy`.
    """
    texts = _as_texts(prompts, "prompts")
    if not texts:
        raise ValueError("prompts must contain at least one prompt")
    n = check_count(n, "n")
    T = check_count(
        policy.max_new_tokens if max_new_tokens is None else max_new_tokens, "max_new_tokens"
    )
    stop = policy.stop if stop is None else tuple(_as_texts(stop, "stop"))
    if any(not x for x in stop):
        raise ValueError("stop strings must be non-empty")
    encoded = encode_prompts(policy, texts)
    _check_new_tokens(policy, max(len(e) for e in encoded), T)
    return n, T, stop, encoded


def stop_reached(tokenizer, history: Sequence[int], stop: Sequence[str]) -> bool:
    """Whether the response ``history`` (token ids, no EOS) ends at a stop string: the stop rule.

    A response ends right after the token that completes one of ``stop``. The decoded tail of
    the response is searched, long enough to hold the longest stop string (every token decodes to
    at least one character or is special); special tokens are decoded as their text.
    """
    tail = max((len(x) for x in stop), default=0) + 4
    text = tokenizer.decode(list(history[-tail:]))
    return any(x in text for x in stop)


def rollouts_from_draws(
    draws: dict[str, np.ndarray], P: int, n: int, encoded: Sequence[Sequence[int]]
) -> Rollouts:
    """:class:`~simulators.Rollouts` ``[P, N, T]`` of ``P * n`` decoded rows (prompt-major).

    ``draws`` holds ``tokens [P n, T]``, ``lengths [P n]`` and ``token_logp [P n, T]`` (0 on
    padding), and optionally ``token_entropy`` and ``token_kl_uniform`` (``[P n, T]``; absent:
    the Rollouts fields stay None). ``logp_base`` is the sum of ``token_logp``; ``encoded`` are
    the prompts' token ids (``Rollouts.prompt_tokens``).
    """
    T = draws["tokens"].shape[-1]

    def optional(name: str):
        value = draws.get(name)
        return None if value is None else jnp.asarray(value.reshape(P, n, T))

    return Rollouts(
        prompts=jnp.arange(P),
        tokens=jnp.asarray(draws["tokens"].reshape(P, n, T)),
        lengths=jnp.asarray(draws["lengths"].reshape(P, n)),
        logp_base=jnp.asarray(draws["token_logp"].sum(-1).reshape(P, n)),
        token_logp=jnp.asarray(draws["token_logp"].reshape(P, n, T)),
        token_entropy=optional("token_entropy"),
        token_kl_uniform=optional("token_kl_uniform"),
        prompt_tokens=_prompt_token_array(encoded),
    )


@sample.register(HFPolicy)
def sample_rollouts(
    key: jax.Array,
    policy: HFPolicy,
    x: str | Sequence[str],
    n: int,
    *,
    max_new_tokens: int | None = None,
    stop: Sequence[str] | None = None,
) -> Rollouts:
    """Draws ``n`` responses per prompt string at temperature 1 (Definition 3.2's "sample").

    Args:
      key: PRNG key; split into one seed per micro-batch of a local ``torch.Generator``.
      policy: an :class:`HFPolicy`.
      x: ``P`` prompt strings; ``Rollouts.prompts`` holds their indices ``0..P-1`` and
        ``Rollouts.prompt_tokens`` their token ids (what the responses were sampled after).
      n: responses per prompt (``N``).
      max_new_tokens: response length limit ``T`` (default ``policy.max_new_tokens``).
      stop: stop strings (default ``policy.stop``).

    Returns:
      :class:`~simulators.Rollouts` ``[P, N, T]`` with the exact temperature-1 ``logp_base`` of
      each response (EOS included when emitted), ``token_logp``, ``token_entropy`` and
      ``token_kl_uniform``. Texts: :func:`~simulators.hf.decode`.

    Raises:
      ValueError: ``n`` or ``max_new_tokens`` is below 1, or the longest prompt plus
        ``max_new_tokens`` exceeds the model's positions (``n_positions`` /
        ``max_position_embeddings``).
    """
    return _generate(key, policy, x, n, max_new_tokens, stop, "sampling")


@greedy.register(HFPolicy)
def greedy_rollouts(
    policy: HFPolicy,
    x: str | Sequence[str],
    *,
    max_new_tokens: int | None = None,
    stop: Sequence[str] | None = None,
) -> Rollouts:
    """Token-wise greedy decoding (Proposition 3.1's ``y_hat``) of each prompt string.

    Returns:
      :class:`~simulators.Rollouts` with ``N = 1``, the greedy responses' log-likelihoods and the
      prompts' token ids (``prompt_tokens``).
    """
    return _generate(None, policy, x, 1, max_new_tokens, stop, "greedy")
