"""Toy reasoning tasks on the toolkit's toy policies for the inference-time figures (Figs 1-6).

The paper measures best-of-N on real models and benchmarks. Here a *task* pairs a small enumerable
policy with an answer extracted from each response and a ground-truth answer per prompt:

* every response ``y`` has an answer ``a(y)`` (a function of its tokens: first token, last token,
  token sum mod K, ...), the analogue of the final answer parsed from a chain of thought;
* the correct answer of prompt ``x`` is the answer-marginal mode of a randomly tilted copy of
  ``pi_base``: ``argmax_a sum_{y: a(y)=a} pi_base(y|x) exp(noise * g(x, y))`` with i.i.d. Gumbel
  ``g``. ``noise = 0`` makes the base model's own most likely answer correct; large ``noise`` makes
  the truth unrelated to likelihood (a "weak" base model, like Llama3.2-3B in section 5.2).

A task is turned into a ``simulators.AnswerToy`` (an answer-bearing tabular policy), so best-of-N
accuracies under the log-likelihood and length-normalized self-rewards are exact
(``bounds.bon_accuracy``), and greedy decoding is the policy's own token-wise greedy
(``simulators.greedy``), which differs from the sequence argmax for sequence models.

:func:`length_bias_policy` builds the paper's second failure mode (section 5.2): short answers
that are likelier as sequences but wrong, while the token-wise greedy path "thinks" at length.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

# Model families of the heatmap (paper Fig. 1a's models) and the answer extractors (its tasks).
FAMILIES: tuple[str, ...] = ("tabular", "linear_softmax", "markov", "autoregressive", "multilayer")
TASKS: tuple[str, ...] = ("first_token", "last_token", "sum_mod", "count_top")

# Every family uses V tokens and H steps (Y = V^H = 81 responses); tabular and linear-softmax
# responses are read as their base-V digits for the answer extractors.
V, H = 3, 4
NUM_ANSWERS = 3


@dataclasses.dataclass(frozen=True)
class TaskData:
    """An answer-bearing toy task.

    Attributes:
      toy: ``simulators.AnswerToy`` (probabilities, lengths, answers, correctness per response).
      greedy_index: ``[X]`` index of the token-wise greedy response of each prompt.
      greedy_correct: ``[X]`` bool, whether greedy decoding is correct.
      label: a short description.
    """

    toy: object
    greedy_index: np.ndarray
    greedy_correct: np.ndarray
    label: str

    @property
    def greedy_accuracy(self) -> float:
        return float(np.mean(self.greedy_correct))


def family_policy(key: jax.Array, family: str, num_prompts: int, *, sharpness: float = 1.0):
    """A random enumerable policy of ``family`` over ``V^H`` responses.

    Tabular, Markov and autoregressive policies get i.i.d. Gaussian logits of standard deviation
    ``2 * sharpness`` (rather than Dirichlet rows: JAX compiles its gamma sampler for every new
    shape, several seconds each); the softmax families use their own random constructors with
    parameter norm ``4 * sharpness`` and ``2 * sharpness``.
    """
    import simulators

    Y = V**H
    scale = 2.0 * sharpness
    if family == "tabular":
        return simulators.TabularPolicy.from_logits(
            scale * jax.random.normal(key, (num_prompts, Y))
        )
    if family == "markov":
        k0, k1 = jax.random.split(key)
        init = scale * jax.random.normal(k0, (num_prompts, V))
        trans = scale * jax.random.normal(k1, (num_prompts, V, V))
        return simulators.MarkovPolicy.from_logits(init, trans, H)
    if family == "autoregressive":
        from simulators import num_prefixes

        logits = scale * jax.random.normal(key, (num_prompts, num_prefixes(V, H), V))
        return simulators.AutoregressivePolicy.from_logits(logits)
    if family == "linear_softmax":
        return simulators.random_linear_softmax(key, num_prompts, Y, 6, scale=4.0 * sharpness)
    if family == "multilayer":
        return simulators.random_multilayer_softmax(
            key, num_prompts, V, H, 4, scale=2.0 * sharpness
        )
    raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")


def _digits(tokens: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Responses as token sequences: tabular indices become their ``H`` base-``V`` digits."""
    if tokens.shape[1] == 1 and tokens.max() >= V:
        y = tokens[:, 0]
        digits = np.stack([(y // V ** (H - 1 - h)) % V for h in range(H)], axis=1)
        return digits, np.full(len(y), H)
    return tokens, lengths


def task_answers(task: str, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``[Y]`` answers in ``{0..NUM_ANSWERS-1}`` extracted from responses ``tokens [Y, T]``."""
    tokens, lengths = _digits(np.asarray(tokens), np.asarray(lengths))
    real = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
    if task == "first_token":
        a = tokens[:, 0]
    elif task == "last_token":
        a = tokens[np.arange(len(tokens)), np.maximum(lengths - 1, 0)]
    elif task == "sum_mod":
        a = np.where(real, tokens, 0).sum(axis=1)
    elif task == "count_top":
        a = np.where(real, tokens == V - 1, False).sum(axis=1)
    else:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return (a % NUM_ANSWERS).astype(np.int64)


def tilted_truth(key: jax.Array, logp: np.ndarray, answers: np.ndarray, noise: float) -> np.ndarray:
    """``[X]`` correct answers: the answer-marginal mode of ``pi_base`` tilted by Gumbel noise."""
    g = np.asarray(jax.random.gumbel(key, logp.shape), dtype=np.float64)
    tilted = np.where(np.isfinite(logp), logp + noise * g, -np.inf)
    tilted = np.exp(tilted - tilted.max(axis=1, keepdims=True))
    marginal = np.stack([(tilted * (answers == a)).sum(axis=1) for a in range(NUM_ANSWERS)], 1)
    return marginal.argmax(axis=1)


def make_task(policy, answers: np.ndarray, correct_answer: np.ndarray, label: str) -> TaskData:
    """Packs ``policy`` with per-response ``answers [Y]`` and ``correct_answer [X]`` as a task."""
    import simulators

    logp = np.asarray(simulators.to_table(policy), dtype=np.float64)
    tokens, lengths = (np.asarray(a) for a in simulators.enumerate_responses(policy))
    X, Y = logp.shape
    toy = simulators.AnswerToy.create(
        np.exp(logp),
        np.broadcast_to(lengths, (X, Y)).astype(np.int64),
        np.broadcast_to(answers, (X, Y)).astype(np.int64),
        np.asarray(correct_answer, dtype=np.int64),
    )
    g = np.asarray(simulators.greedy(policy, jnp.arange(X))).reshape(X, -1)
    # The greedy response's column: match its tokens against the enumeration.
    match = np.all(tokens[None, :, : g.shape[1]] == g[:, None, :], axis=2)
    if not match.any(axis=1).all():
        raise ValueError("greedy decoding returned a response outside the enumeration")
    idx = match.argmax(axis=1)
    return TaskData(toy, idx, answers[idx] == correct_answer, label)


def policy_task(key: jax.Array, policy, task: str, noise: float, label: str) -> TaskData:
    """``policy`` with answers extracted by ``task`` and a ``noise``-tilted truth."""
    import simulators

    tokens, lengths = (np.asarray(a) for a in simulators.enumerate_responses(policy))
    answers = task_answers(task, tokens, lengths)
    logp = np.asarray(simulators.to_table(policy), dtype=np.float64)
    return make_task(policy, answers, tilted_truth(key, logp, answers, noise), label)


def family_task(
    key: jax.Array, family: str, task: str, num_prompts: int, noise: float, *, sharpness=1.0
) -> TaskData:
    """A random ``family`` policy with answers from ``task`` and a ``noise``-tilted truth."""
    k_pol, k_truth = jax.random.split(key)
    policy = family_policy(k_pol, family, num_prompts, sharpness=sharpness)
    return policy_task(k_truth, policy, task, noise, f"{family}, {task}")


def length_bias_policy(key: jax.Array, num_prompts: int, *, misleading: float = 0.5):
    """Short wrong answers vs long chains of thought (the GPT-3.5/GSM8k failure, section 5.2).

    Tokens ``{0: EOS, 1, 2}``, horizon 4. The first token is 2 ("answer now", mass ``s``) or 1
    ("think", mass ``1 - s``); "answer now" ends at once (``[2, EOS]``, answer 2, wrong). A chain
    of thought takes two free steps and ends with its answer token (1 correct, 2 wrong). No single
    chain is as likely as the short answer, so the sequence argmax, and best-of-N under the
    log-likelihood for large N, is the short wrong answer, while token-wise greedy decoding thinks.
    On a ``misleading`` fraction of prompts the greedy chain's last step favours the wrong answer
    while the other chains favour the correct one (greedy is then wrong, majority right).

    Returns:
      ``(policy, answers [Y], correct_answer [X])``.
    """
    import simulators
    from simulators import num_prefixes

    k = jax.random.split(key, 4)
    X = num_prompts
    s = np.asarray(jax.random.uniform(k[0], (X,), minval=0.25, maxval=0.35), dtype=np.float64)
    c = np.asarray(jax.random.uniform(k[1], (X, 2), minval=0.5, maxval=0.58), dtype=np.float64)
    f = np.asarray(jax.random.uniform(k[2], (X,), minval=0.8, maxval=0.98), dtype=np.float64)
    mislead = np.asarray(jax.random.uniform(k[3], (X,)), dtype=np.float64) < misleading
    Vt, Ht = 3, 4
    probs = np.full((X, num_prefixes(Vt, Ht), Vt), 1.0 / Vt)

    def node(prefix):
        n = 0
        for t in prefix:
            n = n * Vt + 1 + t
        return n

    probs[:, node([])] = np.stack([np.zeros(X), 1 - s, s], 1)
    probs[:, node([2])] = [1.0, 0.0, 0.0]
    probs[:, node([1])] = np.stack([np.zeros(X), c[:, 0], 1 - c[:, 0]], 1)
    for t1 in (1, 2):
        probs[:, node([1, t1])] = np.stack([np.zeros(X), c[:, 1], 1 - c[:, 1]], 1)
        for t2 in (1, 2):
            greedy_chain = t1 == 1 and t2 == 1
            p_right = np.where(mislead & greedy_chain, 1 - f, f)
            probs[:, node([1, t1, t2])] = np.stack([np.zeros(X), p_right, 1 - p_right], 1)
    policy = simulators.AutoregressivePolicy.from_probs(probs, eos=0)
    tokens, lengths = (np.asarray(a) for a in simulators.enumerate_responses(policy))
    answers = tokens[np.arange(len(tokens)), np.maximum(lengths - 1, 0)]
    answers = np.where(
        answers == 0, tokens[np.arange(len(tokens)), np.maximum(lengths - 2, 0)], answers
    )
    return policy, answers.astype(np.int64), np.ones(X, np.int64)


def length_bias_task(key: jax.Array, num_prompts: int) -> TaskData:
    """:func:`length_bias_policy` as a task."""
    policy, answers, truth = length_bias_policy(key, num_prompts)
    return make_task(policy, answers, truth, "length bias (short answers)")


# --------------------------------------------------------------------------------------------------
# Best-of-N accuracy curves.


def bon_accuracies(task: TaskData, ns, reward: str) -> np.ndarray:
    """Exact best-of-N accuracy for each N in ``ns`` (``bounds.bon_accuracy``)."""
    import bounds

    return np.asarray(bounds.bon_accuracy(task.toy, np.asarray(ns), reward), dtype=np.float64)


def majority_accuracies(
    key: jax.Array, task: TaskData, ns, reps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo best-of-N accuracy under majority vote: ``(mean [K], standard error [K])``."""
    import simulators

    hits = np.asarray(simulators.majority_prefix_correct(key, task.toy, ns, reps), np.float64)
    return hits.mean(axis=1), hits.std(axis=1, ddof=1) / math.sqrt(hits.shape[1])


def lift_percent(accuracy, greedy_accuracy):
    """``(acc - acc_greedy) / acc_greedy * 100`` (section 5.1), via ``simulators``' protocol."""
    from simulators import lift_percent as lift

    return lift(accuracy, greedy_accuracy)
