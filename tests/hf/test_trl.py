"""Self-rewards as TRL reward functions, and GRPO with LoRA through TRL (simulators.hf._trl).

The reward functions are checked against the adapter's own scores of the same completions (and
against the sampler's record of them); the trainer end to end on the tiny random GPT-2, with
SmolLM2-135M from the command line in the slow run.
"""

import dataclasses
import types

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

import simulators  # noqa: E402
from simulators import REWARDS, get_reward  # noqa: E402
from simulators.hf import (  # noqa: E402
    TrainConfig,
    as_trl_reward,
    base_model,
    extract_first_number,
    grpo_sharpening,
    normalize_answer,
    rescore,
    sample_rollouts,
    score_tokens,
    trl_dataset,
)
from simulators.hf._encoding import _responses_of  # noqa: E402
from simulators.hf._trl import _check_trainer  # noqa: E402

PROMPTS = ["1+", "2=", "ab", "9 "]


def flat_draws(tiny, n=3, seed=0):
    """Sampled rollouts [P, n], and TRL's view of them: flat prompt indices and completion ids."""
    rollouts = sample_rollouts(jax.random.key(seed), tiny, PROMPTS, n)
    index = np.repeat(np.arange(len(PROMPTS)), n)
    return rollouts, index, _responses_of(rollouts)


def votes(texts, index, extract):
    """Majority votes by counting: same prompt, same normalized extracted answer."""
    answers = [extract(t) for t in texts]
    keys = [None if a is None else normalize_answer(a) for a in answers]
    return np.array(
        [
            0
            if k is None
            else sum(keys[j] == k and index[j] == index[i] for j in range(len(texts)))
            for i, k in enumerate(keys)
        ],
        float,
    )


@pytest.mark.parametrize("name", sorted(REWARDS))
def test_every_registered_reward_equals_the_adapters_reward_of_the_same_completions(tiny, name):
    rollouts, index, ids = flat_draws(tiny)
    order = np.random.default_rng(1).permutation(len(ids))  # TRL's order need not be grouped
    fn = as_trl_reward(tiny, name, PROMPTS, answer=extract_first_number)
    got = np.array(fn(completion_ids=[ids[i] for i in order], prompt_index=index[order]))
    # the adapter: the same tokens rescored (with per-token statistics), answers of their texts
    ref_rollouts = rescore(tiny, PROMPTS, rollouts)
    texts = tiny.tokenizer.batch_decode(ids, skip_special_tokens=True)
    if name == "majority":
        want = votes(texts, index, extract_first_number)
    else:
        want = np.asarray(get_reward(name)(ref_rollouts), np.float64).ravel()
    np.testing.assert_allclose(got, want[order], rtol=1e-6, atol=1e-6)
    assert fn.calls == 1 and fn.completions == len(ids)
    np.testing.assert_array_equal(fn.last_rewards, got)
    if name == "log_likelihood":
        # and the sampler's own record of log pi_base(y|x) while drawing them
        sampled = np.asarray(rollouts.logp_base, np.float64).ravel()
        np.testing.assert_allclose(got, sampled[order], atol=1e-4)


def test_majority_votes_within_each_prompts_group_on_the_text_cut_at_stop(tiny):
    enc = lambda text: tiny.tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    texts = ["a 12=9", "12", "3=12", " 3", "7", "7 ", "ab", "8=7"]
    index = [0, 0, 0, 0, 1, 1, 1, 1]
    fn = as_trl_reward(tiny, "majority", PROMPTS, answer=extract_first_number, stop=("=",))
    got = fn(completion_ids=[enc(t) for t in texts], prompt_index=index)
    # cut at "=": answers 12, 12, 3, 3 | 7, 7, none, 8
    assert got == [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 0.0, 1.0]
    cut = [t.split("=")[0] for t in texts]
    np.testing.assert_array_equal(got, votes(cut, np.array(index), extract_first_number))


def test_a_users_registered_reward_is_a_trl_reward_by_name(tiny, monkeypatch):
    monkeypatch.setattr(simulators._rewards, "REWARDS", dict(simulators._rewards.REWARDS))

    @simulators.register_reward("test_short", per_draw=True)
    def short(rollouts):
        return -rollouts.lengths.astype(float)

    rollouts, index, ids = flat_draws(tiny)
    got = as_trl_reward(tiny, "test_short", PROMPTS)(completion_ids=ids, prompt_index=index)
    np.testing.assert_array_equal(got, -np.asarray(rollouts.lengths, float).ravel())


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(reward="nope"), ValueError, "nope"),
        (dict(reward="majority"), ValueError, "pass answer="),
        (dict(reward="log_likelihood", answer="x"), TypeError, "answer must be a function"),
    ],
)
def test_as_trl_reward_refuses_bad_arguments(tiny, kwargs, error, message):
    with pytest.raises(error, match=message):
        as_trl_reward(tiny, prompts=PROMPTS, **kwargs)


def test_the_reward_refuses_bad_calls(tiny):
    _, index, ids = flat_draws(tiny)
    fn = as_trl_reward(tiny, "majority", PROMPTS, answer=extract_first_number)
    with pytest.raises(ValueError, match="dataset column prompt_index"):
        fn(completion_ids=ids)
    with pytest.raises(ValueError, match="index the 4 prompts"):
        fn(completion_ids=ids, prompt_index=index + 4)
    with pytest.raises(ValueError, match="one integer per completion"):
        fn(completion_ids=ids, prompt_index=index[:-1])
    with pytest.raises(ValueError, match="groups of this call have sizes"):
        fn(completion_ids=ids[:-1], prompt_index=index[:-1])  # a group cut across processes


def test_grpo_refuses_bad_arguments_before_building_a_trainer(tiny):
    cases = [
        (dict(group_size=1), "group_size must be an integer >= 2"),
        (dict(beta=-0.1), "beta must be >= 0"),
        (dict(reward="majority"), "pass answer="),
        (dict(reward=["log_likelihood"], reward_weights=[1.0, 2.0]), "one weight per reward"),
        (dict(reward=[]), "at least one self-reward"),
        (dict(max_new_tokens=0), "max_new_tokens must be an integer >= 1"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            grpo_sharpening(jax.random.key(0), tiny, PROMPTS, **kwargs)


def test_grpo_refuses_eos_ids_trl_would_not_stop_at(tiny):
    # TRL adds the tokenizer's eos_token_id (0) to the stopping ids; a policy stopping at 5 only
    # would be trained on other completions than it samples
    other = dataclasses.replace(tiny, eos_token_ids=(5,))
    with pytest.raises(ValueError, match="TRL would stop generation at token ids"):
        grpo_sharpening(jax.random.key(0), other, PROMPTS, max_new_tokens=4)


def test_the_trainer_check_refuses_prompt_ids_trl_encodes_otherwise(tiny):
    fn = as_trl_reward(tiny, "log_likelihood", PROMPTS)
    dataset = trl_dataset(tiny, PROMPTS)
    same = types.SimpleNamespace(
        eos_token_ids=list(tiny.eos_token_ids), _tokenize_prompts=lambda p: (fn.prompt_ids,)
    )
    _check_trainer(same, tiny, dataset, [fn])
    shifted = [[0, *ids] for ids in fn.prompt_ids]  # e.g. a BOS TRL adds and the adapter not
    other = types.SimpleNamespace(
        eos_token_ids=list(tiny.eos_token_ids), _tokenize_prompts=lambda p: (shifted,)
    )
    with pytest.raises(ValueError, match="TRL encodes prompt 0 as"):
        _check_trainer(other, tiny, dataset, [fn])


def test_grpo_trains_lora_with_the_toolkits_rewards_and_leaves_the_base_untouched(tiny):
    before = {n: p.detach().clone() for n, p in tiny.model.named_parameters()}
    config = TrainConfig(lora_rank=2, epochs=1, batch_size=2, learning_rate=1e-2)
    trained, info = grpo_sharpening(
        jax.random.key(0),
        tiny,
        PROMPTS,
        reward=["log_likelihood", "negative_entropy"],
        reward_weights=[1.0, 0.5],
        group_size=3,
        beta=0.1,
        config=config,
        max_new_tokens=6,
    )
    history = info["history"]
    assert len(history) == 2  # 4 prompts, 2 per step, one epoch
    assert info["queries"] == 2 * 2 * 3
    llh, ent = info["rewards"]
    assert llh.calls == ent.calls == 2
    # TRL trained on our numbers: its logged batch means are the means of what we returned
    np.testing.assert_allclose(
        history["rewards_log_likelihood_mean"].iloc[-1], llh.last_rewards.mean(), rtol=1e-5
    )
    np.testing.assert_allclose(
        history["reward"].iloc[-1],
        (llh.last_rewards + 0.5 * ent.last_rewards).mean(),
        rtol=1e-5,
    )
    assert {"loss", "kl", "entropy", "grad_norm", "step"} <= set(history.columns)
    # the policy handed in is untouched, and the trained one carries moved LoRA weights
    after = dict(tiny.model.named_parameters())
    assert all(torch.equal(before[n], after[n]) for n in before)
    lora_b = [p for n, p in trained.model.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().max() > 0 for p in lora_b)
    assert not any(".ref." in n for n, _ in trained.model.named_parameters())
    # the trained policy differs from the base, and its base model is the base
    rollouts, index, ids = flat_draws(tiny)
    prompt_ids = [llh.prompt_ids[i] for i in index]
    base = score_tokens(tiny, prompt_ids, ids, stats=False)["logp"]
    with base_model(trained):
        frozen = score_tokens(trained, prompt_ids, ids, stats=False)["logp"]
    moved = score_tokens(trained, prompt_ids, ids, stats=False)["logp"]
    np.testing.assert_allclose(frozen, base, atol=1e-5)
    assert np.max(np.abs(moved - base)) > 1e-3


def test_grpo_is_reproducible_from_its_key(tiny):
    def run():
        config = TrainConfig(lora_rank=2, epochs=1, batch_size=4, learning_rate=1e-2)
        _, info = grpo_sharpening(
            jax.random.key(3), tiny, PROMPTS, group_size=2, config=config, max_new_tokens=4
        )
        return info["rewards"][0].last_rewards

    np.testing.assert_array_equal(run(), run())
