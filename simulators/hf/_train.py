"""Amortized sharpening of a real language model with LoRA (Sections 4 and 5.3, Eq. 8, Alg. 1).

Three learners, each fitting LoRA adapters (``peft``) on top of a frozen base model with one torch
loop, :func:`_train_loop` (AdamW, linear decay to 0, gradient-norm clipping; the paper's SFT
recipe of section 5.3); they differ only in their per-batch loss and their data order:

* :func:`sft_sharpening`: SFT-Sharpening (pseudo-code B). Sample ``N`` responses per prompt from
  ``pi_base``, keep the best-of-N under the log-likelihood self-reward, and maximize
  ``sum_i log pi(y_i^BoN | x_i)`` (MLE over the LoRA class).
* :func:`rlhf_sharpening`: the offline squared-loss RLHF-Sharpening of Eq. 8 (pseudo-code D) on
  pairs ``y, y' ~ pi_base(.|x)``, with ``r = log pi_base`` and the base log-likelihoods recorded by
  the sample-and-evaluate oracle (the base stays frozen, so they are constants).
* :func:`xpo_sharpening`: Algorithm 1 (reward-based XPO, plus sign, pseudo-code E): each round
  samples ``y ~ pi^(t)`` and ``y' ~ pi_base``, queries ``log pi_base(y|x)`` (the generalized
  oracle), and takes gradient steps on ``alpha sum log pi(y'|x) + sum (squared loss)`` over all
  pairs so far; the returned policy is the round with the best estimated ``J_beta``.

:func:`evaluate` measures what the paper reports after training (greedy and sampled accuracy,
the mean log-likelihood under the *base* model of the trained model's responses) and how sharp
the trained model is (the entropy of its responses and of its next tokens).

The losses are those of the toy learners, written on arrays of sequence log-probabilities: the
residual of Eq. 8 is :func:`simulators.squared_loss_residual` applied to torch tensors, so toy and
real models minimize the same formula.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from theory.checks import check_count, check_nonnegative, check_positive

from .._best_of_n import best_of_n
from .._classes import squared_loss_residual
from .._rewards import log_likelihood
from .._rollouts import Rollouts
from ._decoding import _seed_from_key, greedy_rollouts, sample_rollouts
from ._encoding import (
    _as_texts,
    _checked_pairs,
    _prompt_rows,
    _responses_of,
    _tokens_after_eos,
    decode,
)
from ._policy import HFPolicy, base_model
from ._scoring import _float, _response_logits, _target_logp, rescore
from ._tasks import Task, label_rollouts, task_prompts


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """LoRA and optimizer settings (defaults follow the paper's section 5.3 / Table 2).

    Attributes:
      lora_rank: LoRA rank ``r`` (paper: 16, or 8 for Mistral-7B).
      lora_alpha: LoRA scaling numerator (the update is scaled by ``lora_alpha / lora_rank``).
      target_modules: modules to adapt; None picks peft's default for the architecture
        (``c_attn`` for GPT-2, ``q_proj, v_proj`` for Llama), ``"all-linear"`` adapts every linear.
      learning_rate: peak learning rate (paper: 3e-4), decayed linearly to 0.
      weight_decay: AdamW weight decay (paper: 0 to 1.0 depending on the task).
      epochs: passes over the training set (SFT and offline RLHF).
      batch_size: examples per gradient step (paper: 4).
      max_grad_norm: gradient-norm clipping (paper: 0.1).
    """

    lora_rank: int = 16
    lora_alpha: float = 32.0
    target_modules: Any = None
    learning_rate: float = 3e-4
    weight_decay: float = 0.0
    epochs: int = 3
    batch_size: int = 4
    max_grad_norm: float = 0.1

    def __post_init__(self):
        check_count(self.lora_rank, "lora_rank")
        check_positive(self.lora_alpha, "lora_alpha")
        check_positive(self.learning_rate, "learning_rate")
        check_nonnegative(self.weight_decay, "weight_decay")
        check_count(self.epochs, "epochs")
        check_count(self.batch_size, "batch_size")
        check_positive(self.max_grad_norm, "max_grad_norm")


# --------------------------------------------------------------------------------------------
# LoRA plumbing


def add_lora(key: jax.Array, policy: HFPolicy, config: TrainConfig = TrainConfig()) -> HFPolicy:
    """A copy of ``policy`` whose model carries fresh trainable LoRA adapters.

    The model is deep-copied first, so ``policy`` itself is never modified. LoRA's ``B`` matrices
    start at zero, so the new policy equals ``pi_base`` exactly until trained; ``A`` is initialised
    from a torch generator seeded by ``key`` (the global torch RNG is untouched). Inside
    :func:`~simulators.hf.base_model` the returned policy is the frozen base.
    """
    from peft import get_peft_model

    model = copy.deepcopy(policy.model)
    lora = lora_config(model, config)
    devices = [torch.device(policy.device).index or 0] if policy.device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(_seed_from_key(key))
        peft_model = get_peft_model(model, lora)
    peft_model.eval()  # dropout off: the training objective is the exact log-likelihood
    return dataclasses.replace(policy, model=peft_model)


def lora_config(model: Any, config: TrainConfig):
    """The ``peft.LoraConfig`` of ``config`` for ``model`` (no dropout: the training objective is
    the exact log-likelihood; GPT-2's transposed Conv1D weights flagged, as peft requires)."""
    from peft import LoraConfig

    target = config.target_modules
    if isinstance(target, (list, tuple)):
        target = list(target)
    return LoraConfig(
        fan_in_fan_out=getattr(model.config, "model_type", "") == "gpt2",
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=0.0,
        target_modules=target,
        bias="none",
        task_type="CAUSAL_LM",
    )


def lora_state(policy: HFPolicy) -> dict[str, torch.Tensor]:
    """A detached copy of the trainable (LoRA) parameters."""
    return {
        name: p.detach().clone() for name, p in policy.model.named_parameters() if p.requires_grad
    }


def _load_lora_state(policy: HFPolicy, state: dict[str, torch.Tensor]) -> None:
    params = dict(policy.model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


def sequence_log_probs(
    policy: HFPolicy, prompt_ids: Sequence[Sequence[int]], response_ids: Sequence[Sequence[int]]
) -> torch.Tensor:
    """``[B]`` differentiable ``log pi(y_i | x_i)`` (response tokens only, right padding).

    Raises:
      ValueError: a response holds tokens after an EOS id. Sampling stops at the first EOS, so
        such a response has probability 0 (:func:`~simulators.hf.score_tokens` scores it
        ``-inf``) and its log-likelihood has no gradient to follow.
    """
    prompt_ids, response_ids, n_p, n_r = _checked_pairs(policy, prompt_ids, response_ids)
    rows, t = _tokens_after_eos(response_ids, n_r, policy.eos_token_ids)
    if rows.size:
        raise ValueError(
            f"response_ids[{int(rows[0])}] holds token {int(response_ids[rows[0]][t[0]])} at "
            f"position {int(t[0])}, after an EOS id (eos_token_ids={policy.eos_token_ids}): "
            "sampling never continues after EOS, so this response has probability 0"
        )
    logits, targets, first = _response_logits(policy, prompt_ids, response_ids)
    # Position first + j predicts a response token when n_p - 1 <= first + j < n_p + n_r - 1.
    j = first + np.arange(logits.shape[1])
    keep = (j >= n_p[:, None] - 1) & (j < (n_p + n_r)[:, None] - 1)
    picked = _target_logp(_float(logits), targets)
    return torch.where(torch.from_numpy(keep).to(picked.device), picked, 0.0).sum(-1)


class _Optimizer(NamedTuple):
    """AdamW over the trainable (LoRA) parameters with a linear decay of the learning rate to 0
    over ``total_steps``, and the gradient-norm bound (section 5.3's recipe)."""

    params: list[torch.nn.Parameter]
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    max_grad_norm: float


def _optimizer(policy: HFPolicy, config: TrainConfig, total_steps: int) -> _Optimizer:
    params = [p for p in policy.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: max(0.0, 1.0 - step / max(1, total_steps))
    )
    return _Optimizer(params, opt, sched, config.max_grad_norm)


def _train_loop(
    optimizer: _Optimizer,
    loss_fn: Callable[[list[int]], torch.Tensor],
    order: Iterable[tuple[int, list[int]]],
    *,
    bar: Any = None,
) -> list[tuple[int, int, float, float]]:
    """The one training loop of the learners: one clipped AdamW step per batch of ``order``.

    Args:
      optimizer: the set-up of :func:`_optimizer`; its step count carries over between calls
        (XPO calls the loop once per round, warm-started).
      loss_fn: ``batch -> loss``, the scalar loss of a batch of example indices.
      order: ``(tag, batch)`` pairs in the order the steps take them (the tag, an epoch or a
        round, is recorded with the step).
      bar: a progress bar advanced once per step, or None.

    Returns:
      one row ``(step, tag, loss, grad_norm)`` per step, ``step`` counted over every call.
    """
    rows = []
    for tag, batch in order:
        loss = loss_fn(batch)
        optimizer.opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(optimizer.params, optimizer.max_grad_norm)
        step = optimizer.sched.last_epoch  # steps taken so far
        optimizer.opt.step()
        optimizer.sched.step()
        rows.append((step, tag, loss.item(), float(norm)))
        if bar is not None:
            bar.update()
    return rows


def _epochs(key: jax.Array, size: int, config: TrainConfig) -> Iterator[tuple[int, list[int]]]:
    """``(epoch, batch)`` of ``config.epochs`` passes over ``size`` examples, each in the order of
    a permutation drawn from its own split of ``key``, in batches of ``config.batch_size``."""
    for epoch, k_epoch in enumerate(jax.random.split(key, config.epochs)):
        order = _permutation(k_epoch, size)
        for s in range(0, size, config.batch_size):
            yield epoch, order[s : s + config.batch_size]


def _flat_pairs(rollouts: Rollouts):
    """Per-sample prompt ids, response ids and base log-likelihoods of ``[P, N]`` rollouts of an
    :class:`HFPolicy` (the prompt ids they carry)."""
    N = rollouts.num_samples
    prompts = [row for row in _prompt_rows(rollouts) for _ in range(N)]
    return prompts, _responses_of(rollouts), np.asarray(rollouts.logp_base, np.float64).ravel()


def _permutation(key: jax.Array, n: int) -> list[int]:
    return [int(i) for i in np.asarray(jax.random.permutation(key, n))]


def _fit_epochs(
    trained: HFPolicy,
    config: TrainConfig,
    loss_fn: Callable[[list[int]], torch.Tensor],
    key: jax.Array,
    size: int,
    desc: str,
) -> pd.DataFrame:
    """``config.epochs`` passes of :func:`_train_loop` over ``size`` examples (SFT and offline
    RLHF); returns the history (step, epoch, loss, grad_norm)."""
    total = -(-size // config.batch_size) * config.epochs
    bar = tqdm(total=total, desc=desc, disable=not trained.progress)
    rows = _train_loop(
        _optimizer(trained, config, total), loss_fn, _epochs(key, size, config), bar=bar
    )
    bar.close()
    return pd.DataFrame(rows, columns=["step", "epoch", "loss", "grad_norm"])


# --------------------------------------------------------------------------------------------
# Learners


def sft_sharpening(
    key: jax.Array,
    policy: HFPolicy,
    prompts: Sequence[str],
    *,
    n: int,
    config: TrainConfig = TrainConfig(),
    max_new_tokens: int | None = None,
) -> tuple[HFPolicy, dict[str, Any]]:
    """SFT-Sharpening (section 2.1, pseudo-code B) with a LoRA model class.

    ::

        for each prompt x_i: sample y_{i,1..N} ~ pi_base(.|x_i), observe log pi_base(y_{i,j}|x_i)
        y_i^BoN = argmax_j log pi_base(y_{i,j} | x_i)            (ties uniform)
        pi_hat  = argmax_{pi in LoRA(pi_base)} sum_i log pi(y_i^BoN | x_i)

    Args:
      key: PRNG key (sampling, tie-breaking, LoRA initialisation, data order).
      policy: ``pi_base`` (left unmodified).
      prompts: the ``n`` training prompts ``x_i``.
      n: ``N`` responses per prompt (sample complexity ``m = len(prompts) * N``).
      config: LoRA and optimizer settings.
      max_new_tokens: response length limit.

    Returns:
      ``(pi_hat, info)``: the trained policy (``base_model(pi_hat)`` gives back ``pi_base``) and
      a dict with ``rollouts`` (the base draws), ``choice`` (``[P]`` BoN indices), ``queries``
      (``m``) and ``history`` (a DataFrame of step, epoch, loss, grad_norm).
    """
    n = check_count(n, "n")
    k_sample, k_bon, k_lora, k_order = jax.random.split(key, 4)
    rollouts = sample_rollouts(k_sample, policy, prompts, n, max_new_tokens=max_new_tokens)
    choice = np.asarray(best_of_n(k_bon, rollouts, log_likelihood))
    P = rollouts.num_prompts
    tokens, lengths = np.asarray(rollouts.tokens), np.asarray(rollouts.lengths)
    data_x = _prompt_rows(rollouts)
    data_y = [tokens[p, choice[p], : lengths[p, choice[p]]].tolist() for p in range(P)]
    trained = add_lora(k_lora, policy, config)

    def loss_fn(batch):
        logp = sequence_log_probs(trained, [data_x[i] for i in batch], [data_y[i] for i in batch])
        return -logp.mean()  # -(1/n) sum_i log pi(y_i^BoN | x_i)

    history = _fit_epochs(trained, config, loss_fn, k_order, P, "SFT")
    info = dict(rollouts=rollouts, choice=choice, queries=P * n, history=history)
    return trained, info


def rlhf_sharpening(
    key: jax.Array,
    policy: HFPolicy,
    prompts: Sequence[str],
    *,
    beta: float = 0.5,
    config: TrainConfig = TrainConfig(),
    max_new_tokens: int | None = None,
) -> tuple[HFPolicy, dict[str, Any]]:
    """Offline RLHF-Sharpening with the squared loss of Eq. 8 (pseudo-code D), LoRA class.

    ::

        D = {(x, y, y')}: y, y' ~ pi_base(.|x), with log pi_base(y|x), log pi_base(y'|x) recorded
        pi_hat = argmin_pi sum_D ( beta log pi(y|x)/pi_base(y|x) - beta log pi(y'|x)/pi_base(y'|x)
                                   - [log pi_base(y|x) - log pi_base(y'|x)] )^2

    The minimizer over all policies is ``pi*_beta`` proportional to ``pi_base^(1 + 1/beta)``
    (Eq. 3). The base is frozen (LoRA), so its log-likelihoods are the oracle's recorded values.

    Returns:
      ``(pi_hat, info)`` with ``rollouts`` (``[P, 2]`` base pairs), ``queries`` (``2P``) and
      ``history`` (step, epoch, loss, grad_norm).
    """
    check_positive(beta, "beta")
    k_sample, k_lora, k_order = jax.random.split(key, 3)
    rollouts = sample_rollouts(k_sample, policy, prompts, 2, max_new_tokens=max_new_tokens)
    xs, ys, base = _flat_pairs(rollouts)
    P = rollouts.num_prompts
    trained = add_lora(k_lora, policy, config)

    def loss_fn(batch):
        rows = [2 * p for p in batch] + [2 * p + 1 for p in batch]
        logp = sequence_log_probs(trained, [xs[i] for i in rows], [ys[i] for i in rows])
        b = len(batch)
        lb = torch.tensor(base[rows], dtype=logp.dtype, device=logp.device)
        return (squared_loss_residual(logp[:b], logp[b:], lb[:b], lb[b:], beta) ** 2).mean()

    history = _fit_epochs(trained, config, loss_fn, k_order, P, "RLHF")
    info = dict(rollouts=rollouts, queries=2 * P, history=history)
    return trained, info


def xpo_sharpening(
    key: jax.Array,
    policy: HFPolicy,
    prompts: Sequence[str],
    *,
    beta: float = 0.5,
    alpha: float = 0.01,
    rounds: int = 4,
    prompts_per_round: int = 4,
    steps_per_round: int = 4,
    config: TrainConfig = TrainConfig(),
    max_new_tokens: int | None = None,
    select: str = "best",
) -> tuple[HFPolicy, dict[str, Any]]:
    """Algorithm 1 (reward-based XPO) with ``r = log pi_base`` and a LoRA class.

    ::

        pi^(1) = pi_base; D = {}
        for t = 1..T:
            x^(t) ~ mu; y^(t) ~ pi^(t)(.|x); y'^(t) ~ pi_base(.|x); query log pi_base(y^(t)|x)
            D <- D + {(x, y, y')}
            pi^(t+1) <- argmin_pi alpha sum_D log pi(y'|x)
                          + sum_D (beta log pi(y|x)/pi_base(y|x) - beta log pi(y'|x)/pi_base(y'|x)
                                   - (r(x,y) - r(x,y')))^2
        return argmax_t J_beta(pi^(t))

    Each round draws ``prompts_per_round`` prompts (one pair each); the argmin is approximated by
    ``steps_per_round`` AdamW steps on minibatches of ``D`` (warm-started).
    ``J_beta(pi) = E_pi[log pi_base] - beta KL(pi || pi_base)`` is estimated without extra queries
    from the round's own draws ``y ~ pi^(t)``, as the mean of
    ``log pi_base(y) - beta (log pi^(t)(y) - log pi_base(y))``.

    Args:
      beta: KL weight (theory: ``beta = gamma_margin / (2 log(2|Y|/delta))``, Thm 4.3).
      alpha: optimism weight (theory: Thm J.1's alpha).
      rounds: ``T``.
      select: ``"best"`` (Algorithm 1's argmax over rounds of the estimated ``J_beta``) or
        ``"last"``.

    Returns:
      ``(pi_hat, info)`` with ``queries`` (base samples plus base evaluations of on-policy
      samples), ``history`` (round, step, loss, grad_norm) and ``rounds`` (round, J_beta estimate,
      mean base log-likelihood of the on-policy draws).
    """
    check_positive(beta, "beta")
    check_nonnegative(alpha, "alpha")
    rounds = check_count(rounds, "rounds")
    prompts_per_round = check_count(prompts_per_round, "prompts_per_round")
    steps_per_round = check_count(steps_per_round, "steps_per_round")
    if select not in ("best", "last"):
        raise ValueError(f"select must be 'best' or 'last', got {select!r}")
    prompts = _as_texts(prompts, "prompts")  # one string is one prompt, not its characters
    if not prompts:
        raise ValueError("prompts must contain at least one prompt")
    k_lora, k_loop = jax.random.split(key)
    trained = add_lora(k_lora, policy, config)
    optimizer = _optimizer(trained, config, rounds * steps_per_round)
    data_x: list[np.ndarray] = []
    data_y: list[list[int]] = []
    data_y2: list[list[int]] = []
    base_y: list[float] = []
    base_y2: list[float] = []
    history, round_rows = [], []
    best_j, best_state = -np.inf, lora_state(trained)
    queries = 0

    def loss_fn(batch):
        size = len(batch)
        xs_b = [data_x[i] for i in batch]
        logp = sequence_log_probs(
            trained, xs_b + xs_b, [data_y[i] for i in batch] + [data_y2[i] for i in batch]
        )
        lb = torch.tensor(base_y, dtype=logp.dtype, device=logp.device)[batch]
        lb2 = torch.tensor(base_y2, dtype=logp.dtype, device=logp.device)[batch]
        residual = squared_loss_residual(logp[:size], logp[size:], lb, lb2, beta)
        # Algorithm 1 with the plus sign: alpha log pi(y'|x) + residual^2 per pair
        return (alpha * logp[size:] + residual**2).mean()

    keys = jax.random.split(k_loop, rounds + 1)
    for t in tqdm(range(rounds + 1), desc="XPO", disable=not policy.progress):
        k_x, k_y, k_y2, k_steps = jax.random.split(keys[t], 4)
        pick = np.asarray(jax.random.choice(k_x, len(prompts), (prompts_per_round,)))
        xs = [prompts[int(i)] for i in pick]
        on_policy = sample_rollouts(k_y, trained, xs, 1, max_new_tokens=max_new_tokens)
        with base_model(trained):
            scored = rescore(trained, xs, on_policy)  # generalized oracle: log pi_base(y|x)
        queries += prompts_per_round
        r_y = np.asarray(scored.logp_base, np.float64)[:, 0]
        own = np.asarray(on_policy.logp_base, np.float64)[:, 0]
        j_beta = float(np.mean(r_y - beta * (own - r_y)))
        round_rows.append((t, j_beta, float(np.mean(r_y))))
        if select == "best" and j_beta > best_j:
            best_j, best_state = j_beta, lora_state(trained)
        if t == rounds:
            break
        with base_model(trained):
            ref = sample_rollouts(k_y2, trained, xs, 1, max_new_tokens=max_new_tokens)
        queries += prompts_per_round
        data_x += _prompt_rows(on_policy)  # the prompt ids the draws were sampled after
        data_y += _responses_of(on_policy)
        data_y2 += _responses_of(ref)
        base_y += r_y.tolist()
        base_y2 += np.asarray(ref.logp_base, np.float64)[:, 0].tolist()
        order = (
            (t, _permutation(k_step, len(data_x))[: config.batch_size])
            for k_step in jax.random.split(k_steps, steps_per_round)
        )
        history += _train_loop(optimizer, loss_fn, order)
    if select == "best":
        _load_lora_state(trained, best_state)
    info = dict(
        queries=queries,
        history=pd.DataFrame(
            [(t, step, loss, norm) for step, t, loss, norm in history],
            columns=["round", "step", "loss", "grad_norm"],
        ),
        rounds=pd.DataFrame(round_rows, columns=["round", "j_beta", "base_logp"]),
        best_j_beta=best_j if select == "best" else round_rows[-1][1],
    )
    return trained, info


# --------------------------------------------------------------------------------------------
# Evaluation


def evaluate(
    key: jax.Array,
    policy: HFPolicy,
    task: Task,
    *,
    n: int = 4,
    max_new_tokens: int | None = None,
) -> pd.DataFrame:
    """What section 5.3 reports after training, on every question of ``task``.

    Greedy and temperature-1 accuracy of ``policy``, and the mean log-likelihood of its responses
    under the *base* model (for a LoRA policy, the model with adapters disabled; for a plain
    model, itself) next to their log-likelihood under ``policy``.

    The entropies measure how sharp ``policy`` is: ``sample_entropy = -mean log pi(y|x)`` over
    its own samples is the Monte Carlo estimate of the response entropy ``H(pi(.|x))`` (nats per
    response, averaged over prompts), and ``sample_token_entropy`` the mean next-token entropy
    along them (nats per token; the quantity EM-FT minimizes).

    Returns:
      Tidy DataFrame ``metric, value``: ``greedy_accuracy``, ``greedy_base_logp``,
      ``greedy_length``, ``sample_accuracy``, ``sample_base_logp``, ``sample_own_logp``,
      ``sample_entropy``, ``sample_token_entropy``, ``sample_length``.
    """
    n = check_count(n, "n")
    prompts = task_prompts(task)
    g = greedy_rollouts(policy, prompts, max_new_tokens=max_new_tokens, stop=task.stop)
    g = label_rollouts(task, g, decode(policy, g))
    s = sample_rollouts(key, policy, prompts, n, max_new_tokens=max_new_tokens, stop=task.stop)
    s = label_rollouts(task, s, decode(policy, s))
    with base_model(policy):
        g_base = rescore(policy, prompts, g)
        s_base = rescore(policy, prompts, s)
    rows = {
        "greedy_accuracy": float(np.mean(np.asarray(g.correct))),
        "greedy_base_logp": float(np.mean(np.asarray(g_base.logp_base))),
        "greedy_length": float(np.mean(np.asarray(g.lengths))),
        "sample_accuracy": float(np.mean(np.asarray(s.correct))),
        "sample_base_logp": float(np.mean(np.asarray(s_base.logp_base))),
        "sample_own_logp": float(np.mean(np.asarray(s.logp_base))),
        "sample_entropy": -float(np.mean(np.asarray(s.logp_base))),
        "sample_token_entropy": _mean_over_tokens(s.token_entropy, s.lengths),
        "sample_length": float(np.mean(np.asarray(s.lengths))),
    }
    return pd.DataFrame({"metric": list(rows), "value": list(rows.values())})


def _mean_over_tokens(values: Any, lengths: Any) -> float:
    """Mean of ``values [P, N, T]`` over the real tokens (``t < lengths``); NaN when none."""
    values, lengths = np.asarray(values, np.float64), np.asarray(lengths)
    mask = np.arange(values.shape[-1]) < lengths[..., None]
    return float(values[mask].mean()) if mask.any() else float("nan")
