"""Sample-complexity estimation: minimal budgets, bootstrap intervals, bisection, slope fits."""

import math

import jax
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bounds

BUDGETS = np.array([10, 20, 40, 80, 160])


def _grid(rates, S=20):
    """success[b, s] = s < rate_b * S: exactly the given success frequencies."""
    return np.array([[s < r * S for s in range(S)] for r in rates])


def test_minimal_budget_monotone_and_first():
    succ = _grid([0.5, 0.95, 0.8, 0.95, 1.0])
    assert bounds.minimal_budget(succ, BUDGETS, 0.1) == 80.0
    assert bounds.minimal_budget(succ, BUDGETS, 0.1, monotone=False) == 20.0
    assert bounds.minimal_budget(succ, BUDGETS, 0.3) == 20.0
    assert bounds.minimal_budget(_grid([0, 0, 0, 0, 0.5]), BUDGETS, 0.1) == math.inf


@pytest.mark.parametrize("k", range(1, 10))
def test_minimal_budget_counts_a_frequency_equal_to_one_minus_rho(k):
    # k of 10 seeds succeed at every budget: 1 - rho = k/10 is reached (1 - 0.7 rounds above 0.3).
    succ = np.zeros((5, 10), bool)
    succ[:, :k] = True
    assert bounds.minimal_budget(succ, BUDGETS, 1 - k / 10) == 10.0
    assert bounds.minimal_budget(succ, BUDGETS, 1 - k / 10 - 1e-9) == math.inf
    assert bounds.minimal_budget_bisect(lambda m: succ[0], 0, 64, 1 - k / 10) == 1


def test_minimal_budget_ci():
    # A sharp threshold: every seed succeeds from budget 40 on, none before.
    succ = _grid([0, 0, 1, 1, 1], S=40)
    ci = bounds.minimal_budget_ci(jax.random.key(0), succ, BUDGETS, 0.1, num_bootstrap=300)
    assert ci.budget == ci.low == ci.high == 40.0
    # A noisy one: the interval brackets the estimate.
    rng = np.random.default_rng(0)
    p = np.array([0.2, 0.6, 0.85, 0.93, 0.99])
    succ = rng.random((5, 40)) < p[:, None]
    ci = bounds.minimal_budget_ci(jax.random.key(1), succ, BUDGETS, 0.1, num_bootstrap=300)
    assert ci.low <= ci.budget <= ci.high
    assert ci.samples.shape == (300,)


def test_minimal_budget_bisect():
    calls = []

    def success_fn(m):
        calls.append(m)
        return np.arange(10) < (10 if m >= 377 else 5)

    assert bounds.minimal_budget_bisect(success_fn, 0, 10_000, 0.1) == 377
    n_exact = len(calls)
    assert n_exact <= 2 * math.ceil(math.log2(10_000)) + 2
    calls.clear()
    approx = bounds.minimal_budget_bisect(success_fn, 0, 10_000, 0.1, rtol=0.05)
    assert 377 <= approx <= 377 * 1.06 and len(calls) < n_exact
    with pytest.raises(ValueError, match="hi"):
        bounds.minimal_budget_bisect(success_fn, 0, 100, 0.1)


def test_fit_loglog_slope_matches_linregress():
    rng = np.random.default_rng(3)
    x = np.geomspace(1, 1000, 12)
    y = 3.0 * x**1.7 * np.exp(rng.normal(scale=0.2, size=x.size))
    fit = bounds.fit_loglog_slope(x, y)
    ref = stats.linregress(np.log(x), np.log(y))
    assert fit.slope == pytest.approx(ref.slope, rel=1e-12)
    assert fit.intercept == pytest.approx(ref.intercept, rel=1e-12)
    assert fit.stderr == pytest.approx(ref.stderr, rel=1e-10)
    assert fit.low < 1.7 < fit.high
    assert fit.r2 == pytest.approx(ref.rvalue**2, rel=1e-10)
    exact = bounds.fit_loglog_slope(x, 2 * x**-2.0)
    assert exact.slope == pytest.approx(-2.0, rel=1e-12) and exact.stderr < 1e-12


def test_fit_scaling_reciprocal_and_divide_by():
    delta = np.geomspace(0.01, 0.3, 7)
    m = 5.0 * np.log(1 / delta) / delta
    fit = bounds.fit_scaling(delta, m, "delta", divide_by=lambda d: np.log(1 / d))
    assert fit.slope == pytest.approx(1.0, rel=1e-12)
    C = np.array([1.0, 2.0, 4.0])
    assert bounds.fit_scaling(C, 7 * C, "C_cov").slope == pytest.approx(1.0, rel=1e-12)


def _frame(scale_by_C, Cs=(1.0, 2.0, 4.0, 8.0), seeds=10):
    budgets = np.geomspace(10, 10_000, 31).round()
    rows = []
    for C in Cs:
        for b in budgets:
            for s in range(seeds):
                # Seed s succeeds once the budget exceeds a seed-dependent threshold ~ C.
                rows.append(
                    {
                        "C_cov": C,
                        "budget": b,
                        "seed": s,
                        "success": b >= scale_by_C * C * (1 + s / 20),
                    }
                )
    return pd.DataFrame(rows)


def test_scaling_slope_on_a_frame():
    fit, table = bounds.scaling_slope(_frame(100.0), "C_cov", 0.1)
    assert list(table["C_cov"]) == [1.0, 2.0, 4.0, 8.0]
    assert 0.9 <= fit.slope <= 1.1
    # Tidy layout with a metric column gives the same grid.
    df = _frame(100.0).rename(columns={"success": "value"}).assign(metric="success")
    b1, s1 = bounds.success_grid(_frame(100.0)[lambda f: f.C_cov == 1.0])
    b2, s2 = bounds.success_grid(df[df.C_cov == 1.0], metric="success")
    np.testing.assert_array_equal(b1, b2)
    np.testing.assert_array_equal(s1, s2)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: bounds.minimal_budget(np.ones(5, bool), BUDGETS, 0.1), "success"),
        (lambda: bounds.minimal_budget(np.ones((4, 3), bool), BUDGETS, 0.1), "budgets"),
        (lambda: bounds.minimal_budget(np.ones((5, 3), bool), BUDGETS[::-1], 0.1), "budgets"),
        (lambda: bounds.minimal_budget(np.ones((5, 3), bool), BUDGETS, 1.0), "rho"),
        (lambda: bounds.fit_loglog_slope([1.0], [1.0]), "2 points"),
        (lambda: bounds.fit_loglog_slope([1.0, -2.0], [1.0, 2.0]), "x"),
        (lambda: bounds.fit_loglog_slope([1.0, 2.0], [1.0, 0.0]), "y"),
        (lambda: bounds.success_grid(pd.DataFrame({"budget": [1]})), "seed"),
        (lambda: bounds.scaling_slope(_frame(1e9), "C_cov", 0.1), "fewer than two"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_success_grid_thresholds_a_metric():
    # A sweep-style tidy frame: the sharpening error per (budget, seed); success = error <= eps.
    rows = [
        {
            "setting": "a",
            "seed": s,
            "N_used": b,
            "metric": "sharpening_error",
            "value": 1.0 / b + s / 100,
        }
        for b in (1, 2, 4, 8, 16, 32)
        for s in range(5)
    ]
    df = pd.DataFrame(rows)
    b, ok = bounds.success_grid(df, budget="N_used", metric="sharpening_error", at_most=0.2)
    np.testing.assert_array_equal(b, [1, 2, 4, 8, 16, 32])
    np.testing.assert_array_equal(ok, (1.0 / b[:, None] + np.arange(5) / 100) <= 0.2)
    assert bounds.minimal_budget(ok, b, 0.1) == 8.0
    with pytest.raises(ValueError, match="at_most"):
        bounds.success_grid(df, budget="N_used", metric="sharpening_error")


# --------------------------------------------------------------------------------------------
# The measured sample complexity of a two-parameter budget m = n N (Theorem 4.1).


def _product_grid(rates, S=20):
    """success[i, j, s] with exactly the success frequencies rates[i][j]."""
    return np.stack([_grid(r, S) for r in rates])


def test_minimal_product_budget_is_the_least_monotone_n_times_N():
    n_grid, N_grid = np.array([2, 4, 8]), BUDGETS
    rates = [
        [0.0, 0.0, 0.0, 0.0, 0.5],  # never reaches 0.9: inf
        [0.95, 0.5, 0.9, 0.95, 1.0],  # lucky N = 10, then a failure: the monotone N is 40
        [0.0, 0.9, 1.0, 1.0, 1.0],  # N = 20
    ]
    succ = _product_grid(rates)
    # Brute force: for each n the monotone least N, then the least n N.
    expect = min((n * bounds.minimal_budget(succ[i], N_grid, 0.1), n) for i, n in enumerate(n_grid))
    got = bounds.minimal_product_budget(succ, n_grid, N_grid, 0.1)
    assert got == (expect[0], expect[1], expect[0] / expect[1]) == (160.0, 4, 40)
    assert isinstance(got, bounds.ProductBudget)
    # The non-monotone rule takes the lucky cell: the two definitions differ on this grid.
    assert bounds.minimal_product_budget(succ, n_grid, N_grid, 0.1, monotone=False) == (40.0, 4, 10)
    assert bounds.minimal_product_budget(succ[:1], n_grid[:1], N_grid, 0.1) == (math.inf, 0, 0)


def test_minimal_product_budget_ci_brackets_its_estimate():
    rates = [[0.2, 0.6, 0.9, 1.0, 1.0], [0.6, 0.9, 1.0, 1.0, 1.0]]
    succ = _product_grid(rates, S=40)
    ci = bounds.minimal_product_budget_ci(
        jax.random.PRNGKey(0), succ, [1, 2], BUDGETS, 0.2, num_bootstrap=200
    )
    assert ci.budget == bounds.minimal_product_budget(succ, [1, 2], BUDGETS, 0.2).m
    assert ci.low <= ci.budget <= ci.high and ci.samples.shape == (200,)


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.ones((2, 5)), [1, 2], BUDGETS), r"\[n, N, S\]"),
        ((np.ones((2, 5, 3), bool), [1, 2, 3], BUDGETS), "n_grid"),
        ((np.ones((2, 5, 3), bool), [1, 0], BUDGETS), "positive"),
        ((np.ones((2, 5, 3), bool), [1, 2], BUDGETS[::-1]), "increasing"),
    ],
)
def test_minimal_product_budget_refuses_bad_grids(args, match):
    with pytest.raises(ValueError, match=match):
        bounds.minimal_product_budget(*args, rho=0.1)
