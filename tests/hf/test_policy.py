"""The transformer adapter: exact log-probs at sampling time, prompt/EOS boundaries, batching."""

import dataclasses

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import simulators  # noqa: E402
from simulators.hf import (  # noqa: E402
    HFPolicy,
    decode,
    encode_prompts,
    encode_responses,
    rescore,
    sample_rollouts,
    score_tokens,
    sequence_log_probs,
)
from simulators.hf import _encoding as hf_encoding  # noqa: E402
from simulators.hf import _scoring as hf_scoring  # noqa: E402
from simulators.hf._files import resolve_model_path  # noqa: E402
from simulators.hf._scoring import _logit_bytes  # noqa: E402

PROMPTS = ["1+2=", "ab ab 12+34=", "9"]


def direct_logp(policy, prompt_ids, response_ids):
    """log pi(response | prompt) from one unbatched forward pass of the raw model."""
    ids = torch.tensor([prompt_ids + response_ids])
    with torch.no_grad():
        logits = policy.model(input_ids=ids).logits[0].double()
    logp = torch.log_softmax(logits, -1)
    n = len(prompt_ids)
    return float(sum(logp[n - 1 + t, tok] for t, tok in enumerate(response_ids)))


def random_strings(key, count, max_len, alphabet="0123456789+=ab "):
    k1, k2 = jax.random.split(key)
    lengths = np.asarray(jax.random.randint(k1, (count,), 0, max_len + 1))
    chars = np.asarray(jax.random.randint(k2, (count, max_len), 0, len(alphabet)))
    return ["".join(alphabet[c] for c in chars[i, : lengths[i]]) for i in range(count)]


def test_sampling_logp_equals_a_separate_scoring_pass(tiny):
    r = sample_rollouts(jax.random.key(0), tiny, PROMPTS, 8)
    lengths = np.asarray(r.lengths)
    # both kinds of responses occur: stopped by EOS and cut at max_new_tokens
    assert (lengths < tiny.max_new_tokens).any() and (lengths == tiny.max_new_tokens).any()
    again = rescore(tiny, PROMPTS, r)
    for field in ("logp_base", "token_logp", "token_entropy", "token_kl_uniform"):
        np.testing.assert_allclose(
            np.asarray(getattr(again, field)),
            np.asarray(getattr(r, field)),
            atol=1e-4,
            err_msg=field,
        )
    np.testing.assert_allclose(
        np.asarray(r.logp_base), np.asarray(r.token_logp).sum(-1), rtol=1e-12, atol=1e-12
    )


def test_eos_is_kept_counted_and_followed_by_padding(tiny):
    r = sample_rollouts(jax.random.key(1), tiny, PROMPTS, 8)
    tokens, lengths = np.asarray(r.tokens), np.asarray(r.lengths)
    tlogp = np.asarray(r.token_logp)
    eos = tiny.eos_token_ids[0]
    stopped = lengths < tiny.max_new_tokens
    for p, n in zip(*np.nonzero(stopped), strict=True):
        L = lengths[p, n]
        assert tokens[p, n, L - 1] == eos  # EOS included in the response and in |y|
        assert eos not in tokens[p, n, : L - 1].tolist()  # the first EOS ends the response
        assert tlogp[p, n, L - 1] < 0  # its log-probability is counted
        assert np.all(tlogp[p, n, L:] == 0) and np.all(tokens[p, n, L:] == tiny.pad_token_id)
    # the recorded log-likelihood equals a direct forward pass over prompt + response (EOS incl.)
    prompt_ids = encode_prompts(tiny, PROMPTS)
    p, n = map(int, np.argwhere(stopped)[0])
    response = tokens[p, n, : lengths[p, n]].tolist()
    np.testing.assert_allclose(
        float(r.logp_base[p, n]), direct_logp(tiny, prompt_ids[p], response), atol=1e-4
    )


def test_a_sequence_scores_the_same_alone_and_in_a_padded_batch(tiny):
    prompts = encode_prompts(tiny, ["1", "ab ab ab ab 1234+", "12+"])
    responses = encode_responses(tiny, ["a", "", "9999 ab 12"], add_eos=True)
    batch = score_tokens(tiny, prompts, responses)
    for i in range(3):
        alone = score_tokens(tiny, [prompts[i]], [responses[i]], width=batch["token_logp"].shape[1])
        for field in ("logp", "token_logp", "token_entropy", "token_kl_uniform"):
            np.testing.assert_allclose(alone[field][0], batch[field][i], atol=1e-5, rtol=0)


def test_scoring_without_statistics_gives_the_same_log_probabilities(tiny):
    prompts = encode_prompts(tiny, random_strings(jax.random.key(6), 5, 9))
    responses = encode_responses(tiny, random_strings(jax.random.key(7), 5, 7))
    full = score_tokens(tiny, prompts, responses)
    bare = score_tokens(tiny, prompts, responses, stats=False)
    assert set(bare) == {"logp", "token_logp", "lengths"}
    for field in ("logp", "token_logp", "lengths"):
        np.testing.assert_allclose(bare[field], full[field], atol=1e-5, rtol=0)


def test_score_micro_batching_does_not_change_scores(tiny):
    prompts = encode_prompts(tiny, random_strings(jax.random.key(2), 9, 10))
    responses = encode_responses(tiny, random_strings(jax.random.key(3), 9, 8))
    full = score_tokens(tiny, prompts, responses)
    # a budget of about 12 float32 logits of the 17-token vocabulary per micro-batch
    budget = 12 * 17 * _logit_bytes(torch.float32, stats=True)
    small = dataclasses.replace(tiny, score_batch_size=2, memory_budget_bytes=budget)
    chunked = score_tokens(small, prompts, responses)
    np.testing.assert_allclose(chunked["logp"], full["logp"], atol=1e-5, rtol=0)


def test_the_head_runs_from_the_shortest_prompts_last_position_and_the_full_head_agrees(
    tiny, monkeypatch
):
    prompts = encode_prompts(tiny, ["12+34=", "ab ab 1", "9+9="])
    responses = encode_responses(tiny, ["46", "", "18 ab"])
    widths = []
    head = tiny.model.get_output_embeddings()
    hook = head.register_forward_hook(lambda m, args, out: widths.append(args[0].shape[1]))
    try:
        kept = score_tokens(tiny, prompts, responses)
    finally:
        hook.remove()
    totals = [len(p) + len(r) for p, r in zip(prompts, responses, strict=True)]
    shortest_prompt = min(len(p) for p in prompts)
    assert widths == [max(totals) - shortest_prompt + 1]  # one micro-batch, prompt part skipped
    # a model without `logits_to_keep`: full logits, sliced afterwards
    monkeypatch.setattr(hf_scoring, "_accepts", lambda model, name: False)
    full = score_tokens(tiny, prompts, responses)
    for field in ("logp", "token_logp", "token_entropy", "token_kl_uniform"):
        np.testing.assert_allclose(kept[field], full[field], atol=1e-6, rtol=0, err_msg=field)


def test_differentiable_sequence_log_probs_equal_the_scores(tiny):
    prompts = encode_prompts(tiny, random_strings(jax.random.key(8), 6, 9))
    responses = encode_responses(tiny, random_strings(jax.random.key(9), 6, 7))
    got = sequence_log_probs(tiny, prompts, responses)
    np.testing.assert_allclose(
        got.detach().double().numpy(), score_tokens(tiny, prompts, responses)["logp"], atol=1e-5
    )
    got.sum().backward()
    grads = [p.grad for p in tiny.model.parameters() if p.grad is not None]
    tiny.model.zero_grad(set_to_none=True)
    assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("left", [False, True])
def test_padding_writes_each_sequence_at_its_positions(left):
    seqs = [[5, 6, 7], [], [8], np.array([1, 2, 3, 4])]
    ids, mask = hf_encoding._pad(seqs, 9, left=left)
    assert ids.shape == mask.shape == (4, 4) and ids.dtype == torch.int64
    for row, seq in enumerate(seqs):
        cols = range(4 - len(seq), 4) if left else range(len(seq))
        assert ids[row, list(cols)].tolist() == list(seq)
        assert mask[row].tolist() == [int(c in cols) for c in range(4)]
        assert all(ids[row, c] == 9 for c in range(4) if c not in cols)


def test_the_default_memory_budget(tiny, monkeypatch):
    assert tiny.memory_budget_bytes is None
    assert hf_scoring._memory_budget(tiny) == 2**30  # on the CPU
    assert hf_scoring._memory_budget(dataclasses.replace(tiny, memory_budget_bytes=123)) == 123
    # on CUDA: half of what torch can use on the policy's device when scoring starts (free memory
    # plus the caching allocator's unused blocks)
    asked = []
    monkeypatch.setattr(
        torch.cuda, "mem_get_info", lambda device: asked.append(device) or (6 * 2**30, 80 * 2**30)
    )
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device: 5 * 2**30)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device: 3 * 2**30)
    assert hf_scoring._memory_budget(dataclasses.replace(tiny, device="cuda:1")) == 4 * 2**30
    assert asked == [torch.device("cuda:1")]
    # bytes per logit: bfloat16 logits add their float32 copy, statistics their temporaries
    assert _logit_bytes(torch.bfloat16, stats=False) > _logit_bytes(torch.float32, stats=False)
    assert _logit_bytes(torch.float32, stats=True) > _logit_bytes(torch.float32, stats=False)
    assert _logit_bytes(torch.float64, stats=False) == 2 * _logit_bytes(torch.float32, stats=False)
    assert _logit_bytes(torch.int8, stats=True) == _logit_bytes(torch.float32, stats=True)


@pytest.mark.parametrize("add_eos", [True, False])
def test_log_prob_agrees_with_a_direct_forward_pass(tiny, add_eos):
    prompts = random_strings(jax.random.key(4), 6, 12)
    responses = random_strings(jax.random.key(5), 6, 10)
    got = simulators.log_prob(tiny, prompts, responses, add_eos=add_eos)
    assert got.shape == (6,)
    prompt_ids = encode_prompts(tiny, prompts)
    response_ids = encode_responses(tiny, responses, add_eos=add_eos)
    want = [direct_logp(tiny, x, y) for x, y in zip(prompt_ids, response_ids, strict=True)]
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


def test_prompt_tokens_are_never_counted(tiny):
    # an empty response without EOS is certain: log-probability exactly 0, whatever the prompt
    got = simulators.log_prob(tiny, ["12+34=", "a"], ["", ""], add_eos=False)
    np.testing.assert_array_equal(got, [0.0, 0.0])
    # with EOS it is log pi(EOS | prompt) alone
    x = encode_prompts(tiny, ["12+34="])[0]
    got = simulators.log_prob(tiny, "12+34=", "", add_eos=True)
    np.testing.assert_allclose(got[0], direct_logp(tiny, x, [tiny.eos_token_ids[0]]), atol=1e-5)
    # an empty prompt is conditioned on BOS
    assert encode_prompts(tiny, [""]) == [[tiny.tokenizer.bos_token_id]]


def test_sampling_is_a_deterministic_function_of_the_key(tiny):
    a = sample_rollouts(jax.random.key(7), tiny, PROMPTS, 3)
    b = sample_rollouts(jax.random.key(7), tiny, PROMPTS, 3)
    c = sample_rollouts(jax.random.key(8), tiny, PROMPTS, 3)
    np.testing.assert_array_equal(np.asarray(a.tokens), np.asarray(b.tokens))
    assert not np.array_equal(np.asarray(a.tokens), np.asarray(c.tokens))
    state = torch.random.get_rng_state()
    sample_rollouts(jax.random.key(9), tiny, PROMPTS, 2)
    assert torch.equal(state, torch.random.get_rng_state())  # the global torch RNG is untouched


def test_sampling_frequencies_match_the_model_law(tiny):
    # first-token frequencies over many draws vs the exact next-token law (5 standard errors)
    tiny1 = dataclasses.replace(tiny, batch_size=512)
    r = sample_rollouts(jax.random.key(10), tiny1, ["12"], 2000, max_new_tokens=1)
    first = np.asarray(r.tokens)[0, :, 0]
    ids = torch.tensor([encode_prompts(tiny, ["12"])[0]])
    with torch.no_grad():
        p = torch.softmax(tiny.model(input_ids=ids).logits[0, -1].double(), -1).numpy()
    freq = np.bincount(first, minlength=p.size) / first.size
    se = np.sqrt(p * (1 - p) / first.size)
    assert np.all(np.abs(freq - p) <= 5 * se + 1e-12)


def test_greedy_is_the_stepwise_argmax_and_independent_of_batching(tiny):
    g = simulators.greedy(tiny, PROMPTS)
    assert g.tokens.shape == (3, 1, tiny.max_new_tokens)
    for p, prompt in enumerate(PROMPTS):
        ids = encode_prompts(tiny, [prompt])[0]
        out = []
        for _ in range(int(g.lengths[p, 0])):
            with torch.no_grad():
                nxt = int(tiny.model(input_ids=torch.tensor([ids + out])).logits[0, -1].argmax())
            out.append(nxt)
            if nxt in tiny.eos_token_ids:
                break
        assert out == np.asarray(g.tokens)[p, 0, : len(out)].tolist()
        alone = simulators.greedy(tiny, [prompt])
        np.testing.assert_array_equal(np.asarray(alone.tokens)[0], np.asarray(g.tokens)[p])
    np.testing.assert_allclose(
        np.asarray(rescore(tiny, PROMPTS, g).logp_base), np.asarray(g.logp_base), atol=1e-4
    )


def test_decode_returns_the_response_texts(tiny):
    r = sample_rollouts(jax.random.key(11), tiny, PROMPTS, 4)
    texts = decode(tiny, r)
    assert len(texts) == 3 and all(len(row) == 4 for row in texts)
    tokens, lengths = np.asarray(r.tokens), np.asarray(r.lengths)
    for p in range(3):
        for n in range(4):
            ids = [t for t in tokens[p, n, : lengths[p, n]].tolist() if t not in (0, 1)]
            # character tokenizer: decoding then re-encoding gives the same tokens, minus EOS
            assert tiny.tokenizer(texts[p][n], add_special_tokens=False)["input_ids"] == ids


def test_generic_sample_dispatches_to_the_adapter(tiny):
    r = simulators.sample(jax.random.key(12), tiny, PROMPTS, 2)
    direct = sample_rollouts(jax.random.key(12), tiny, PROMPTS, 2)
    np.testing.assert_array_equal(np.asarray(r.tokens), np.asarray(direct.tokens))


def test_bad_input_is_rejected(tiny):
    with pytest.raises(TypeError, match="prompts"):
        simulators.log_prob(tiny, [1, 2], ["a", "b"])
    with pytest.raises(ValueError, match="same length"):
        simulators.log_prob(tiny, ["a", "b"], ["a"])
    with pytest.raises(ValueError, match="n must be"):
        sample_rollouts(jax.random.key(0), tiny, PROMPTS, 0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        sample_rollouts(jax.random.key(0), tiny, PROMPTS, 1, max_new_tokens=0)
    with pytest.raises(ValueError, match="nothing is"):
        resolve_model_path("/no/such/model")
    with pytest.raises(TypeError, match="built-in"):
        HFPolicy.from_pretrained(None)
    with pytest.raises(ValueError, match="index"):
        rescore(tiny, ["only one"], sample_rollouts(jax.random.key(0), tiny, PROMPTS, 1))


def test_from_model_reads_settings_off_model_and_tokenizer(tiny):
    assert tiny.device == "cpu" and tiny.dtype == torch.float32
    assert tiny.eos_token_ids == (0,) and tiny.pad_token_id == 0 and not tiny.chat
    other = HFPolicy.from_model(tiny.model, tiny.tokenizer, max_new_tokens=3)
    assert other.max_new_tokens == 3


@pytest.mark.slow
def test_smollm2_loads_offline_and_sampling_logp_is_exact():
    policy = HFPolicy.from_pretrained("smollm2-135m", max_new_tokens=16, progress=False)
    assert policy.chat and policy.eos_token_ids[0] == policy.tokenizer.convert_tokens_to_ids(
        "<|im_end|>"
    )
    prompts = ["What is 2 + 3?", "Name a colour."]
    r = sample_rollouts(jax.random.key(0), policy, prompts, 2)
    again = rescore(policy, prompts, r)
    np.testing.assert_allclose(np.asarray(again.logp_base), np.asarray(r.logp_base), atol=1e-3)
    lp = simulators.log_prob(policy, prompts, ["5", "Blue."])
    assert np.all(np.isfinite(lp)) and np.all(lp < 0)


def next_token_logp(policy, ids):
    """``[V]`` float64 log-probabilities of the token after ``ids`` (one raw forward pass)."""
    with torch.no_grad():
        logits = policy.model(input_ids=torch.tensor([ids])).logits[0, -1].double()
    return torch.log_softmax(logits, -1).numpy()


def test_a_response_string_scores_stopping_at_any_eos_id(tiny):
    # A model with two EOS ids (as end-of-text and end-of-turn): sampling stops at either, so
    # score_texts(body) = log pi(body | x) + log sum_e pi(e | x, body), the probability of
    # emitting body and then stopping. A sample that ended with EOS id e has
    # logp_base = log pi(body | x) + log pi(e | x, body), so the two differ by exactly
    # log sum_e' pi(e' | x, body) - log pi(e | x, body) (> 0).
    second = tiny.tokenizer.convert_tokens_to_ids("a")
    pol = dataclasses.replace(tiny, eos_token_ids=(0, second))
    r = sample_rollouts(jax.random.key(13), pol, PROMPTS, 16)
    tokens, lengths = np.asarray(r.tokens), np.asarray(r.lengths)
    tlogp, logp_base = np.asarray(r.token_logp), np.asarray(r.logp_base)
    prompt_ids = encode_prompts(pol, PROMPTS)
    ended = {0: 0, second: 0}
    for p, n in zip(*np.nonzero(lengths < pol.max_new_tokens), strict=True):
        L = int(lengths[p, n])
        body, eos = tokens[p, n, : L - 1].tolist(), int(tokens[p, n, L - 1])
        text = pol.tokenizer.decode(body)
        if encode_responses(pol, text, add_eos=False)[0] != body:
            continue  # e.g. <unk> does not survive decoding; score_texts needs the same tokens
        ended[eos] += 1
        nxt = next_token_logp(pol, prompt_ids[p] + body)
        log_stop = np.logaddexp(nxt[0], nxt[second])
        got = simulators.log_prob(pol, PROMPTS[p], text)[0]
        # exact: the body's log-likelihood plus the log-probability of stopping (any EOS id)
        want = direct_logp(pol, prompt_ids[p], body) + log_stop
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
        # consistent with the sample: its body's log-probability plus the stop probability
        np.testing.assert_allclose(
            got, logp_base[p, n] - tlogp[p, n, L - 1] + log_stop, atol=1e-4, rtol=0
        )
        np.testing.assert_allclose(tlogp[p, n, L - 1], nxt[eos], atol=1e-4, rtol=0)
        assert got > logp_base[p, n]  # stopping at either id is likelier than at the one emitted
        # the prefix alone (add_eos=False) is the body's log-likelihood
        np.testing.assert_allclose(
            simulators.log_prob(pol, PROMPTS[p], text, add_eos=False)[0],
            logp_base[p, n] - tlogp[p, n, L - 1],
            atol=1e-4,
            rtol=0,
        )
    assert ended[0] > 0 and ended[second] > 0  # both kinds of ending were checked
    # with one EOS id the score of the body is the sample's own log-likelihood
    r1 = sample_rollouts(jax.random.key(1), tiny, PROMPTS, 8)
    p, n = map(int, np.argwhere(np.asarray(r1.lengths) < tiny.max_new_tokens)[0])
    L = int(r1.lengths[p, n])
    body = np.asarray(r1.tokens)[p, n, : L - 1].tolist()
    assert 1 not in body  # no <unk>: the text re-encodes to the same tokens
    np.testing.assert_allclose(
        simulators.log_prob(tiny, PROMPTS[p], tiny.tokenizer.decode(body))[0],
        float(r1.logp_base[p, n]),
        atol=1e-4,
    )


def tiny_without_special_tokens():
    """A 1-layer GPT-2 whose config, generation config and tokenizer name no EOS and no pad."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({c: i for i, c in enumerate("abcdefgh")}, unk_token="a"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend)
    config = GPT2Config(
        vocab_size=8, n_positions=16, n_layer=1, n_embd=8, n_head=2, bos_token_id=None,
        eos_token_id=None,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = GPT2LMHeadModel(config)
    model.generation_config.eos_token_id = None
    model.generation_config.bos_token_id = None
    assert tokenizer.eos_token_id is None and tokenizer.pad_token_id is None
    return model, tokenizer


def test_from_model_takes_eos_ids_from_the_settings_and_checks_them(tiny):
    model, tokenizer = tiny_without_special_tokens()
    with pytest.raises(ValueError, match="eos_token_id"):
        HFPolicy.from_model(model, tokenizer)
    policy = HFPolicy.from_model(model, tokenizer, eos_token_ids=(3,), progress=False)
    assert policy.eos_token_ids == (3,) and policy.pad_token_id == 3  # padding: the given EOS
    np.testing.assert_allclose(  # "c" and then the EOS id 3 (EOS ids are what sampling stops at)
        simulators.log_prob(policy, "ab", "cb"),
        direct_logp(policy, [0, 1], [2, 1]) + next_token_logp(policy, [0, 1, 2, 1])[3],
        atol=1e-5,
    )
    # "d" is the EOS id 3 here: "cd" is "c" and then stopping, as sampling would end it, not
    # "cd" followed by a second EOS; after the EOS nothing can follow
    np.testing.assert_allclose(
        simulators.log_prob(policy, "ab", "cd"), direct_logp(policy, [0, 1], [2, 3]), atol=1e-5
    )
    assert simulators.log_prob(policy, "ab", "cdc")[0] == -np.inf
    assert HFPolicy.from_model(model, tokenizer, eos_token_ids=[3, 5]).eos_token_ids == (3, 5)
    with pytest.raises(ValueError, match="eos_token_ids must be a non-empty"):
        HFPolicy.from_model(model, tokenizer, eos_token_ids=())
    with pytest.raises(ValueError, match=r"eos_token_ids must hold token ids in \[0, 8\)"):
        HFPolicy.from_model(model, tokenizer, eos_token_ids=(8,))
    with pytest.raises(ValueError, match="eos_token_ids"):
        HFPolicy.from_model(model, tokenizer, eos_token_ids=(-1,))
    with pytest.raises(TypeError, match="eos_token_ids"):
        HFPolicy.from_model(model, tokenizer, eos_token_ids=3)
    with pytest.raises(TypeError, match="eos_token_ids"):
        HFPolicy.from_model(model, tokenizer, eos_token_ids=("3",))
    with pytest.raises(ValueError, match="pad_token_id"):
        HFPolicy.from_model(model, tokenizer, eos_token_ids=(3,), pad_token_id=8)
    # a model with its own EOS: explicit ids replace it and decide the default padding too
    assert HFPolicy.from_model(tiny.model, tiny.tokenizer, eos_token_ids=(5,)).eos_token_ids == (5,)


def test_settings_changed_by_replace_are_checked(tiny):
    for field, value in [
        ("batch_size", 0),
        ("score_batch_size", 0),
        ("max_new_tokens", 0),
        ("memory_budget_bytes", 0),
        ("eos_token_ids", ()),
        ("eos_token_ids", (17,)),
        ("pad_token_id", -1),
    ]:
        with pytest.raises(ValueError, match=field):
            dataclasses.replace(tiny, **{field: value})
    with pytest.raises(ValueError, match="stop strings must be non-empty"):
        dataclasses.replace(tiny, stop=("\nQ", ""))
    for field, value in [("batch_size", 2.5), ("eos_token_ids", None), ("stop", (1,))]:
        with pytest.raises(TypeError, match=field):
            dataclasses.replace(tiny, **{field: value})
    assert dataclasses.replace(tiny, stop="\nQ").stop == ("\nQ",)


def test_too_long_sequences_and_unknown_token_ids_are_refused(tiny):
    # the tiny GPT-2 has 512 positions
    with pytest.raises(ValueError, match="max_new_tokens"):
        sample_rollouts(jax.random.key(0), tiny, PROMPTS, 1, max_new_tokens=600)
    with pytest.raises(ValueError, match="max_new_tokens"):
        simulators.greedy(tiny, ["1" * 500], max_new_tokens=13)
    with pytest.raises(ValueError, match="512 positions"):
        score_tokens(tiny, [[2] * 300], [[3] * 213])
    assert score_tokens(tiny, [[2] * 300], [[3] * 212], stats=False)["logp"].shape == (1,)
    with pytest.raises(ValueError, match="512 positions"):
        simulators.log_prob(tiny, "1" * 300, "2" * 212)  # + EOS: 513 tokens
    with pytest.raises(ValueError, match=r"response_ids\[0\] holds token id 1000000"):
        score_tokens(tiny, [[1, 2]], [[10**6]])
    with pytest.raises(ValueError, match=r"response_ids\[1\] holds token id -3"):
        score_tokens(tiny, [[1, 2], [3]], [[4], [-3]])
    with pytest.raises(ValueError, match=r"prompt_ids\[0\] holds token id 17"):
        score_tokens(tiny, [[17]], [[3]])
    with pytest.raises(ValueError, match="prompt_ids"):
        sequence_log_probs(tiny, [[2, 99]], [[3]])


def test_token_ids_must_be_lists_of_ints(tiny):
    with pytest.raises(TypeError, match="prompt_ids must be a list of token-id lists"):
        score_tokens(tiny, "12", [[3]])
    with pytest.raises(TypeError, match=r"prompt_ids\[0\] must be a list of integer token ids"):
        score_tokens(tiny, ["12"], [[3]])
    with pytest.raises(TypeError, match=r"response_ids\[0\] must be a list of integer token ids"):
        score_tokens(tiny, [[1, 2]], ["34"])
    with pytest.raises(TypeError, match=r"response_ids\[0\] must be a list or 1-d array of int"):
        score_tokens(tiny, [[1, 2]], [[3.0]])
    with pytest.raises(TypeError, match=r"response_ids\[0\] must be a list or 1-d array"):
        score_tokens(tiny, [[1, 2]], [np.array([3.0])])
    # tuples and integer arrays are token-id lists
    a = score_tokens(tiny, [(1, 2)], [np.array([3, 4])])["logp"]
    np.testing.assert_array_equal(a, score_tokens(tiny, [[1, 2]], [[3, 4]])["logp"])


def test_dtype_aliases_and_unavailable_devices(monkeypatch):
    from simulators.hf._loading import resolve_device, resolve_dtype

    for name, dtype in [("bf16", torch.bfloat16), ("fp16", torch.float16), ("fp32", torch.float32),
                        ("bfloat16", torch.bfloat16), (torch.float64, torch.float64)]:  # fmt: skip
        assert resolve_dtype(name, "cpu") is dtype
    assert resolve_dtype(None, "cpu") is torch.float32
    assert resolve_dtype(None, "cuda") is torch.bfloat16
    for bad in ("bogus", "int8", torch.int64, 3):
        with pytest.raises(ValueError, match="dtype"):
            resolve_dtype(bad, "cpu")
    assert resolve_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device(None) == "cpu"
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda:0")
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("gpu")
    # refused before anything is loaded (the path is not even looked at)
    with pytest.raises(ValueError, match="CUDA is not available"):
        HFPolicy.from_pretrained("/no/such/model", device="cuda")
    with pytest.raises(ValueError, match="dtype"):
        HFPolicy.from_pretrained("/no/such/model", dtype="bf17")


# ---------------------------------------------------------------- EOS text in response strings


def test_a_response_string_ending_with_eos_text_is_not_given_a_second_eos(tiny):
    # The old code appended an EOS after the text's own, scoring "stop, then EOS again" (several
    # nats lower than the same response without the EOS text).
    eos = tiny.tokenizer.eos_token
    assert encode_responses(tiny, "ab" + eos) == encode_responses(tiny, "ab")
    assert encode_responses(tiny, "ab" + eos)[0][-1] == tiny.eos_token_ids[0]
    prompts = ["1+2=", "1+2=", "1+2=", "9"]
    plain = simulators.log_prob(tiny, prompts, ["ab", "ab" + eos, "", eos])
    np.testing.assert_allclose(plain[1], plain[0], atol=1e-5, rtol=0)
    np.testing.assert_allclose(  # an EOS text alone is the empty response, complete
        plain[3], simulators.log_prob(tiny, "9", "")[0], atol=1e-5, rtol=0
    )
    # the trailing EOS text is the stop with add_eos=False too: the string says it is complete
    np.testing.assert_allclose(
        simulators.log_prob(tiny, "1+2=", "ab" + eos, add_eos=False), plain[0], atol=1e-5
    )


def test_a_sampled_response_with_its_eos_text_scores_its_sampling_log_likelihood(tiny):
    r = sample_rollouts(jax.random.key(21), tiny, PROMPTS, 8)
    texts = decode(tiny, r, skip_special_tokens=False)
    lengths = np.asarray(r.lengths)
    checked = 0
    for p, n in zip(*np.nonzero(lengths < tiny.max_new_tokens), strict=True):
        body = np.asarray(r.tokens)[p, n, : lengths[p, n] - 1].tolist()
        if 1 in body:
            continue  # <unk> does not survive decoding
        assert texts[p][n].endswith(tiny.tokenizer.eos_token)
        got = simulators.log_prob(tiny, PROMPTS[p], texts[p][n])[0]
        np.testing.assert_allclose(got, float(r.logp_base[p, n]), atol=1e-4, rtol=0)
        checked += 1
    assert checked > 0


def test_eos_inside_a_response_has_probability_zero_as_in_sampling(tiny):
    # Sampling stops at the first EOS: a response with tokens after an EOS can never be drawn.
    eos = tiny.tokenizer.eos_token
    got = simulators.log_prob(tiny, ["1+2="] * 3, ["a" + eos + "b", "ab" + eos + " ", eos * 2])
    np.testing.assert_array_equal(got, [-np.inf] * 3)
    got = simulators.log_prob(tiny, "1+2=", "a" + eos + "b", add_eos=False)
    np.testing.assert_array_equal(got, [-np.inf])
    # at the token level: the tokens up to and including the first EOS keep their
    # log-probabilities, every later one is -inf (and so is the sum)
    prompt = encode_prompts(tiny, "1+2=")
    a, b = tiny.tokenizer.convert_tokens_to_ids(["a", "b"])
    scored = score_tokens(tiny, prompt * 2, [[a, 0, b, a], [a, 0]])
    tlogp = scored["token_logp"]
    assert np.isfinite(tlogp[0, :2]).all() and (tlogp[0, 2:] == -np.inf).all()
    np.testing.assert_allclose(tlogp[0, :2], tlogp[1, :2], atol=1e-5, rtol=0)
    assert scored["logp"][0] == -np.inf and np.isfinite(scored["logp"][1])
    # the statistics of those positions stay the model's (finite)
    assert np.isfinite(scored["token_entropy"][0, :4]).all()
