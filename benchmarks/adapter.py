"""Benchmark 6: the transformer adapter against raw ``transformers`` on the same model and batch.

Scoring: ``simulators.hf.score_tokens`` (per-token log-probabilities, entropies and
``KL(uniform || p)`` of every response token) vs one raw forward pass of the same padded batch
followed by ``log_softmax`` and a gather. Sampling: ``simulators.sample`` on an ``HFPolicy``
(temperature 1, exact log-probabilities recorded) vs ``model.generate(do_sample=True)`` with the
same batch and length, with and without returning the logits needed for log-probabilities.

On a machine with CUDA the models run on the GPU in bfloat16 with larger batches, and every folder
named in the environment variable ``SHARPEN_BENCH_HF_MODELS`` (paths separated by ``os.pathsep``)
is measured too: a model folder with weights is loaded, a folder holding only ``config.json`` and
the tokenizer gives that architecture with random weights (throughput depends on the shapes, not
on the weight values; random weights rarely emit EOS, so every sequence runs the full length).
"""

from __future__ import annotations

import sys

import jax
import numpy as np

from . import _harness as H

NAME = "adapter"
TITLE = "Transformer adapter vs raw transformers"


def _raw_score(model, torch, prompt_ids, response_ids, pad):
    """One right-padded forward pass, log-softmax, gather: what a user writes by hand."""
    seqs = [list(p) + list(r) for p, r in zip(prompt_ids, response_ids, strict=True)]
    L = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), L), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), L), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    ids, mask = ids.to(model.device), mask.to(model.device)
    with torch.inference_mode():
        logits = model(input_ids=ids, attention_mask=mask).logits
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        picked = logp.gather(-1, ids[:, 1:, None])[..., 0]
        # response positions of each row (the prediction of token t sits at position t - 1)
        keep = torch.zeros((len(seqs), L - 1), dtype=picked.dtype)
        for i, (p, r) in enumerate(zip(prompt_ids, response_ids, strict=True)):
            keep[i, len(p) - 1 : len(p) - 1 + len(r)] = 1
        out = (picked * keep.to(picked.device)).sum(-1)
    return out.double().cpu().numpy()


def _left_pad(torch, prompt_ids, pad):
    Lp = max(len(p) for p in prompt_ids)
    ids = torch.full((len(prompt_ids), Lp), pad, dtype=torch.long)
    mask = torch.zeros((len(prompt_ids), Lp), dtype=torch.long)
    for i, p in enumerate(prompt_ids):
        ids[i, Lp - len(p) :] = torch.tensor(list(p))
        mask[i, Lp - len(p) :] = 1
    return ids, mask


def _bench_model(label, policy, prompts, n, T, reps, torch):
    """Rows (scoring, sampling) for one model; prompts are strings, n samples each."""
    import dataclasses

    from simulators import sample
    from simulators.hf import encode_prompts, score_tokens

    B = len(prompts) * n
    # One micro-batch of every sequence, as the raw side takes them; the logits memory budget is
    # the policy's default (on CUDA half the available memory, on the CPU 1 GiB).
    policy = dataclasses.replace(
        policy, batch_size=B, score_batch_size=B, progress=False, max_new_tokens=T
    )
    model, pad = policy.model, policy.pad_token_id
    key = jax.random.key(0)

    # Responses to score: sampled once from the policy (the same batch for both scorers).
    ro = sample(key, policy, prompts, n, max_new_tokens=T)
    enc = encode_prompts(policy, prompts)
    toks, lens = np.asarray(ro.tokens), np.asarray(ro.lengths)
    prompt_ids = [enc[p] for p in range(len(prompts)) for _ in range(n)]
    response_ids = [
        toks[p, j, : lens[p, j]].tolist() for p in range(len(prompts)) for j in range(n)
    ]
    n_scored = int(lens.sum())

    scorers = {
        "toolkit": (
            f"{label}: toolkit `score_tokens`",
            lambda: score_tokens(policy, prompt_ids, response_ids),
        ),
        "toolkit_logp": (
            f"{label}: toolkit `score_tokens(stats=False)`",
            lambda: score_tokens(policy, prompt_ids, response_ids, stats=False),
        ),
        "raw": (
            f"{label}: raw forward + log_softmax + gather",
            lambda: _raw_score(model, torch, prompt_ids, response_ids, pad),
        ),
    }
    scoring = H.measure_interleaved(scorers, repeats=reps)
    m_score, m_score_lp = scoring["toolkit"], scoring["toolkit_logp"]
    m_raw_score = scoring["raw"]
    profiles = {key: _profile(scorers[key][1], model, torch) for key in ("toolkit_logp", "raw")}
    lp_tk = score_tokens(policy, prompt_ids, response_ids)["logp"]
    lp_raw = _raw_score(model, torch, prompt_ids, response_ids, pad)
    score_diff = float(np.max(np.abs(lp_tk - lp_raw)))
    gen_diff = float(np.max(np.abs(lp_tk - np.asarray(ro.logp_base).reshape(-1))))

    ids, mask = _left_pad(torch, prompt_ids, pad)
    ids, mask = ids.to(model.device), mask.to(model.device)
    gen_kwargs = dict(
        input_ids=ids,
        attention_mask=mask,
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        max_new_tokens=T,
        pad_token_id=pad,
        eos_token_id=list(policy.eos_token_ids),
    )

    def raw_generate(with_logits: bool):
        with torch.inference_mode():
            out = model.generate(
                **gen_kwargs,
                return_dict_in_generate=True,
                output_logits=with_logits,
            )
            if with_logits:
                # log-probabilities of the drawn tokens from the raw logits
                logits = torch.stack(out.logits, dim=1).float()
                new = out.sequences[:, ids.shape[1] :]
                lp = torch.log_softmax(logits, -1).gather(-1, new[..., None])[..., 0]
                return lp.sum(-1)
            return out.sequences

    sampling = H.measure_interleaved(
        {
            "toolkit": (
                f"{label}: toolkit `sample`",
                lambda: sample(key, policy, prompts, n, max_new_tokens=T),
            ),
            "generate": (f"{label}: raw `generate` (tokens only)", lambda: raw_generate(False)),
            "generate_lp": (
                f"{label}: raw `generate` + logits -> log-probs",
                lambda: raw_generate(True),
            ),
        },
        repeats=reps,
    )
    m_sample, m_gen, m_gen_lp = sampling["toolkit"], sampling["generate"], sampling["generate_lp"]
    steps = B * T  # both decoders run T steps unless every sequence has ended

    def row(task, raw, toolkit, count):
        return [
            f"{label} {task}",
            H.fmt_s(raw.median_s),
            H.fmt_s(toolkit.median_s),
            H.fmt_rate(count / raw.median_s, "tok/s"),
            H.fmt_rate(count / toolkit.median_s, "tok/s"),
            H.fmt_ratio(raw.median_s / toolkit.median_s),
            H.fmt_bytes(toolkit.peak_rss_delta),
            H.fmt_bytes(raw.peak_rss_delta),
        ]

    rows = [
        row(
            "scoring, log-probabilities only (`stats=False`, as `log_prob`) "
            f"({B} sequences, {n_scored} response tokens)",
            m_raw_score,
            m_score_lp,
            n_scored,
        ),
        row(
            f"scoring with per-token entropy and KL (default) ({B} sequences)",
            m_raw_score,
            m_score,
            n_scored,
        ),
        row(f"sampling vs generate, tokens only ({B} x {T})", m_gen, m_sample, steps),
        row(f"sampling vs generate + log-probs ({B} x {T})", m_gen_lp, m_sample, steps),
    ]
    ratios = {
        "score_logp": m_raw_score.median_s / m_score_lp.median_s,
        "score": m_raw_score.median_s / m_score.median_s,
        "sample_vs_generate": m_gen.median_s / m_sample.median_s,
        "sample_vs_generate_logprobs": m_gen_lp.median_s / m_sample.median_s,
    }
    ms = {
        "score_logp": m_score_lp,
        "score": m_score,
        "raw_score": m_raw_score,
        "sample": m_sample,
        "generate": m_gen,
        "generate_logprobs": m_gen_lp,
    }
    checks = {"score_vs_raw": score_diff, "score_vs_sample_logp": gen_diff}
    for key, prof in profiles.items():
        prof["wall_s"] = scoring[key].median_s
    return rows, ratios, ms, checks, profiles


def _profile(fn, model, torch, num_top: int = 4) -> dict:
    """One call of ``fn`` under ``torch.profiler``: the forward passes of ``model``, the busy time
    of the device (the sum of the kernels' self times on CUDA; of the operators' on the CPU),
    the operators that take most of it, and on CUDA the peak memory allocated."""
    from torch.profiler import ProfilerActivity, profile

    cuda = torch.cuda.is_available()
    forwards = []
    hook = model.register_forward_pre_hook(lambda module, args: forwards.append(1))
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    attr = "self_device_time_total" if cuda else "self_cpu_time_total"
    try:
        with profile(activities=activities) as prof:
            H.block(fn())
            if cuda:
                torch.cuda.synchronize()
        events = sorted(
            (e for e in prof.key_averages() if getattr(e, attr) > 0),
            key=lambda e: -getattr(e, attr),
        )
        busy = sum(getattr(e, attr) for e in events) / 1e6
        top = [(e.key, getattr(e, attr) / 1e6) for e in events[:num_top]]
    except Exception as err:  # no profiler support here (e.g. CUPTI): keep the other numbers
        print(f"[benchmarks]   profiler unavailable: {type(err).__name__}: {err}", file=sys.stderr)
        forwards.clear()
        H.block(fn())
        busy, top = None, []
    finally:
        hook.remove()
    return {
        "forwards": len(forwards),
        "busy_s": busy,
        "top": top,
        "peak_device_bytes": torch.cuda.max_memory_allocated() if cuda else None,
    }


def _profile_rows(label: str, profiles: dict) -> list[list[str]]:
    names = {"toolkit_logp": "toolkit `score_tokens(stats=False)`", "raw": "raw forward"}
    rows = []
    for key, prof in profiles.items():
        top = ", ".join(f"`{name}` {H.fmt_s(t)}" for name, t in prof["top"])
        rows.append(
            [
                f"{label}: {names[key]}",
                str(prof["forwards"]),
                H.fmt_s(prof["wall_s"]),
                H.fmt_s(prof["busy_s"]),
                H.fmt_bytes(prof["peak_device_bytes"]),
                top,
            ]
        )
    return rows


def _diagnose(label: str, profiles: dict) -> str:
    """Where the scoring time goes, from the profiles: kernels or the host around them."""
    tk, raw = profiles["toolkit_logp"], profiles["raw"]
    if tk["busy_s"] is None or raw["busy_s"] is None:
        return f"{label}: scoring makes {tk['forwards']} forward pass(es) (raw {raw['forwards']})."
    host_tk, host_raw = tk["wall_s"] - tk["busy_s"], raw["wall_s"] - raw["busy_s"]
    return (
        f"{label}: scoring makes {tk['forwards']} forward pass(es) (raw {raw['forwards']}); "
        f"operators/kernels {H.fmt_s(tk['busy_s'])} vs raw {H.fmt_s(raw['busy_s'])}, the rest "
        f"of the wall time (host work, launches, idle device) {H.fmt_s(max(host_tk, 0.0))} vs "
        f"{H.fmt_s(max(host_raw, 0.0))}."
    )


def _prompts(label: str, P: int) -> list[str]:
    if "GPT-2" not in label:  # a model with a natural-language tokenizer
        return [f"What is {i + 2} times {i + 3}?" for i in range(P)]
    d = "0123456789"  # the character-level GPT-2
    return [f"{d[i % 10]}{d[(3 * i) % 10]}+{d[(7 * i) % 10]}=" for i in range(P)]


def run(quick: bool = False) -> H.Section:
    import torch

    from simulators.hf import HFPolicy, tiny_gpt2

    reps = 1 if quick else 5
    # Repeats per model where the default is too few: a call of the small CPU GPT-2 takes ~0.2 s
    # and varies by ~15% from call to call on a shared machine, so its medians need more
    # interleaved repeats (15: ~10 s per row) than SmolLM2's 2 s calls.
    reps_of: dict[str, int] = {}
    notes = []
    cuda = torch.cuda.is_available()
    # (label, policy, prompts P, samples per prompt n, new tokens T)
    if quick:
        models = [("tiny GPT-2 (2 layers, d=32)", tiny_gpt2(0), 4, 2, 8)]
    elif cuda:
        models, notes = _gpu_models(torch, tiny_gpt2)
        reps = 3
    else:
        gpt2 = tiny_gpt2(0, n_layer=4, n_embd=256, n_head=4)
        models = [("GPT-2 from config (4 layers, d=256)", gpt2, 8, 4, 32)]
        reps_of[models[0][0]] = 3 * reps
        try:
            smol = HFPolicy.from_pretrained("smollm2-135m", device="cpu")
            models.append(("SmolLM2-135M (GGUF Q4_1 -> float32)", smol, 4, 2, 32))
        except Exception as err:  # the built-in weights are an optional install
            notes.append(f"SmolLM2 not measured: {type(err).__name__}: {err}")

    # One torch thread for both sides: on a shared 2-core machine, OpenMP threads that spin-wait
    # for each other distort the timings far more than the work does.
    threads = torch.get_num_threads()
    if not cuda:
        torch.set_num_threads(1)
    rows, ratios, data, prof_rows, diagnoses = [], {}, {}, [], []
    try:
        for label, policy, P, n, T in models:
            r, rat, ms, chk, profs = _bench_model(
                label, policy, _prompts(label, P), n, T, reps_of.get(label, reps), torch
            )
            rows += r
            ratios[label] = rat
            data[label] = {k: m.as_dict() for k, m in ms.items()} | chk | rat
            data[label]["scoring_profile"] = profs
            prof_rows += _profile_rows(label, profs)
            diagnoses.append(_diagnose(label, profs))
            notes.append(
                f"{label}: toolkit and raw scores of the same tokens agree to "
                f"{chk['score_vs_raw']:.1e}; the scores and the log-probabilities recorded while "
                f"sampling agree to {chk['score_vs_sample_logp']:.1e} (max abs, nats)."
            )
    finally:
        torch.set_num_threads(threads)
    headers = [
        "task",
        "raw transformers",
        "toolkit",
        "raw tokens/s",
        "toolkit tokens/s",
        "toolkit / raw throughput",
        "toolkit peak RSS",
        "raw peak RSS",
    ]
    prof_headers = [
        "scoring, one call under torch.profiler",
        "forward passes",
        "wall (median above)",
        "busy (sum of " + ("kernels)" if cuda else "operators)"),
        "peak device memory",
        "largest " + ("kernels" if cuda else "operators") + " (self time)",
    ]
    body = (
        H.md_table(headers, rows)
        + "\n\n"
        + H.md_table(prof_headers, prof_rows)
        + "\n\n"
        + "\n".join(f"- {note}" for note in notes + diagnoses)
        + (
            f"\n- torch {torch.__version__} on {torch.cuda.get_device_name()}, bfloat16."
            if cuda
            else f"\n- torch {torch.__version__} on CPU, 1 thread for both sides."
        )
    )
    # Like for like: the raw side computes log-probabilities only, as `stats=False` does.
    met = all(
        v["score_logp"] >= 0.9 and v["sample_vs_generate_logprobs"] >= 0.9 for v in ratios.values()
    )
    return H.Section(
        key=NAME,
        title=TITLE,
        compared=(
            "`simulators.hf.score_tokens` vs a raw forward + `log_softmax` + gather; "
            "`simulators.sample(HFPolicy)` vs `model.generate(do_sample=True)` (tokens only, and "
            "with `output_logits` turned into log-probabilities), same model, batch and length"
        ),
        sizes="; ".join(
            f"{label}: {P} prompts x {n} samples, {T} new tokens" for label, _, P, n, T in models
        ),
        body=body,
        target="toolkit throughput >= 0.9x raw transformers (scoring log-probabilities, and "
        "sampling vs generate with log-probabilities)",
        met=met,
        explanation=_explain(ratios),
        data=data,
    )


def _gpu_models(torch, tiny_gpt2, device="cuda"):
    """``(models, notes)`` on a CUDA machine: GPT-2 from config, the built-in SmolLM2 when it is
    installed, and every folder of ``SHARPEN_BENCH_HF_MODELS`` (random weights when the folder
    holds only a configuration and a tokenizer)."""
    import os

    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from simulators.hf import HFPolicy

    P, n, T = 16, 16, 128
    gpt2 = tiny_gpt2(0, n_layer=4, n_embd=256, n_head=4)
    gpt2 = HFPolicy.from_model(gpt2.model.to(device, torch.bfloat16), gpt2.tokenizer)
    models = [("GPT-2 from config (4 layers, d=256)", gpt2, P, n, T)]
    notes = []
    try:
        smol = HFPolicy.from_pretrained("smollm2-135m", device=device)
        models.append(("SmolLM2-135M (GGUF Q4_1 -> bfloat16)", smol, P, n, T))
    except Exception as err:  # the built-in weights are an optional install
        notes.append(f"built-in SmolLM2 not measured: {type(err).__name__}: {err}")
    for folder in filter(None, os.environ.get("SHARPEN_BENCH_HF_MODELS", "").split(os.pathsep)):
        name = os.path.basename(os.path.normpath(folder))
        tokenizer = AutoTokenizer.from_pretrained(
            folder, local_files_only=True, trust_remote_code=False
        )
        has_weights = any(f.endswith((".safetensors", ".bin")) for f in os.listdir(folder))
        if has_weights:
            model = AutoModelForCausalLM.from_pretrained(
                folder, local_files_only=True, dtype=torch.bfloat16, trust_remote_code=False
            )
        else:
            config = AutoConfig.from_pretrained(
                folder, local_files_only=True, trust_remote_code=False
            )
            # initialised on the device itself (a 1.7B model takes tens of seconds on the CPU)
            on = [torch.cuda.current_device()] if device.startswith("cuda") else []
            with torch.random.fork_rng(devices=on), torch.device(device):
                torch.manual_seed(0)
                model = AutoModelForCausalLM.from_config(
                    config, dtype=torch.bfloat16, trust_remote_code=False
                )
        model = model.to(device)
        size = sum(p.numel() for p in model.parameters()) / 1e6
        label = f"{name} ({size:.0f}M parameters, {'' if has_weights else 'random weights, '}bf16)"
        models.append((label, HFPolicy.from_model(model, tokenizer, chat=False), P, n, T))
    return models, notes


def _explain(ratios: dict) -> str:
    parts = "; ".join(
        f"{label}: scoring {r['score_logp']:.2f}x (log-probabilities only) and "
        f"{r['score']:.2f}x (with entropy and KL), sampling {r['sample_vs_generate']:.2f}x of "
        f"`generate` and {r['sample_vs_generate_logprobs']:.2f}x of `generate` + log-probs"
        for label, r in ratios.items()
    )
    return (
        "Both sides run the same model on the same padded batch with the same attention masks, so "
        "the transformer layers cost the same and the ratios measure what the adapter does "
        f"around them ({parts}). Scoring: `score_tokens` batches sequences by length under a "
        "memory budget (the policy default: half the available memory on CUDA, 1 GiB on the "
        "CPU; the profile counts the forward passes), runs the language-model head only from the "
        "shortest prompt's last "
        "position on (`logits_to_keep`; the raw version computes logits at every position), takes "
        "`logit - logsumexp` there (one pass over the vocabulary, no log-softmax tensor) and "
        "copies the results to the host once per micro-batch; by default it also computes, at "
        "every response position, the entropy and KL(uniform || p) of the next-token law (the "
        "Rollouts fields that the entropy and self-certainty rewards read), several more passes "
        "over the vocabulary that the raw version does not make, which is what the gap between "
        "the two scoring rows measures on "
        "small models with a large vocabulary. Sampling: the adapter runs its "
        "own key-value-cached decoding loop at temperature 1 with no logits processors (so the "
        "recorded log-probability is exactly the law the token was drawn from, checked against a "
        "separate scoring pass above) and records per-token log-probability, entropy and KL at "
        "each step; `generate` runs the same number of forward steps through its generic loop "
        "(logits processors, stopping criteria), and with `output_logits` keeps every step's full "
        "logits for the log-probabilities. Small models magnify per-step Python overhead on both "
        "sides; with SmolLM2 the forward passes dominate."
    )
