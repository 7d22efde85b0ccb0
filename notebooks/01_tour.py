# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A five-minute tour of the sharpening toolkit
#
# Huang et al., *Self-Improvement in Language Models: The Sharpening Mechanism* (arXiv 2412.01951)
# model self-improvement as **sharpening**: tilting a base model `pi_base` toward the responses it
# is itself most certain about, `y*(x) = argmax_y log pi_base(y|x)`. This tour shows the three
# layers of the toolkit on toy models:
#
# 1. `theory`: the paper's quantities, exact, on log-probability tables;
# 2. `simulators`: toy policies, the sample-and-evaluate oracle and the sharpening algorithms;
# 3. `paper_figs`: the figures, each a sweep + analysis + make folder.
#
# Everything runs on a CPU in seconds. `sharpen reproduce --quick` runs all the figures and the
# paper's numerically checkable claims and writes a report.

# %%
import os

import jax
import numpy as np

import simulators
import theory

jax.config.update("jax_enable_x64", True)
# SHARPEN_QUICK=1 (the test suite's smoke run) makes every step smaller; unset, the notebook runs
# the figures' quick settings.
QUICK = os.environ.get("SHARPEN_QUICK") == "1"

# %% [markdown]
# ## Exact quantities
#
# A tabular base model with 16 prompts and 100 responses whose argmax has mass 1/10 on every
# prompt: its coverage coefficient `C_cov = E_x[1/pi_base(y*(x)|x)]` (Eq. 6) is 10. Best-of-N with
# the log-likelihood self-reward misses `y*` with probability exactly `(1 - 1/C_cov)^N`
# (Prop. C.1), and the RLHF-Sharpening optimum `pi*_beta ~ pi_base^(1+1/beta)` (Eq. 3) concentrates
# on `y*` as `beta -> 0`.

# %%
policy, mu = simulators.coverage_tabular(16, 100, 10.0)
logp = simulators.to_table(policy)
print("C_cov =", float(theory.coverage(logp, mu)))
for N in (1, 10, 50):
    miss = float(np.mean(np.asarray(theory.bon_miss_probability(logp, N))))
    print(f"P[BoN_{N} misses y*] = {miss:.4f}")
for beta in (1.0, 0.1, 0.01):
    tilt = theory.kl_tilt(logp, beta)
    mass = float(np.mean(np.exp(np.asarray(theory.log_mass_on_argmax(tilt, logp)))))
    print(f"pi*_beta(y*) at beta = {beta}: {mass:.4f}")

# %% [markdown]
# ## One run of SFT-Sharpening
#
# The learner only sees the sample-and-evaluate oracle (Definition 3.2): it draws `n` prompts,
# `N` responses for each with their likelihoods, keeps the best-of-N response and fits it by
# maximum likelihood (section 2.1). Its sharpening error `P_x[pi_hat(y*|x) <= 1 - delta]`
# (Definition 3.1) is computed exactly.

# %%
oracle = simulators.make_oracle(policy, mu)
model_class = simulators.TabularClass(16, 100)
result = simulators.sft_sharpening(jax.random.PRNGKey(0), oracle, model_class, n=256, N=30)
err = theory.sharpening_error(result.policy.logp, logp, mu, 0.2)
print(f"queries m = {int(result.queries)}, sharpening error (delta = 0.2) = {float(err):.3f}")

# %% [markdown]
# ## Greedy decoding is not the sequence argmax
#
# Proposition 3.1: token-wise greedy decoding returns `y*` whenever `pi(y*) > 1/2`, and can miss
# it otherwise. The two-token counterexample puts 0.40 on "ab" (the argmax) but greedy picks "b"
# first (0.55 > 0.45) and returns "ba".

# %%
ar, _ = simulators.greedy_counterexample()
x = jax.numpy.arange(1)
print("greedy:", simulators.greedy(ar, x)[0])
print("sequence argmax:", simulators.sequence_argmax(ar, x)[0])

# %% [markdown]
# ## A figure: best-of-N on toy models
#
# Each figure is a folder `paper_figs/fig_*` with `sweep.py` (frozen settings, explicit seeds, a
# `QUICK` subset), `analysis.py` (`plot_*(df, ax=None)`) and `make.py`. `figure_data` runs the
# quick settings (in memory here; `sharpen reproduce` stores them on disk so reruns resume).
# Monte Carlo best-of-N (points) sits on the exact law (lines), and saturates around `N ~ C_cov`.

# %%
from paper_figs import figure_data
from paper_figs.fig_bon import analysis as bon_analysis
from paper_figs.fig_bon import sweep as bon_sweep

df = figure_data(bon_sweep, quick=True, settings=bon_sweep.QUICK[:1] if QUICK else None)
bon_analysis.plot_hit_probability(df)

# %% [markdown]
# ## The greedy figure
#
# Over many random autoregressive models, greedy decoding's failures all sit at `pi(y*) <= 1/2`.

# %%
from paper_figs.fig_greedy import analysis as greedy_analysis
from paper_figs.fig_greedy import sweep as greedy_sweep

settings = greedy_sweep.QUICK[:2] if QUICK else None
greedy_analysis.plot_failure_rate(figure_data(greedy_sweep, quick=True, settings=settings))

# %% [markdown]
# Next: `02_coverage_and_bon.py` (coverage, best-of-N and self-rewards), `03_sft_vs_rlhf.py`
# (the algorithms and their sample complexities), `04_lower_bound.py` (the minimax lower bound),
# `05_real_models.py` (the same protocol on a transformer).
