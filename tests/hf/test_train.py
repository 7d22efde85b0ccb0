"""LoRA sharpening of a transformer: losses, adapters, SFT/RLHF/XPO runs, evaluation."""

import dataclasses

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import simulators  # noqa: E402
from simulators import squared_loss_residual  # noqa: E402
from simulators.hf import (  # noqa: E402
    Task,
    TrainConfig,
    add_lora,
    base_model,
    evaluate,
    format_prompt,
    rescore,
    rlhf_sharpening,
    sample_rollouts,
    sft_sharpening,
    xpo_sharpening,
)

PROMPTS = ["1+", "2=", "ab", "9 "]


def lora_params(policy):
    return {n: p.detach().clone() for n, p in policy.model.named_parameters() if "lora_" in n}


def test_the_shared_eq8_residual_works_on_torch_tensors_with_gradients():
    # the LoRA learners minimize the toy learners' residual (Eq. 8) on torch sequence log-probs
    logp_base = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    beta = 0.5
    tilted = (1 + 1 / beta) * logp_base
    tilted -= np.logaddexp.reduce(tilted)  # pi*_beta ∝ pi_base^(1 + 1/beta), Eq. 3
    y, y2 = (a.ravel() for a in np.meshgrid(np.arange(4), np.arange(4)))
    logp = torch.tensor(tilted, dtype=torch.float64, requires_grad=True)
    res = squared_loss_residual(logp[y], logp[y2], torch.tensor(logp_base[y]),
                                torch.tensor(logp_base[y2]), beta)  # fmt: skip
    np.testing.assert_allclose(res.detach().numpy(), 0.0, atol=1e-12)
    np.testing.assert_allclose(
        res.detach().numpy(),
        np.asarray(squared_loss_residual(tilted[y], tilted[y2], logp_base[y], logp_base[y2], beta)),
        atol=1e-12,
    )
    (res**2).sum().backward()
    np.testing.assert_allclose(logp.grad.numpy(), 0.0, atol=1e-12)


def test_add_lora_starts_at_the_base_and_leaves_it_untouched(tiny):
    before = {n: p.detach().clone() for n, p in tiny.model.named_parameters()}
    lora = add_lora(jax.random.key(0), tiny, TrainConfig(lora_rank=2))
    assert lora_params(lora) and not lora_params(tiny)
    xs, ys = ["12", "ab ab"], ["3+4", ""]
    np.testing.assert_allclose(
        simulators.log_prob(lora, xs, ys), simulators.log_prob(tiny, xs, ys), atol=1e-6
    )
    for n, p in tiny.model.named_parameters():
        assert torch.equal(p, before[n])


def test_sft_sharpening_raises_the_base_likelihood_of_its_samples(tiny):
    policy = dataclasses.replace(tiny, max_new_tokens=6, batch_size=64)
    config = TrainConfig(
        lora_rank=4,
        target_modules=("c_attn", "c_proj", "c_fc"),
        learning_rate=2e-2,
        epochs=25,
        batch_size=4,
        max_grad_norm=1.0,
    )
    trained, info = sft_sharpening(jax.random.key(1), policy, PROMPTS, n=8, config=config)
    assert info["queries"] == len(PROMPTS) * 8
    assert len(info["history"]) == 25
    assert all(float(v.abs().max()) > 0 for n, v in lora_params(trained).items() if "lora_B" in n)
    # base log-likelihood of samples: trained model vs base model (64 draws per prompt each)
    key_a, key_b = jax.random.split(jax.random.key(2))
    base_draws = sample_rollouts(key_a, policy, PROMPTS, 64)
    new_draws = sample_rollouts(key_b, trained, PROMPTS, 64)
    with base_model(trained):
        new_under_base = rescore(trained, PROMPTS, new_draws)
    a = np.asarray(base_draws.logp_base).ravel()
    b = np.asarray(new_under_base.logp_base).ravel()
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert b.mean() - a.mean() > 5 * se, (a.mean(), b.mean(), se)
    # the adapters switch off cleanly: inside base_model the trained policy is the base again
    with base_model(trained):
        again = rescore(trained, PROMPTS, base_draws)
    np.testing.assert_allclose(
        np.asarray(again.logp_base), np.asarray(base_draws.logp_base), atol=1e-4
    )


def test_rlhf_and_xpo_sharpening_run_and_count_queries(tiny):
    policy = dataclasses.replace(tiny, max_new_tokens=5)
    config = TrainConfig(lora_rank=2, learning_rate=1e-2, epochs=2, batch_size=2)
    trained, info = rlhf_sharpening(jax.random.key(3), policy, PROMPTS, beta=0.5, config=config)
    assert info["queries"] == 2 * len(PROMPTS) and len(info["history"]) == 4
    assert np.all(np.isfinite(info["history"]["loss"]))
    assert any(float(v.abs().max()) > 0 for n, v in lora_params(trained).items() if "lora_B" in n)
    trained, info = xpo_sharpening(
        jax.random.key(4),
        policy,
        PROMPTS,
        beta=0.5,
        alpha=0.1,
        rounds=3,
        prompts_per_round=2,
        steps_per_round=2,
        config=config,
    )
    # per round: 2 on-policy draws evaluated under the base + 2 base draws; plus the final estimate
    assert info["queries"] == 3 * 4 + 2
    assert list(info["rounds"]["round"]) == [0, 1, 2, 3]
    assert info["best_j_beta"] == info["rounds"]["j_beta"].max()


def test_evaluate_reports_base_likelihood_of_samples(tiny):
    task = Task(name="digits", questions=("1", "2"), answers=("3", "4"), stop=())
    df = evaluate(jax.random.key(5), tiny, task, n=3).set_index("metric")["value"]
    assert set(df.index) >= {"greedy_accuracy", "sample_accuracy", "sample_base_logp"}
    # for the base model itself, "under the base" and "under itself" coincide
    np.testing.assert_allclose(df["sample_base_logp"], df["sample_own_logp"], atol=1e-4)
    assert df["sample_entropy"] == -df["sample_own_logp"]
    # the token entropy is the mean over real tokens of the sampled rows' next-token entropies
    s = sample_rollouts(
        jax.random.key(5), tiny, [format_prompt(task, q) for q in task.questions], 3
    )
    mask = np.arange(s.tokens.shape[-1]) < np.asarray(s.lengths)[..., None]
    want = np.asarray(s.token_entropy)[mask].mean()
    np.testing.assert_allclose(df["sample_token_entropy"], want, rtol=1e-6)
    assert 0 < want < np.log(tiny.model.config.vocab_size)


def test_train_config_rejects_bad_values():
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig(learning_rate=0.0)
    with pytest.raises(ValueError, match="lora_rank"):
        TrainConfig(lora_rank=0)


def test_xpo_takes_one_prompt_string_as_one_prompt(tiny, monkeypatch):
    from simulators.hf import _train

    seen = []
    original = _train.sample_rollouts

    def spy(key, policy, xs, n, **kwargs):
        seen.extend(xs)
        return original(key, policy, xs, n, **kwargs)

    monkeypatch.setattr(_train, "sample_rollouts", spy)
    prompt = "What is 1+1?"
    _, info = xpo_sharpening(
        jax.random.key(0), tiny, prompt, rounds=1, prompts_per_round=2, steps_per_round=1,
        config=TrainConfig(lora_rank=2), max_new_tokens=2,
    )  # fmt: skip
    assert seen and set(seen) == {prompt}  # never its characters
    assert info["queries"] == 3 * 2
    with pytest.raises(ValueError, match="prompts must contain at least one prompt"):
        xpo_sharpening(jax.random.key(0), tiny, [], rounds=1)
    with pytest.raises(TypeError, match="prompts"):
        xpo_sharpening(jax.random.key(0), tiny, [1, 2], rounds=1)


def test_training_log_likelihoods_refuse_responses_that_continue_after_eos(tiny):
    # Sampling never continues after EOS: such a response has probability 0 (scored -inf by
    # score_tokens), so the differentiable log-likelihood refuses it instead of training on it.
    from simulators.hf import sequence_log_probs

    a = tiny.tokenizer.convert_tokens_to_ids("a")
    ok = sequence_log_probs(tiny, [[a], [a]], [[a, 0], [a, a]])
    assert torch.isfinite(ok).all()
    with pytest.raises(ValueError, match=r"response_ids\[1\] holds token .* at position 2, after"):
        sequence_log_probs(tiny, [[a], [a]], [[a], [a, 0, a]])
