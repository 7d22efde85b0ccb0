"""The prefix oracle on a causal language model: "continue this prefix at temperature tau".

Power samplers (Karan & Du, arXiv 2510.14901; Power-SMC, arXiv 2602.10273) target the power law
``p^alpha`` (at ``alpha = 1 + 1/beta`` RLHF-Sharpening's ``pi*_beta``, the paper's Eq. 3) by
resampling continuations of a response's prefix, through the prefix oracle of
:func:`simulators.continue_prefix`. That oracle speaks in prompt *ids* and ``[B, T]`` token
arrays, as the toy policies do; :class:`PromptedPolicy` binds an :class:`~simulators.hf.HFPolicy`
to a tuple of prompt strings (prompt id ``i`` is ``prompts[i]``) and a horizon ``T``, and answers
the oracle exactly (:func:`continue_tokens`, registered as ``simulators.sample_continuation``):

* **Semantics of the toy scan.** Row ``b`` keeps ``tokens[b, :start[b]]`` (cut after its first
  EOS id or the token completing a stop string: a response that has ended stays ended), then
  draws tokens ``start[b] .. stop[b] - 1`` from ``softmax(logits / temperature)`` until an EOS id
  (kept) or a stop string completes (kept, as :func:`~simulators.hf.sample_rollouts` does);
  positions after the end hold ``pad_token_id``. Every real token, the kept prefix included, gets
  ``token_logp`` (``log_softmax`` of the raw logits: the temperature-1 base law) and
  ``token_logq`` (``log_softmax(logits / temperature)``: the proposal's law). No logits processor
  is applied, so both are the exact laws (a test checks ``token_logp`` against
  :func:`~simulators.hf.rescore` and the draws against the exact law).
* **Randomness.** Draw ``j`` of row ``b`` inverts the proposal's CDF (float64) at the uniform
  ``u[b, j]`` of a local ``torch.Generator`` seeded from the key (the global torch RNG is
  untouched), so the draws depend on the key and the row, not on the micro-batch size, the order
  rows are computed in or what is cached (up to rounding of the logits).
* **Key-value cache reuse.** Within a call, each distinct prompt is encoded once and its cache is
  shared by every row that continues it; the kept prefix is encoded once, and the continuation
  decodes one token at a time with the cache. Across calls (``reuse_cache=True``), the caches of
  the last call's rows are kept: a new row starts from the cached row that shares its longest
  prefix and encodes only the rest. SMC's one-token extensions then encode one token per particle
  and step, MH's proposals only the part after the common prefix. Recorded log-probabilities of
  reused positions are taken from the cached row (when it was computed at the same temperature),
  so nothing is approximated; :meth:`PromptedPolicy.cache_stats` counts what was encoded and
  reused.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

from theory.checks import check_count

from .._prefix import Continuation, padding_token, response_horizon, sample_continuation
from ._decoding import _seed_from_key, stop_reached
from ._encoding import _as_id_rows, _as_texts, _check_new_tokens, _pad, encode_prompts
from ._policy import HFPolicy, _vocab_size
from ._scoring import _accepts, _float, _model_call, _out_cache, _target_logp


@dataclasses.dataclass
class _Cached:
    """Key-value-cached sequences a call may continue from (one row each).

    Row ``r`` holds the sequence ``seqs[r, :lengths[r]]`` (prompt ids, then response ids), whose
    first ``len(cols[r])`` tokens are in the cache: layer ``l``'s keys and values are
    ``blocks[block[r]][l][0|1][row[r], :, cols[r]]`` (``cols`` in sequence order). ``logp`` and
    ``logq`` hold each response token's recorded log-probabilities (NaN on prompt positions and
    where none were recorded), ``logq`` at temperature ``tau[r]``.
    """

    blocks: list[list[tuple[torch.Tensor, torch.Tensor]]]
    prompt: np.ndarray
    block: np.ndarray
    row: np.ndarray
    cols: list[np.ndarray]
    seqs: np.ndarray  # [R, W] int64, -2 after the end (never a token id, never -1)
    lengths: np.ndarray
    logp: np.ndarray  # [R, W] float64
    logq: np.ndarray
    tau: np.ndarray

    @staticmethod
    def empty() -> _Cached:
        z, none = np.zeros(0, np.int64), np.zeros((0, 1))
        return _Cached([], z, z, z, [], np.zeros((0, 1), np.int64), z, none, none, np.zeros(0))

    @property
    def fed(self) -> np.ndarray:
        return np.fromiter((len(c) for c in self.cols), np.int64, count=len(self.cols))


@dataclasses.dataclass
class _Memo:
    """What a :class:`PromptedPolicy` keeps between calls: the last call's cached rows, whether
    the model's cache can be gathered (a ``DynamicCache`` of plain layers), and the counts."""

    rows: _Cached = dataclasses.field(default_factory=_Cached.empty)
    gatherable: bool = True
    stats: dict[str, int] = dataclasses.field(
        default_factory=lambda: dict(queries=0, forward_passes=0, tokens_encoded=0, tokens_reused=0)
    )
    calls: np.ndarray | None = None  # [X] rows that drew a token, per prompt
    tokens: np.ndarray | None = None  # [X] tokens drawn, per prompt


@dataclasses.dataclass(frozen=True, eq=False)
class PromptedPolicy:
    """An :class:`~simulators.hf.HFPolicy` over prompt ids, for the prefix oracle (issue 16).

    ``simulators.continue_prefix(key, PromptedPolicy(...), prompts, tokens, start, stop, tau)``
    continues prefixes of responses to ``prompts[prompts[b]]`` (see the module docstring), so the
    power samplers (:func:`simulators.mh_sampler`, :func:`simulators.smc_sampler`, ...) run on a
    real model unchanged; their :class:`~simulators.Rollouts` index ``prompts`` and decode with
    :func:`~simulators.hf.decode` (``policy`` as the first argument).

    Attributes:
      policy: the base model ``pi_base`` (its ``batch_size`` is the micro-batch of a call; its
        ``eos_token_ids`` end responses; ``pad_token_id`` fills after the end).
      prompts: the prompt strings, encoded once here (:func:`~simulators.hf.encode_prompts`).
      max_new_tokens: the horizon ``T`` (default ``policy.max_new_tokens``).
      stop: stop strings (default ``policy.stop``); a response ends right after the token that
        completes one, as in :func:`~simulators.hf.sample_rollouts`.
      reuse_cache: keep the last call's key-value caches for the next call (see the module
        docstring); ``False`` encodes every prompt and prefix afresh in each call.

    The prompts plus ``T`` must fit the model's positions. Instances compare by identity: they
    hold a model and a cache.
    """

    policy: HFPolicy
    prompts: tuple[str, ...]
    max_new_tokens: int | None = None
    stop: tuple[str, ...] | None = None
    reuse_cache: bool = True
    prompt_ids: tuple[np.ndarray, ...] = dataclasses.field(init=False, repr=False)
    _memo: _Memo = dataclasses.field(init=False, repr=False)

    def __post_init__(self):
        if not isinstance(self.policy, HFPolicy):
            raise TypeError(f"policy must be a simulators.hf.HFPolicy, got {type(self.policy)}")
        prompts = tuple(_as_texts(self.prompts, "prompts"))
        if not prompts:
            raise ValueError("prompts must hold at least one prompt string")
        T = self.policy.max_new_tokens if self.max_new_tokens is None else self.max_new_tokens
        T = check_count(T, "max_new_tokens")
        stop = self.policy.stop if self.stop is None else tuple(_as_texts(self.stop, "stop"))
        if not all(stop):
            raise ValueError(f"stop strings must be non-empty, got {stop!r}")
        if not isinstance(self.reuse_cache, bool):
            raise TypeError(f"reuse_cache must be a bool, got {self.reuse_cache!r}")
        ids = tuple(np.asarray(p, np.int64) for p in encode_prompts(self.policy, prompts))
        _check_new_tokens(self.policy, max(len(p) for p in ids), T)
        X = len(prompts)
        memo = _Memo(calls=np.zeros(X, np.int64), tokens=np.zeros(X, np.int64))
        for name, value in dict(
            prompts=prompts, max_new_tokens=T, stop=stop, prompt_ids=ids, _memo=memo
        ).items():
            object.__setattr__(self, name, value)

    @property
    def num_prompts(self) -> int:
        """``X``, the number of prompt strings (the prompt ids are ``0 .. X-1``)."""
        return len(self.prompts)

    def cache_stats(self) -> dict[str, Any]:
        """Counts since construction: ``queries`` (prefix-oracle queries), ``forward_passes``
        (model calls), ``tokens_encoded`` (input tokens run through the model: prompts, kept
        prefixes, fed draws), ``tokens_reused`` (prompt and prefix tokens taken from the cache),
        and per prompt id, ``calls [X]`` and ``tokens [X]``: what
        :class:`simulators.SamplerCost` counts (rows that drew a token, tokens drawn)."""
        memo = self._memo
        return dict(memo.stats, calls=memo.calls.copy(), tokens=memo.tokens.copy())


@response_horizon.register(PromptedPolicy)
def _horizon(policy: PromptedPolicy) -> int:
    return policy.max_new_tokens


@padding_token.register(PromptedPolicy)
def _padding(policy: PromptedPolicy) -> int:
    return policy.policy.pad_token_id


# --------------------------------------------------------------------------------------------
# Where a response ends (the stop rules of sampling)


def _ended_prefix(policy: PromptedPolicy, prefix: np.ndarray) -> int | None:
    """The length of ``prefix`` cut where its response ended (after the first EOS id or the
    token completing a stop string), or None when it has not ended."""
    eos = np.flatnonzero(np.isin(prefix, policy.policy.eos_token_ids))
    end = int(eos[0]) + 1 if eos.size else None
    stop, tok = policy.stop, policy.policy.tokenizer
    head = prefix[: (end - 1 if end else len(prefix))]  # tokens a stop string may end at
    # A stop string inside a window of the text is inside the whole text: one decode rules most
    # prefixes out before the token-by-token search that sampling makes.
    if stop and head.size and any(x in tok.decode(head.tolist()) for x in stop):
        for t in range(1, head.size + 1):
            if stop_reached(tok, head[:t].tolist(), stop):
                return t
    return end


# --------------------------------------------------------------------------------------------
# The oracle's query


def _uniforms(key: jax.Array, B: int, S: int) -> np.ndarray:
    """``[B, S]`` float64 uniforms in ``[0, 1)``: the whole call's, drawn at once from a local
    ``torch.Generator`` seeded from ``key`` (as sampling seeds its micro-batches)."""
    generator = torch.Generator().manual_seed(_seed_from_key(key))
    return torch.rand((B, S), generator=generator, dtype=torch.float64).numpy()


@sample_continuation.register(PromptedPolicy)
def continue_tokens(
    key: jax.Array,
    policy: PromptedPolicy,
    prompts: Any,
    tokens: Any,
    start: Any,
    stop: Any,
    temperature: Any,
) -> Continuation:
    """Continues ``B`` response prefixes on the model (``simulators.sample_continuation``).

    Called by :func:`simulators.continue_prefix`, which checks the shapes and ranges; see the
    module docstring for the semantics. Returns a :class:`simulators.Continuation` whose
    ``token_logp`` / ``token_logq`` are float64 numbers computed in float32 (or the model's wider
    dtype).

    Raises:
      ValueError: a kept prefix token lies outside the model's vocabulary.
    """
    hf = policy.policy
    x = np.asarray(prompts, np.int64)
    toks = np.asarray(tokens)
    start, stop = np.asarray(start, np.int64), np.asarray(stop, np.int64)
    B, T = toks.shape
    tau = float(temperature)
    prefixes = _as_id_rows([toks[b, : start[b]] for b in range(B)], "tokens", _vocab_size(hf.model))
    budget = stop - start
    for b, prefix in enumerate(prefixes):
        end = _ended_prefix(policy, prefix)
        if end is not None:
            prefixes[b], budget[b] = prefix[:end], 0
    seqs = [np.concatenate((policy.prompt_ids[x[b]], prefixes[b])) for b in range(B)]
    prompt_len = np.array([len(policy.prompt_ids[i]) for i in x], np.int64)
    memo = policy._memo
    memo.stats["queries"] += 1

    out = _Outputs(B, T, hf.pad_token_id)
    for b, prefix in enumerate(prefixes):
        out.tokens[b, : len(prefix)] = prefix
        out.lengths[b] = len(prefix)
    uniforms = _uniforms(key, B, max(int(budget.max(initial=0)), 1))
    with torch.inference_mode():
        cached = memo.rows if memo.gatherable else _Cached.empty()
        src, k, skip = _match(cached, x, seqs, prompt_len, budget, tau)
        # Rows whose prompt is not cached start from their prompt, encoded once per prompt.
        cold = np.flatnonzero(~skip & (k < prompt_len - 1))
        if cold.size and memo.gatherable:
            cached, fresh = _encode_prompts(policy, cached, np.unique(x[cold]))
            if fresh is None:
                memo.gatherable = False
                cached = _Cached.empty()
            else:
                src[cold] = fresh[x[cold]]
                k[cold] = prompt_len[cold] - 1
        if not memo.gatherable:
            src[:], k[:], skip[:] = -1, 0, False
        # Recorded log-probabilities of the positions taken from the cache.
        for b in np.flatnonzero(src >= 0):
            r = src[b]
            hi = len(seqs[b]) if skip[b] else k[b] + 1
            out.copy_stats(b, cached.logp[r], cached.logq[r], prompt_len[b], hi)
        # Rows computed together share their cache blocks (sorted by block and row).
        todo = np.flatnonzero(~skip)
        if len(cached.lengths):
            at = np.maximum(src[todo], 0)
            todo = todo[np.lexsort((cached.row[at], cached.block[at], src[todo] < 0))]
        _count(policy, tokens_reused=int(sum(len(seqs[b]) for b in np.flatnonzero(skip))))
        new_blocks: list[Any] = []
        records: dict[int, tuple] = {}
        for s in range(0, todo.size, hf.batch_size):
            rows = todo[s : s + hf.batch_size]
            _forward(policy, cached, rows, seqs, prompt_len, src, k, budget, tau, uniforms, out)
            if out.block is None:
                memo.gatherable = False
                continue
            new_blocks.append(out.block)
            for j, b in enumerate(rows):
                records[b] = (len(new_blocks) - 1, j, out.cols[b])
        if policy.reuse_cache and memo.gatherable:
            memo.rows = _next_cached(
                cached, new_blocks, records, src, skip, out, x, seqs, prompt_len, tau
            )
        else:
            memo.rows = _Cached.empty()
    np.add.at(memo.calls, x, out.generated > 0)
    np.add.at(memo.tokens, x, out.generated)
    return out.continuation()


class _Outputs:
    """The arrays a call fills in (response coordinates), and the last micro-batch's cache."""

    def __init__(self, B: int, T: int, pad: int):
        self.tokens = np.full((B, T), pad, np.int64)
        self.lengths = np.zeros(B, np.int64)
        self.logp = np.zeros((B, T))
        self.logq = np.zeros((B, T))
        self.generated = np.zeros(B, np.int64)
        self.cols: dict[int, np.ndarray] = {}
        self.block = None

    def copy_stats(self, b: int, logp: np.ndarray, logq: np.ndarray, lp: int, hi: int) -> None:
        """Response positions ``lp .. hi - 1`` (sequence coordinates) from a cached row."""
        if hi > lp:
            self.logp[b, : hi - lp] = logp[lp:hi]
            self.logq[b, : hi - lp] = logq[lp:hi]

    def continuation(self) -> Continuation:
        return Continuation(
            tokens=jnp.asarray(self.tokens.astype(np.int32)),
            lengths=jnp.asarray(self.lengths.astype(np.int32)),
            token_logp=jnp.asarray(self.logp),
            token_logq=jnp.asarray(self.logq),
            generated=jnp.asarray(self.generated.astype(np.int32)),
        )


def _match(
    cached: _Cached,
    x: np.ndarray,
    seqs: list[np.ndarray],
    prompt_len: np.ndarray,
    budget: np.ndarray,
    tau: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row, the cached row to start from and how many of its positions to reuse.

    Row ``b`` (sequence ``s``) may reuse the first ``k`` cached positions of a row ``r`` of the
    same prompt when they hold ``s[:k]``, at least one token of ``s`` is left to encode (its
    logits predict the next token), and every response token of ``s[:k + 1]`` has a recorded
    log-probability in ``r`` at this temperature (the reused positions' logits are not
    recomputed). The largest ``k`` wins. A row with nothing to draw whose recorded
    log-probabilities cover all of ``s`` is answered from the cache alone (``skip``). Equal rows
    are matched once (SMC's resampled particles, best-of-N's prompts).

    Returns:
      ``(src [B], k [B], skip [B])``; ``src = -1`` where nothing is reused.
    """
    B, R = len(seqs), len(cached.lengths)
    src, k = np.full(B, -1, np.int64), np.zeros(B, np.int64)
    skip = np.zeros(B, bool)
    if R == 0 or B == 0:
        return src, k, skip
    lengths = np.fromiter((len(s) for s in seqs), np.int64, count=B)
    W = cached.seqs.shape[1]
    # Recorded at this temperature: run[r, i] = how many positions from i on have records.
    ok = ~np.isnan(cached.logp) & (cached.tau == tau)[:, None]
    run = np.zeros((R, W + 1), np.int64)
    for i in range(W - 1, -1, -1):
        run[:, i] = np.where(ok[:, i], run[:, i + 1] + 1, 0)
    fed = cached.fed
    for p in np.unique(x):
        new, old = np.flatnonzero(x == p), np.flatnonzero(cached.prompt == p)
        if not old.size:
            continue
        lp = int(prompt_len[new[0]])
        recorded = lp + run[old, min(lp, W)]  # the first position without a record
        _, first = np.unique(
            np.column_stack([cached.seqs[old], fed[old], recorded]), axis=0, return_index=True
        )
        old, recorded = old[first], recorded[first]
        padded = np.full((new.size, W), -1, np.int64)  # -1 never equals the cache's -2 padding
        for j, b in enumerate(new):
            padded[j, : min(lengths[b], W)] = seqs[b][:W]
        queries, inverse = np.unique(
            np.column_stack([padded, lengths[new], budget[new] == 0]), axis=0, return_inverse=True
        )
        q_len, q_done = queries[:, W], queries[:, W + 1].astype(bool)
        q_src, q_k = np.full(len(queries), -1), np.zeros(len(queries), np.int64)
        q_skip = np.zeros(len(queries), bool)
        step = max(1, 2**24 // (old.size * W))  # bounds the [q, r, W] comparison
        for lo in range(0, len(queries), step):
            sl = slice(lo, lo + step)
            same = queries[sl, None, :W] == cached.seqs[None, old, :]
            lcp = np.where(same.all(-1), W, np.argmin(same, axis=-1))  # [q, r]
            rec = np.minimum(recorded[None, :], lcp)
            kk = np.minimum(np.minimum(fed[old][None, :], lcp), q_len[sl, None] - 1)
            kk = np.maximum(np.minimum(kk, rec - 1), 0)
            rows = np.arange(kk.shape[0])
            best = np.argmax(kk, axis=1)
            q_src[sl] = np.where(kk[rows, best] > 0, old[best], -1)
            q_k[sl] = kk[rows, best]
            # Nothing to draw and every response token recorded: no forward pass.
            whole = np.where(rec >= q_len[sl, None], kk, -1)
            pick = np.argmax(whole, axis=1)
            answered = q_done[sl] & (whole[rows, pick] >= 0)
            q_src[sl] = np.where(answered, old[pick], q_src[sl])
            q_k[sl] = np.where(answered, np.minimum(fed[old[pick]], q_len[sl]), q_k[sl])
            q_skip[sl] = answered
        inverse = inverse.reshape(-1)
        src[new], k[new], skip[new] = q_src[inverse], q_k[inverse], q_skip[inverse]
    return src, k, skip


def _cache_layers(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
    """The per-layer ``(keys, values)`` ``[B, H, L, D]`` of a ``DynamicCache`` of plain layers,
    or None for any other cache (sliding windows, quantized, legacy): those are not gathered."""
    from transformers.cache_utils import DynamicCache, DynamicLayer

    if type(cache) is not DynamicCache or not all(type(x) is DynamicLayer for x in cache.layers):
        return None
    return [(layer.keys, layer.values) for layer in cache.layers]


def _encode_prompts(
    policy: PromptedPolicy, cached: _Cached, which: np.ndarray
) -> tuple[_Cached, np.ndarray | None]:
    """``cached`` with the prompts ``which`` appended as cached rows (one forward pass per
    micro-batch, only the key-value cache kept), and the row of each prompt id (or ``None``
    when the model's cache cannot be gathered)."""
    hf = policy.policy
    fresh = np.full(policy.num_prompts, -1, np.int64)
    blocks, block, row, cols = list(cached.blocks), [cached.block], [cached.row], list(cached.cols)
    seqs = [policy.prompt_ids[i] for i in which]
    keep = {"logits_to_keep": 1} if _accepts(hf.model, "logits_to_keep") else {}
    for s in range(0, len(seqs), hf.batch_size):
        part = seqs[s : s + hf.batch_size]
        ids, mask = _pad(part, hf.pad_token_id, left=True)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        out = _model_call(
            hf.model,
            input_ids=ids.to(hf.device),
            attention_mask=mask.to(hf.device),
            position_ids=position_ids.to(hf.device),
            use_cache=True,
            **keep,
        )
        _count(policy, forward_passes=1, tokens_encoded=int(mask.sum()))
        layers = _cache_layers(_out_cache(out))
        if layers is None:
            return cached, None
        blocks.append(layers)
        L = ids.shape[1]
        block.append(np.full(len(part), len(blocks) - 1, np.int64))
        row.append(np.arange(len(part), dtype=np.int64))
        cols += [np.arange(L - len(p), L, dtype=np.int64) for p in part]
    R0 = len(cached.lengths)
    fresh[which] = R0 + np.arange(len(which))
    W = max(cached.seqs.shape[1], max(len(p) for p in seqs))
    grow = lambda a, fill: np.pad(a, ((0, 0), (0, W - a.shape[1])), constant_values=fill)  # noqa: E731
    new_seqs = np.full((len(seqs), W), -2, np.int64)
    for j, p in enumerate(seqs):
        new_seqs[j, : len(p)] = p
    nan = np.full((len(seqs), W), np.nan)
    return (
        _Cached(
            blocks=blocks,
            prompt=np.concatenate([cached.prompt, which]).astype(np.int64),
            block=np.concatenate(block),
            row=np.concatenate(row),
            cols=cols,
            seqs=np.concatenate([grow(cached.seqs, -2), new_seqs]),
            lengths=np.concatenate([cached.lengths, [len(p) for p in seqs]]).astype(np.int64),
            logp=np.concatenate([grow(cached.logp, np.nan), nan]),
            logq=np.concatenate([grow(cached.logq, np.nan), nan]),
            tau=np.concatenate([cached.tau, np.full(len(seqs), np.nan)]),
        ),
        fresh,
    )


def _count(policy: PromptedPolicy, **counts: int) -> None:
    for name, value in counts.items():
        policy._memo.stats[name] += value


def _gather_past(
    cached: _Cached, rows: np.ndarray, src: np.ndarray, k: np.ndarray
) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
    """The key-value cache of ``rows``: the first ``k[b]`` cached positions of row ``src[b]``,
    right-aligned in ``max k`` columns (the positions on their left are masked). ``rows`` come
    sorted by source block, those without a source (``src = -1``, zeros) last. None when no row
    reuses anything."""
    width = int(k[rows].max(initial=0))
    if width == 0:
        return None
    parts: list[list[tuple[torch.Tensor, torch.Tensor]]] = []
    has = src[rows] >= 0
    blk = np.where(has, cached.block[np.maximum(src[rows], 0)], -1)
    starts = np.flatnonzero(np.r_[True, blk[1:] != blk[:-1]])
    for lo, hi in zip(starts, np.r_[starts[1:], len(rows)], strict=True):
        part = rows[lo:hi]
        if blk[lo] < 0:
            ref = parts[0]
            parts.append(
                [(z, z) for z in (x.new_zeros((len(part),) + x.shape[1:]) for x, _ in ref)]
            )
            continue
        layers = cached.blocks[blk[lo]]
        device, L = layers[0][0].device, layers[0][0].shape[2]
        cols = [cached.cols[src[b]][: k[b]] for b in part]
        rows_of = cached.row[src[part]]
        sel = torch.from_numpy(rows_of).to(device)
        if all(not c.size or (c[-1] == L - 1 and c[-1] - c[0] == c.size - 1) for c in cols):
            # Each row's positions are the block's last ones (SMC's extensions, MH's accepted
            # rows): a row copy, no gather (the columns left of them are masked).
            same = np.array_equal(rows_of, np.arange(layers[0][0].shape[0]))
            parts.append(
                [(_tail(kt, sel, same, width), _tail(vt, sel, same, width)) for kt, vt in layers]
            )
            continue
        index = np.zeros((len(part), width), np.int64)
        for i, c in enumerate(cols):
            index[i, width - len(c) :] = c
        idx = torch.from_numpy(index).to(device)
        gathered = []
        for keys, values in layers:
            at = idx[:, None, :, None].expand(len(part), keys.shape[1], width, keys.shape[3])
            gathered.append(
                (keys.index_select(0, sel).gather(2, at), values.index_select(0, sel).gather(2, at))
            )
        parts.append(gathered)
    return [
        (torch.cat([p[layer][0] for p in parts]), torch.cat([p[layer][1] for p in parts]))
        for layer in range(len(parts[0]))
    ]


def _tail(t: torch.Tensor, rows: torch.Tensor, all_rows: bool, width: int) -> torch.Tensor:
    """The last ``width`` positions of ``t [B, H, L, D]``'s ``rows`` (zeros before ``L``
    where ``width > L``; no copy when every row is kept in order and ``width = L``)."""
    t = t if all_rows else t.index_select(0, rows)
    L = t.shape[2]
    return t[:, :, L - width :] if width <= L else torch.nn.functional.pad(t, (0, 0, width - L, 0))


def _forward(
    policy: PromptedPolicy,
    cached: _Cached,
    rows: np.ndarray,
    seqs: list[np.ndarray],
    prompt_len: np.ndarray,
    src: np.ndarray,
    k: np.ndarray,
    budget: np.ndarray,
    tau: float,
    uniforms: np.ndarray,
    out: _Outputs,
) -> None:
    """Encodes one micro-batch's uncached prompt and prefix tokens, then decodes it.

    The past (reused cache positions) is right-aligned; the tokens to encode follow, left-padded
    within their block; every padding position is masked and position ids count real tokens, so
    each row is computed as if alone. Fills ``out`` (and ``out.cols``, ``out.block``: the
    micro-batch's final cache and each row's valid columns, for the next call).
    """
    from transformers.cache_utils import DynamicCache

    hf = policy.policy
    model, device = hf.model, hf.device
    n = len(rows)
    kb = k[rows]
    past = _gather_past(cached, rows, src, k)
    width = int(kb.max(initial=0))
    past_mask = np.zeros((n, width), np.int64)
    for j in range(n):
        past_mask[j, width - kb[j] :] = 1
    extras = [seqs[b][k[b] :] for b in rows]
    e = np.array([len(s) for s in extras], np.int64)
    ids, block_mask = _pad(extras, hf.pad_token_id, left=True)
    E = ids.shape[1]
    position_ids = (torch.from_numpy(kb)[:, None] + block_mask.cumsum(-1) - 1).clamp(min=0)
    mask = torch.cat([torch.from_numpy(past_mask), block_mask], dim=1).to(device)
    # Logits from the first position that predicts a response token still to be recorded.
    lp, ls = prompt_len[rows], kb + e
    first = np.maximum(kb + 1, lp)
    col = np.where(first <= ls - 1, (E - e) + first - 1 - kb, E - 1)
    keep = int(E - col.min())
    kw = {"logits_to_keep": keep} if _accepts(model, "logits_to_keep") else {}
    if past is not None:
        kw["cache"] = DynamicCache(ddp_cache_data=past)
    result = _model_call(
        model,
        input_ids=ids.to(device),
        attention_mask=mask,
        position_ids=position_ids.to(device),
        use_cache=True,
        **kw,
    )
    _count(
        policy,
        forward_passes=1,
        tokens_encoded=int(e.sum()),
        tokens_reused=int(kb.sum()),
    )
    logits = result.logits[:, -keep:]
    # Kept-prefix tokens predicted inside the block: positions first .. ls - 1.
    pj, pt = [], []
    for j in range(n):
        for t in range(first[j], ls[j]):
            pj.append(j)
            pt.append(t)
    if pj:
        pj_np, pt_np = np.asarray(pj), np.asarray(pt)
        c = keep - e[pj_np] + pt_np - 1 - kb[pj_np]
        z = _float(logits[torch.from_numpy(pj_np).to(device), torch.from_numpy(c).to(device)])
        target = torch.tensor(
            [int(seqs[rows[j]][t]) for j, t in zip(pj, pt, strict=True)], device=device
        )
        lp_tok = _target_logp(z, target).double().cpu().numpy()
        lq_tok = _target_logp(z / tau, target).double().cpu().numpy()
        out.logp[rows[pj_np], pt_np - lp[pj_np]] = lp_tok
        out.logq[rows[pj_np], pt_np - lp[pj_np]] = lq_tok
    cache = _out_cache(result)
    z = _float(logits[:, -1])
    del logits, result
    _decode(policy, rows, z, cache, mask, ls, budget, tau, uniforms, out)


def _decode(policy, rows, z, cache, mask, positions, budget, tau, uniforms, out) -> None:
    """The continuation: one token per step from ``softmax(z / tau)`` with the cache."""
    hf = policy.policy
    model, device = hf.model, hf.device
    n = len(rows)
    steps = int(budget[rows].max(initial=0))
    eos = torch.tensor(hf.eos_token_ids, dtype=torch.long, device=device)
    limit = torch.from_numpy(budget[rows]).to(device)
    u = torch.from_numpy(uniforms[rows]).to(device)
    done = limit <= 0
    next_position = torch.from_numpy(positions).to(device)[:, None]
    drawn = torch.zeros((n, max(steps, 1)), dtype=torch.long, device=device)
    stats = torch.zeros((2, n, max(steps, 1)), dtype=torch.float64, device=device)
    counts = torch.zeros(n, dtype=torch.long, device=device)
    history = {j: out.tokens[b, : out.lengths[b]].tolist() for j, b in enumerate(rows)}
    for t in range(steps):
        logp = torch.log_softmax(z, dim=-1)
        logq = logp if tau == 1.0 else torch.log_softmax(z / tau, dim=-1)
        cdf = logq.double().exp().cumsum(-1)
        target = (u[:, t] * cdf[:, -1])[:, None]
        tok = torch.searchsorted(cdf, target, right=True)[:, 0].clamp(max=z.shape[-1] - 1)
        active = ~done
        drawn[:, t] = tok
        step = torch.stack(
            [logp.gather(-1, tok[:, None])[:, 0], logq.gather(-1, tok[:, None])[:, 0]]
        )
        stats[:, :, t] = torch.where(active, step.double(), 0.0)
        counts += active
        done = done | (active & torch.isin(tok, eos))
        if policy.stop:
            open_rows = (active & ~done).cpu().numpy()
            step_tokens = tok.cpu().numpy()
            for j in np.flatnonzero(active.cpu().numpy()):
                history[j].append(int(step_tokens[j]))
                if open_rows[j] and stop_reached(hf.tokenizer, history[j], policy.stop):
                    done[j] = True
        done = done | (t + 1 >= limit)
        if bool(done.all()) or t == steps - 1:
            break
        # Only the rows that drew a real token feed it: the mask says which cache columns hold
        # a response's tokens (the next call reuses them).
        mask = torch.cat([mask, active[:, None].to(mask.dtype)], dim=1)
        result = _model_call(
            model,
            input_ids=tok[:, None],
            attention_mask=mask,
            position_ids=next_position,
            cache=cache,
            use_cache=True,
        )
        _count(policy, forward_passes=1, tokens_encoded=int(active.sum()))
        cache = _out_cache(result)
        z = _float(result.logits[:, -1, :])
        next_position = next_position + active[:, None]
    counts = counts.cpu().numpy()
    drawn, stats = drawn.cpu().numpy(), stats.cpu().numpy()
    valid = mask.cpu().numpy().astype(bool)
    for j, b in enumerate(rows):
        m, at = int(counts[j]), int(out.lengths[b])
        out.tokens[b, at : at + m] = drawn[j, :m]
        out.logp[b, at : at + m] = stats[0, j, :m]
        out.logq[b, at : at + m] = stats[1, j, :m]
        out.lengths[b] = at + m
        out.generated[b] = m
        out.cols[b] = np.flatnonzero(valid[j])
    out.block = _cache_layers(cache)


def _next_cached(
    cached: _Cached,
    new_blocks: list[Any],
    records: dict[int, tuple],
    src: np.ndarray,
    skip: np.ndarray,
    out: _Outputs,
    x: np.ndarray,
    seqs: list[np.ndarray],
    prompt_len: np.ndarray,
    tau: float,
) -> _Cached:
    """The rows this call answered, as the cache the next call starts from."""
    B = len(seqs)
    blocks: list[Any] = []
    remap: dict[tuple[str, int], int] = {}

    def block_id(kind: str, i: int) -> int:
        if (kind, i) not in remap:
            remap[kind, i] = len(blocks)
            blocks.append(cached.blocks[i] if kind == "old" else new_blocks[i])
        return remap[kind, i]

    block, row, cols = np.zeros(B, np.int64), np.zeros(B, np.int64), []
    keep = np.ones(B, bool)
    full = [
        np.concatenate((seqs[b][: prompt_len[b]], out.tokens[b, : out.lengths[b]]))
        for b in range(B)
    ]
    for b in range(B):
        if skip[b]:
            r = src[b]
            block[b], row[b] = block_id("old", cached.block[r]), cached.row[r]
            cols.append(cached.cols[r][: min(len(cached.cols[r]), len(full[b]))])
        elif b in records:
            i, j, c = records[b]
            block[b], row[b] = block_id("new", i), j
            cols.append(c)
        else:
            keep[b] = False
            cols.append(np.zeros(0, np.int64))
    W = max(len(s) for s in full)
    S = np.full((B, W), -2, np.int64)
    logp, logq = np.full((B, W), np.nan), np.full((B, W), np.nan)
    for b, s in enumerate(full):
        S[b, : len(s)] = s
        lp, n = prompt_len[b], int(out.lengths[b])
        logp[b, lp : lp + n] = out.logp[b, :n]
        logq[b, lp : lp + n] = out.logq[b, :n]
    idx = np.flatnonzero(keep)
    return _Cached(
        blocks=blocks,
        prompt=x[idx],
        block=block[idx],
        row=row[idx],
        cols=[cols[b] for b in idx],
        seqs=S[idx],
        lengths=np.array([len(full[b]) for b in idx], np.int64),
        logp=logp[idx],
        logq=logq[idx],
        tau=np.full(idx.size, tau),
    )
