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
# # The lower bound: no sharpening algorithm beats C_cov / eps^2
#
# Theorem 3.1: in the sample-and-evaluate framework, any algorithm that is `(eps, 1/2)`-sharpened
# for every base model of a class of coverage `C` needs `m >~ C log|Pi| / eps^2` queries
# (adaptively, `E[m] >~ C log|Pi| / eps`, Theorem D.2). The hard instance has `d` hard prompts of
# total mass `Delta = 16 eps`; at each, the argmax `y_j` (mass `2/M`) hides among `M` responses of
# mass about `1/M`. A draw of likelihood `2/M` reveals it, so the best learner (Bayes, under a
# uniform prior) guesses the revealed index, or a uniform unseen one.

# %%
import jax
import numpy as np

import bounds
from paper_figs import figure_data, new_figure

jax.config.update("jax_enable_x64", True)

# %% [markdown]
# ## The instance and its constants

# %%
M, Delta = bounds.hard_instance_params(C=4.0, eps=0.02)
logp, mu = bounds.hard_instance(np.array([3, 7]), M, Delta)
print(
    f"M = {M}, Delta = {Delta}, |Y| = {logp.shape[1]}, log|Pi| = "
    f"{bounds.hard_instance_log_cardinality(M, 2):.1f}, C_cov = "
    f"{bounds.hard_instance_coverage(M, Delta):.1f}"
)
c = bounds.lemma_h3_constant(M)
print(
    f"Lemma H.3's exact constant at M = {M}: c* = {c.c_star:.3f} "
    f"(error >= 1/8 for every m <= c* d M / Delta)"
)

# %% [markdown]
# ## Minimax error vs budget, and the thresholds' scaling
#
# Left: the exact Bayes error per hard prompt falls below 1/8 only past `c* d M / Delta`, which
# grows with `C`. Right: the exact minimax budget grows like `1/eps^2` non-adaptively and like
# `1/eps` with adaptive sampling.

# %%
from paper_figs.fig_lower_bound import analysis as lb
from paper_figs.fig_lower_bound import sweep as lb_sweep

df = figure_data(lb_sweep, quick=True)
fig, axes = new_figure(2)
lb.plot_bayes_error(df, axes[0])
lb.plot_thresholds(df, axes[1])

# %% [markdown]
# ## Adaptive sampling in the algorithm
#
# Adaptive SFT-Sharpening (App. D) stops drawing at a prompt once `k max_j pi_base(y_j|x) >=
# ln(2/delta)`: a few draws at the easy prompt, about `M ln(2/delta)/2` at the hard ones. It
# matches the adaptive lower bound's `1/eps`, where fixed-N SFT pays `1/eps^2`
# (`paper_figs/fig_adaptive` measures both; `sharpen reproduce --quick --only fig_adaptive` makes
# that figure). The exact adaptive frontier of the hard instance:

# %%
frontier = bounds.adaptive_optimal_frontier(M)
for target in (0.5, 1 / 8, 1 / 16):
    print(
        f"least expected draws per hard prompt for error <= {target:.3f}: "
        f"{frontier.min_expected_draws(target):.1f}  (M = {M})"
    )
