"""Online RL with self-rewards on a real model through TRL's RLOO and GRPO trainers (Eq. 3).

The toolkit's self-rewards (the registry of ``simulators._rewards``: ``log_likelihood``,
``length_normalized``, ``self_certainty``, ``negative_entropy``, ``majority``, or a user's own
registered one) become TRL reward functions, and :func:`rloo_sharpening` and
:func:`grpo_sharpening` run ``trl.RLOOTrainer`` and ``trl.GRPOTrainer`` with them and LoRA.

The two differ in where the KL weight ``beta`` acts, which decides what they converge to:

* **RLOO** subtracts ``beta log(pi_theta(y|x) / pi_base(y|x))`` from each completion's reward
  and follows the score-function gradient, so its expected update is the exact policy gradient
  of ``E_pi[r] - beta KL(pi || pi_base)``. With ``r = log pi_base`` that is the paper's
  RLHF-Sharpening objective (Eq. 3) optimized online, whose maximizer is ``pi*_beta``
  proportional to ``pi_base^(1 + 1/beta)``.
* **GRPO** adds the per-token estimator ``k3 = rho - log rho - 1`` (``rho = pi_base/pi_theta``
  at the sampled token) to the loss and differentiates it along the samples. At each position,
  ``E_{y~pi}[grad k3] = sum_y (pi - pi_base) grad log pi = grad KL(pi_base || pi_theta)``: the
  *reverse* KL, token by token, so for ``beta > 0`` its fixed point is not ``pi*_beta`` (on one
  token it is ``pi = beta pi_base / (lambda - r)``, :func:`theory.reverse_kl_tilt`).
  ``tests/hf/test_trl.py`` checks the identity exactly. With ``beta = 0`` the two differ only
  in their baselines.

With ``negative_entropy`` the reward is RENT/EM-RL's token-level entropy reward, with
``self_certainty`` Intuitor's, and with ``majority`` TTRL's (arXiv 2504.16084). The toy
counterpart, with exact expected updates, is :func:`simulators.pg_sharpening`.

Exactness at the boundary with TRL:

* **The scores are the adapter's.** :class:`TRLReward` scores TRL's ``completion_ids`` (cut at
  the first EOS, EOS kept: the adapter's convention) with :func:`~simulators.hf.score_tokens`
  under the *frozen* base model, after the prompt ids TRL generated them after, and applies the
  registered reward to a ``[P, G]`` :class:`~simulators.Rollouts` of each prompt's group. So a
  TRL reward equals the toolkit's reward of the same tokens, as ``tests/hf/test_trl.py`` checks.
* **The prompt ids are checked.** Each trainer is given TRL each prompt as the adapter
  encodes it (the plain string, or one user turn of the chat template when ``policy.chat``), and
  checks before training that TRL's own tokenization gives :func:`~simulators.hf.encode_prompts`'
  ids for every prompt, and that TRL stops at exactly ``policy.eos_token_ids``.
* **Sampling is from the current policy.** Temperature 1, no top-k, top-p, min-p or repetition
  penalty, as the objective's expectation ``E_pi`` requires.
* **The reference is ``pi_base``.** With ``beta > 0`` TRL computes the reference with the
  adapters disabled: the frozen base model itself.

Defaults that differ from TRL's, and why: GRPO's advantages are rewards minus the group mean
with no standard-deviation scaling (``scale_rewards="none"``) and its token losses are summed
and divided by a constant (``loss_type="dr_grpo"``), so its reward term is the sequence-level
policy gradient (Dr. GRPO, arXiv 2503.20783), the toy learner's ``advantage="group_mean"``. RLOO
keeps TRL's defaults (leave-one-out baseline, no advantage normalization: the toy's
``advantage="rloo"``). Any config field can be overridden through ``trl_config``.

What TRL's generation does not do: the trainers' transformers generation path cannot use stop
strings, so completions run to EOS or ``max_new_tokens``. The majority reward therefore cuts
each decoded completion at the first of ``stop`` before extracting its answer (as the adapter's
sampling would have ended it there); the likelihood rewards score the tokens TRL trains on.

The toolkit keeps its own torch loops (``simulators.hf._train``) where TRL has no equivalent:
the squared loss of Eq. 8 (offline RLHF-Sharpening) and Algorithm 1 (XPO with the generalized
oracle), and also for SFT-Sharpening: pseudo-code B maximizes ``sum_i log pi(y_i^BoN | x_i)``,
a mean over sequences, while TRL's ``SFTTrainer`` averages the token losses over the batch's
tokens, which weights each winner by its length (a different estimator, with a different
minimizer whenever the class cannot fit every winner).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from theory.checks import check_count, check_nonnegative

from .._rewards import SelfReward, get_reward
from .._rollouts import Rollouts
from ._decoding import _seed_from_key
from ._encoding import _as_texts, encode_prompts
from ._policy import HFPolicy
from ._scoring import score_tokens
from ._tasks import answer_codes
from ._train import TrainConfig, lora_config

# Rollouts fields a registered reward may need, and whether score_tokens' stats provide them.
_STAT_FIELDS = ("token_entropy", "token_kl_uniform")


def _cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to the first occurrence of any of ``stop`` (what sampling would have kept)."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=len(text))
    return text[:cut]


class TRLReward:
    """A registered self-reward as a TRL reward function, scored by the frozen base model.

    Called by ``GRPOTrainer`` as ``reward(prompts=, completions=, completion_ids=,
    prompt_index=, **kwargs) -> list[float]``: ``prompt_index`` is the dataset column
    :func:`trl_dataset` adds, which says which of ``prompts`` (the strings given here) each
    completion answers. The completions of one prompt form one group of the ``[P, G]``
    :class:`~simulators.Rollouts` the registered reward is applied to, so a reward that is not
    per draw (majority voting) counts votes within each prompt's group, as TTRL does.

    Attributes:
      name: the reward's registered name (TRL logs it as ``rewards/<name>/mean``).
      scorer: the policy that scores, ``pi_base`` (never trained).
      reward: the :class:`~simulators.SelfReward`.
      calls, completions: how many times TRL called it and how many completions it scored (each
        one sample-and-evaluate query of Definition 3.2).
      last_rewards: the values it returned on its last call (float64, in TRL's order).
    """

    def __init__(
        self,
        scorer: HFPolicy,
        reward: str | Callable[[Rollouts], jax.Array] | SelfReward,
        prompts: Sequence[str],
        *,
        answer: Callable[[str], str | None] | None = None,
        stop: Sequence[str] = (),
    ):
        self.reward = get_reward(reward)
        self.name = self.reward.name
        self.__name__ = self.name  # TRL names a function reward by its __name__
        unknown = set(self.reward.needs) - {"answers", *_STAT_FIELDS}
        if unknown:
            raise ValueError(
                f"reward {self.name!r} needs rollouts fields {sorted(unknown)}, which scoring a "
                "completion does not give (it gives answers, token_entropy, token_kl_uniform)"
            )
        if "answers" in self.reward.needs and answer is None:
            raise ValueError(
                f"reward {self.name!r} votes on extracted answers: pass answer=, a function from "
                "a response's text to its final answer (e.g. a task's extract_answer)"
            )
        if answer is not None and not callable(answer):
            raise TypeError(f"answer must be a function text -> answer or None, got {answer!r}")
        self.scorer = scorer
        self.prompts = _as_texts(prompts, "prompts")
        self.prompt_ids = encode_prompts(scorer, self.prompts)
        self.answer = answer
        self.stop = tuple(_as_texts(stop, "stop"))
        self.calls = 0
        self.completions = 0
        self.last_rewards = np.zeros(0)

    def __repr__(self) -> str:
        return f"TRLReward({self.name!r}, {len(self.prompts)} prompts)"

    def rollouts(
        self, prompt_index: Sequence[int], completion_ids: Sequence[Sequence[int]]
    ) -> tuple[Rollouts, np.ndarray]:
        """``(rollouts [P, G], order)``: the completions grouped by prompt and scored by the base.

        ``order[p, g]`` is the position in ``completion_ids`` of the rollouts' sample ``(p, g)``.

        Raises:
          ValueError: an index is not one of the prompts, lengths differ, or (for a reward that
            is not per draw) the prompts' groups differ in size.
        """
        idx = np.asarray(prompt_index)
        if idx.ndim != 1 or len(idx) != len(completion_ids) or idx.dtype.kind not in "iu":
            raise ValueError(
                f"prompt_index must hold one integer per completion ({len(completion_ids)}), "
                f"got {prompt_index!r:.80}"
            )
        if idx.size and (idx.min() < 0 or idx.max() >= len(self.prompts)):
            raise ValueError(f"prompt_index must index the {len(self.prompts)} prompts given")
        if self.reward.per_draw:
            order = np.arange(len(idx))[:, None]  # every draw its own group: no group needed
        else:
            groups = [np.flatnonzero(idx == p) for p in dict.fromkeys(idx.tolist())]
            sizes = sorted({len(g) for g in groups})
            if len(sizes) > 1:
                raise ValueError(
                    f"reward {self.name!r} compares the completions of one prompt, but the groups "
                    f"of this call have sizes {sizes}: each prompt's whole group must come in one "
                    "call (one process, generation batches of whole groups)"
                )
            order = np.stack(groups) if groups else np.zeros((0, 1), np.int64)
        flat = order.ravel()
        stats = any(f in self.reward.needs for f in _STAT_FIELDS)
        scored = score_tokens(
            self.scorer,
            [self.prompt_ids[int(idx[i])] for i in flat],
            [list(completion_ids[i]) for i in flat],
            stats=stats,
            desc="TRL rewards",
        )
        P, G = order.shape
        T = scored["token_logp"].shape[1]
        tokens = np.full((len(flat), T), self.scorer.pad_token_id, np.int64)
        for row, i in enumerate(flat):
            tokens[row, : len(completion_ids[i])] = completion_ids[i]
        fields = dict(
            prompts=jnp.asarray(idx[order[:, 0]] if P else np.zeros(0, np.int64)),
            tokens=jnp.asarray(tokens.reshape(P, G, T)),
            lengths=jnp.asarray(scored["lengths"].reshape(P, G)),
            logp_base=jnp.asarray(scored["logp"].reshape(P, G)),
            token_logp=jnp.asarray(scored["token_logp"].reshape(P, G, T)),
        )
        if stats:
            for f in _STAT_FIELDS:
                fields[f] = jnp.asarray(scored[f].reshape(P, G, T))
        if "answers" in self.reward.needs:
            texts = self.scorer.tokenizer.batch_decode(
                [list(completion_ids[i]) for i in flat], skip_special_tokens=True
            )
            texts = [_cut_at_stop(t, self.stop) for t in texts]
            fields["answers"] = jnp.asarray(
                np.stack(
                    [answer_codes(self.answer, texts[p * G : (p + 1) * G])[0] for p in range(P)]
                )
                if P
                else np.zeros((0, G), np.int32)
            )
        return Rollouts(**fields), order

    def __call__(
        self,
        prompts: Sequence[Any] = (),
        completions: Sequence[Any] = (),
        completion_ids: Sequence[Sequence[int]] = (),
        prompt_index: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        if prompt_index is None:
            raise ValueError(
                "TRLReward needs the dataset column prompt_index (build the dataset with "
                "simulators.hf.trl_dataset)"
            )
        rollouts, order = self.rollouts(prompt_index, completion_ids)
        values = np.asarray(self.reward(rollouts), np.float64)
        if not np.all(np.isfinite(values)):
            bad = int(order.ravel()[np.flatnonzero(~np.isfinite(values.ravel()))[0]])
            raise ValueError(
                f"reward {self.name!r} is not finite ({values.ravel()[order.ravel() == bad][0]}) "
                f"for completion {bad} of the batch; GRPO's advantages need finite rewards"
            )
        out = np.empty(len(completion_ids), np.float64)
        out[order.ravel()] = values.ravel()
        self.calls += 1
        self.completions += len(completion_ids)
        self.last_rewards = out
        return out.tolist()


def as_trl_reward(
    scorer: HFPolicy,
    reward: str | Callable[[Rollouts], jax.Array] | SelfReward,
    prompts: Sequence[str],
    *,
    answer: Callable[[str], str | None] | None = None,
    stop: Sequence[str] = (),
) -> TRLReward:
    """The self-reward ``reward`` (a registered name or function) as a TRL reward function.

    Args:
      scorer: ``pi_base``, the frozen model whose scores define the reward.
      reward: a registered self-reward (``simulators.register_reward``), by name or function.
      prompts: the training prompts (strings); the TRL dataset's ``prompt_index`` indexes them.
      answer: response text -> final answer (or None); required by ``majority``.
      stop: stop strings at which a completion's text is cut before its answer is extracted.

    Raises:
      ValueError: an unknown reward (the message lists the registered ones), or ``majority``
        without ``answer``.
    """
    return TRLReward(scorer, reward, prompts, answer=answer, stop=stop)


def trl_dataset(policy: HFPolicy, prompts: Sequence[str]):
    """A ``datasets.Dataset`` of ``prompt`` and ``prompt_index`` for ``GRPOTrainer``.

    ``prompt`` is the string itself, or one user turn (TRL's conversational form) when
    ``policy.chat``: the two forms TRL encodes as :func:`~simulators.hf.encode_prompts` does,
    which :func:`grpo_sharpening` checks.
    """
    from datasets import Dataset

    texts = _as_texts(prompts, "prompts")
    rows = [[{"role": "user", "content": t}] for t in texts] if policy.chat else texts
    return Dataset.from_dict({"prompt": rows, "prompt_index": list(range(len(texts)))})


def _check_trainer(trainer: Any, policy: HFPolicy, dataset: Any, rewards: Sequence[TRLReward]):
    """Refuses a trainer whose prompt ids or EOS ids differ from the adapter's."""
    if set(trainer.eos_token_ids) != set(policy.eos_token_ids):
        raise ValueError(
            f"TRL would stop generation at token ids {sorted(trainer.eos_token_ids)}, the policy "
            f"at eos_token_ids={policy.eos_token_ids} (TRL adds the tokenizer's eos_token_id); "
            "give the policy eos_token_ids that include it"
        )
    ours = rewards[0].prompt_ids
    theirs = trainer._tokenize_prompts(list(dataset["prompt"]))[0]
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if list(a) != [int(t) for t in b]:
            raise ValueError(
                f"TRL encodes prompt {i} as {list(b)[:12]}..., the adapter as {list(a)[:12]}...: "
                "the rewards would score completions after other tokens than they were sampled "
                "after (pass chat= to the policy to match)"
            )


def _trainable_copy(model: Any) -> Any:
    """A deep copy of ``model`` that ``transformers.Trainer`` agrees to train.

    transformers loads a ``.gguf`` file (the built-in SmolLM2) by dequantizing every tensor into
    ordinary float weights, but keeps a GGUF "quantizer" on the model, which ``Trainer`` refuses
    to train. The weights are plain floats, so the copy drops that mark; any other quantization
    is left for ``Trainer`` to judge.
    """
    model = copy.deepcopy(model)
    quantizer = getattr(model, "hf_quantizer", None)
    if type(quantizer).__name__ == "GgufHfQuantizer":
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    return model


def _step_bar(desc: str):
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class StepBar(TrainerCallback):
        """One tqdm bar over the optimizer steps, with the batch's mean reward."""

        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = tqdm(total=state.max_steps, desc=desc)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "reward" in logs:
                self.bar.set_postfix(reward=f"{logs['reward']:.3g}")

        def on_step_end(self, args, state, control, **kwargs):
            self.bar.update()

        def on_train_end(self, args, state, control, **kwargs):
            self.bar.close()

    return StepBar()


def _online_sharpening(
    algorithm: str,
    key: jax.Array,
    policy: HFPolicy,
    prompts: Sequence[str],
    *,
    reward: str | Callable[[Rollouts], jax.Array] | SelfReward | Sequence = "log_likelihood",
    group_size: int = 4,
    beta: float = 0.0,
    config: TrainConfig | None = None,
    max_new_tokens: int | None = None,
    answer: Callable[[str], str | None] | None = None,
    stop: Sequence[str] = (),
    reward_weights: Sequence[float] | None = None,
    trl_config: Mapping[str, Any] | None = None,
) -> tuple[HFPolicy, dict[str, Any]]:
    """:func:`grpo_sharpening` (``algorithm="grpo"``) or :func:`rloo_sharpening` (``"rloo"``)."""
    import trl
    from transformers.trainer_callback import PrinterCallback

    Config, Trainer = {
        "grpo": (trl.GRPOConfig, trl.GRPOTrainer),
        "rloo": (trl.RLOOConfig, trl.RLOOTrainer),
    }[algorithm]

    group_size = check_count(group_size, "group_size", minimum=2)
    check_nonnegative(beta, "beta")
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    texts = _as_texts(prompts, "prompts")
    if not texts:
        raise ValueError("prompts must contain at least one prompt")
    names = list(reward) if isinstance(reward, (list, tuple)) else [reward]
    if not names:
        raise ValueError("reward must name at least one self-reward")
    funcs = [TRLReward(policy, r, texts, answer=answer, stop=stop) for r in names]
    if reward_weights is not None and len(reward_weights) != len(funcs):
        raise ValueError(
            f"reward_weights must hold one weight per reward ({len(funcs)}), got {reward_weights!r}"
        )
    T = (
        policy.max_new_tokens
        if max_new_tokens is None
        else check_count(max_new_tokens, "max_new_tokens")
    )
    settings = dict(
        num_generations=group_size,
        per_device_train_batch_size=config.batch_size * group_size,
        max_completion_length=T,
        num_train_epochs=config.epochs,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        lr_scheduler_type="linear",
        warmup_steps=0,
        beta=float(beta),
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        min_p=None,
        repetition_penalty=1.0,
        reward_weights=None if reward_weights is None else [float(w) for w in reward_weights],
        use_cpu=policy.device == "cpu",
        bf16=False,
        fp16=False,
        seed=_seed_from_key(key) % 2**31,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,  # TRL's bar prints every log line; ours counts the steps
        log_level="error",
        use_vllm=False,
        # TRL's default recomputes activations (and turns the key-value cache off): memory the
        # models of this toolkit's CPU runs do not need, at about a third more compute
        gradient_checkpointing=False,
    )
    if algorithm == "grpo":
        # Dr. GRPO: group-mean advantages without std scaling, token losses summed / a constant
        settings.update(scale_rewards="none", loss_type="dr_grpo")
    settings.update(trl_config or {})
    dataset = trl_dataset(policy, texts)
    model = _trainable_copy(policy.model)  # TRL wraps its model in LoRA in place
    use_cache = getattr(model.config, "use_cache", True)
    model.generation_config.eos_token_id = list(policy.eos_token_ids)
    with (
        tempfile.TemporaryDirectory(prefix=f"sharpen-{algorithm}-") as out,
        warnings.catch_warnings(),
    ):
        # transformers' own deprecation notices, raised inside TRL's calls (not the user's)
        warnings.filterwarnings("ignore", ".*(gradient|activation)_checkpointing", FutureWarning)
        args = Config(output_dir=os.path.join(out, "trl"), **settings)
        trainer = Trainer(
            model=model,
            reward_funcs=funcs,
            args=args,
            train_dataset=dataset,
            processing_class=copy.deepcopy(policy.tokenizer),
            peft_config=lora_config(model, config),
        )
        trainer.remove_callback(PrinterCallback)
        _check_trainer(trainer, policy, dataset, funcs)
        if policy.progress:
            trainer.add_callback(_step_bar(algorithm.upper()))
        trainer.train()
    peft_model = trainer.model
    if "ref" in getattr(peft_model, "peft_config", {}):
        peft_model.delete_adapter("ref")  # TRL's frozen reference: pi_base, not needed after
    # Back to inference as the policy was: no checkpointing, its own key-value cache setting
    # (TRL turns the cache off with checkpointing, which makes every later sample quadratic).
    inner = peft_model.get_base_model()
    if getattr(inner, "is_activation_checkpointing", False):
        inner.activation_checkpointing_disable()
    inner.config.use_cache = use_cache
    peft_model.to(policy.device)  # TRL's accelerator picks its own device (cuda:0 for cuda:1)
    peft_model.eval()
    trained = dataclasses.replace(policy, model=peft_model)
    rows = [
        {k.replace("/", "_"): v for k, v in entry.items()}
        for entry in trainer.state.log_history
        if "loss" in entry
    ]
    history = pd.DataFrame(rows)
    info = dict(queries=funcs[0].completions, history=history, rewards=funcs)
    return trained, info


_ONLINE_ARGS = """
    Args:
      key: PRNG key (TRL's seed: LoRA initialisation, data order, sampling).
      policy: ``pi_base`` (left unmodified; the scorer of every reward).
      prompts: the training prompts (``config.batch_size`` of them per step).
      reward: a registered self-reward by name or function, or a list of them (summed, with
        ``reward_weights``).
      group_size: ``G`` completions per prompt (>= 2: the advantage compares them).
      beta: KL weight to ``pi_base`` (>= 0; TRL's ``beta``).
      config: LoRA and optimizer settings (default ``TrainConfig()``; ``epochs`` passes over
        the prompts; ``batch_size`` prompts per step, so ``batch_size * G`` completions).
      max_new_tokens: completion length limit (default: the policy's).
      answer, stop: for ``majority`` (see :func:`as_trl_reward`).
      reward_weights: one weight per reward (TRL's ``reward_weights``); default all 1.
      trl_config: further TRL config fields, overriding the defaults of the module docstring.

    Returns:
      ``(pi_hat, info)``: the trained policy (``base_model(pi_hat)`` gives back ``pi_base``) and
      a dict with ``queries`` (completions sampled and scored), ``history`` (a DataFrame per
      logged step: ``step``, ``loss``, ``reward``, ``reward_std``, ``kl``, ``entropy``,
      ``grad_norm``, ``completions_mean_length``, ... as TRL logs them) and ``rewards`` (the
      :class:`TRLReward` objects).

    Raises:
      ValueError: ``group_size < 2``, ``beta < 0``, an unknown reward, ``majority`` without
        ``answer``, weights that do not match the rewards, or a tokenizer TRL encodes otherwise
        than the adapter (the message names the argument).
"""


def rloo_sharpening(key: jax.Array, policy: HFPolicy, prompts: Sequence[str], **kwargs: Any):
    return _online_sharpening("rloo", key, policy, prompts, **kwargs)


def grpo_sharpening(key: jax.Array, policy: HFPolicy, prompts: Sequence[str], **kwargs: Any):
    return _online_sharpening("grpo", key, policy, prompts, **kwargs)


def _signature():
    sig = inspect.signature(_online_sharpening)
    return sig.replace(parameters=list(sig.parameters.values())[1:])  # all but ``algorithm``


rloo_sharpening.__signature__ = grpo_sharpening.__signature__ = _signature()
rloo_sharpening.__doc__ = (
    """Online RLHF-Sharpening with a self-reward: TRL's RLOO trainer with LoRA (Eq. 3 exactly).

    ::

        for each step: x_1..x_B from the prompts; y_{i,1..G} ~ pi_theta(.|x_i)
            s_{i,g} = r_self(y_{i,g} | x_i) - beta log(pi_theta(y_{i,g}|x_i) / pi_base(y_{i,g}|x_i))
            A_{i,g} = s_{i,g} - mean_{g' != g} s_{i,g'}              (leave-one-out baseline)
            theta  += lr * mean_{i,g} A_{i,g} grad log pi_theta(y_{i,g} | x_i)

    The KL enters the reward as the sequence log-ratio, so the expected update is the exact
    policy gradient of ``E_pi[r] - beta KL(pi || pi_base)``: with ``r = log pi_base`` the
    maximizer is ``pi*_beta`` (Eq. 3), the toy :func:`simulators.pg_sharpening` with
    ``advantage="rloo"``.
"""
    + _ONLINE_ARGS
)

grpo_sharpening.__doc__ = (
    """Online policy-gradient sharpening with a self-reward: TRL's GRPO trainer with LoRA.

    ::

        for each step: x_1..x_B from the prompts; y_{i,1..G} ~ pi_theta(.|x_i)
            r_{i,g} = r_self(y_{i,g} | x_i)         (scored by the frozen pi_base)
            A_{i,g} = r_{i,g} - mean_g r_{i,g}
            loss    = sum_{i,g,t} [ -A_{i,g} log pi_theta(y_t | x_i, y_<t)
                                    + beta k3_t(pi_theta, pi_base) ] / constant   (Dr. GRPO)

    With ``beta = 0`` the expected update is the policy gradient of ``E_pi[r]``. With
    ``beta > 0`` it is *not* Eq. 3's: GRPO adds the per-token estimator
    ``k3 = pi_base/pi - log(pi_base/pi) - 1`` to the loss and differentiates it along the
    samples, whose expected gradient is that of ``sum_t KL(pi_base(.|y_<t) || pi_theta(.|y_<t))``,
    the reverse KL token by token, so the limit is not ``pi*_beta`` (the module docstring; the
    identity is checked exactly in ``tests/hf/test_trl.py``). For Eq. 3 use
    :func:`rloo_sharpening`.
"""
    + _ONLINE_ARGS
)
