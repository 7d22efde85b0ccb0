"""SFT-Sharpening's sample complexity (Sec. 4.1, App. D, I) and its comparison with the squared
loss of RLHF-Sharpening (Sec. 4.2): claims C3 (Thm 4.1), C5 (Thm D.1, Lemma I.1) and C8 (Thm 4.2).

The three claims' SFT-Sharpening runs share one compiled sweep (``simulators.run_tabular_sft``):
every instance is padded to the same ``[X, Y]`` and every setting gets the same ``(n, N)`` budget
grid, so the claims share one family of settings, :class:`SFTSettings`. Budgets are array leaves of
a ``simulators.sweep`` experiment, so all budgets of a seed reuse one draw of the largest sample.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

import simulators as sim
import theory
from simulators.experiments import AdaptiveSFTConfig, DPOConfig, run_adaptive_sft, run_dpo

from ._registry import Outcome, claim
from ._stats import cube, fmt_band, grid_step, in_band, least_nN, log_grid, slope, z_critical


@dataclasses.dataclass(frozen=True)
class SFTSweep:
    """The shared sweep: instances padded to ``shape = (X, Y)``, ``n`` in ``n_grid``, ``N`` on a
    log grid of about ``N_num`` integers from 1 to ``N_max``, ``seeds`` seeds (in batches of
    ``seed_batch_size``; None: all at once)."""

    shape: tuple[int, int]
    n_grid: tuple[int, ...]
    N_max: int
    N_num: int
    seeds: int
    seed_batch_size: int | None


@dataclasses.dataclass(frozen=True)
class C3Params:
    """C3: the coverage instances (Thm 4.1) and the eps and delta of the reported exponents."""

    coverages: tuple[float, ...]
    eps: float = 0.1
    delta: float = 0.1
    rho: float = 0.2
    deltas: tuple[float, ...] = (0.05, 0.2, 0.4)
    epss: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4)


@dataclasses.dataclass(frozen=True)
class C5Params:
    """C5: Theorem 3.1's hard instance at each ``eps`` (Thm D.1 vs Thm 4.1), Lemma I.1's Monte
    Carlo trials, the adaptive run's budget grid (``n_num`` log-spaced ``n`` up to ``n_hi``) and
    seeds, and whether the generic coverage instance runs too."""

    eps: tuple[float, ...]
    lemma_trials: int
    n_hi: int
    n_num: int
    seeds: int
    seed_batch_size: int | None
    generic: bool
    C: float = 1.0
    d: int = 4
    delta: float = 0.2
    rho: float = 0.2


@dataclasses.dataclass(frozen=True)
class C8Params:
    """C8: coverage instances with an exact margin (Thm 4.2), one per ``margins``."""

    margins: tuple[float, ...]
    X: int = 16
    Y: int = 16
    c_cov: float = 4.0
    eps: float = 0.1
    delta: float = 0.1
    rho: float = 0.2


@dataclasses.dataclass(frozen=True)
class SFTSettings:
    """The settings of C3, C5 and C8: the shared sweep and each claim's own."""

    sweep: SFTSweep
    c3: C3Params
    c5: C5Params
    c8: C8Params


SFT_QUICK = SFTSettings(
    sweep=SFTSweep(
        shape=(16, 128),
        n_grid=tuple(2**k for k in range(1, 9)),
        N_max=512,
        N_num=40,
        seeds=16,
        seed_batch_size=None,
    ),
    c3=C3Params(coverages=(4.0, 12.0, 40.0)),
    c5=C5Params(
        eps=(0.05, 0.025, 0.0125),
        lemma_trials=1_000,
        n_hi=256,
        n_num=50,
        seeds=64,
        seed_batch_size=None,
        generic=False,
    ),
    c8=C8Params(margins=(0.02, 0.1, 0.5)),
)
SFT_FULL = SFTSettings(
    # Seeds in batches of 2 bound the memory of the n x N draws.
    sweep=SFTSweep(
        shape=(16, 256),
        n_grid=tuple(2**k for k in range(1, 10)),
        N_max=1024,
        N_num=45,
        seeds=32,
        seed_batch_size=2,
    ),
    c3=C3Params(coverages=(4.0, 8.0, 16.0, 32.0, 64.0)),
    # Seeds in batches of 8 bound the memory of the n x cap draws.
    c5=C5Params(
        eps=(0.05, 0.035, 0.025, 0.0175, 0.0125, 0.00625),
        lemma_trials=20_000,
        n_hi=512,
        n_num=60,
        seeds=128,
        seed_batch_size=8,
        generic=True,
    ),
    c8=C8Params(margins=(0.02, 0.05, 0.1, 0.2, 0.5, 1.0)),
)
# The sweep compiles in the first of C3, C5 and C8 to run (most of C3's quick time): each bound
# covers it.
_SFT_TIMEOUT_S = (150.0, 1800.0)


def _pad_table(logp, mu, X: int, Y: int):
    """Pads a ``[x, y]`` table to ``[X, Y]`` with zero-mass responses and zero-weight prompts."""
    x0, y0 = logp.shape
    out = jnp.full((X, Y), -jnp.inf, logp.dtype).at[:x0, :y0].set(logp)
    out = out.at[x0:, 0].set(0.0)  # never drawn (mu = 0); any normalized row will do
    return out, jnp.zeros(X, mu.dtype).at[:x0].set(mu)


def _c5_instance(p: C5Params, eps: float):
    from .._lower_bound import hard_instance, hard_instance_params

    M, Delta = hard_instance_params(p.C, eps)
    return hard_instance(np.ones(p.d, np.int64), M, Delta)


def _c8_instance(p: C8Params, margin: float):
    return sim.coverage_tabular(p.X, p.Y, p.c_cov, margin=margin)


def _sft_grids(sweep: SFTSweep) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(sweep.n_grid), log_grid(1, sweep.N_max, sweep.N_num)


@functools.lru_cache(maxsize=2)
def _sft_runs(s: SFTSettings):
    """One sweep of SFT-Sharpening (``simulators.run_tabular_sft``) over the settings of C3, C5
    and C8; returns the tidy frame."""
    X, Y = s.sweep.shape
    n_grid, N_grid = _sft_grids(s.sweep)
    configs = {}

    def add(label, logp, mu, delta):
        logp, mu = _pad_table(logp, mu, X, Y)
        configs[label] = sim.TabularSFTConfig(
            logp, mu, n=int(n_grid.max()), N=int(N_grid.max()), delta=jnp.asarray(delta, logp.dtype)
        )

    cs = s.c3.coverages
    for c in cs:
        # Uniform spread of the non-argmax mass (the claim depends on the instance only through
        # C_cov; a key would spread it at random).
        policy, mu = sim.coverage_tabular(X, Y, c)
        add(f"C3 C={c:g}", policy.logp, mu, s.c3.delta)
        if c == cs[len(cs) // 2]:
            for d in s.c3.deltas:
                add(f"C3 C={c:g} delta={d:g}", policy.logp, mu, d)
    for e in s.c5.eps:
        add(f"C5 eps={e:g}", *_c5_instance(s.c5, e), s.c5.delta)
    for g in s.c8.margins:
        policy, mu = _c8_instance(s.c8, g)
        add(f"C8 margin={g:g}", policy.logp, mu, s.c8.delta)
    nn, NN = np.meshgrid(n_grid, N_grid, indexing="ij")
    return sim.sweep(
        sim.run_tabular_sft,
        configs,
        s.sweep.seeds,
        {"n_used": nn.ravel(), "N_used": NN.ravel()},
        seed_batch_size=s.sweep.seed_batch_size,
        progress=False,
    )


def _sft_least(s: SFTSettings, label: str, eps: float, rho: float) -> tuple[float, int, int]:
    n_grid, N_grid = _sft_grids(s.sweep)
    errors = cube(_sft_runs(s), label, "sharpening_error", ("n_used", "N_used"))
    return least_nN(errors, n_grid, N_grid, eps, rho)


# -------------------------------------------------------------------------------------------------
# C3. SFT-Sharpening's sample complexity is linear in C_cov.


@claim(
    "C3",
    "SFT-Sharpening's minimal budget m = nN grows linearly in C_cov (Markov step included)",
    "Thm 4.1 (Eq. 7), Thm 4.1'",
    quick=SFT_QUICK,
    full=SFT_FULL,
    timeout_s=_SFT_TIMEOUT_S,
)
def _c3(s: SFTSettings) -> Outcome:
    from .._rates import sft_sample_complexity

    eps, delta, rho = s.c3.eps, s.c3.delta, s.c3.rho
    cs = s.c3.coverages
    c_ref = cs[len(cs) // 2]
    m_C = [_sft_least(s, f"C3 C={c:g}", eps, rho) for c in cs]
    epss = s.c3.epss
    m_eps = [_sft_least(s, f"C3 C={c_ref:g}", e, rho) for e in epss]
    all_d = sorted((*s.c3.deltas, delta))
    m_delta = [
        _sft_least(s, f"C3 C={c_ref:g}" if d == delta else f"C3 C={c_ref:g} delta={d:g}", eps, rho)
        for d in all_d
    ]
    band = (0.8, 1.2)
    finite = all(np.isfinite(m[0]) for m in m_C)
    slope_C = slope(cs, [m[0] for m in m_C]) if finite else math.nan

    def exponent(xs, ms, rate):
        ok = [i for i, m in enumerate(ms) if np.isfinite(m[0])]
        if len(ok) < 2:
            return math.nan, math.nan
        x = np.asarray(xs)[ok]
        return slope(1 / x, [ms[i][0] for i in ok]), slope(1 / x, rate(x))

    s_eps, s_eps_bound = exponent(
        epss, m_eps, lambda e: sft_sample_complexity(c_ref, 0.0, e, delta, rho)
    )
    s_delta, s_delta_bound = exponent(
        all_d, m_delta, lambda d: sft_sample_complexity(c_ref, 0.0, eps, d, rho)
    )
    # The Markov step of the proof, P_x[N* pi_base(y*|x) < 1] <= C_cov / N*, on a heterogeneous
    # instance (each prompt of a coverage_tabular instance has the same pi_base(y*|x)): rows of
    # coverage 1.5 .. 60 under a non-uniform mu.
    rows = [sim.coverage_tabular(1, 64, c)[0].logp[0] for c in np.geomspace(1.5, 60, 12)]
    logp = jnp.stack(rows)
    mu = jnp.asarray(1 / np.arange(1, 13) / np.sum(1 / np.arange(1, 13)))
    p_star = np.exp(np.asarray(theory.log_mass_on_argmax(logp, logp)))
    c_cov = float(theory.coverage(logp, mu))
    n_stars = np.geomspace(1, 100 * c_cov, 60)
    frac = np.array([float(np.asarray(mu) @ (ns * p_star < 1)) for ns in n_stars])
    markov_ok = frac <= c_cov / n_stars + 1e-12
    holds = finite and in_band(slope_C, band) and bool(markov_ok.all())
    return Outcome(
        holds=holds,
        measured=f"m = {[int(m[0]) if np.isfinite(m[0]) else m[0] for m in m_C]} at C_cov = "
        f"{list(cs)}: slope {slope_C:.2f}; Markov P_x[N* pi(y*) < 1] <= C_cov/N* at "
        f"{int(markov_ok.sum())}/{n_stars.size} N*; exponents (generic instance): 1/eps "
        f"{s_eps:.2f} (bound {s_eps_bound:.2f}), 1/delta {s_delta:.2f} (bound {s_delta_bound:.2f})",
        predicted=f"slope in C_cov in {fmt_band(band)} (Eq. 7: m ~ C_cov); Markov holds; eps and "
        "delta exponents reported only",
        details={
            "eps": eps,
            "delta": delta,
            "rho": rho,
            "C_cov": list(cs),
            "least_m_n_N_by_C": m_C,
            "least_m_n_N_by_eps": dict(zip(map(str, epss), m_eps, strict=True)),
            "least_m_n_N_by_delta": dict(zip(map(str, all_d), m_delta, strict=True)),
            "eps_exponent": s_eps,
            "eps_exponent_bound": s_eps_bound,
            "delta_exponent": s_delta,
            "delta_exponent_bound": s_delta_bound,
            "markov_instance_C_cov": c_cov,
        },
    )


# -------------------------------------------------------------------------------------------------
# C5. Adaptive sampling: Lemma I.1 and Theorem D.1's 1/eps.


def _stopping_cap(logp: jax.Array, mu_stop: float) -> int:
    """A cap the rule of Eq. 10 can never reach: every draw has ``pi_base >= p_min``, so
    ``k p_min >= mu`` stops it at ``k = ceil(mu / p_min)`` at the latest."""
    lp = np.asarray(logp)
    p_min = float(np.exp(lp[np.isfinite(lp)].min()))
    return math.ceil(mu_stop / p_min) + 1


def _lemma_i1(trials: int) -> dict:
    """Monte Carlo of Lemma I.1 on three distributions (unique argmax, two tied, small margin)."""
    Y = 40
    rows = np.zeros((3, Y))
    rows[0] = np.r_[0.1, np.full(Y - 1, 0.9 / (Y - 1))]
    rows[1] = np.r_[0.08, 0.08, np.full(Y - 2, 0.84 / (Y - 2))]
    rows[2] = np.r_[0.03, np.full(Y - 1, 0.97 / (Y - 1))]
    num_argmax = np.array([1, 2, 1])
    logp = jnp.log(jnp.asarray(rows))
    mus = np.array([1.0, math.log(2 / 0.1), 5.0])  # includes Theorem D.1's ln(2/delta)
    cap = _stopping_cap(logp, mus.max())
    oracle = sim.make_oracle(sim.TabularPolicy(logp), jnp.ones(3) / 3)

    @jax.jit
    def run(key, oracle, mu_stop):
        ada = sim.draw_adaptive(
            key, oracle, 3 * trials, sim.likelihood_stopping_rule(mu_stop), cap, on_cap="flag"
        )
        tok = ada.rollouts.tokens[..., 0]
        in_star = tok < jnp.asarray(num_argmax)[ada.rollouts.prompts][:, None]  # y* = first ones
        # The rule keeps the likeliest response seen; it misses y* iff no draw hit y*.
        miss = ~jnp.any(ada.used & in_star, axis=-1)
        return ada.rollouts.prompts, ada.num_draws, miss, ada.cap_hit

    keys = jax.random.split(jax.random.PRNGKey(51), mus.size)
    x, k, miss, cap_hit = jax.vmap(run, in_axes=(0, None, 0))(keys, oracle, jnp.asarray(mus))
    x, k, miss = np.asarray(x), np.asarray(k, float), np.asarray(miss, float)
    z_draws, z_miss, rows_out = [], [], []
    for i, mu_stop in enumerate(mus):
        for r in range(3):
            sel = x[i] == r
            cnt = int(sel.sum())
            bound_n = (mu_stop + 1 / num_argmax[r]) / rows[r].max()
            mean_n = k[i, sel].mean()
            se_n = k[i, sel].std(ddof=1) / math.sqrt(cnt)
            # A deterministic N_mu (se = 0) is compared exactly.
            z_draws.append(
                (mean_n - bound_n) / se_n
                if se_n > 0
                else (math.inf if mean_n > bound_n else -math.inf)
            )
            bound_m = math.exp(-num_argmax[r] * mu_stop)
            rate = miss[i, sel].mean()
            z_miss.append((rate - bound_m) / math.sqrt(bound_m * (1 - bound_m) / cnt))
            rows_out.append((float(mu_stop), r, mean_n, bound_n, rate, bound_m))
    return {
        "z_draws": z_draws,
        "z_miss": z_miss,
        "cap_hit": bool(np.asarray(cap_hit).any()),
        "rows": rows_out,
        "max_draws_over_bound": max(a[2] / a[3] for a in rows_out),
        "max_miss_over_bound": max(a[4] / a[5] for a in rows_out),
    }


def _c5_generic(s: SFTSettings, rho: float, delta: float, mu_stop: float) -> str:
    """Adaptive vs fixed-N exponents in 1/eps on C3's generic coverage instance (full run).

    Its prompts all have the same pi_base(y*|x) and the same mass 1/X, so eps enters only through
    how many prompts may fail: neither bound's eps-dependence is attained there.
    """
    from .._sample_complexity import minimal_budget

    cs = s.c3.coverages
    c_ref = cs[len(cs) // 2]
    X, Y = s.sweep.shape
    policy, mu = sim.coverage_tabular(X, Y, c_ref)
    n_ada = log_grid(2, 512, 60)
    config = AdaptiveSFTConfig(
        policy.logp,
        mu,
        jnp.asarray(mu_stop),
        jnp.asarray(delta),
        n=int(n_ada.max()),
        cap=_stopping_cap(policy.logp, mu_stop),
    )
    df = sim.sweep(
        run_adaptive_sft,
        {"generic": config},
        32,
        {"n_used": n_ada},
        seed_batch_size=8,
        progress=False,
    )
    err = cube(df, "generic", "sharpening_error", ("n_used",))
    queries = cube(df, "generic", "queries", ("n_used",))
    epss = np.asarray(s.c3.epss)
    m_ada, m_fix = [], []
    for e in epss:
        n_min = minimal_budget(theory.error_at_most(err, e), n_ada.astype(float), rho)
        m_ada.append(float(queries[n_ada == n_min].mean()) if np.isfinite(n_min) else math.inf)
        m_fix.append(_sft_least(s, f"C3 C={c_ref:g}", e, rho)[0])
    if not (all(np.isfinite(m_ada)) and all(np.isfinite(m_fix))):
        return f"generic instance (C_cov {c_ref:g}): some eps not reached on the grid"
    return (
        f"generic instance (C_cov {c_ref:g}, eps {epss.min():g}..{epss.max():g}): slopes "
        f"{slope(1 / epss, m_ada):.2f} adaptive, {slope(1 / epss, m_fix):.2f} fixed N"
    )


@claim(
    "C5",
    "Lemma I.1's stopping rule; adaptive SFT's E[m] ~ 1/eps vs 1/eps^2 for fixed N (hard instance)",
    "Thm D.1, Lemma I.1, Thm D.2",
    quick=SFT_QUICK,
    full=SFT_FULL,
    timeout_s=_SFT_TIMEOUT_S,
)
def _c5(s: SFTSettings) -> Outcome:
    from .._sample_complexity import minimal_budget

    lemma = _lemma_i1(s.c5.lemma_trials)
    crit = z_critical(len(lemma["z_draws"]) + len(lemma["z_miss"]))
    lemma_ok = (
        max(lemma["z_draws"]) <= crit and max(lemma["z_miss"]) <= crit and not lemma["cap_hit"]
    )
    # Theorem 3.1''s hard instance makes both upper bounds tight: every hard prompt has mass
    # Delta/d = 4 eps > eps and argmax mass 2/M with M ~ C/eps, so C_cov ~ C_bar_cov ~ 1 + 8C for
    # every eps. Fixed N needs N ~ M ~ 1/eps responses on n ~ d/Delta ~ 1/eps prompts; the
    # stopping rule spends ~ mu M/2 draws at a hard prompt, a constant per prompt on average.
    delta, rho = s.c5.delta, s.c5.rho
    mu_stop = math.log(2 / delta)  # Theorem D.1
    epss = s.c5.eps
    instances = [_c5_instance(s.c5, e) for e in epss]
    X = s.c5.d + 1
    Y = max(lp.shape[1] for lp, _ in instances)
    tables = [_pad_table(lp, m, X, Y) for lp, m in instances]
    cap = max(_stopping_cap(t[0], mu_stop) for t in tables)
    n_hi, n_num = s.c5.n_hi, s.c5.n_num
    n_ada = log_grid(2, n_hi, n_num)
    ada_configs = {
        f"eps={e:g}": AdaptiveSFTConfig(
            lp, m, jnp.asarray(mu_stop), jnp.asarray(delta), n=int(n_ada.max()), cap=cap
        )
        for e, (lp, m) in zip(epss, tables, strict=True)
    }
    df_ada = sim.sweep(
        run_adaptive_sft,
        ada_configs,
        s.c5.seeds,
        {"n_used": n_ada},
        seed_batch_size=s.c5.seed_batch_size,
        progress=False,
    )
    m_ada, m_fix, cap_hit = [], [], False
    for e in epss:
        lab = f"eps={e:g}"
        err = cube(df_ada, lab, "sharpening_error", ("n_used",))
        queries = cube(df_ada, lab, "queries", ("n_used",))
        cap_hit |= bool(cube(df_ada, lab, "cap_hit", ("n_used",)).any())
        n_min = minimal_budget(theory.error_at_most(err, e), n_ada.astype(float), rho)
        m_ada.append(float(queries[n_ada == n_min].mean()) if np.isfinite(n_min) else math.inf)
        m_fix.append(_sft_least(s, f"C5 eps={e:g}", e, rho)[0])
    x = 1 / np.asarray(epss)
    finite = all(np.isfinite(m_ada)) and all(np.isfinite(m_fix))
    s_ada = slope(x, m_ada) if finite else math.nan
    s_fix = slope(x, m_fix) if finite else math.nan
    # Band: +-0.2 around the exponent, plus how far the budget grids' resolution can move a slope
    # fitted over this range of eps (each least budget is known up to one grid step).
    step = max(grid_step(1, s.sweep.N_max, s.sweep.N_num), grid_step(2, n_hi, n_num))
    w = 0.2 + 2 * step / math.log(max(epss) / min(epss))
    band_1, band_2 = (1 - w, 1 + w), (2 - w, 2 + w)
    holds = (
        lemma_ok and finite and not cap_hit and in_band(s_ada, band_1) and in_band(s_fix, band_2)
    )
    generic = (
        _c5_generic(s, rho, delta, mu_stop) if s.c5.generic else "generic instance: full run only"
    )
    return Outcome(
        holds=holds,
        measured=f"Lemma I.1: max E[N_mu]/bound {lemma['max_draws_over_bound']:.2f}, max "
        f"miss/bound {lemma['max_miss_over_bound']:.2f}; hard instance: slope in 1/eps "
        f"{s_ada:.2f} adaptive (E[m] {m_ada[0]:.0f} -> {m_ada[-1]:.0f}), {s_fix:.2f} fixed N "
        f"({m_fix[0]:.0f} -> {m_fix[-1]:.0f}); {generic}",
        predicted=f"E[N_mu] <= (mu + 1/|y*|)/P*, miss <= exp(-|y*| mu) (z <= {crit:.2f}); slopes "
        f"in [{band_1[0]:.2f}, {band_1[1]:.2f}] adaptive, [{band_2[0]:.2f}, {band_2[1]:.2f}] "
        "fixed N",
        details={
            "lemma_I1_rows(mu, row, mean_N, bound_N, miss, bound_miss)": lemma["rows"],
            "lemma_I1_max_z": (max(lemma["z_draws"]), max(lemma["z_miss"])),
            "eps": list(epss),
            "adaptive_E_m": m_ada,
            "fixed_m": m_fix,
            "C_cov": [float(theory.coverage(lp, m)) for lp, m in instances],
            "C_bar_cov": [float(theory.adaptive_coverage(lp, m)) for lp, m in instances],
            "cap": cap,
            "cap_hit": cap_hit,
        },
    )


# -------------------------------------------------------------------------------------------------
# C8. The squared loss of Eq. 8 against the margin; SFT is margin-free.


@claim(
    "C8",
    "squared-loss (DPO) sharpening vs the margin: below the gamma^-2 rate; SFT flat in the margin",
    "Thm 4.2, Thm 4.2'",
    quick=SFT_QUICK,
    full=SFT_FULL,
    timeout_s=_SFT_TIMEOUT_S,
)
def _c8(s: SFTSettings) -> Outcome:
    from .._rates import dpo_beta, dpo_sample_complexity
    from .._sample_complexity import minimal_budget

    eps, delta, rho = s.c8.eps, s.c8.delta, s.c8.rho
    margins = s.c8.margins
    n_grid = log_grid(2, 1024, 40)
    configs = {}
    for g in margins:
        policy, mu = _c8_instance(s.c8, g)
        # Theorem 4.2's beta = gamma_margin delta eps (constant 1), and, as an ablation, the beta
        # of the largest margin kept fixed while the margin shrinks.
        for name, beta in (
            ("theorem", dpo_beta(g, eps, delta)),
            ("fixed", dpo_beta(max(margins), eps, delta)),
        ):
            configs[f"{name} margin={g:g}"] = DPOConfig(
                policy.logp, mu, jnp.asarray(beta), jnp.asarray(delta), n=int(n_grid.max())
            )
    df = sim.sweep(run_dpo, configs, s.sweep.seeds * 2, {"n_used": n_grid}, progress=False)

    def dpo_m(label):
        err = cube(df, label, "sharpening_error", ("n_used",))
        return 2 * minimal_budget(theory.error_at_most(err, eps), n_grid.astype(float), rho)

    m_dpo = [dpo_m(f"theorem margin={g:g}") for g in margins]
    m_fixed_beta = [dpo_m(f"fixed margin={g:g}") for g in margins]
    m_sft = [_sft_least(s, f"C8 margin={g:g}", eps, rho)[0] for g in margins]
    finite = all(np.isfinite(m_dpo)) and all(np.isfinite(m_sft))
    # Theorem 4.2's rate at fixed C_conc, C_loss, |Pi|: only gamma_margin^-2 varies; its constant
    # is fitted at the largest margin (the rate is an upper bound up to that constant).
    rate = np.array(
        [dpo_sample_complexity(s.c8.c_cov, s.c8.Y, 1.0, g, eps, delta, rho) for g in margins]
    )
    curve = rate * m_dpo[-1] / rate[-1]
    below = bool(np.all(np.asarray(m_dpo) <= curve * (1 + 1e-12)))
    x = 1 / np.asarray(margins)
    s_sft = slope(x, m_sft) if finite else math.nan
    s_dpo = slope(x, m_dpo) if finite else math.nan
    holds = finite and abs(s_sft) <= 0.2 and below
    return Outcome(
        holds=holds,
        measured=f"SFT m = {[int(v) for v in m_sft]} (slope in 1/gamma {s_sft:.2f}); DPO m = "
        f"{[int(v) for v in m_dpo]} (slope {s_dpo:.2f}) at gamma_margin = {list(margins)}; "
        f"with beta fixed at the largest margin's: {m_fixed_beta}",
        predicted="SFT |slope| <= 0.2 (margin-free); DPO below the rate ~ gamma^-2 fitted at the "
        "largest margin; DPO's slope reported",
        details={
            "margins": list(margins),
            "C_cov": s.c8.c_cov,
            "dpo_m": m_dpo,
            "dpo_rate_curve": curve.tolist(),
            "dpo_m_fixed_beta": m_fixed_beta,
            "sft_m": m_sft,
            "note": "with realizability and noise-free targets, the tabular squared-loss fit is "
            "pi_base^(1+1/beta) on the responses seen, so it is sharp once y* was seen and beta "
            "is small against the margin (beta = gamma delta eps): coverage, not the margin, "
            "sets its sample size",
        },
    )
