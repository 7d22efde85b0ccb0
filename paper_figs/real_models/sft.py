"""``sharpen sft``: amortized sharpening of a real model with LoRA (section 5.3, Eq. 3, 8, Alg. 1).

Trains SFT-Sharpening (BoN winners under log-likelihood, then MLE), the squared-loss
RLHF-Sharpening of Eq. 8, XPO (Algorithm 1) and/or online RL with a self-reward through TRL
(``grpo``: ``GRPOTrainer``; ``rloo``: ``RLOOTrainer``, whose KL in the reward makes it Eq. 3's
policy gradient; ``--reward`` any registered self-reward, ``--group-size`` completions per
prompt, ``--beta`` the KL weight) on ``--prompts`` questions of ``--task`` (no labels
are used for training), then evaluates the base model and each trained model on the same
questions (the paper's amortization setting) and, with ``--heldout``, on fresh ones. Written to
``--out``: ``metrics.csv`` (tidy: method, split, metric, value), ``history.csv`` (training losses),
``xpo_rounds.csv`` (XPO's per-round ``J_beta`` estimates), ``run.json`` and ``training_loss.png``.

The headline numbers are the likelihood lift (mean ``log pi_base`` of the trained model's samples
minus that of the base model's samples) and the accuracy change over the base model.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import time

from .bon import (
    add_device_arguments,
    check_args,
    check_memory,
    check_task,
    load_policy,
    output_folder,
    run_command,
)

METHODS = ("sft", "rlhf", "xpo", "grpo", "rloo")
ONLINE = ("grpo", "rloo")  # TRL trainers with a self-reward (simulators.hf._trl)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="smollm2-135m", help="as for `sharpen bon`")
    parser.add_argument("--task", default="arithmetic", help="as for `sharpen bon`")
    parser.add_argument("--method", choices=[*METHODS, "all"], default="sft")
    parser.add_argument("--prompts", type=int, default=16, help="training questions")
    parser.add_argument("--heldout", type=int, default=0, help="extra questions for evaluation")
    parser.add_argument("--n", type=int, default=8, help="SFT: N responses per prompt")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--lora-rank", type=int, default=16)
    parser.add_argument("--lora-alpha", type=float, default=32.0)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--train-batch-size", type=int, default=4)
    parser.add_argument("--max-grad-norm", type=float, default=0.1)
    parser.add_argument(
        "--beta", type=float, default=0.5, help="KL weight of RLHF, XPO (> 0), GRPO, RLOO (>= 0)"
    )
    parser.add_argument("--alpha", type=float, default=0.01, help="XPO optimism weight")
    parser.add_argument("--rounds", type=int, default=4, help="XPO rounds T")
    parser.add_argument("--prompts-per-round", type=int, default=4)
    parser.add_argument("--steps-per-round", type=int, default=4)
    parser.add_argument(
        "--reward",
        default="log_likelihood",
        help="GRPO/RLOO: registered self-rewards (name, or module:name to import module first), "
        "joined by commas (summed)",
    )
    parser.add_argument(
        "--group-size", type=int, default=4, help="GRPO/RLOO: completions per prompt"
    )
    parser.add_argument("--eval-n", type=int, default=4, help="samples per prompt at evaluation")
    parser.add_argument("--out", required=True)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32, help="sampling micro-batch")
    add_device_arguments(parser)
    parser.add_argument("--chat", choices=["auto", "yes", "no"], default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quiet", action="store_true")


def run_sft(args: argparse.Namespace) -> dict:
    """Trains and evaluates; writes the tables and the figure; returns them.

    Every argument is checked first (counts, the learning rate and weights, ``--beta``,
    ``--alpha``, the model path, ``--out``, the task file with ``--prompts + --heldout``
    questions); only then is ``--out`` created and the model loaded. A run that fails leaves no
    empty output folder behind.
    """
    check_args(
        args,
        (
            "prompts",
            "n",
            "epochs",
            "lora_rank",
            "train_batch_size",
            "rounds",
            "prompts_per_round",
            "steps_per_round",
            "eval_n",
            "max_new_tokens",
            "batch_size",
        ),
        positive=(
            "lr",
            "lora_alpha",
            "max_grad_norm",
            *(() if args.method in ONLINE else ("beta",)),
        ),
        nonnegative=("weight_decay", "alpha", "beta"),
    )
    _check_online_args(args)
    if args.heldout < 0:
        raise ValueError(f"--heldout must be an integer >= 0, got {args.heldout}")
    check_memory(
        {
            "--prompts + --heldout": args.prompts + args.heldout,
            "max(--n, --eval-n)": max(args.n, args.eval_n),
            "--max-new-tokens": args.max_new_tokens,
        },
        "the draws of one sampling pass",
    )
    full = check_task(
        args.task, args.prompts + args.heldout, args.seed, flag="--prompts + --heldout ="
    )
    with output_folder(args.out):
        return _run_sft(args, full)


def _rewards(args: argparse.Namespace) -> list[str]:
    """The registered names of ``--reward`` (``name`` or ``module:name``, joined by commas)."""
    return [entry.strip().rpartition(":")[2] for entry in args.reward.split(",")]


def _check_online_args(args: argparse.Namespace) -> None:
    """``--group-size`` (>= 2: the advantage compares a prompt's completions) and ``--reward``
    (registered self-rewards; ``module:name`` imports ``module`` first, which registers a
    researcher's own), checked before anything is loaded."""
    from simulators import get_reward

    if args.method not in (*ONLINE, "all"):
        return
    if args.group_size is None or args.group_size < 2:
        raise ValueError(f"--group-size must be an integer >= 2, got {args.group_size}")
    for entry in args.reward.split(","):
        module, _, name = entry.strip().rpartition(":")
        if module:
            try:
                importlib.import_module(module)
            except ImportError as err:
                raise ValueError(
                    f"--reward {entry.strip()!r}: cannot import {module}: {err}"
                ) from err
        try:
            get_reward(name)
        except ValueError as err:
            raise ValueError(
                f"--reward must be registered self-rewards (name or module:name) joined by "
                f"commas: {err}"
            ) from None


def _run_sft(args: argparse.Namespace, full) -> dict:
    import jax
    import pandas as pd
    import torch

    from simulators import bon_expected, log_likelihood
    from simulators.hf import (
        TrainConfig,
        decode,
        evaluate,
        grpo_sharpening,
        label_rollouts,
        rlhf_sharpening,
        rloo_sharpening,
        sft_sharpening,
        subset,
        task_prompts,
        xpo_sharpening,
    )

    if args.threads:
        torch.set_num_threads(args.threads)
    train_task = subset(full, args.prompts)
    splits = {"train": train_task}
    if args.heldout:
        splits["heldout"] = subset(full, args.heldout, start=args.prompts)
    policy = load_policy(
        args, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, stop=full.stop
    )
    config = TrainConfig(
        lora_rank=args.lora_rank,
        lora_alpha=args.lora_alpha,
        learning_rate=args.lr,
        weight_decay=args.weight_decay,
        epochs=args.epochs,
        batch_size=args.train_batch_size,
        max_grad_norm=args.max_grad_norm,
    )
    prompts = task_prompts(train_task)
    methods = list(METHODS) if args.method == "all" else [args.method]
    key_eval, key_train = jax.random.split(jax.random.key(args.seed))
    rows, histories, timings = [], [], {}
    xpo_rounds = None

    def record(method, policy_):
        for split, task in splits.items():
            # the same evaluation key for every method: differences are not sampling noise alone
            df = evaluate(key_eval, policy_, task, n=args.eval_n)
            rows.extend(
                (method, split, m, v) for m, v in zip(df["metric"], df["value"], strict=True)
            )

    t0 = time.perf_counter()
    record("base", policy)
    timings["base_eval"] = time.perf_counter() - t0
    for method, key in zip(methods, jax.random.split(key_train, len(methods)), strict=True):
        t0 = time.perf_counter()
        if method == "sft":
            trained, info = sft_sharpening(key, policy, prompts, n=args.n, config=config)
            # inference-time BoN on the very draws SFT learned from: the amortization target
            draws = label_rollouts(train_task, info["rollouts"], decode(policy, info["rollouts"]))
            exact = bon_expected(draws, [1, args.n], rewards={"log_likelihood": log_likelihood})
            for n_, m, v in zip(exact["N"], exact["metric"], exact["value"], strict=True):
                rows.append(("base_bon", "train", f"{m}_at_{n_}", v))
        elif method in ONLINE:
            online = grpo_sharpening if method == "grpo" else rloo_sharpening
            trained, info = online(
                key,
                policy,
                prompts,
                reward=_rewards(args),
                group_size=args.group_size,
                beta=args.beta,
                config=config,
                answer=train_task.extract_answer,
                stop=train_task.stop,
            )
        elif method == "rlhf":
            trained, info = rlhf_sharpening(key, policy, prompts, beta=args.beta, config=config)
        else:
            trained, info = xpo_sharpening(
                key,
                policy,
                prompts,
                beta=args.beta,
                alpha=args.alpha,
                rounds=args.rounds,
                prompts_per_round=args.prompts_per_round,
                steps_per_round=args.steps_per_round,
                config=config,
            )
            xpo_rounds = info["rounds"]
        timings[f"{method}_train"] = time.perf_counter() - t0
        rows.append((method, "train", "queries", float(info["queries"])))
        hist = info["history"].copy()
        hist.insert(0, "method", method)
        histories.append(hist)
        t0 = time.perf_counter()
        record(method, trained)
        timings[f"{method}_eval"] = time.perf_counter() - t0
        del trained

    metrics = pd.DataFrame(rows, columns=["method", "split", "metric", "value"])
    # headline numbers: likelihood lift and accuracy change relative to the base model
    base = metrics[metrics["method"] == "base"].set_index(["split", "metric"])["value"]
    extra = []
    for method in methods:
        m = metrics[metrics["method"] == method].set_index(["split", "metric"])["value"]
        for split in splits:
            extra += [
                (
                    method,
                    split,
                    "likelihood_lift",
                    m[(split, "sample_base_logp")] - base[(split, "sample_base_logp")],
                ),
                (
                    method,
                    split,
                    "greedy_accuracy_change",
                    m[(split, "greedy_accuracy")] - base[(split, "greedy_accuracy")],
                ),
                (
                    method,
                    split,
                    "sample_accuracy_change",
                    m[(split, "sample_accuracy")] - base[(split, "sample_accuracy")],
                ),
            ]
    metrics = pd.concat([metrics, pd.DataFrame(extra, columns=metrics.columns)], ignore_index=True)
    metrics.to_csv(os.path.join(args.out, "metrics.csv"), index=False)
    history = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
    history.to_csv(os.path.join(args.out, "history.csv"), index=False)
    if xpo_rounds is not None:
        xpo_rounds.to_csv(os.path.join(args.out, "xpo_rounds.csv"), index=False)
    _plot_history(history, args.reward).savefig(
        os.path.join(args.out, "training_loss.png"), dpi=120
    )
    run = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    run.update(timings=timings, device=policy.device, dtype=str(policy.dtype))
    with open(os.path.join(args.out, "run.json"), "w") as f:
        json.dump(run, f, indent=2, default=str)
    return {"metrics": metrics, "history": history, "run": run}


def _plot_history(history, reward: str):
    """The training curves: the offline learners' losses (symlog), and for the online ones
    (TRL) the batch mean self-reward +- sd and TRL's per-token KL estimate against the step.
    An on-policy RL loss is a surrogate whose value is ~0 by construction, so it is not drawn."""
    import numpy as np
    from matplotlib.figure import Figure

    methods = list(dict.fromkeys(history["method"])) if len(history) else []
    offline = [m for m in methods if m not in ONLINE]
    online = [m for m in methods if m in ONLINE]
    kl = "kl" in history and history.loc[history["method"].isin(online), "kl"].notna().any()
    panels = ["loss"] if offline or not online else []
    panels += (["reward"] if online else []) + (["kl"] if kl else [])  # no KL when beta = 0
    fig = Figure(figsize=(4.5 * len(panels), 3.6))
    axes = dict(zip(panels, fig.subplots(1, len(panels), squeeze=False)[0], strict=True))
    for method, grp in history.groupby("method", sort=False) if len(history) else []:
        x = np.arange(len(grp))
        if method in offline:
            axes["loss"].plot(x, grp["loss"], label=method)
        else:
            axes["reward"].errorbar(
                x, grp["reward"], yerr=grp["reward_std"], fmt="o-", ms=3, label=method
            )
            if kl and grp["kl"].notna().any():
                axes["kl"].plot(x, grp["kl"], "o-", ms=3, label=method)
    labels = {
        "loss": "training loss",
        "reward": f"batch mean self-reward +- sd\n({reward})",
        "kl": "KL to pi_base per token (TRL's estimate)",
    }
    for name, ax in axes.items():
        ax.set_xlabel("gradient step")
        ax.set_ylabel(labels[name])
        if name == "loss":
            ax.set_yscale("symlog")
        if methods:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _report(result: dict) -> str:
    df = result["metrics"]
    lines = []
    for (method, split), grp in df.groupby(["method", "split"], sort=False):
        vals = dict(zip(grp["metric"], grp["value"], strict=True))
        parts = [
            f"{k}={vals[k]:.3f}"
            for k in (
                "greedy_accuracy",
                "sample_accuracy",
                "sample_base_logp",
                "sample_entropy",
                "likelihood_lift",
                "sample_accuracy_change",
            )
            if k in vals
        ]
        if method == "base_bon":
            parts = [f"{k}={v:.3f}" for k, v in vals.items()]
        lines.append(f"{method:9s} {split:8s} " + ", ".join(parts))
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    return run_command(run_sft, _report, args)
