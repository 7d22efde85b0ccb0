"""Loading a causal language model from disk onto a device, offline (the adapter's edge to files).

What :meth:`simulators.hf.HFPolicy.from_pretrained` and ``sharpen bon``/``sharpen sft`` need before
a model is a policy ``pi_base`` (Definition 3.2's base model): the torch device and dtype to use,
checked before anything is loaded, and the tokenizer and model of a built-in name, a local folder
or a ``.gguf`` file, read with ``local_files_only`` and ``trust_remote_code=False`` (a folder's own
Python never runs). Nothing here knows :class:`~simulators.hf.HFPolicy`.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ._files import resolve_model_path

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


def load_model_and_tokenizer(
    path_or_builtin: str | os.PathLike, device: str, dtype: torch.dtype
) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of a built-in name, a model folder or a ``.gguf`` file, never
    downloading: the model is moved to ``device`` in ``dtype`` (both already resolved).

    Raises:
      ValueError: the path is not a complete model, or asks to run its own code (checked by
        :func:`simulators.hf._files.resolve_model_path` before anything is loaded).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

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
    return model, tokenizer
