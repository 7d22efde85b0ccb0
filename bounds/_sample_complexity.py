"""Estimating sample complexities from experiments and comparing their scaling with the theorems.

A sample complexity in the paper is the least budget ``m`` at which an algorithm returns an
(eps, delta)-sharpened model (Definition 3.1) with probability at least ``1 - rho``. Here it is
estimated from a grid of success indicators (budget x seed), e.g. a sweep's DataFrame, or by
bisection on a callable, with a bootstrap confidence interval over seeds.

**The measured sample complexity** (one definition, used by every claim and figure): the least
budget of the grid from which on *every* larger budget of the grid also succeeds with frequency
``>= 1 - rho`` (:func:`minimal_budget`, ``monotone=True``; a lucky small budget followed by
failures does not count). For a two-parameter budget ``m = n N`` (SFT-Sharpening, Theorem 4.1:
``n`` prompts, ``N`` responses each) it is the least ``n N`` over ``n`` of the monotone least
``N`` at that ``n`` (:func:`minimal_product_budget`). Both have percentile-bootstrap intervals
resampling seeds (:func:`minimal_budget_ci`, :func:`minimal_product_budget_ci`). Scaling
exponents are scaling exponents are
fitted on log-log axes with standard errors (DESIGN.md: rates are tested by a fitted log-log slope
within a band around the theorem's exponent).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
from scipy import stats

from theory import error_at_most
from theory.checks import check_count, check_open_unit, tie_tolerance

__all__ = [
    "BudgetInterval",
    "ProductBudget",
    "SlopeFit",
    "fit_loglog_slope",
    "fit_scaling",
    "minimal_budget",
    "minimal_budget_bisect",
    "minimal_budget_ci",
    "minimal_product_budget",
    "minimal_product_budget_ci",
    "scaling_slope",
    "success_grid",
]

# Variables whose reciprocal is the natural scaling variable (m ~ (1/eps)^a, (1/delta)^b).
RECIPROCAL_VARIABLES = frozenset({"eps", "delta", "rho", "gamma_margin"})


def _check_grid(success: Any, budgets: Any) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(success)
    b = np.asarray(budgets, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"success must be a [B, S] (budget x seed) array, got shape {s.shape}")
    if s.dtype != np.bool_:
        if not np.isin(s, (0, 1)).all():
            raise ValueError("success must hold booleans (or 0/1) indicators")
        s = s.astype(bool)
    if b.ndim != 1 or b.shape[0] != s.shape[0]:
        raise ValueError(
            f"budgets must be a [B] vector matching success's first axis ({s.shape[0]}), "
            f"got shape {b.shape}"
        )
    if s.shape[1] < 1:
        raise ValueError("success must have at least one seed (column)")
    if not np.all(np.isfinite(b)) or np.any(np.diff(b) <= 0):
        raise ValueError("budgets must be finite and strictly increasing")
    return s, b


def success_grid(
    frame: Any,
    *,
    budget: str = "budget",
    seed: str = "seed",
    success: str = "success",
    metric: str | None = None,
    at_most: float | None = None,
    metric_column: str = "metric",
    value_column: str = "value",
) -> tuple[np.ndarray, np.ndarray]:
    """Turns a DataFrame of runs into the ``(budgets[B], success[B, S])`` grid.

    Two layouts are accepted: wide (one row per budget x seed with a column ``success``) or tidy
    (one row per budget x seed x metric, as :func:`simulators.sweep` returns; pass ``metric`` to
    select the rows whose ``metric_column`` equals it, the value being in ``value_column``). The
    success indicator is the column itself (booleans or 0/1), or ``value <= at_most`` when
    ``at_most`` is given, e.g. ``metric="sharpening_error", at_most=eps`` for Definition 3.1.

    Args:
      frame: the DataFrame, restricted to one setting (filter e.g. on ``setting`` first).
      budget: the budget column (e.g. ``"budget"``, ``"N_used"``, or a column ``m = n N`` added
        beforehand).
      seed: the seed column.
      success: the success column of a wide frame.
      metric: the metric to select in a tidy frame.
      at_most: success threshold on the value (``None``: the value is the indicator).
      metric_column, value_column: the tidy frame's column names.

    Raises:
      ValueError: missing columns, duplicate (budget, seed) rows, a budget without all seeds, or
        non-indicator values without ``at_most``.
    """
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    df = frame
    col = success
    if metric is not None:
        for c in (metric_column, value_column):
            if c not in df.columns:
                raise ValueError(f"frame has no column {c!r} (columns: {list(df.columns)})")
        df = df[df[metric_column] == metric]
        col = value_column
        if df.empty:
            raise ValueError(f"frame has no rows with {metric_column} == {metric!r}")
    for c in (budget, seed, col):
        if c not in df.columns:
            raise ValueError(f"frame has no column {c!r} (columns: {list(df.columns)})")
    if df.duplicated([budget, seed]).any():
        raise ValueError(
            f"frame has several rows for the same ({budget}, {seed}); filter it to one setting"
        )
    wide = df.pivot(index=budget, columns=seed, values=col).sort_index()
    if wide.isna().any().any():
        raise ValueError("every budget must have a result for every seed")
    values = wide.to_numpy()
    if at_most is not None:
        ok = error_at_most(values.astype(np.float64), at_most)
    else:
        if not np.isin(values.astype(np.float64), (0.0, 1.0)).all():
            raise ValueError(
                f"column {col!r} must hold success indicators (booleans or 0/1); pass at_most "
                "to threshold a metric such as the sharpening error"
            )
        ok = values.astype(bool)
    return wide.index.to_numpy(dtype=np.float64), ok


def _reaches(frequency: Any, rho: float) -> Any:
    """Whether a success frequency reaches 1 - rho; equality counts (7 of 10 at rho = 0.3,
    where 1 - 0.3 rounds above 0.7), within the tie tolerance."""
    return frequency >= (1.0 - rho) * (1.0 - tie_tolerance(np.float64))


def _minimal_budget(s: np.ndarray, b: np.ndarray, rho: float, monotone: bool) -> float:
    ok = _reaches(s.mean(axis=1), rho)
    if monotone:
        # The least budget from which on every larger budget succeeds too: a lucky small budget
        # followed by failures does not count.
        bad = np.nonzero(~ok)[0]
        first = 0 if bad.size == 0 else bad[-1] + 1
        return float(b[first]) if first < len(b) else math.inf
    good = np.nonzero(ok)[0]
    return float(b[good[0]]) if good.size else math.inf


def minimal_budget(success: Any, budgets: Any, rho: float, *, monotone: bool = True) -> float:
    """The least budget at which the success frequency over seeds is at least ``1 - rho``.

    Args:
      success: ``[B, S]`` bool, ``success[b, s]`` = the run with seed ``s`` at budget ``b`` was
        (eps, delta)-sharpened.
      budgets: ``[B]`` strictly increasing budgets ``m``.
      rho: the allowed failure probability, in (0, 1).
      monotone: if True (default), the least budget from which on *every* larger budget of the
        grid also reaches ``1 - rho``; if False, the first budget that does.

    Returns:
      The budget, or ``inf`` when no budget of the grid qualifies.
    """
    s, b = _check_grid(success, budgets)
    check_open_unit(rho, "rho")
    return _minimal_budget(s, b, rho, monotone)


class BudgetInterval(NamedTuple):
    """A minimal budget with a percentile-bootstrap confidence interval over seeds.

    Attributes:
      budget: the estimate from all seeds.
      low, high: the interval's ends (``inf`` when resamples never reach ``1 - rho``).
      samples: ``[num_bootstrap]`` the bootstrap estimates.
    """

    budget: float
    low: float
    high: float
    samples: np.ndarray


def minimal_budget_ci(
    key: jax.Array,
    success: Any,
    budgets: Any,
    rho: float,
    *,
    num_bootstrap: int = 1000,
    level: float = 0.95,
    monotone: bool = True,
) -> BudgetInterval:
    """:func:`minimal_budget` with a percentile-bootstrap interval, resampling seeds.

    Each resample draws ``S`` seeds with replacement (the same seeds for every budget, keeping the
    within-seed dependence across budgets) and recomputes the minimal budget.

    Args:
      key: PRNG key for the resampling.
      success, budgets, rho, monotone: as in :func:`minimal_budget`.
      num_bootstrap: number of resamples (>= 1).
      level: coverage of the interval, in (0, 1).
    """
    s, b = _check_grid(success, budgets)
    check_open_unit(rho, "rho")
    samples, low, high = _bootstrap(
        key, s.shape[1], num_bootstrap, level, lambda i: _minimal_budget(s[:, i], b, rho, monotone)
    )
    return BudgetInterval(_minimal_budget(s, b, rho, monotone), low, high, samples)


class ProductBudget(NamedTuple):
    """The measured sample complexity of a two-parameter budget ``m = n N``.

    Attributes:
      m: the least ``n N`` (``inf`` when no budget of the grid qualifies).
      n, N: the grid values attaining it (``0, 0`` when none does).
    """

    m: float
    n: int
    N: int


def _check_product_grid(success: Any, n_grid: Any, N_grid: Any):
    s = np.asarray(success)
    if s.ndim != 3:
        raise ValueError(
            f"success must be an [n, N, S] (prompts x responses x seed) array, got shape {s.shape}"
        )
    n = np.asarray(n_grid, dtype=np.float64)
    if n.ndim != 1 or n.shape[0] != s.shape[0]:
        raise ValueError(
            f"n_grid must be a [n] vector matching success's first axis ({s.shape[0]}), "
            f"got shape {n.shape}"
        )
    if not np.all(np.isfinite(n)) or np.any(n <= 0):
        raise ValueError("n_grid must hold finite positive numbers of prompts")
    checked = [_check_grid(s[i], N_grid) for i in range(s.shape[0])]
    return np.stack([c[0] for c in checked]), n, checked[0][1]


def _minimal_product_budget(s, n, N, rho: float, monotone: bool) -> ProductBudget:
    best = ProductBudget(math.inf, 0, 0)
    for i in range(s.shape[0]):
        m = n[i] * _minimal_budget(s[i], N, rho, monotone)
        if m < best.m:
            best = ProductBudget(float(m), int(n[i]), int(m / n[i]))
    return best


def minimal_product_budget(
    success: Any, n_grid: Any, N_grid: Any, rho: float, *, monotone: bool = True
) -> ProductBudget:
    """The measured sample complexity ``m = n N`` of SFT-Sharpening (Theorem 4.1).

    For each ``n`` of the grid the least ``N`` is :func:`minimal_budget` over the ``N`` grid (by
    default the least ``N`` from which on every larger ``N`` succeeds with frequency ``>= 1 -
    rho``); the sample complexity is the least ``n N`` over ``n`` (ties: the smaller ``n``).

    Args:
      success: ``[n, N, S]`` bool, the run with ``n_grid[i]`` prompts, ``N_grid[j]`` responses
        and seed ``s`` was (eps, delta)-sharpened.
      n_grid: ``[n]`` numbers of prompts (positive).
      N_grid: ``[N]`` strictly increasing numbers of responses per prompt.
      rho, monotone: as in :func:`minimal_budget`.
    """
    s, n, N = _check_product_grid(success, n_grid, N_grid)
    check_open_unit(rho, "rho")
    return _minimal_product_budget(s, n, N, rho, monotone)


def _bootstrap(
    key, S: int, num_bootstrap: int, level: float, estimate
) -> tuple[np.ndarray, float, float]:
    """Percentile bootstrap over seeds: ``estimate(index)`` on ``num_bootstrap`` resamples of the
    ``S`` seeds drawn with replacement (the same seeds at every budget)."""
    check_open_unit(level, "level")
    num_bootstrap = check_count(num_bootstrap, "num_bootstrap")
    idx = np.asarray(jax.random.randint(key, (num_bootstrap, S), 0, S))
    samples = np.array([estimate(i) for i in idx])
    alpha = 1.0 - level
    low, high = np.quantile(samples, [alpha / 2, 1.0 - alpha / 2], method="inverted_cdf")
    return samples, float(low), float(high)


def minimal_product_budget_ci(
    key: jax.Array,
    success: Any,
    n_grid: Any,
    N_grid: Any,
    rho: float,
    *,
    num_bootstrap: int = 1000,
    level: float = 0.95,
    monotone: bool = True,
) -> BudgetInterval:
    """:func:`minimal_product_budget`'s ``m`` with a percentile-bootstrap interval over seeds
    (as :func:`minimal_budget_ci`)."""
    s, n, N = _check_product_grid(success, n_grid, N_grid)
    check_open_unit(rho, "rho")
    samples, low, high = _bootstrap(
        key,
        s.shape[2],
        num_bootstrap,
        level,
        lambda i: _minimal_product_budget(s[:, :, i], n, N, rho, monotone).m,
    )
    return BudgetInterval(_minimal_product_budget(s, n, N, rho, monotone).m, low, high, samples)


def minimal_budget_bisect(
    success_fn: Callable[[int], Any], lo: int, hi: int, rho: float, *, rtol: float = 0.0
) -> int:
    """The least integer budget in ``(lo, hi]`` with success frequency ``>= 1 - rho``, by bisection.

    Assumes the success frequency is non-decreasing in the budget (true in expectation for the
    algorithms here; with few seeds the answer is an estimate, see :func:`minimal_budget_ci`).

    Args:
      success_fn: ``budget -> [S]`` bool success indicators over seeds (the same seeds at every
        budget, so that the comparison between budgets is paired).
      lo: a budget known to fail (``success_fn`` is not evaluated there; use 0 for none).
      hi: a budget that must succeed (checked; ValueError otherwise).
      rho: in (0, 1).
      rtol: stop when ``hi - lo <= rtol * hi`` (0: exact integer bisection); geometric midpoints
        are used so that budgets spanning decades cost ``O(log log)`` evaluations per decade.

    Returns:
      The least succeeding budget found (``hi`` of the final bracket).
    """
    check_open_unit(rho, "rho")
    hi = check_count(hi, "hi")
    if not isinstance(lo, (int, np.integer)) or lo < 0 or lo >= hi:
        raise ValueError(f"lo must be an integer in [0, hi), got {lo!r}")
    if rtol < 0:
        raise ValueError(f"rtol must be >= 0, got {rtol}")

    def ok(m: int) -> bool:
        s = np.asarray(success_fn(m))
        if s.ndim != 1 or s.size == 0:
            raise ValueError(f"success_fn must return a [S] bool array, got shape {s.shape}")
        return bool(_reaches(s.astype(bool).mean(), rho))

    if not ok(hi):
        raise ValueError(f"the budget hi={hi} does not reach success frequency 1 - rho")
    lo = int(lo)
    while hi - lo > max(1, rtol * hi):
        mid = int(math.sqrt(lo * hi)) if lo > 0 else (lo + hi) // 2
        mid = min(max(mid, lo + 1), hi - 1)
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return int(hi)


class SlopeFit(NamedTuple):
    """A least-squares fit of ``log y = intercept + slope * log x``.

    Attributes:
      slope: the fitted exponent.
      intercept: the fitted ``log`` prefactor (natural log).
      stderr: the slope's standard error (``nan`` with two points).
      low, high: the ``level`` confidence interval for the slope (Student t, ``n - 2`` dof).
      num_points: number of points used.
      r2: coefficient of determination of the log-log fit.
    """

    slope: float
    intercept: float
    stderr: float
    low: float
    high: float
    num_points: int
    r2: float


def fit_loglog_slope(x: Any, y: Any, *, level: float = 0.95, weights: Any = None) -> SlopeFit:
    """Fits ``y ~ exp(a) x^slope`` by (weighted) least squares on ``(log x, log y)``.

    Args:
      x, y: ``[n]`` positive finite values (n >= 2).
      level: confidence level of the slope interval, in (0, 1).
      weights: optional ``[n]`` positive weights (e.g. inverse variances of ``log y``).

    Returns:
      :class:`SlopeFit`.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    check_open_unit(level, "level")
    if x.ndim != 1 or y.shape != x.shape:
        raise ValueError(
            f"x and y must be [n] vectors of equal length, got {x.shape} and {y.shape}"
        )
    if x.size < 2:
        raise ValueError(f"need at least 2 points to fit a slope, got {x.size}")
    for name, v in (("x", x), ("y", y)):
        if not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise ValueError(f"{name} must be positive and finite for a log-log fit, got {v}")
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != x.shape or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError(f"weights must be [n] positive finite values, got {weights}")
    lx, ly = np.log(x), np.log(y)
    if np.ptp(lx) == 0:
        raise ValueError("x must take at least two distinct values")
    W = w.sum()
    mx, my = (w @ lx) / W, (w @ ly) / W
    sxx = w @ (lx - mx) ** 2
    slope = (w @ ((lx - mx) * (ly - my))) / sxx
    intercept = my - slope * mx
    resid = ly - intercept - slope * lx
    n = x.size
    syy = w @ (ly - my) ** 2
    r2 = 1.0 - (w @ resid**2) / syy if syy > 0 else 1.0
    if n > 2:
        sigma2 = (w @ resid**2) / (n - 2)
        stderr = math.sqrt(sigma2 / sxx)
        t = stats.t.ppf(0.5 + level / 2, n - 2)
        low, high = slope - t * stderr, slope + t * stderr
    else:
        stderr, low, high = math.nan, math.nan, math.nan
    return SlopeFit(float(slope), float(intercept), stderr, low, high, n, float(r2))


def fit_scaling(
    values: Any,
    budgets: Any,
    variable: str,
    *,
    divide_by: Callable[[np.ndarray], np.ndarray] | None = None,
    level: float = 0.95,
) -> SlopeFit:
    """The exponent of a sample complexity in one problem parameter.

    The scaling variable is the parameter itself (``C_cov``, ``C_bar_cov``, ``C_conc``, ``d``,
    ``log_card``, ...) or, for ``eps``, ``delta``, ``rho`` and ``gamma_margin``, its reciprocal, so
    that Theorem 4.1's ``m ~ C_cov log(1/delta) / (delta eps^2)`` has exponents 1 in ``C_cov`` and 2
    in ``1/eps``.

    Args:
      values: ``[n]`` the parameter's values.
      budgets: ``[n]`` the measured sample complexities (e.g. :func:`minimal_budget`).
      variable: the parameter's name (decides whether the reciprocal is taken).
      divide_by: optional map of the parameter's values to a known non-power factor to divide the
        budgets by before fitting, e.g. ``lambda delta: np.log(1 / delta)`` for the
        ``log(1/delta)/delta`` dependence.
      level: confidence level.
    """
    v = np.asarray(values, dtype=np.float64)
    m = np.asarray(budgets, dtype=np.float64)
    if divide_by is not None:
        m = m / np.asarray(divide_by(v), dtype=np.float64)
    x = 1.0 / v if variable in RECIPROCAL_VARIABLES else v
    return fit_loglog_slope(x, m, level=level)


def scaling_slope(
    frame: Any,
    by: str,
    rho: float,
    *,
    budget: str = "budget",
    seed: str = "seed",
    success: str = "success",
    metric: str | None = None,
    at_most: float | None = None,
    divide_by: Callable[[np.ndarray], np.ndarray] | None = None,
    level: float = 0.95,
) -> tuple[SlopeFit, Any]:
    """Minimal budgets per value of ``by`` in a sweep frame, and their fitted scaling exponent.

    Groups ``frame`` by the column ``by`` (e.g. ``"C_cov"``, ``"eps"``, ``"delta"``, ``"d"``),
    computes :func:`minimal_budget` in each group from its (budget x seed) success grid
    (:func:`success_grid`, with the same ``budget``, ``seed``, ``success``, ``metric`` and
    ``at_most``), and fits :func:`fit_scaling` over the groups that reached ``1 - rho`` within
    their grid.

    Returns:
      ``(fit, table)``: the :class:`SlopeFit` and a DataFrame with columns ``by`` and
      ``minimal_budget`` (``inf`` for groups that never reached ``1 - rho``, excluded from the fit).
    """
    import pandas as pd

    if by not in frame.columns:
        raise ValueError(f"frame has no column {by!r} (columns: {list(frame.columns)})")
    rows = []
    for value, group in frame.groupby(by, sort=True):
        b, s = success_grid(
            group, budget=budget, seed=seed, success=success, metric=metric, at_most=at_most
        )
        rows.append({by: value, "minimal_budget": minimal_budget(s, b, rho)})
    table = pd.DataFrame(rows)
    finite = table[np.isfinite(table["minimal_budget"])]
    if len(finite) < 2:
        raise ValueError(
            f"fewer than two values of {by!r} reached success frequency 1 - rho; widen the budgets"
        )
    fit = fit_scaling(
        finite[by].to_numpy(),
        finite["minimal_budget"].to_numpy(),
        by,
        divide_by=divide_by,
        level=level,
    )
    return fit, table
