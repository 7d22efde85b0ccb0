"""``sharpen power``: power samplers targeting ``pi_base^alpha`` on a real model (issue 16).

At ``alpha = 1 + 1/beta`` the power law ``pi_base^alpha / Z`` is RLHF-Sharpening's target
``pi*_beta`` (the paper's Eq. 3). For ``--prompts`` questions of ``--task``, each sampler of
``--sampler`` draws ``--samples`` responses per prompt through the prefix oracle
(:func:`simulators.continue_prefix` on a :class:`simulators.hf.PromptedPolicy`, exact
log-likelihoods, the key-value cache reused across queries):

* ``temperature``: token-level temperature ``1/alpha`` (:func:`simulators.temperature_sampler`);
* ``bon``: best-of-N by log-likelihood, the paper's inference-time sharpening
  (:func:`simulators.bon_sampler`; its knob is ``N``, not ``alpha``);
* ``mh``: Metropolis-Hastings over suffixes (Karan & Du, arXiv 2510.14901;
  :func:`simulators.mh_sampler`, ``K`` steps per block, ``--mh-block-size``);
* ``smc``: sequential Monte Carlo (Power-SMC, arXiv 2602.10273; :func:`simulators.smc_sampler`,
  ``M`` particles).

Each entry of ``--budget-tokens`` (tokens generated per output response) sets the knobs: ``N =
M = round(b / T)`` and ``K = round((b / T - 1) * 4 / (blocks + 1))`` (MH grows ``T`` tokens and
each step redraws about half of the current horizon), all at least 1; what was spent is
measured, not assumed. Written to ``--out``:

* ``power.csv`` (tidy, one row per prompt x sampler x setting: accuracy, ``E[log pi_base]``,
  length, tokens generated and model calls per output, and the sampler's diagnostics),
  ``power_mean.csv`` (means over prompts with standard errors), ``samples.csv`` (one row per
  response, with its text), ``run.json`` (settings, seconds, cache counts);
* ``power_vs_tokens.png``: quality (``E[log pi_base]``, accuracy) against tokens generated.

Arguments are checked before anything is loaded (as for ``sharpen bon``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from typing import Any

from .bon import (
    add_device_arguments,
    check_args,
    check_memory,
    check_task,
    load_policy,
    output_folder,
    run_command,
)

SAMPLERS = ("mh", "smc", "temperature", "bon")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="smollm2-135m", help="as for `sharpen bon`")
    parser.add_argument("--task", default="arithmetic", help="as for `sharpen bon`")
    parser.add_argument("--alpha", default="4", help="comma-separated powers alpha > 0")
    parser.add_argument(
        "--sampler", default=",".join(SAMPLERS), help=f"comma-separated, of {', '.join(SAMPLERS)}"
    )
    parser.add_argument(
        "--budget-tokens",
        default=None,
        help="comma-separated budgets, tokens generated per output, that set N (bon), M (smc) "
        "and K (mh); default 2T,8T with T = --max-new-tokens",
    )
    parser.add_argument("--prompts", type=int, default=8, help="number of questions P")
    parser.add_argument("--samples", type=int, default=2, help="outputs per prompt and sampler")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="the horizon T")
    parser.add_argument(
        "--mh-block-size", type=int, default=None, help="MH block size (default ceil(T/16))"
    )
    parser.add_argument("--ess-threshold", type=float, default=0.5, help="SMC, in (0, 1]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32, help="sequences per micro-batch")
    add_device_arguments(parser)
    parser.add_argument("--chat", choices=["auto", "yes", "no"], default="auto", help="as bon")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def parse_list(text: str, flag: str, kind: type, *, minimum: float, strict: bool = True) -> list:
    """Distinct comma-separated numbers of ``kind``, each ``> minimum`` (``>=`` when not
    ``strict``) and finite."""
    values = []
    for part in text.split(","):
        try:
            value = kind(part.strip())
        except ValueError:
            raise ValueError(f"{flag} must be comma-separated numbers, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            bound = f"> {minimum}" if strict else f">= {minimum}"
            raise ValueError(f"{flag} values must be finite and {bound}, got {part.strip()!r}")
        if value in values:
            raise ValueError(f"{flag} values must be distinct, got {value} twice in {text!r}")
        values.append(value)
    return values


def parse_samplers(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",")]
    for name in names:
        if name not in SAMPLERS:
            raise ValueError(f"--sampler must name samplers of {', '.join(SAMPLERS)}, got {name!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"--sampler names must be distinct, got {text!r}")
    return names


def knobs(sampler: str, budgets: list[int], T: int, blocks: int) -> list[int | None]:
    """The distinct settings of ``sampler`` for the token budgets (see the module docstring)."""
    if sampler == "temperature":
        return [None]
    out = []
    for b in budgets:
        if sampler == "mh":
            k = max(1, round((b / T - 1) * 4 / (blocks + 1)))
        else:
            k = max(1, round(b / T))
        if k not in out:
            out.append(k)
    return out


KNOB = {"mh": "K", "smc": "M", "bon": "N", "temperature": "-"}


def plan(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The runs, in order: one per sampler, ``alpha`` (not for ``bon``) and knob value."""
    T = args.max_new_tokens
    alphas = parse_list(args.alpha, "--alpha", float, minimum=0.0)
    samplers = parse_samplers(args.sampler)
    text = args.budget_tokens or f"{2 * T},{8 * T}"
    budgets = parse_list(text, "--budget-tokens", int, minimum=1, strict=False)
    block = args.mh_block_size or max(1, -(-T // 16))
    blocks = -(-T // block)
    runs = []
    for sampler in samplers:
        for alpha in [None] if sampler == "bon" else alphas:
            for k in knobs(sampler, budgets, T, blocks):
                runs.append(dict(sampler=sampler, alpha=alpha, knob=KNOB[sampler], value=k))
    return runs


def run_power(args: argparse.Namespace) -> dict[str, Any]:
    """Checks every argument, then runs the samplers and writes the tables and the figure."""
    check_args(args, ("prompts", "samples", "max_new_tokens", "batch_size"))
    if args.mh_block_size is not None and args.mh_block_size < 1:
        raise ValueError(f"--mh-block-size must be an integer >= 1, got {args.mh_block_size}")
    if not (math.isfinite(args.ess_threshold) and 0 < args.ess_threshold <= 1):
        raise ValueError(f"--ess-threshold must lie in (0, 1], got {args.ess_threshold}")
    runs = plan(args)
    widest = max((r["value"] or 1) for r in runs if r["sampler"] in ("smc", "bon"))
    check_memory(
        {
            "--prompts": args.prompts,
            "--samples": args.samples,
            "particles or N": widest,
            "--max-new-tokens": args.max_new_tokens,
        },
        "the samplers' rows",
    )
    task = check_task(args.task, args.prompts, args.seed)
    with output_folder(args.out):
        return _run_power(args, task, runs)


def _sample(key, pp, x, n: int, run: dict[str, Any], args: argparse.Namespace):
    import simulators

    sampler, alpha, value = run["sampler"], run["alpha"], run["value"]
    if sampler == "temperature":
        return simulators.temperature_sampler(key, pp, x, n, alpha)
    if sampler == "bon":
        return simulators.bon_sampler(key, pp, x, n, N=value)
    if sampler == "mh":
        return simulators.mh_sampler(
            key, pp, x, n, alpha, num_steps=value, block_size=args.mh_block_size
        )
    return simulators.smc_sampler(
        key, pp, x, n, alpha, num_particles=value, ess_threshold=args.ess_threshold
    )


def _run_power(args: argparse.Namespace, task, runs: list[dict[str, Any]]) -> dict[str, Any]:
    import jax
    import numpy as np
    import pandas as pd
    import torch

    from simulators.hf import PromptedPolicy, decode, grade, subset, task_prompts

    if args.threads:
        torch.set_num_threads(args.threads)
    task = subset(task, args.prompts)
    t0 = time.perf_counter()
    hf = load_policy(
        args, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, stop=task.stop
    )
    load_s = time.perf_counter() - t0
    pp = PromptedPolicy(hf, tuple(task_prompts(task)))
    P, n = len(task), args.samples
    x = np.arange(P)
    base = jax.random.key(args.seed)
    rows, samples, timings = [], [], []
    for i, run in enumerate(runs):
        before = pp.cache_stats()
        t0 = time.perf_counter()
        rollouts, cost = _sample(jax.random.fold_in(base, i), pp, x, n, run, args)
        seconds = time.perf_counter() - t0
        after = pp.cache_stats()
        texts = decode(hf, rollouts)
        _, correct, extracted = grade(task, texts)
        logp = np.asarray(rollouts.logp_base, np.float64)
        lengths = np.asarray(rollouts.lengths)
        calls, tokens = after["calls"] - before["calls"], after["tokens"] - before["tokens"]
        setting = "-" if run["value"] is None else f"{run['knob']}={run['value']}"
        diag = cost.diagnostics
        log_z = np.asarray(diag["log_normalizer"]) if "log_normalizer" in diag else None
        for p in range(P):
            rows.append(
                dict(
                    prompt=p,
                    question=task.questions[p],
                    gold=task.answers[p],
                    sampler=run["sampler"],
                    alpha=run["alpha"],
                    setting=setting,
                    knob=run["knob"],
                    value=run["value"],
                    samples=n,
                    accuracy=float(correct[p].mean()),
                    logp=float(logp[p].mean()),
                    length=float(lengths[p].mean()),
                    tokens_per_output=tokens[p] / n,
                    calls_per_output=calls[p] / n,
                    acceptance_rate=diag.get("acceptance_rate", math.nan),
                    log_normalizer=math.nan if log_z is None else float(log_z[p].mean()),
                )
            )
            for j in range(n):
                samples.append(
                    dict(
                        prompt=p,
                        sampler=run["sampler"],
                        alpha=run["alpha"],
                        setting=setting,
                        sample=j,
                        logp=logp[p, j],
                        length=int(lengths[p, j]),
                        extracted=extracted[p][j],
                        correct=bool(correct[p, j]),
                        text=texts[p][j],
                    )
                )
        used = {k: after[k] - before[k] for k in ("forward_passes", "tokens_encoded")}
        timings.append(dict(run, setting=setting, seconds=seconds, tokens=cost.tokens, **used))
        if not args.quiet:
            alpha = "" if run["alpha"] is None else f" alpha={run['alpha']:g}"
            print(
                f"[{i + 1}/{len(runs)}] {run['sampler']}{alpha} {setting}: "
                f"{seconds:.1f} s, {cost.tokens} tokens, accuracy "
                f"{float(correct.mean()):.3f}, E[log pi_base] {float(logp.mean()):.2f}",
                flush=True,
            )
    power = pd.DataFrame(rows)
    tables = {
        "power": power,
        "power_mean": aggregate(power),
        "samples": pd.DataFrame(samples),
    }
    for name, df in tables.items():
        df.to_csv(os.path.join(args.out, f"{name}.csv"), index=False)
    title = f"{args.model} / {task.name}: P={P}, {n} outputs per prompt, T={args.max_new_tokens}"
    figure = save_power_figure(tables["power_mean"], args.out, title=title)
    stats = pp.cache_stats()
    run_info = {
        "model": args.model,
        "task": task.name,
        "prompts": P,
        "samples": n,
        "max_new_tokens": args.max_new_tokens,
        "alpha": args.alpha,
        "budget_tokens": args.budget_tokens,
        "mh_block_size": args.mh_block_size,
        "ess_threshold": args.ess_threshold,
        "seed": args.seed,
        "device": hf.device,
        "dtype": str(hf.dtype),
        "chat": hf.chat,
        "torch_threads": torch.get_num_threads(),
        "load_seconds": load_s,
        "runs": timings,
        "forward_passes": stats["forward_passes"],
        "tokens_encoded": stats["tokens_encoded"],
        "tokens_reused": stats["tokens_reused"],
        "figures": [os.path.basename(figure)],
    }
    with open(os.path.join(args.out, "run.json"), "w") as f:
        json.dump(run_info, f, indent=2, default=float)
    return {"tables": tables, "run": run_info}


METRICS = ("accuracy", "logp", "length", "tokens_per_output", "calls_per_output")


def aggregate(power):
    """Means over prompts, with standard errors, per sampler x alpha x setting."""
    import numpy as np

    keys = ["sampler", "alpha", "setting", "knob", "value"]
    grouped = power.groupby(keys, dropna=False, sort=False)
    out = grouped[list(METRICS)].mean()
    sem = grouped[list(METRICS)].sem().add_suffix("_sem")
    out = out.join(sem).reset_index()
    out["prompts"] = grouped.size().to_numpy()
    return out.replace({np.inf: np.nan})


def plot_power(mean, metric: str, ax=None, *, ylabel: str | None = None):
    """``metric`` (mean +- standard error over prompts) against tokens generated per output,
    one line per sampler and alpha (best-of-N: one line over N)."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5.0, 3.6))
    markers = {"mh": "o", "smc": "s", "temperature": "^", "bon": "D"}
    for (sampler, alpha), grp in mean.groupby(["sampler", "alpha"], dropna=False, sort=True):
        grp = grp.sort_values("tokens_per_output")
        label = sampler if sampler == "bon" else f"{sampler}, alpha={alpha:g}"
        ax.errorbar(
            grp["tokens_per_output"],
            grp[metric],
            yerr=grp[f"{metric}_sem"].fillna(0.0),
            marker=markers.get(sampler, "o"),
            ms=4,
            capsize=2,
            label=label,
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("tokens generated per output")
    ax.set_ylabel(ylabel or metric)
    ax.legend(fontsize=7)
    return ax


def save_power_figure(mean, out_dir: str, *, title: str = "") -> str:
    """Writes ``power_vs_tokens.png``: E[log pi_base] and accuracy against tokens generated."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 3.6))
    left, right = fig.subplots(1, 2)
    plot_power(mean, "logp", left, ylabel="E[log pi_base(y|x)] of the output")
    plot_power(mean, "accuracy", right, ylabel="accuracy")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = os.path.join(out_dir, "power_vs_tokens.png")
    fig.savefig(path, dpi=120)
    return path


def _report(result: dict[str, Any]) -> str:
    run, mean = result["run"], result["tables"]["power_mean"]
    lines = [
        f"{run['model']} on {run['task']}: P={run['prompts']}, {run['samples']} outputs per "
        f"prompt, T={run['max_new_tokens']}; {run['tokens_encoded']} tokens encoded, "
        f"{run['tokens_reused']} reused from the cache"
    ]
    seconds = {(r["sampler"], r["setting"], r["alpha"]): r["seconds"] for r in run["runs"]}
    for row in mean.itertuples():
        alpha = None if row.sampler == "bon" else float(row.alpha)
        took = seconds.get((row.sampler, row.setting, alpha), float("nan"))
        alpha = "" if alpha is None else f" alpha={alpha:g}"
        lines.append(
            f"  {row.sampler}{alpha} {row.setting}: accuracy {row.accuracy:.3f}, "
            f"E[log pi_base] {row.logp:.2f}, {row.tokens_per_output:.0f} tokens and "
            f"{row.calls_per_output:.1f} calls per output, {took:.0f} s"
        )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    return run_command(run_power, _report, args)
