"""The vLLM backend: HFPolicy's conventions on a vLLM engine, and its log-probabilities exact.

Two kinds of tests. The default suite checks the backend's own logic without an engine: the
sampling parameters (every processor off, raw log-probabilities), the seeds, the stop rules and
continuation, scoring through prompt log-probabilities and the worker's protocol, against a fake
engine that answers with the tiny GPT-2's exact law; and the argument checks and the reasons the
backend cannot run. The tests marked ``slow`` start real engines on the built-in SmolLM2-135M
(``make test-slow``, which creates ``.venv-vllm``) and compare with :class:`HFPolicy`'s exact
scoring of the same tokens; where no environment with vLLM exists they skip, saying why.
"""

import dataclasses
import importlib.util
import json
import os
import sys

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import simulators  # noqa: E402
from simulators.hf import (  # noqa: E402
    HFPolicy,
    VLLMPolicy,
    VLLMUnavailable,
    _vllm,
    _vllm_engine,
    add_token_stats,
    decode,
    encode_prompts,
    engine_python,
    rescore,
    score_tokens,
    vllm_score_tokens,
    vllm_unavailable_reason,
)

PROMPTS = ["1+2=", "ab ab 12+34=", "9"]


# --------------------------------------------------------------------------------------------
# A fake engine: vLLM's replies computed from the tiny GPT-2 itself


class LawEngine:
    """Answers the worker's ``generate`` messages as vLLM would, from an HFPolicy's model.

    Sampling requests draw from the raw softmax with a generator seeded by the request's seed
    and stop like vLLM (at a stop token, kept; at ``max_tokens``; at a stop string in the decoded
    text of the output, when ``stop`` is given); prompt log-probability requests return the
    exact log-probabilities. Records every request.
    """

    version = "fake"

    def __init__(self, hf: HFPolicy, stop_late: int = 0):
        self.hf, self.requests, self.stop_late = hf, [], stop_late

    def close(self):
        pass

    def _logp(self, ids):
        with torch.no_grad():
            logits = self.hf.model(input_ids=torch.tensor([ids])).logits[0].double()
        return torch.log_softmax(logits, -1)

    def generate(self, prompts, params):
        out = []
        for ids, p in zip(prompts, params, strict=True):
            self.requests.append((list(ids), dict(p)))
            if p.get("prompt_logprobs") is not None:
                logp = self._logp(ids)
                values = [float(logp[t - 1, ids[t]]) for t in range(1, len(ids))]
                out.append(
                    {"completions": [([0], [0.0], "length", None)], "prompt_logprobs": values}
                )
                continue
            gen = torch.Generator().manual_seed(p.get("seed", 0))
            toks, lps, reason, stop_reason, late = [], [], "length", None, None
            while len(toks) < p["max_tokens"]:
                logp = self._logp(list(ids) + toks)[-1]
                if p["temperature"] == 0:
                    tok = int(logp.argmax())
                else:
                    tok = int(torch.multinomial(logp.exp(), 1, generator=gen))
                toks.append(tok)
                lps.append(float(logp[tok]))
                if tok in p["stop_token_ids"]:
                    reason, stop_reason = "stop", tok
                    break
                text = self.hf.tokenizer.decode(toks)
                if late is None and any(s in text for s in p.get("stop") or ()):
                    late = self.stop_late  # a stop string found: end now, or a few tokens later
                if late is not None:
                    if late == 0:
                        reason, stop_reason = "stop", next(s for s in p["stop"] if s in text)
                        break
                    late -= 1
            out.append({"completions": [(toks, lps, reason, stop_reason)], "prompt_logprobs": None})
        return out


def fake_policy(tiny, engine=None, **settings):
    """A VLLMPolicy over the tiny GPT-2's tokenizer whose engine is ``engine`` (a LawEngine)."""
    fields = dict(
        tokenizer=tiny.tokenizer,
        model_path="tiny",
        vocab_size=int(tiny.model.config.vocab_size),
        context_length=int(tiny.model.config.n_positions),
        max_new_tokens=tiny.max_new_tokens,
        eos_token_ids=tiny.eos_token_ids,
        pad_token_id=tiny.pad_token_id,
        chat=False,
        progress=False,
    )
    fields.update(settings)
    return VLLMPolicy(engine=engine or LawEngine(tiny), **fields)


# --------------------------------------------------------------------------------------------
# Default suite: logic, checks and the reasons the backend cannot run


def test_sampling_parameters_turn_every_processor_off():
    policy = type("P", (), {"eos_token_ids": (2, 7)})()
    p = _vllm._sampling_params(policy, 16, ("\n",), 123)
    assert p["temperature"] == 1.0 and p["top_p"] == 1.0 and p["top_k"] == 0 and p["min_p"] == 0
    assert p["repetition_penalty"] == 1.0 and p["presence_penalty"] == p["frequency_penalty"] == 0
    assert p["min_tokens"] == 0 and p["max_tokens"] == 16 and p["seed"] == 123
    # vLLM's own EOS is ignored: the policy's EOS ids are the stop tokens (kept in the output)
    assert p["ignore_eos"] and p["stop_token_ids"] == [2, 7]
    assert p["logprobs"] == 0 and p["stop"] == ["\n"] and p["include_stop_str_in_output"]
    assert not p["skip_special_tokens"] and p["detokenize"]
    g = _vllm._sampling_params(policy, 4, (), None)
    assert g["temperature"] == 0.0 and "seed" not in g and "stop" not in g and not g["detokenize"]


def test_seeds_depend_on_the_key_the_prompt_and_the_draw_only():
    key = jax.random.key(3)
    small, large = _vllm._draw_seeds(key, 2, 3), _vllm._draw_seeds(key, 4, 5)
    np.testing.assert_array_equal(small, large[:2, :3])
    assert len(np.unique(large)) == large.size and large.max() < 2**63
    other = _vllm._draw_seeds(jax.random.key(4), 4, 5)
    assert not np.intersect1d(other, large).size
    raw = _vllm._draw_seeds(jax.random.wrap_key_data(jax.random.key_data(key)), 2, 3)
    np.testing.assert_array_equal(raw, small)
    assert not np.intersect1d(_vllm._next_seeds(large, 1), large).size


def test_draws_follow_the_adapter_conventions_and_law(tiny):
    policy = fake_policy(tiny)
    r = simulators.sample(jax.random.key(0), policy, PROMPTS, 6)
    lengths, tokens = np.asarray(r.lengths), np.asarray(r.tokens)
    assert (lengths < tiny.max_new_tokens).any() and (lengths == tiny.max_new_tokens).any()
    for p, n in np.ndindex(lengths.shape):
        L = lengths[p, n]
        assert np.all(tokens[p, n, L:] == tiny.pad_token_id)
        assert 0 not in tokens[p, n, : L - 1].tolist()
    # the recorded log-probabilities are the law's: HFPolicy scores the same tokens the same
    again = rescore(tiny, PROMPTS, r)
    np.testing.assert_allclose(np.asarray(again.logp_base), np.asarray(r.logp_base), atol=1e-4)
    assert r.token_entropy is None and r.token_kl_uniform is None
    # one scoring pass adds the statistics, keeping the sampled log-probabilities
    full = add_token_stats(r, tiny)
    np.testing.assert_allclose(np.asarray(full.token_entropy), np.asarray(again.token_entropy))
    np.testing.assert_array_equal(np.asarray(full.logp_base), np.asarray(r.logp_base))
    np.testing.assert_array_equal(np.asarray(r.prompt_tokens), np.asarray(again.prompt_tokens))
    # one request per draw, seeded from the key, prompts encoded as HFPolicy encodes them
    requests = policy.engine.requests
    assert len(requests) == len(PROMPTS) * 6
    enc = encode_prompts(tiny, PROMPTS)
    assert [ids for ids, _ in requests] == [enc[p] for p in range(3) for _ in range(6)]
    assert len({params["seed"] for _, params in requests}) == len(requests)


def test_stop_strings_end_where_the_adapter_rule_does_and_late_stops_are_cut(tiny):
    # The fake engine stops 2 tokens after the stop string: the draws are cut at the adapter's
    # rule, and the greedy tokens equal HFPolicy's greedy decoding with the same stop strings.
    policy = fake_policy(tiny, LawEngine(tiny, stop_late=2))
    stop = ("1", "a ")
    g = simulators.greedy(policy, PROMPTS, stop=stop)
    h = simulators.greedy(tiny, PROMPTS, stop=stop)
    np.testing.assert_array_equal(np.asarray(g.tokens), np.asarray(h.tokens))
    np.testing.assert_array_equal(np.asarray(g.lengths), np.asarray(h.lengths))
    np.testing.assert_allclose(np.asarray(g.logp_base), np.asarray(h.logp_base), atol=1e-5)
    r = simulators.sample(jax.random.key(1), policy, PROMPTS, 8, stop=stop)
    for p, row in enumerate(decode(policy, r)):
        for n, text in enumerate(row):
            L = int(r.lengths[p, n])
            ended = int(r.tokens[p, n, L - 1]) == 0 or L == tiny.max_new_tokens
            assert ended or any(text.endswith(s) for s in stop)
            assert not any(s in text[:-1] for s in stop if len(s) == 1)


def test_a_draw_vllm_ended_early_is_continued(tiny, monkeypatch):
    # vLLM's own stop-string check ends a draw where the adapter's rule sees none (here: the
    # rule never fires): the draw goes on from its tokens with a new seed, to max_new_tokens.
    policy = fake_policy(tiny)
    monkeypatch.setattr(_vllm, "stop_reached", lambda tokenizer, history, stop: False)
    r = simulators.sample(jax.random.key(2), policy, ["1+"], 4, stop=("1",))
    lengths = np.asarray(r.lengths)
    eos = np.asarray(r.tokens)[0, np.arange(4), lengths[0] - 1] == 0
    assert np.all(eos | (lengths[0] == tiny.max_new_tokens))
    continued = [(ids, p) for ids, p in policy.engine.requests if len(ids) > 2]
    assert continued and all(p["max_tokens"] < tiny.max_new_tokens for _, p in continued)
    again = rescore(tiny, ["1+"], r)
    np.testing.assert_allclose(np.asarray(again.logp_base), np.asarray(r.logp_base), atol=1e-4)


def test_scoring_reads_prompt_log_probabilities_with_the_adapter_conventions(tiny):
    policy = fake_policy(tiny)
    enc = encode_prompts(tiny, PROMPTS)
    responses = [[3, 4, 0], [], [5, 0, 6]]  # stops; empty; continues after EOS (-inf)
    got = vllm_score_tokens(policy, enc, responses, width=4)
    want = score_tokens(tiny, enc, responses, width=4, stats=False)
    np.testing.assert_allclose(got["token_logp"], want["token_logp"], atol=1e-5)
    assert got["logp"][2] == -np.inf and got["logp"][1] == 0
    # two EOS ids: a response ending with one scores the probability of stopping at either
    two = dataclasses.replace(tiny, eos_token_ids=(0, 3))
    fake_two = fake_policy(tiny, eos_token_ids=(0, 3))
    texts = ["12", "a", ""]
    np.testing.assert_allclose(
        simulators.log_prob(fake_two, PROMPTS, texts), simulators.log_prob(two, PROMPTS, texts)
    )


def test_the_worker_protocol_round_trip(tmp_path):
    spec = importlib.util.spec_from_file_location("vllm_worker", _vllm_engine.WORKER)
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)

    class Logprob:
        def __init__(self, v):
            self.logprob = v

    class Completion:
        token_ids, finish_reason, stop_reason = [5, 2], "stop", 2
        logprobs = [{5: Logprob(-0.5), 9: Logprob(-1.0)}, {2: Logprob(-0.25)}]

    class Output:
        outputs = [Completion()]
        prompt_logprobs = [None, {4: Logprob(-3.0)}, {7: Logprob(-2.0)}]

    class LLM:
        def generate(self, prompts, params, use_tqdm):
            assert prompts == [{"prompt_token_ids": [1, 4, 7]}] and params == [{"seed": 1}]
            return [Output()]

    message = {"op": "generate", "prompts": [[1, 4, 7]], "params": [{"seed": 1}]}
    reply = worker._generate(LLM(), lambda **kw: kw, lambda **kw: kw, message)
    out = reply["outputs"][0]
    assert out["completions"] == [([5, 2], [-0.5, -0.25], "stop", 2)]
    assert out["prompt_logprobs"] == [-3.0, -2.0]
    path = tmp_path / "m"
    with open(path, "wb") as f:
        worker._write(f, reply)
    with open(path, "rb") as f:
        assert _vllm_engine._read_message(f) == reply


def test_an_engine_that_cannot_start_says_why(tmp_path):
    # This environment has no vllm: the worker reports the import error, and nothing hangs.
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("this environment has vllm")
    engine = _vllm_engine._Engine(sys.executable, {"model": "x"}, dict(os.environ))
    with pytest.raises(VLLMUnavailable, match="No module named 'vllm'"):
        engine.start()
    assert not engine.running


def test_the_engine_python_is_found_or_the_reason_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv(_vllm_engine.PYTHON_VARIABLE, str(tmp_path / "missing"))
    with pytest.raises(VLLMUnavailable, match="SHARPEN_VLLM_PYTHON"):
        engine_python()
    assert "SHARPEN_VLLM_PYTHON" in vllm_unavailable_reason()
    assert engine_python(sys.executable) == sys.executable
    if importlib.util.find_spec("vllm") is None:
        assert "cannot import vllm" in vllm_unavailable_reason(sys.executable)
    monkeypatch.delenv(_vllm_engine.PYTHON_VARIABLE)
    monkeypatch.setattr(_vllm_engine, "_REPO_ROOT", str(tmp_path))
    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(VLLMUnavailable, match="make vllm"):
            engine_python()


def test_from_pretrained_refuses_bad_arguments_before_starting(tiny, tiny_folder, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the engine must not start")

    monkeypatch.setattr(_vllm._Engine, "start", never)
    monkeypatch.setattr(_vllm, "engine_python", lambda python=None: sys.executable)
    cases = [
        (dict(device="mps"), "device"),
        (dict(gpu_memory_utilization=1.5), "gpu_memory_utilization"),
        (dict(kv_cache_gib=0), "kv_cache_gib"),
        (dict(threads=0), "threads"),
        (dict(max_model_len=10**6), "max_model_len"),
        (dict(max_new_tokens=0), "max_new_tokens"),
        (dict(eos_token_ids=(10**6,)), "eos_token_ids"),
        (dict(stop=("",)), "stop"),
    ]
    for kwargs, name in cases:
        with pytest.raises((ValueError, TypeError), match=name):
            VLLMPolicy.from_pretrained(tiny_folder, **kwargs)
    with pytest.raises(ValueError, match="does not exist|none of these"):
        VLLMPolicy.from_pretrained(str(tiny_folder / "missing"))


def test_settings_are_checked_on_replace(tiny):
    policy = fake_policy(tiny)
    with pytest.raises(ValueError, match="batch_size"):
        dataclasses.replace(policy, batch_size=0)
    with pytest.raises(ValueError, match="pad_token_id"):
        dataclasses.replace(policy, pad_token_id=-1)
    with pytest.raises(ValueError, match="positions"):
        simulators.sample(jax.random.key(0), policy, PROMPTS, 1, max_new_tokens=10**4)
    with pytest.raises(ValueError, match="vocabulary"):
        vllm_score_tokens(policy, [[1]], [[10**4]])


def test_sharpen_bon_backend_vllm_refuses_what_it_cannot_run(
    tiny_folder, tmp_path, capsys, monkeypatch
):
    from paper_figs.cli import main

    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))
    base = ["bon", "--task", "compare", "--n-max", "2", "--prompts", "2", "--quiet"]
    out = str(tmp_path / "bon")
    assert main([*base, "--model", "tiny-gpt2", "--backend", "vllm", "--out", out]) == 2
    assert "in memory only" in capsys.readouterr().err and not os.path.exists(out)
    monkeypatch.setenv(_vllm_engine.PYTHON_VARIABLE, str(tmp_path / "missing"))
    assert main([*base, "--model", str(tiny_folder), "--backend", "vllm", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "--backend vllm" in err and "SHARPEN_VLLM_PYTHON" in err and not os.path.exists(out)


# --------------------------------------------------------------------------------------------
# Slow: real engines on SmolLM2-135M against HFPolicy's exact scoring


def _skip_without_vllm():
    reason = vllm_unavailable_reason()
    if reason is not None:
        pytest.skip(f"vLLM backend unavailable: {reason}")


def _start(dtype, **settings):
    _skip_without_vllm()
    try:
        return VLLMPolicy.from_pretrained("smollm2-135m", dtype=dtype, progress=False, **settings)
    except VLLMUnavailable as err:
        if "CPU" in str(err) or "instruction" in str(err).lower():
            pytest.skip(f"vLLM cannot run on this machine's CPU: {err}")
        raise


@pytest.fixture(scope="module")
def engine():
    policy = _start("float32", max_new_tokens=32)
    yield policy
    policy.close()


@pytest.fixture(scope="module")
def hf(engine):
    return HFPolicy.from_pretrained(engine.model_path, dtype="float32", progress=False)


QUESTIONS = [
    "What is 2 + 3?",
    "Name a colour.",
    "Write one sentence about the sea.",
    "What is the capital of France?",
    "Count from one to five.",
    "Is 7 a prime number? Answer true or false.",
    "Give a word that rhymes with cat.",
    "What is 12 times 3?",
]


def _differences(vllm_rollouts, hf_policy, prompts):
    """``vLLM logp_base - HFPolicy's score`` of the same tokens, per sequence (float64)."""
    again = rescore(hf_policy, prompts, vllm_rollouts)
    got = np.asarray(vllm_rollouts.token_logp, np.float64).sum(-1)
    return got - np.asarray(again.token_logp, np.float64).sum(-1)


def _report(name, d, lengths):
    q = np.quantile(np.abs(d), [0.5, 0.9, 0.99, 1.0])
    line = (
        f"{name}: |vLLM - HFPolicy| per sequence over {d.size} sequences (mean length "
        f"{np.mean(lengths):.1f}): median {q[0]:.2e}, 90% {q[1]:.2e}, 99% {q[2]:.2e}, max "
        f"{q[3]:.2e} nats; mean signed {np.mean(d):+.2e}"
    )
    print(line)
    return line


@pytest.mark.slow
def test_float32_sampling_log_probs_agree_with_hfpolicy_scoring(engine, hf, record_property):
    r = simulators.sample(jax.random.key(0), engine, QUESTIONS, 8)
    assert encode_prompts(engine, QUESTIONS) == encode_prompts(hf, QUESTIONS)
    assert engine.eos_token_ids == hf.eos_token_ids and engine.pad_token_id == hf.pad_token_id
    d = _differences(r, hf, QUESTIONS)
    lengths = np.asarray(r.lengths)
    record_property("float32", _report("float32", d, lengths))
    assert np.all(np.abs(d) < 1e-3)
    # scoring given responses through prompt log-probabilities agrees too
    enc = encode_prompts(hf, QUESTIONS)
    toks = np.asarray(r.tokens)
    prompt_ids = [enc[p] for p in range(len(QUESTIONS)) for _ in range(8)]
    responses = [toks[p, n, : lengths[p, n]].tolist() for p, n in np.ndindex(lengths.shape)]
    got = vllm_score_tokens(engine, prompt_ids, responses)["logp"]
    want = score_tokens(hf, prompt_ids, responses, stats=False)["logp"]
    np.testing.assert_allclose(got, want, atol=1e-3)
    texts = ["5", "Blue.", "The sea is calm.", "Paris"] * 2
    np.testing.assert_allclose(
        simulators.log_prob(engine, QUESTIONS, texts), simulators.log_prob(hf, QUESTIONS, texts),
        atol=1e-3,
    )  # fmt: skip


@pytest.mark.slow
def test_eos_stop_strings_length_and_padding_as_in_hfpolicy(engine, hf):
    # Greedy decoding is deterministic: both backends give the same tokens, lengths and padding,
    # with EOS, stop strings (one common, one inside words) and the length limit all in play.
    stop = ("\n", " is")
    g = simulators.greedy(engine, QUESTIONS, stop=stop, max_new_tokens=24)
    h = simulators.greedy(hf, QUESTIONS, stop=stop, max_new_tokens=24)
    np.testing.assert_array_equal(np.asarray(g.tokens), np.asarray(h.tokens))
    np.testing.assert_array_equal(np.asarray(g.lengths), np.asarray(h.lengths))
    np.testing.assert_array_equal(np.asarray(g.prompt_tokens), np.asarray(h.prompt_tokens))
    np.testing.assert_allclose(np.asarray(g.logp_base), np.asarray(h.logp_base), atol=1e-3)
    r = simulators.sample(jax.random.key(5), engine, QUESTIONS, 4, stop=stop, max_new_tokens=24)
    tokens, lengths, tlogp = np.asarray(r.tokens), np.asarray(r.lengths), np.asarray(r.token_logp)
    eos = engine.eos_token_ids[0]
    kinds = set()
    for (p, n), text in zip(np.ndindex(lengths.shape), sum(decode(engine, r), []), strict=True):
        L = lengths[p, n]
        assert np.all(tokens[p, n, L:] == engine.pad_token_id) and np.all(tlogp[p, n, L:] == 0)
        assert np.all(tlogp[p, n, :L] <= 0) and eos not in tokens[p, n, : L - 1].tolist()
        if tokens[p, n, L - 1] == eos:
            kinds.add("eos")
        elif L == 24:
            kinds.add("length")
        else:
            kinds.add("stop")
            assert any(text.endswith(s) for s in stop)
    assert kinds >= {"eos", "stop"}
    d = _differences(r, hf, QUESTIONS)
    assert np.all(np.abs(d) < 1e-3)


@pytest.mark.slow
def test_draws_are_a_function_of_the_key_and_of_the_draw(engine):
    a = simulators.sample(jax.random.key(7), engine, QUESTIONS[:3], 4, max_new_tokens=8)
    b = simulators.sample(jax.random.key(7), engine, QUESTIONS[:3], 4, max_new_tokens=8)
    c = simulators.sample(jax.random.key(7), engine, QUESTIONS[:2], 2, max_new_tokens=8)
    np.testing.assert_array_equal(np.asarray(a.tokens), np.asarray(b.tokens))
    np.testing.assert_array_equal(np.asarray(a.tokens)[:2, :2], np.asarray(c.tokens))
    d = simulators.sample(jax.random.key(8), engine, QUESTIONS[:3], 4, max_new_tokens=8)
    assert not np.array_equal(np.asarray(a.tokens), np.asarray(d.tokens))


@pytest.mark.slow
def test_bon_protocol_gives_the_same_estimates_from_the_same_tokens(engine, hf):
    from simulators.hf import arithmetic, grade, task_prompts

    task = arithmetic(8, seed=0)
    prompts = task_prompts(task)
    r = simulators.sample(jax.random.key(1), engine, prompts, 6, max_new_tokens=24)
    answers, correct, _ = grade(task, decode(engine, r))
    r = dataclasses.replace(r, answers=np.asarray(answers), correct=np.asarray(correct))
    r = add_token_stats(r, hf)
    again = rescore(hf, prompts, r)  # the same tokens, every log-probability HFPolicy's
    key = jax.random.key(2)
    a = simulators.run_protocol(key, r, ns=[1, 2, 4, 6], num_subsamples=4)
    b = simulators.run_protocol(key, again, ns=[1, 2, 4, 6], num_subsamples=4)
    for name in ("bon", "bon_exact"):
        x, y = a[name], b[name]
        assert list(x.columns) == list(y.columns) and len(x) == len(y)
        acc_x = x[x["metric"] == "accuracy"]["value"].to_numpy()
        acc_y = y[y["metric"] == "accuracy"]["value"].to_numpy()
        np.testing.assert_allclose(acc_x, acc_y, atol=1e-9, err_msg=name)
        np.testing.assert_allclose(
            x["value"].to_numpy(float), y["value"].to_numpy(float), atol=2e-3, err_msg=name
        )


@pytest.mark.slow
def test_bf16_differences_are_reported(engine, hf, record_property):
    # bfloat16 engine against HFPolicy in bfloat16 and in float32 on the same tokens: reported
    # (pytest -s prints them), only bounded loosely: bf16 rounding is not an exact law.
    with _start("bfloat16", max_new_tokens=32) as bf16:
        r = simulators.sample(jax.random.key(0), bf16, QUESTIONS, 8)
    hf16 = HFPolicy.from_pretrained(engine.model_path, dtype="bfloat16", progress=False)
    lengths = np.asarray(r.lengths)
    d16 = _differences(r, hf16, QUESTIONS)
    d32 = _differences(r, hf, QUESTIONS)
    record_property("bf16_vs_hf_bf16", _report("bf16 engine vs HFPolicy bf16", d16, lengths))
    record_property("bf16_vs_hf_fp32", _report("bf16 engine vs HFPolicy fp32", d32, lengths))
    assert np.all(np.isfinite(d16)) and np.median(np.abs(d16)) < 1.0


@pytest.mark.slow
def test_sharpen_bon_backend_vllm_writes_the_same_tables(tmp_path, monkeypatch):
    from paper_figs.cli import main

    _skip_without_vllm()
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))
    args = ["bon", "--model", "smollm2-135m", "--task", "arithmetic", "--n-max", "2",
            "--prompts", "2", "--max-new-tokens", "12", "--subsamples", "2", "--quiet"]  # fmt: skip
    outs = {}
    for backend in ("hf", "vllm"):
        outs[backend] = str(tmp_path / backend)
        assert main([*args, "--backend", backend, "--out", outs[backend]]) == 0
    files = {b: sorted(os.listdir(o)) for b, o in outs.items()}
    assert files["hf"] == files["vllm"]
    import pandas as pd

    for name in (f for f in files["hf"] if f.endswith(".csv")):
        x = pd.read_csv(os.path.join(outs["hf"], name))
        y = pd.read_csv(os.path.join(outs["vllm"], name))
        assert list(x.columns) == list(y.columns), name
        if "reward" in x.columns:
            assert set(x["reward"]) == set(y["reward"]), name
    run = json.load(open(os.path.join(outs["vllm"], "run.json")))
    assert run["backend"] == "vllm" and run["vllm"] and run["sampled_tokens"] > 0
