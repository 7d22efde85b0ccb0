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
    rloo_sharpening,
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


@pytest.mark.parametrize("online", [grpo_sharpening, rloo_sharpening])
def test_trl_trains_lora_with_the_toolkits_rewards_and_leaves_the_base_untouched(tiny, online):
    before = {n: p.detach().clone() for n, p in tiny.model.named_parameters()}
    config = TrainConfig(lora_rank=2, epochs=1, batch_size=2, learning_rate=1e-2)
    trained, info = online(
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
    # back to inference as it was: no activation checkpointing, the key-value cache on
    inner = trained.model.get_base_model()
    assert inner.config.use_cache is tiny.model.config.use_cache is True
    assert not inner.is_activation_checkpointing and not trained.model.training
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


@pytest.mark.slow
def test_smollm2_rewards_equal_the_adapters_scores_and_grpo_runs_from_the_command(tmp_path):
    import pandas as pd

    from paper_figs.cli import main
    from simulators.hf import HFPolicy, get_task, task_prompts

    task = get_task("compare", 4)
    policy = HFPolicy.from_pretrained(
        "smollm2-135m", max_new_tokens=16, stop=task.stop, progress=False
    )
    prompts = task_prompts(task)
    rollouts = sample_rollouts(jax.random.key(0), policy, prompts, 3)
    index = np.repeat(np.arange(len(prompts)), 3)
    ids = _responses_of(rollouts)
    scored = rescore(policy, prompts, rollouts)
    for name in ("log_likelihood", "length_normalized", "self_certainty", "negative_entropy"):
        got = as_trl_reward(policy, name, prompts)(completion_ids=ids, prompt_index=index)
        want = np.asarray(get_reward(name)(scored), np.float64).ravel()
        # float32 forward passes over differently composed micro-batches: 1.6e-4 measured
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-3)
    got = as_trl_reward(policy, "log_likelihood", prompts)(completion_ids=ids, prompt_index=index)
    np.testing.assert_allclose(got, np.asarray(rollouts.logp_base).ravel(), atol=1e-3)

    out = str(tmp_path / "grpo")
    rc = main(
        ["sft", "--model", "smollm2-135m", "--task", "compare", "--method", "grpo",
         "--reward", "majority", "--prompts", "2", "--group-size", "2", "--epochs", "1",
         "--train-batch-size", "2", "--eval-n", "1", "--max-new-tokens", "8", "--out", out,
         "--quiet"]
    )  # fmt: skip
    assert rc == 0
    history = pd.read_csv(f"{out}/history.csv")
    assert len(history) == 1 and np.isfinite(history["loss"]).all()


def test_the_kl_terms_of_rloo_and_grpo_have_the_expected_gradients_the_docstring_says():
    # On an enumerable softmax, the expected update of each trainer's KL term, in closed form:
    # RLOO's KL in the reward (score-function gradient) is the gradient of Eq. 3's objective;
    # GRPO's k3 in the loss (pathwise gradient) is the gradient of the *reverse* KL.
    gen = torch.Generator().manual_seed(0)
    theta = torch.randn(6, generator=gen, dtype=torch.float64, requires_grad=True)
    log_ref = torch.log_softmax(torch.randn(6, generator=gen, dtype=torch.float64), 0)
    r, beta = log_ref, 0.5  # r = log pi_base
    logp = torch.log_softmax(theta, 0)
    p = logp.exp().detach()

    def grad(f):
        return torch.autograd.grad(f, theta, retain_graph=True)[0]

    # RLOO: E_y[(s(y) - E s) grad log pi(y)], s = r - beta log(pi/ref), s held fixed
    s = (r - beta * (logp - log_ref)).detach()
    rloo = grad((p * (s - (p * s).sum()) * logp).sum())
    eq3 = grad((logp.exp() * r).sum() - beta * (logp.exp() * (logp - log_ref)).sum())
    torch.testing.assert_close(rloo, eq3, rtol=1e-12, atol=1e-12)
    # GRPO: E_y[grad k3(y)], k3 = rho - log rho - 1 with rho = ref/pi at the sampled y
    rho = (log_ref - logp).exp()
    k3 = grad((p * (rho - torch.log(rho) - 1)).sum())
    reverse = grad((log_ref.exp() * (log_ref - logp)).sum())  # KL(pi_base || pi)
    forward = grad((logp.exp() * (logp - log_ref)).sum())  # KL(pi || pi_base)
    torch.testing.assert_close(k3, reverse, rtol=1e-12, atol=1e-12)
    assert torch.max(torch.abs(k3 - forward)) > 1e-2


@pytest.mark.slow
def test_rloo_through_trl_moves_the_exact_law_of_a_one_token_model_to_pi_star_beta():
    # One new token: the responses are the 17 tokens, so pi_theta's law is exact by scoring
    # them all. With r = log pi_base, RLOO's limit is pi*_beta (Eq. 3).
    from simulators.hf import encode_prompts, tiny_gpt2

    policy = tiny_gpt2(0, chars="0123456789+=ab ", initializer_range=0.3, max_new_tokens=1)
    policy = dataclasses.replace(policy, progress=False)
    V = policy.model.config.vocab_size
    encoded = encode_prompts(policy, PROMPTS)

    def law(pi):
        rows = [[t] for t in range(V)]
        return np.stack([score_tokens(pi, [x] * V, rows, stats=False)["logp"] for x in encoded])

    def kl(lp, lq):
        return float(np.mean(np.sum(np.exp(lp) * (lp - lq), axis=1)))

    beta = 0.5
    base = law(policy)
    star = (1 + 1 / beta) * base
    star -= np.logaddexp.reduce(star, axis=1, keepdims=True)
    config = TrainConfig(
        lora_rank=8, epochs=300, batch_size=4, learning_rate=3e-3, max_grad_norm=1.0,
        target_modules="all-linear",
    )  # fmt: skip
    trained, _ = rloo_sharpening(
        jax.random.key(0), policy, PROMPTS, group_size=16, beta=beta, config=config
    )
    before, after = kl(base, star), kl(law(trained), star)
    assert after < 0.1 * before, (before, after)
