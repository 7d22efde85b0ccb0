"""``sharpen bon``: the paper's inference-time best-of-N protocol on a real model (App. A.1).

For ``--prompts`` questions of ``--task``: greedy decoding, then ``--n-max`` temperature-1 draws
per prompt with their exact log-likelihoods; answers are extracted and checked, and the protocol
of :mod:`simulators._protocol` runs on the Rollouts. Written to ``--out``:

* ``bon.csv`` (tidy: reward, N, subsample, metric, value), ``bon_mean.csv`` (mean, std, sem over
  subsamples), ``bon_exact.csv`` (exact subset expectation), ``summary.csv`` (greedy and naive
  accuracy, pass@N, lengths, coverage estimates), ``likelihood.csv`` (log-likelihood by
  correctness), ``samples.csv`` (one row per draw, with its text), ``greedy.csv``, ``run.json``
  (settings and throughput);
* ``lift_vs_n.png``, ``loglik_vs_n.png``, ``loglik_hist.png``.

``--backend vllm`` samples (and decodes greedily) with a :class:`~simulators.hf.VLLMPolicy`
instead of the adapter's own loop: the same Rollouts with the same exact log-likelihoods, so the
same tables and figures; the next-token entropies of the drawn tokens (for the entropy-based
self-rewards) then come from one transformers scoring pass (``token_stats_seconds`` in
``run.json``).

Every argument is checked before anything is loaded, sampled or written (:func:`check_args`):
counts and weights, ``--seed``, the device and dtype, the model path on disk, ``--out`` (an
existing folder, or one that can be created and written), the memory the draws will need and the
task file. A refused argument is one line on standard error naming it, with exit status 2.
``--out`` is created only when the run starts its real work, and removed again (when it was
created by the run and is still empty) if the run fails (:func:`output_folder`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import tempfile
import time
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default="smollm2-135m",
        help="built-in name (smollm2-135m, or tiny-gpt2: a random model for smoke runs), a local "
        "model folder or a .gguf file; nothing is downloaded",
    )
    parser.add_argument(
        "--task",
        default="arithmetic",
        help="arithmetic, compare, logic, or a .jsonl file of question/answer records",
    )
    parser.add_argument("--n-max", type=int, default=8, help="N_max draws per prompt")
    parser.add_argument("--prompts", type=int, default=16, help="number of questions P")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32, help="sequences per micro-batch")
    parser.add_argument("--subsamples", type=int, default=10, help="random subsamples per N")
    parser.add_argument("--ns", default=None, help="comma-separated N values (default 1,2,4..)")
    add_device_arguments(parser)
    parser.add_argument(
        "--chat",
        choices=["auto", "yes", "no"],
        default="auto",
        help="wrap prompts in the tokenizer's chat template (auto: when it has one)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--backend",
        choices=["hf", "vllm"],
        default="hf",
        help="what samples: hf (the adapter's own decoding loop, transformers) or vllm (a vLLM "
        "engine in its own environment, `make vllm`; the entropy statistics then come from one "
        "transformers scoring pass of the drawn tokens)",
    )


DEVICE_HELP = (
    "torch device: cpu, cuda, cuda:1 or mps (default: cuda when available, else cpu); an "
    "unavailable device is an error"
)
DTYPE_HELP = (
    "model dtype: fp32, bf16 or fp16 (or the torch names float32, bfloat16, float16; default "
    "bf16 on cuda, else fp32)"
)


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """``--device`` and ``--dtype``, shared by ``sharpen bon`` and ``sharpen sft``."""
    parser.add_argument("--device", default=None, help=DEVICE_HELP)
    parser.add_argument("--dtype", default=None, help=DTYPE_HELP)


def check_args(
    args: argparse.Namespace,
    counts: tuple[str, ...],
    *,
    positive: tuple[str, ...] = (),
    nonnegative: tuple[str, ...] = (),
) -> None:
    """Checks the arguments every model command shares, before anything is loaded or written.

    Args:
      args: the parsed arguments.
      counts: integer options that must be >= 1 (attribute names, e.g. ``"n_max"``).
      positive: float options that must be finite and > 0 (``"lr"``, ``"beta"``).
      nonnegative: float options that must be finite and >= 0 (``"weight_decay"``).

    Also checks ``--seed`` (an integer in ``[0, 2**63)``, what JAX's keys take), ``--threads``,
    ``--out`` (:func:`check_out`) and ``--model`` (:func:`check_model`), and resolves
    ``args.device`` and ``args.dtype`` to what will be used (the defaults included), so an
    unavailable device or an unknown dtype fails here, not after the model is loaded.

    Raises:
      ValueError: an argument is out of range; the message names it (``--n-max``) and says what
        is expected.
    """
    from simulators.hf import resolve_device, resolve_dtype

    for name in counts:
        value = getattr(args, name)
        if value is None or value < 1:
            raise ValueError(f"{_flag(name)} must be an integer >= 1, got {value}")
    for name in positive:
        value = getattr(args, name)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{_flag(name)} must be a finite number > 0, got {value}")
    for name in nonnegative:
        value = getattr(args, name)
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{_flag(name)} must be a finite number >= 0, got {value}")
    if not 0 <= args.seed < 2**63:
        raise ValueError(f"--seed must be an integer in [0, 2**63), got {args.seed}")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be an integer >= 1, got {args.threads}")
    check_out(args.out)
    try:
        args.device = resolve_device(args.device)
    except (TypeError, ValueError) as err:
        raise ValueError(f"--device: {err}") from err
    try:
        args.dtype = resolve_dtype(args.dtype, args.device)
    except (TypeError, ValueError) as err:
        raise ValueError(f"--dtype: {err}") from err
    n_ctx = check_model(args.model)
    if n_ctx is not None and args.max_new_tokens >= n_ctx:
        raise ValueError(
            f"--max-new-tokens: max_new_tokens={args.max_new_tokens} plus a prompt of at least "
            f"one token exceeds the model's {n_ctx} positions"
        )


def _flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def check_model(model: str) -> int | None:
    """Checks ``--model`` on disk without loading it; returns its positions when its files say.

    ``tiny-gpt2`` is built in memory; any other value must be a built-in name, a complete model
    folder or a valid ``.gguf`` file (:func:`simulators.hf.resolve_model_path` says what
    is wrong with a path).
    """
    from simulators.hf import TINY_GPT2_POSITIONS, model_context_length, resolve_model_path

    if model == "tiny-gpt2":
        return TINY_GPT2_POSITIONS
    try:
        folder, gguf_file = resolve_model_path(model)
    except (TypeError, ValueError) as err:
        raise ValueError(f"--model: {err}") from None
    return model_context_length(folder, gguf_file)


def check_out(path: str, flag: str = "--out") -> None:
    """Refuses an output folder that cannot be created or written, before any work is done.

    ``path`` may exist (as a folder) or not; when it does not, its nearest existing ancestor
    must be a folder this process may write to.
    """
    if not isinstance(path, str) or not path:
        raise ValueError(f"{flag} must name a folder, got {path!r}")
    if os.path.lexists(path) and not os.path.exists(path):
        raise ValueError(f"{flag} {path!r} is a broken symbolic link")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{flag} {path!r} exists and is not a folder")
    ancestor = os.path.abspath(path)
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise ValueError(f"{flag} {path!r} cannot be created: {ancestor!r} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path!r} is not writable: no write permission in {ancestor!r}")


@contextlib.contextmanager
def output_folder(path: str, flag: str = "--out"):
    """The output folder of a run that is starting real work (loading, sampling, training).

    Creates ``path`` and its missing parents, and writes and removes a probe file (permission
    bits cannot show every refusal: read-only mounts, quotas, root). A run that fails inside the
    context leaves no trace: the folders this call created are removed again while empty.

    Raises:
      ValueError: the folder cannot be created or written (naming ``flag``).
    """
    check_out(path, flag)
    created = []  # folders this call creates, innermost first
    folder = os.path.abspath(path)
    while not os.path.isdir(folder):
        created.append(folder)
        folder = os.path.dirname(folder)
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        _remove_empty(created)
        raise ValueError(f"{flag} {path!r} is not writable: {err.strerror}") from None
    try:
        yield path
    except BaseException:
        _remove_empty(created)
        raise


def _remove_empty(created: list[str]) -> None:
    """Removes the folders of ``created`` (innermost first) as long as they are empty."""
    for folder in created:
        try:
            os.rmdir(folder)  # refuses a folder that holds anything
        except OSError:
            return


def check_memory(factors: dict[str, int], what: str) -> None:
    """Refuses settings whose draws cannot fit in this machine's memory, before any sampling.

    Args:
      factors: option -> value, whose product is the number of token slots held at once
        (each with its int64 token id and three float64 statistics).
      what: what holds them (for the message).

    Raises:
      ValueError: the slots need more bytes than the machine's physical memory.
    """
    slots = math.prod(factors.values())
    need = slots * _BYTES_PER_SLOT
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not every platform reports it
        return
    if need > have:
        product = " x ".join(f"{k} {v}" for k, v in factors.items())
        raise ValueError(
            f"{product} = {slots:.3g} token slots (~{need / 2**30:.3g} GiB) held at once by "
            f"{what}, more than this machine's {have / 2**30:.3g} GiB of memory"
        )


# Bytes per token slot of tiled Rollouts: an int64 token id and three float64 statistics.
_BYTES_PER_SLOT = 32


def parse_ns(text: str | None, n_max: int) -> list[int] | None:
    """The ``--ns`` values: distinct comma-separated integers in ``1..n_max`` (None: default)."""
    if text is None:
        return None
    ns = []
    for part in text.split(","):
        try:
            n = int(part.strip())
        except ValueError:
            raise ValueError(
                f"--ns must be comma-separated integers between 1 and --n-max={n_max}, got "
                f"{text!r} ({part.strip()!r} is not an integer)"
            ) from None
        if not 1 <= n <= n_max:
            raise ValueError(
                f"--ns values must lie between 1 and --n-max={n_max}, got {n} in {text!r}"
            )
        if n in ns:
            raise ValueError(f"--ns values must be distinct, got {n} twice in {text!r}")
        ns.append(n)
    return ns


def check_task(name: str, num_questions: int, seed: int, flag: str = "--prompts"):
    """The task of ``--task``, with at least ``num_questions`` questions (read before loading).

    Raises:
      ValueError: ``--task`` is neither a built-in task nor a valid JSON-lines file (the message
        names the file and line), or the file holds fewer questions than asked for.
    """
    from simulators.hf import get_task

    try:
        task = get_task(name, num_questions, seed=seed)
    except (TypeError, ValueError) as err:
        raise ValueError(f"--task: {err}") from None
    if len(task) < num_questions:
        raise ValueError(f"{flag} {num_questions} exceeds the task's {len(task)} questions")
    return task


def load_policy(args: argparse.Namespace, **settings: Any):
    """The policy named by ``--model`` with the command's device, dtype and chat settings.

    The tiny random GPT-2 (``--model tiny-gpt2``) is built on the CPU in float32 and then moved
    to ``--device`` and ``--dtype``, as a loaded model would be. With ``--backend vllm`` the
    model is served by a :class:`~simulators.hf.VLLMPolicy` (``batch_size`` is the adapter's
    micro-batch and is not passed on: the engine batches by itself).
    """
    from simulators.hf import (
        HFPolicy,
        VLLMPolicy,
        VLLMUnavailable,
        resolve_device,
        resolve_dtype,
        tiny_gpt2,
    )

    if args.chat != "auto":
        settings["chat"] = args.chat == "yes"
    settings.setdefault("progress", not args.quiet)
    if getattr(args, "backend", "hf") == "vllm":
        settings.pop("batch_size", None)
        try:
            policy = VLLMPolicy.from_pretrained(
                args.model, device=args.device, dtype=args.dtype, **settings
            )
        except VLLMUnavailable as err:  # the engine's own message and its log's path
            raise ValueError(f"--backend vllm: {err}") from err
    elif args.model == "tiny-gpt2":
        device = resolve_device(args.device)
        dtype = resolve_dtype(args.dtype, device)
        tiny = tiny_gpt2(args.seed)
        model = tiny.model.to(device=device, dtype=dtype)
        policy = HFPolicy.from_model(model, tiny.tokenizer, **settings)
    else:
        policy = HFPolicy.from_pretrained(
            args.model, device=args.device, dtype=args.dtype, **settings
        )
    if policy.chat and not getattr(policy.tokenizer, "chat_template", None):
        raise ValueError(f"--chat yes: the tokenizer of {args.model} has no chat template")
    return policy


def run_bon(args: argparse.Namespace) -> dict[str, Any]:
    """Runs the protocol and writes every table and figure; returns the tables and timings.

    Every argument is checked first (:func:`check_args`, ``--ns``, the memory the draws need,
    the task file); only then is ``--out`` created and the model loaded. A run that fails leaves
    no empty output folder behind (:func:`output_folder`).
    """
    from simulators import default_ns

    check_args(args, ("n_max", "prompts", "max_new_tokens", "batch_size", "subsamples"))
    ns = default_ns(args.n_max) if args.ns is None else parse_ns(args.ns, args.n_max)
    # bon_curve tiles the draws once per subsample: S x P x N_max x T slots at once.
    check_memory(
        {
            "--subsamples": args.subsamples,
            "--prompts": args.prompts,
            "--n-max": args.n_max,
            "--max-new-tokens": args.max_new_tokens,
        },
        "the protocol's subsampled draws",
    )
    task = check_task(args.task, args.prompts, args.seed)
    if args.backend == "vllm":
        check_vllm_backend(args)
    with output_folder(args.out):
        return _run_bon(args, task, ns)


def check_vllm_backend(args: argparse.Namespace) -> None:
    """Refuses ``--backend vllm`` before anything is loaded when it cannot run: the model must be
    on disk (the tiny random GPT-2 lives in memory only) and an environment with vLLM must exist
    (:func:`simulators.hf.vllm_unavailable_reason`)."""
    from simulators.hf import vllm_unavailable_reason

    if args.model == "tiny-gpt2":
        raise ValueError(
            "--backend vllm: the tiny random GPT-2 exists in memory only; give a model on disk "
            "(smollm2-135m, a model folder or a .gguf file)"
        )
    if str(args.device).startswith("mps"):
        raise ValueError(f"--backend vllm runs on cpu or cuda, not {args.device}")
    reason = vllm_unavailable_reason()
    if reason is not None:
        raise ValueError(f"--backend vllm: {reason}")


def _run_bon(args: argparse.Namespace, task, ns: list[int]) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import numpy as np
    import pandas as pd
    import torch

    from simulators import greedy as greedy_decode
    from simulators import run_protocol, sample
    from simulators.hf import HFPolicy, add_token_stats, decode, grade, task_prompts

    from .plots import save_protocol_figures

    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    policy = load_policy(
        args, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, stop=task.stop
    )
    load_s = time.perf_counter() - t0
    prompts = task_prompts(task)
    key_sample, key_protocol = jax.random.split(jax.random.key(args.seed))

    t0 = time.perf_counter()
    greedy = greedy_decode(policy, prompts)
    greedy_s = time.perf_counter() - t0
    greedy_texts = decode(policy, greedy)
    answers, correct, extracted_g = grade(task, greedy_texts)
    greedy = dataclasses.replace(greedy, answers=jnp.asarray(answers), correct=jnp.asarray(correct))

    t0 = time.perf_counter()
    rollouts = sample(key_sample, policy, prompts, args.n_max)
    sample_s = time.perf_counter() - t0
    stats_s = None
    engine_version = getattr(getattr(policy, "engine", None), "version", None)
    if args.backend == "vllm":
        policy.close()  # its memory is the scorer's now
        # vLLM records the drawn tokens' log-probabilities only; the entropy and self-certainty
        # rewards read next-token statistics, from one transformers pass over the same tokens.
        t0 = time.perf_counter()
        scorer = HFPolicy.from_pretrained(
            policy.model_path, device=policy.device, dtype=policy.dtype, progress=not args.quiet
        )
        rollouts = add_token_stats(rollouts, scorer)
        del scorer
        stats_s = time.perf_counter() - t0
    texts = decode(policy, rollouts)
    answers, correct, extracted = grade(task, texts)
    rollouts = dataclasses.replace(
        rollouts, answers=jnp.asarray(answers), correct=jnp.asarray(correct)
    )

    tables = run_protocol(
        key_protocol, rollouts, greedy=greedy, ns=ns, num_subsamples=args.subsamples
    )
    samples = tables["samples"]
    P, N = rollouts.num_prompts, rollouts.num_samples
    samples["question"] = [task.questions[p] for p in range(P) for _ in range(N)]
    samples["gold"] = [task.answers[p] for p in range(P) for _ in range(N)]
    samples["extracted"] = [extracted[p][n] for p in range(P) for n in range(N)]
    samples["text"] = [texts[p][n] for p in range(P) for n in range(N)]
    tables["greedy"] = pd.DataFrame(
        {
            "prompt": np.arange(P),
            "question": list(task.questions),
            "gold": list(task.answers),
            "text": [row[0] for row in greedy_texts],
            "extracted": [row[0] for row in extracted_g],
            "correct": np.asarray(greedy.correct)[:, 0],
            "logp": np.asarray(greedy.logp_base)[:, 0],
            "length": np.asarray(greedy.lengths)[:, 0],
        }
    )
    for name, df in tables.items():
        df.to_csv(os.path.join(args.out, f"{name}.csv"), index=False)
    title = f"{args.model} / {task.name}: P={P}, N_max={N}"
    figures = save_protocol_figures(tables, args.out, title=title)
    sampled_tokens = int(np.sum(np.asarray(rollouts.lengths)))
    greedy_tokens = int(np.sum(np.asarray(greedy.lengths)))
    run = {
        "model": args.model,
        "task": task.name,
        "prompts": P,
        "n_max": N,
        "ns": ns,
        "max_new_tokens": args.max_new_tokens,
        "seed": args.seed,
        "device": policy.device,
        "dtype": str(policy.dtype),
        "chat": policy.chat,
        "torch_threads": torch.get_num_threads(),
        "load_seconds": load_s,
        "greedy_seconds": greedy_s,
        "greedy_tokens": greedy_tokens,
        "sample_seconds": sample_s,
        "sampled_tokens": sampled_tokens,
        "sample_tokens_per_second": sampled_tokens / max(sample_s, 1e-9),
        "backend": args.backend,
        "vllm": engine_version,
        "token_stats_seconds": stats_s,
        "figures": [os.path.basename(f) for f in figures],
    }
    with open(os.path.join(args.out, "run.json"), "w") as f:
        json.dump(run, f, indent=2)
    return {"tables": tables, "run": run}


def _report(result: dict[str, Any]) -> str:
    import numpy as np

    tables, run = result["tables"], result["run"]
    s = tables["summary"]
    get = lambda m: s.loc[s["metric"] == m, "value"]
    lines = [
        f"{run['model']} on {run['task']}: P={run['prompts']}, N_max={run['n_max']}; sampled "
        f"{run['sampled_tokens']} tokens in {run['sample_seconds']:.1f} s "
        f"({run['sample_tokens_per_second']:.1f} tok/s)",
        f"greedy accuracy {float(get('greedy_accuracy').iloc[0]):.3f}, naive (temperature 1) "
        f"accuracy {float(get('naive_accuracy').iloc[0]):.3f}, pass@{run['n_max']} "
        f"{float(get('pass_at_n').iloc[-1]):.3f}",
    ]
    bm = tables["bon_mean"]
    top = bm[bm["N"] == bm["N"].max()]
    for reward, grp in top.groupby("reward"):
        vals = dict(zip(grp["metric"], grp["mean"], strict=True))
        lift = vals.get("lift_pct", np.nan)
        lines.append(
            f"  BoN[{reward}] N={int(bm['N'].max())}: accuracy {vals.get('accuracy', np.nan):.3f}, "
            f"lift {lift:+.1f}%, log-likelihood lift {vals.get('logp_lift', np.nan):+.2f} nats"
        )
    return "\n".join(lines)


def os_error_line(err: OSError) -> str:
    """A one-line message for a file-system error met while a command runs (disk full, a file
    removed underneath): the file and the reason, without a traceback."""
    where = f" {err.filename!r}" if err.filename else ""
    return f"cannot access{where}: {err.strerror or err}"


def run_command(run: Any, report: Any, args: argparse.Namespace) -> int:
    """Runs a model command, ``run(args)``, and prints ``report`` of its result (``sharpen bon``
    and ``sharpen sft``); a file-system error becomes the command line's one-line error."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        result = run(args)
    except OSError as err:
        # The command line reports ValueError as one line with exit status 2.
        raise ValueError(os_error_line(err)) from err
    print(report(result))
    print(f"tables and figures written to {args.out}")
    return 0


def main(args: argparse.Namespace) -> int:
    return run_command(run_bon, _report, args)
