"""Benchmark 10: sampling with the vLLM backend against the adapter's own loop and ``generate``.

The same model, prompts and lengths on every side, every side recording the exact temperature-1
log-probabilities of what it draws: ``simulators.sample`` on a ``VLLMPolicy`` (one request per
draw, prefix caching, continuous batching), ``simulators.sample`` on an ``HFPolicy`` (the
adapter's key-value-cached loop, all draws in one micro-batch), and ``model.generate(do_sample=
True, output_logits=True)`` with the log-probabilities taken from the returned logits. Throughput
counts the tokens actually drawn (EOS included), per second of the call. The engine's start-up is
timed apart. The log-probabilities vLLM records are checked against ``rescore`` of the same tokens.

On the CPU: the built-in SmolLM2-135M (its GGUF dequantized to float32, the same weights on both
sides), one thread each (the engine's OpenMP thread, unpinned, and torch's). On CUDA (``python
-m benchmarks.run --only vllm_backend`` on the GPU machine, or ``SECTIONS=vllm_backend bash
benchmarks/gpu.sh``): the protocol's shape, many prompts
x N samples x hundreds of tokens, in bfloat16, for SmolLM2-135M and every folder named in
``SHARPEN_BENCH_HF_MODELS`` (a folder with only ``config.json`` and a tokenizer gives that
architecture with random weights on both sides: vLLM's ``load_format="dummy"``); the target there
is at least 5x the adapter's throughput for a model of at least 1B parameters' shape. Both need
the engine's environment (``make vllm``, or ``SHARPEN_VLLM_PYTHON``); without it the section is
skipped with the reason.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from . import _harness as H

NAME = "vllm_backend"
TITLE = "vLLM sampling backend vs the adapter's loop and generate"

QUESTIONS = [
    "What is {a} + {b}?",
    "Write one sentence about the number {a}.",
    "Name {b} colours.",
    "Is {a} larger than {b}? Explain briefly.",
]


def _prompts(P: int) -> list[str]:
    return [QUESTIONS[i % len(QUESTIONS)].format(a=i + 3, b=2 * i + 5) for i in range(P)]


def _generate_with_logprobs(policy, prompts, n, T, torch):
    """``model.generate`` at temperature 1 with every processor off, log-probabilities from its
    logits: the drawn tokens counted up to the first EOS (kept)."""
    from simulators.hf import encode_prompts

    from .adapter import _left_pad

    enc = encode_prompts(policy, prompts)
    rows = [enc[p] for p in range(len(prompts)) for _ in range(n)]
    eos = list(policy.eos_token_ids)
    size = policy.batch_size  # the adapter's micro-batch: the same memory on both sides

    def run():
        count, logps = 0, []
        for s in range(0, len(rows), size):
            c, lp = one(rows[s : s + size])
            count += c
            logps.append(lp)
        return count, np.concatenate(logps)

    def one(chunk):
        ids, mask = _left_pad(torch, chunk, policy.pad_token_id)
        ids, mask = ids.to(policy.device), mask.to(policy.device)
        with torch.inference_mode():
            out = policy.model.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=True,
                temperature=1.0,
                top_k=0,
                top_p=1.0,
                max_new_tokens=T,
                pad_token_id=policy.pad_token_id,
                eos_token_id=eos,
                return_dict_in_generate=True,
                output_logits=True,
            )
            new = out.sequences[:, ids.shape[1] :]
            logits = torch.stack(out.logits, dim=1).float()
            lp = torch.log_softmax(logits, -1).gather(-1, new[..., None])[..., 0]
            is_eos = torch.isin(new, torch.tensor(eos, device=new.device))
            # the response ends at its first EOS (kept): count and sum up to there
            after = (is_eos.cumsum(-1) - is_eos.long()) > 0
            keep = ~after
            return int(keep.sum()), (lp * keep).sum(-1).double().cpu().numpy()

    return run


def _bench(label, folder, P, n, T, reps, device, dtype, random_weights, torch):
    import dataclasses
    import time

    from simulators import sample
    from simulators.hf import HFPolicy, VLLMPolicy, rescore

    prompts = _prompts(P)
    B = P * n
    if random_weights:
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        tok = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        with torch.random.fork_rng(devices=[]), torch.device(device):
            torch.manual_seed(0)
            model = AutoModelForCausalLM.from_config(config, dtype=dtype, trust_remote_code=False)
        hf = HFPolicy.from_model(model.to(device), tok, chat=False)
    else:
        hf = HFPolicy.from_pretrained(folder, device=device, dtype=dtype)
    # One micro-batch of every draw on the CPU; on a GPU at most 256 sequences at once (the
    # key-value cache and `generate`'s logits of 1024 x 256 steps would not fit beside vLLM).
    hf = dataclasses.replace(
        hf, batch_size=B if device == "cpu" else min(B, 256), progress=False, max_new_tokens=T
    )
    t0 = time.perf_counter()
    engine_args = {"load_format": "dummy"} if random_weights else {}
    with VLLMPolicy.from_pretrained(
        folder,
        device=device,
        dtype=dtype,
        max_new_tokens=T,
        chat=hf.chat,
        progress=False,
        max_model_len=min(4096, 64 + T + 64),
        gpu_memory_utilization=0.4,
        threads=1 if device == "cpu" else None,
        engine_args=engine_args,
    ) as vp:
        start_s = time.perf_counter() - t0
        key = jax.random.key(0)
        counts = {}

        def counted(name, fn):
            def call():
                out = fn()
                counts[name] = out[0]
                return out[1]

            return call

        def vllm_call():
            r = sample(key, vp, prompts, n)
            return int(np.asarray(r.lengths).sum()), r

        def hf_call():
            r = sample(key, hf, prompts, n)
            return int(np.asarray(r.lengths).sum()), r

        fns = {
            "vllm": (f"{label}: `sample(VLLMPolicy)`", counted("vllm", vllm_call)),
            "hf": (f"{label}: `sample(HFPolicy)`", counted("hf", hf_call)),
            "generate": (
                f"{label}: `generate` + logits -> log-probs",
                counted("generate", _generate_with_logprobs(hf, prompts, n, T, torch)),
            ),
        }
        ms = H.measure_interleaved(fns, repeats=reps)
        r = sample(key, vp, prompts, n)
        again = rescore(hf, prompts, r) if not random_weights else None
    diff = None
    if again is not None:
        got = np.asarray(r.token_logp, np.float64).sum(-1)
        diff = float(np.max(np.abs(got - np.asarray(again.token_logp, np.float64).sum(-1))))
    rates = {k: counts[k] / ms[k].median_s for k in ms}
    rows = [
        [
            ms[k].label,
            H.fmt_s(ms[k].median_s),
            str(counts[k]),
            H.fmt_rate(rates[k], "tok/s"),
            H.fmt_ratio(rates["vllm"] / rates[k]),
            H.fmt_bytes(ms[k].peak_rss_delta),
        ]
        for k in ("vllm", "hf", "generate")
    ]
    data = {k: m.as_dict() | {"tokens": counts[k], "tokens_per_s": rates[k]} for k, m in ms.items()}
    data.update(
        parameters=sum(p.numel() for p in hf.model.parameters()),
        engine_start_s=start_s,
        logp_max_abs_diff=diff,
        vllm_vs_hf=rates["vllm"] / rates["hf"],
        vllm_vs_generate=rates["vllm"] / rates["generate"],
    )
    return rows, data


def _gpu_models():
    """(label, folder, random weights) on CUDA: SmolLM2-135M and SHARPEN_BENCH_HF_MODELS."""
    from simulators.hf import engine_model_folder

    models = []
    try:
        models.append(("SmolLM2-135M (bf16)", engine_model_folder("smollm2-135m"), False))
    except ValueError as err:
        print(f"[benchmarks]   built-in SmolLM2 not measured: {err}")
    for folder in filter(None, os.environ.get("SHARPEN_BENCH_HF_MODELS", "").split(os.pathsep)):
        weights = any(f.endswith((".safetensors", ".bin")) for f in os.listdir(folder))
        name = os.path.basename(os.path.normpath(folder))
        models.append(
            (f"{name} ({'' if weights else 'random weights, '}bf16)", folder, not weights)
        )
    return models


def run(quick: bool = False) -> H.Section:
    import torch

    from simulators.hf import engine_model_folder, vllm_unavailable_reason

    reason = vllm_unavailable_reason()
    if reason is not None:
        raise ImportError(reason)  # the harness reports the section as skipped, with the reason
    cuda = torch.cuda.is_available()
    if cuda:
        device, dtype, reps = "cuda", torch.bfloat16, 3
        P, n, T = (4, 4, 16) if quick else (64, 16, 256)
        models = _gpu_models()
    else:
        device, dtype, reps = "cpu", torch.float32, 1 if quick else 2
        P, n, T = (2, 2, 8) if quick else (4, 8, 48)
        models = [("SmolLM2-135M (float32)", engine_model_folder("smollm2-135m"), False)]
    threads = torch.get_num_threads()
    if not cuda:
        torch.set_num_threads(1)
    rows, data, notes = [], {}, []
    try:
        for label, folder, random_weights in models:
            r, d = _bench(label, folder, P, n, T, reps, device, dtype, random_weights, torch)
            rows += r
            data[label] = d
            check = (
                f"the log-probabilities vLLM recorded agree with `rescore` of the same tokens to "
                f"{d['logp_max_abs_diff']:.1e} nats (max abs per sequence)"
                if d["logp_max_abs_diff"] is not None
                else "random weights: no agreement check"
            )
            notes.append(f"{label}: engine start-up {H.fmt_s(d['engine_start_s'])}; {check}.")
    finally:
        torch.set_num_threads(threads)
    headers = ["implementation", "median", "tokens drawn", "tokens/s", "vLLM / this", "peak RSS"]
    body = H.md_table(headers, rows) + "\n\n" + "\n".join(f"- {x}" for x in notes)
    ratios = {k: (v["vllm_vs_hf"], v["vllm_vs_generate"]) for k, v in data.items()}
    big = [k for k, v in data.items() if v["parameters"] >= 1e9]
    met = all(ratios[k][0] >= 5 for k in big) if cuda and big else None
    explanation = "; ".join(
        f"{k}: vLLM {hf:.2f}x the adapter's loop and {gen:.2f}x `generate` in tokens/s"
        for k, (hf, gen) in ratios.items()
    ) + (
        ". All three run the same weights on the same prompts; each draw's tokens differ (each "
        "side has its own random stream), so throughput counts the tokens each side drew. Where "
        "the time goes: the adapter's loop and `generate` decode the whole micro-batch until "
        "its longest response ends (finished rows ride along as padding), and `generate` keeps "
        "every step's logits for the log-probabilities; vLLM schedules each request on its own "
        "(a finished draw leaves the batch), computes a prompt shared by the N draws once "
        "(prefix caching) and returns only the drawn tokens' log-probabilities. On a CPU with a "
        "135M model the matrix products of the decode steps dominate every side, so these gains "
        "are small; paged attention and continuous batching pay at the protocol's sizes on a "
        "GPU (BENCHMARKS-GPU.md). Peak RSS counts this process only: the engine's own process "
        "holds the model, vLLM and its key-value cache (1 GiB by default on the CPU)."
    )
    return H.Section(
        key=NAME,
        title=TITLE,
        compared="`simulators.sample(VLLMPolicy)` vs `simulators.sample(HFPolicy)` vs "
        "`model.generate(do_sample=True, output_logits=True)` + log-probabilities, same model, "
        "prompts and lengths, all at temperature 1 with exact log-probabilities",
        sizes=f"{P} prompts x {n} samples, up to {T} new tokens; "
        + ", ".join(label for label, _, _ in models),
        body=body,
        target="on a GPU, vLLM >= 5x the adapter's tokens/s at the protocol's shape for a model "
        "of >= 1B parameters' shape; on the CPU, reported",
        met=met,
        explanation=explanation,
        data=data,
    )
