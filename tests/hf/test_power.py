"""The prefix oracle on a transformer (issue 16, item 5): exact log-probabilities, the exact
law of the draws, kept prefixes, stop rules, key-value cache reuse, and the power samplers."""

import dataclasses

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import simulators  # noqa: E402
from simulators.hf import (  # noqa: E402
    HFPolicy,
    PromptedPolicy,
    decode,
    encode_prompts,
    rescore,
    sample_rollouts,
)

PROMPTS = ("1+2=", "ab ab 12+34=", "9")


def as_rollouts(c, x):
    """A Continuation ``[B, T]`` as Rollouts ``[B, 1, T]`` whose prompt ``b`` is ``x[b]``."""
    return simulators.Rollouts(
        prompts=jax.numpy.arange(len(x)),
        tokens=c.tokens[:, None],
        lengths=c.lengths[:, None],
        logp_base=c.token_logp.sum(-1)[:, None],
    )


def direct_stats(policy, prompt_ids, response, tau):
    """``(log p, log q)`` of each response token from one unbatched float64 forward pass."""
    ids = torch.tensor([list(prompt_ids) + list(response)])
    with torch.no_grad():
        logits = policy.model(input_ids=ids).logits[0].double()
    n = len(prompt_ids)
    rows = logits[n - 1 : n - 1 + len(response)]
    at = torch.tensor(response)[:, None]
    logp = torch.log_softmax(rows, -1).gather(-1, at)[:, 0]
    logq = torch.log_softmax(rows / tau, -1).gather(-1, at)[:, 0]
    return logp.numpy(), logq.numpy()


def random_starts(key, lengths):
    return np.asarray(jax.random.randint(key, lengths.shape, 0, np.maximum(lengths, 1)))


@pytest.mark.parametrize("reuse", [True, False])
def test_prefixes_are_kept_and_every_token_has_its_exact_log_probabilities(tiny, reuse):
    pp = PromptedPolicy(tiny, PROMPTS, reuse_cache=reuse)
    x = np.repeat(np.arange(3), 4)
    B, T = len(x), pp.max_new_tokens
    c, cost = simulators.continue_prefix(
        jax.random.key(0), pp, x, np.zeros((B, T), np.int32), 0, None, 0.6
    )
    assert cost.calls == B and cost.tokens == int(np.sum(c.lengths))
    key = jax.random.key(1)
    prompt_ids = encode_prompts(tiny, list(PROMPTS))
    for tau in (0.6, 0.6, 1.0, 0.6):  # a change of temperature recomputes the kept prefix
        key, k_start, k_draw = jax.random.split(key, 3)
        start = random_starts(k_start, np.asarray(c.lengths))
        new, cost = simulators.continue_prefix(k_draw, pp, x, c.tokens, start, T, tau)
        tokens, lengths = np.asarray(new.tokens), np.asarray(new.lengths)
        kept = np.arange(T)[None, :] < start[:, None]
        np.testing.assert_array_equal(tokens[kept], np.asarray(c.tokens)[kept])
        np.testing.assert_array_equal(np.asarray(new.generated), lengths - start)
        assert cost.tokens == int(np.sum(lengths - start))
        for b in range(B):
            L = lengths[b]
            logp, logq = direct_stats(tiny, prompt_ids[x[b]], tokens[b, :L].tolist(), tau)
            np.testing.assert_allclose(np.asarray(new.token_logp)[b, :L], logp, atol=1e-5)
            np.testing.assert_allclose(np.asarray(new.token_logq)[b, :L], logq, atol=1e-5)
            assert np.all(np.asarray(new.token_logp)[b, L:] == 0)
            assert np.all(tokens[b, L:] == tiny.pad_token_id)
        # the oracle's rescoring agrees at float32 precision
        again = rescore(tiny, [PROMPTS[i] for i in x], as_rollouts(new, x))
        np.testing.assert_allclose(
            np.asarray(again.token_logp)[:, 0], np.asarray(new.token_logp), atol=1e-5
        )
        c = new


def exact_two_token_law(policy, prompt, tau):
    """``[1 + 16 * 17]`` law of two-token responses at temperature ``tau`` (EOS = token 0
    first, else the pair ``(y0, y1)``), from raw forward passes."""
    ids = encode_prompts(policy, [prompt])[0]
    V = policy.model.config.vocab_size
    with torch.no_grad():
        first = policy.model(input_ids=torch.tensor([ids])).logits[0, -1].double()
        batch = torch.tensor([ids + [v] for v in range(V)])
        second = policy.model(input_ids=batch).logits[:, -1].double()
    q0 = torch.softmax(first / tau, -1).numpy()
    q1 = torch.softmax(second / tau, -1).numpy()
    law = np.concatenate([[q0[0]], (q0[1:, None] * q1[1:]).reshape(-1)])
    return law, q1


def outcome(tokens, lengths, V):
    tokens = np.asarray(tokens).reshape(-1, tokens.shape[-1])
    lengths = np.asarray(lengths).reshape(-1)
    return np.where(lengths == 1, 0, 1 + (tokens[:, 0] - 1) * V + tokens[:, 1])


def assert_law(counts, law):
    """Pearson's chi-square within 5 standard deviations of its mean (cells with an expected
    count below 5 merged)."""
    N = counts.sum()
    expected = N * law
    small = expected < 5
    obs = np.append(counts[~small], counts[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    chi2 = float(np.sum((obs - exp) ** 2 / np.maximum(exp, 1e-300)))
    df = obs.size - 1
    assert chi2 < df + 5 * np.sqrt(2 * df), (chi2, df)


@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_draws_have_the_exact_law_and_temperature_one_is_sample_rollouts_law(tiny, tau):
    big = dataclasses.replace(tiny, batch_size=4096)
    pp = PromptedPolicy(big, PROMPTS[:1], max_new_tokens=2)
    law, q1 = exact_two_token_law(tiny, PROMPTS[0], tau)
    V, N = q1.shape[0], 4000
    c, _ = simulators.continue_prefix(
        jax.random.key(2), pp, np.zeros(N, np.int32), np.zeros((N, 2), np.int32), 0, None, tau
    )
    assert_law(np.bincount(outcome(c.tokens, c.lengths, V), minlength=law.size), law)
    # a kept first token: the second is drawn from its conditional law
    y0 = np.full((N, 2), 5, np.int32)
    c, _ = simulators.continue_prefix(jax.random.key(3), pp, np.zeros(N, np.int32), y0, 1, 2, tau)
    assert np.all(np.asarray(c.tokens)[:, 0] == 5) and np.all(np.asarray(c.generated) == 1)
    assert_law(np.bincount(np.asarray(c.tokens)[:, 1], minlength=V), q1[5])
    if tau == 1.0:  # the adapter's sampling has the same law
        r = sample_rollouts(jax.random.key(4), big, [PROMPTS[0]], N, max_new_tokens=2)
        assert_law(np.bincount(outcome(r.tokens, r.lengths, V), minlength=law.size), law)


SETTINGS = ((8, True), (3, True), (8, False))  # (micro-batch size, reuse_cache)


@pytest.fixture(scope="module")
def sampler_runs(tiny):
    """Each sampler once per setting (12 rows of 12 tokens throughout: shapes JAX compiles once),
    with what the oracle encoded and reused."""
    x = np.arange(3)
    samplers = {
        "temperature": lambda pp: simulators.temperature_sampler(jax.random.key(11), pp, x, 4, 4.0),
        "bon": lambda pp: simulators.bon_sampler(jax.random.key(12), pp, x, 1, N=4),
        "mh": lambda pp: simulators.mh_sampler(
            jax.random.key(13), pp, x, 4, 4.0, num_steps=2, block_size=4
        ),
        "smc": lambda pp: simulators.smc_sampler(
            jax.random.key(14), pp, x, 1, 4.0, num_particles=4
        ),
    }
    runs = {}
    for batch_size, reuse in SETTINGS:
        hf = dataclasses.replace(tiny, batch_size=batch_size)
        pp = PromptedPolicy(hf, PROMPTS, reuse_cache=reuse)
        for name, run in samplers.items():
            before = pp.cache_stats()
            rollouts, cost = run(pp)
            used = {k: v - before[k] for k, v in pp.cache_stats().items()}
            assert used["calls"].sum() == cost.calls and used["tokens"].sum() == cost.tokens
            runs[batch_size, reuse, name] = (rollouts, cost, used)
    return runs


def test_the_samplers_run_on_the_adapter_with_exact_log_likelihoods(tiny, sampler_runs):
    for name in ("temperature", "bon", "mh", "smc"):
        r, cost, _ = sampler_runs[8, True, name]
        assert r.tokens.shape[::2] == (3, tiny.max_new_tokens), name
        again = rescore(tiny, list(PROMPTS), r)
        np.testing.assert_allclose(
            np.asarray(again.logp_base), np.asarray(r.logp_base), atol=1e-5, err_msg=name
        )
        assert cost.tokens > 0 and cost.calls > 0
    assert len(decode(tiny, sampler_runs[8, True, "mh"][0])) == 3


def test_draws_do_not_depend_on_micro_batches_or_on_what_is_cached(sampler_runs):
    for name in ("temperature", "bon", "mh", "smc"):
        want = sampler_runs[8, True, name][0]
        for setting in SETTINGS[1:]:
            got = sampler_runs[(*setting, name)][0]
            np.testing.assert_array_equal(np.asarray(got.tokens), np.asarray(want.tokens))
            np.testing.assert_allclose(
                np.asarray(got.logp_base), np.asarray(want.logp_base), atol=1e-5
            )


def test_the_cache_is_reused_across_calls(tiny, sampler_runs):
    for name in ("mh", "smc"):
        reused, fresh = sampler_runs[8, True, name][2], sampler_runs[8, False, name][2]
        assert reused["tokens_encoded"] < fresh["tokens_encoded"] / 2, name
        assert reused["queries"] == fresh["queries"]
    # SMC's one-token extensions: each prompt encoded once, then (about) one token per draw
    _, cost, used = sampler_runs[8, True, "smc"]
    prompt_tokens = sum(len(p) for p in encode_prompts(tiny, list(PROMPTS)))
    assert cost.tokens <= used["tokens_encoded"] <= prompt_tokens + 12 + cost.tokens


def test_responses_end_at_eos_and_stop_strings_and_ended_prefixes_stay_ended(tiny):
    stop = ("a",)
    pp = PromptedPolicy(tiny, PROMPTS, stop=stop)
    x = np.repeat(np.arange(3), 4)
    B, T = len(x), pp.max_new_tokens
    c, _ = simulators.continue_prefix(
        jax.random.key(8), pp, x, np.zeros((B, T), np.int32), 0, None, 1.0
    )
    tokens, lengths = np.asarray(c.tokens), np.asarray(c.lengths)
    a = tiny.tokenizer.convert_tokens_to_ids("a")
    eos = tiny.eos_token_ids[0]
    hit = [b for b in range(B) if a in tokens[b, : lengths[b]].tolist()]
    ended = [b for b in range(B) if lengths[b] < T]
    assert hit and ended
    for b in ended:  # ends at its first EOS or right after its first "a", as sampling does
        first = tokens[b, : lengths[b]].tolist()
        assert first[-1] in (a, eos) and a not in first[:-1] and eos not in first[:-1]
    # continuing a response that has ended draws nothing: the prefix is cut where it ended
    again, cost = simulators.continue_prefix(jax.random.key(9), pp, x, c.tokens, lengths, T, 1.0)
    assert np.all(np.asarray(again.generated)[ended] == 0)
    np.testing.assert_array_equal(np.asarray(again.tokens)[ended], tokens[ended])
    longer = tokens.copy()
    for b in ended:  # tokens after the end are not part of the prefix
        longer[b, lengths[b] :] = 7
    cut, _ = simulators.continue_prefix(jax.random.key(9), pp, x, longer, T, T, 1.0)
    np.testing.assert_array_equal(np.asarray(cut.lengths)[ended], lengths[ended])
    np.testing.assert_array_equal(
        np.asarray(cut.token_logp)[ended], np.asarray(c.token_logp)[ended]
    )
    # sample_rollouts ends responses by the same rule
    r = sample_rollouts(jax.random.key(10), tiny, list(PROMPTS), 4, stop=stop)
    texts = [t for row in decode(tiny, r) for t in row]
    assert all("a" not in t[:-1] for t in texts)


def test_bad_arguments_are_refused_by_name(tiny):
    with pytest.raises(TypeError, match="policy"):
        PromptedPolicy("gpt2", PROMPTS)
    with pytest.raises(ValueError, match="prompts"):
        PromptedPolicy(tiny, ())
    with pytest.raises(TypeError, match="prompts"):
        PromptedPolicy(tiny, (1, 2))
    with pytest.raises(ValueError, match="max_new_tokens"):
        PromptedPolicy(tiny, PROMPTS, max_new_tokens=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        PromptedPolicy(tiny, PROMPTS, max_new_tokens=10**6)  # past the model's positions
    with pytest.raises(ValueError, match="stop"):
        PromptedPolicy(tiny, PROMPTS, stop=("",))
    with pytest.raises(TypeError, match="reuse_cache"):
        PromptedPolicy(tiny, PROMPTS, reuse_cache=1)
    pp = PromptedPolicy(tiny, PROMPTS)
    assert pp.num_prompts == 3 and simulators.PrefixOracle(pp).horizon == tiny.max_new_tokens
    x, T = np.repeat(np.arange(3), 4), pp.max_new_tokens
    with pytest.raises(ValueError, match="prompts"):
        simulators.continue_prefix(jax.random.key(0), pp, x + 1, np.zeros((12, T), np.int32), 0)
    bad = np.full((12, T), 10**6, np.int32)
    with pytest.raises(ValueError, match="tokens"):
        simulators.continue_prefix(jax.random.key(0), pp, x, bad, 2)
    assert isinstance(pp.policy, HFPolicy)


@pytest.mark.slow
def test_smollm2_mh_and_smc_record_exact_log_likelihoods():
    from simulators.hf import get_task, task_prompts

    task = get_task("arithmetic", 2, seed=0)
    hf = HFPolicy.from_pretrained("smollm2-135m", max_new_tokens=12, stop=task.stop, progress=False)
    pp = PromptedPolicy(hf, tuple(task_prompts(task)))
    x = np.arange(2)
    for r, _ in (
        simulators.mh_sampler(jax.random.key(0), pp, x, 1, 4.0, num_steps=2, block_size=6),
        simulators.smc_sampler(jax.random.key(1), pp, x, 1, 4.0, num_particles=3),
    ):
        again = rescore(hf, list(pp.prompts), r)
        np.testing.assert_allclose(
            np.asarray(again.token_logp), np.asarray(r.token_logp), atol=1e-4
        )


POWER = ["power", "--model", "tiny-gpt2", "--task", "compare", "--prompts", "2", "--samples",
         "1", "--max-new-tokens", "6", "--quiet"]  # fmt: skip


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--alpha", "0"], "--alpha values must be finite and > 0"),
        (["--alpha", "4,x"], "--alpha must be comma-separated numbers"),
        (["--sampler", "mh,gibbs"], "--sampler must name samplers of mh, smc, temperature, bon"),
        (["--sampler", "mh,mh"], "--sampler names must be distinct"),
        (["--budget-tokens", "0"], "--budget-tokens values must be finite and >= 1"),
        (["--samples", "0"], "--samples must be an integer >= 1"),
        (["--mh-block-size", "0"], "--mh-block-size must be an integer >= 1"),
        (["--ess-threshold", "1.5"], "--ess-threshold must lie in (0, 1]"),
        (["--max-new-tokens", "2000"], "512 positions"),
    ],
)
def test_sharpen_power_checks_arguments_before_loading_the_model(
    extra, message, tmp_path, monkeypatch, capsys
):
    from paper_figs.cli import main
    from paper_figs.real_models import power as _cli

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(_cli, "load_policy", never)
    monkeypatch.setenv("XLA_FLAGS", __import__("os").environ.get("XLA_FLAGS", ""))
    out = tmp_path / "power"
    assert main([*POWER, "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_the_budgets_set_the_knobs():
    from paper_figs.real_models.power import knobs

    assert knobs("bon", [64, 128, 256], 32, 16) == [2, 4, 8]
    assert knobs("smc", [16, 64], 32, 16) == [1, 2]  # at least one particle
    assert knobs("mh", [64, 256, 1024], 32, 16) == [1, 2, 7]  # T + K T (blocks + 1) / 4
    assert knobs("temperature", [64, 256], 32, 16) == [None]


@pytest.mark.parametrize(
    "model", ["tiny-gpt2", pytest.param("smollm2-135m", marks=pytest.mark.slow)]
)
def test_sharpen_power_writes_tidy_tables_and_the_figure(model, tmp_path, monkeypatch, capsys):
    import json
    import os

    import pandas as pd

    from paper_figs.cli import main

    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))
    out = str(tmp_path / "power")
    args = ["power", "--model", model, "--task", "arithmetic", "--prompts", "2", "--samples", "2",
            "--max-new-tokens", "6", "--budget-tokens", "6,12", "--threads", "1", "--quiet",
            "--out", out]  # fmt: skip
    assert main(args) == 0
    power = pd.read_csv(os.path.join(out, "power.csv"))
    # one row per prompt x sampler x setting: mh K=1; smc M=1, 2; temperature; bon N=1, 2
    assert len(power) == 2 * 6 and set(power["sampler"]) == {"mh", "smc", "temperature", "bon"}
    assert {"accuracy", "logp", "tokens_per_output", "calls_per_output"} <= set(power.columns)
    assert (power["tokens_per_output"] > 0).all()
    samples = pd.read_csv(os.path.join(out, "samples.csv"))
    assert len(samples) == 2 * 6 * 2
    mean = pd.read_csv(os.path.join(out, "power_mean.csv"))
    assert len(mean) == 6 and mean["logp"].notna().all()
    assert os.path.getsize(os.path.join(out, "power_vs_tokens.png")) > 0
    run = json.load(open(os.path.join(out, "run.json")))
    assert run["tokens_reused"] > 0 and len(run["runs"]) == 6
    assert f"{model} on arithmetic" in capsys.readouterr().out
