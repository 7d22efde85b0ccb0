"""The figures' helpers: toy tasks and the least-budget search."""

import jax
import numpy as np
import pytest

from paper_figs import _measure, _toy_tasks


def test_fixed_success_is_the_per_seed_runs_of_sft_sharpening():
    """The figures' SFT grid (through ``simulators.sweep`` and ``run_tabular_sft``) is, cell by
    cell, the run of ``simulators.sft_sharpening`` with the sweep seed's key and that budget."""
    import bounds
    import simulators
    import theory

    logp, mu = bounds.hard_instance(np.array([1, 2]), 6, 0.3)
    eps, delta, n_grid, N_grid, S = 0.1, 0.2, [2, 5], [1, 4], 3
    ok = _measure.fixed_success(logp, mu, eps, delta, n_grid, N_grid, S, seed=2)
    assert ok.shape == (2, 2, S) and ok.dtype == bool
    oracle = simulators.SampleEvaluateOracle(simulators.TabularPolicy(logp), mu)
    model_class = simulators.TabularClass(*logp.shape)
    for s_i, s in enumerate(_measure._seeds(S, 2)):
        for i, n in enumerate(n_grid):
            for j, N in enumerate(N_grid):
                res = simulators.sft_sharpening(
                    jax.random.key(int(s)), oracle, model_class, 5, 4, n_used=n, N_used=N
                )
                err = theory.sharpening_error(res.policy.logp, logp, mu, delta)
                assert bool(ok[i, j, s_i]) == bool(theory.error_at_most(err, eps))


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
    """Every n of the grid is exactly the run of ``simulators.adaptive_sft_sharpening`` with n
    prompts and the sweep seed's key. A cap of 6 draws truncates the runs that draw a hard prompt
    (the stopping rule needs 7 or more there): those count as failures."""
    import bounds
    import simulators
    import theory

    logp, mu = bounds.hard_instance(np.array([1, 2]), 6, 0.3)
    inst = _measure.HardInstance(logp, mu, M=6, Delta=0.3, c_cov=0, c_bar_cov=0, log_card=0)
    eps, delta, cap, n_grid, S = 0.1, 0.2, 6, [2, 5], 4
    ok, mean_m = _measure.adaptive_success(inst, eps, delta, n_grid, S, seed=3, cap=cap)
    assert ok.shape == (2, S) and mean_m.shape == (2,)
    oracle = simulators.SampleEvaluateOracle(simulators.TabularPolicy(logp), mu)
    model_class = simulators.TabularClass(*logp.shape)
    hits, queries = [], np.zeros((2, S))
    for s_i, s in enumerate(_measure._seeds(S, 3)):
        for b, n in enumerate(n_grid):
            res = simulators.adaptive_sft_sharpening(
                jax.random.key(int(s)), oracle, model_class, n, cap=cap, delta=delta, on_cap="flag"
            )
            hit = bool(res.diagnostics["cap_hit"])
            err = theory.sharpening_error(res.policy.logp, logp, mu, delta)
            assert bool(ok[b, s_i]) == (bool(theory.error_at_most(err, eps)) and not hit)
            hits.append(hit)
            queries[b, s_i] = int(res.queries)
    assert 0 < sum(hits) < len(hits)  # both kinds of runs occur
    np.testing.assert_array_equal(mean_m, queries.mean(axis=1))
