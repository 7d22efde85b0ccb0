"""The figures' helpers: toy tasks and the least-budget search."""

import jax
import numpy as np
import pytest

from paper_figs import _measure, _toy_tasks


def test_least_budget_picks_the_cheapest_successful_cell():
    n_grid, N_grid = [2, 4, 8], [1, 3, 9]
    freq = np.array([[0.0, 0.5, 0.9], [0.2, 0.8, 1.0], [0.7, 0.76, 1.0]])
    # Cells with freq >= 0.75: (2,9)=18, (4,3)=12, (4,9)=36, (8,3)=24, (8,9)=72 -> (4, 3).
    assert _measure.least_budget(freq, n_grid, N_grid, 0.25) == (12.0, 4, 3)
    assert _measure.least_budget(np.zeros((3, 3)), n_grid, N_grid, 0.25) == (float("inf"), 0, 0)


def test_task_answers_read_tabular_indices_as_digits():
    # y = 5 over V = 3, H = 4 is the token sequence (0, 0, 1, 2).
    tokens, lengths = np.array([[5]]), np.array([1])
    got = {t: int(_toy_tasks.task_answers(t, tokens, lengths)[0]) for t in _toy_tasks.TASKS}
    assert got == {"first_token": 0, "last_token": 2, "sum_mod": 0, "count_top": 1}
    with pytest.raises(ValueError, match="task must be one of"):
        _toy_tasks.task_answers("nope", tokens, lengths)


def test_tilted_truth_without_noise_is_the_answer_marginal_mode():
    logp = np.log(np.array([[0.3, 0.25, 0.25, 0.2], [0.1, 0.5, 0.1, 0.3]]))
    answers = np.array([0, 1, 1, 2])
    truth = _toy_tasks.tilted_truth(jax.random.PRNGKey(0), logp, answers, 0.0)
    # Marginals: prompt 0 -> (0.3, 0.5, 0.2), prompt 1 -> (0.1, 0.6, 0.3).
    assert truth.tolist() == [1, 1]


def test_length_bias_task_structure():
    task = _toy_tasks.length_bias_task(jax.random.PRNGKey(0), 16)
    logp = np.asarray(task.toy.logp)
    correct = np.asarray(task.toy.correct)
    lengths = np.asarray(task.toy.lengths)
    top = logp.argmax(axis=1)
    # The sequence argmax is the short answer, and it is wrong on every prompt ...
    assert (lengths[np.arange(16), top] == 2).all() and not correct[np.arange(16), top].any()
    # ... while greedy decoding takes a chain of thought (length 4).
    assert (lengths[np.arange(16), task.greedy_index] == 4).all()
    acc = _toy_tasks.bon_accuracies(task, [1, 400], "log_likelihood")
    assert acc[1] < 1e-6 < acc[0]
    assert 0 < task.greedy_accuracy <= 1


def test_majority_accuracy_at_one_sample_is_the_correct_mass():
    task = _toy_tasks.length_bias_task(jax.random.PRNGKey(1), 16)
    reps = 200
    mean, se = _toy_tasks.majority_accuracies(jax.random.PRNGKey(2), task, [1], reps)
    exact = float(
        np.mean(np.sum(np.exp(np.asarray(task.toy.logp)) * np.asarray(task.toy.correct), 1))
    )
    # With N = 1 the vote returns the single sample: its accuracy is the mass on correct answers.
    assert abs(mean[0] - exact) <= 5 * np.sqrt(exact * (1 - exact) / (16 * reps))
    assert se[0] > 0


def test_adaptive_success_every_n_is_a_separate_run():
    """One compiled draw of n_max prompts serves every n: exactly the runs of
    ``simulators.adaptive_sft_sharpening`` with n prompts and the same key. A cap of 6 draws
    truncates the runs that draw a hard prompt (the stopping rule needs 7 or more there)."""
    import bounds
    import simulators
    import theory

    logp, mu = bounds.hard_instance(np.array([1, 2]), 6, 0.3)
    delta, cap, n_grid = 0.2, 6, np.array([2, 5])
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    err, m, cap_hit = _measure._adaptive_runs(
        keys, logp, mu, jax.numpy.asarray(delta), jax.numpy.asarray(n_grid), n_max=5, cap=cap
    )
    assert 0 < np.asarray(cap_hit).sum() < cap_hit.size  # both kinds of runs occur
    oracle = simulators.SampleEvaluateOracle(simulators.TabularPolicy(logp), mu)
    model_class = simulators.TabularClass(*logp.shape)
    for s, key in enumerate(keys):
        for b, n in enumerate(n_grid):
            res = simulators.adaptive_sft_sharpening(
                key, oracle, model_class, int(n), cap=cap, delta=delta, on_cap="flag"
            )
            assert float(err[s, b]) == float(
                theory.sharpening_error(res.policy.logp, logp, mu, delta)
            )
            assert int(m[s, b]) == int(res.queries)
            assert bool(cap_hit[s, b]) == bool(res.diagnostics["cap_hit"])
