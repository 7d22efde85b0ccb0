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
# # Coverage and inference-time best-of-N
#
# Inference-time sharpening draws `N` responses and keeps the one with the largest self-reward.
# With the log-likelihood self-reward, best-of-N returns `y*(x)` as soon as `y*` is among the `N`
# samples, so it needs about `N ~ 1/pi_base(y*|x)` draws: the **coverage coefficient**
# `C_cov = E_x[1/pi_base(y*(x)|x)]` (Eq. 6) is the price of sharpening (Prop. C.1). Whether
# sharpening *helps* depends on the sharpening mechanism: the base model's most certain responses
# must be the correct ones.

# %%
import os

import jax

from paper_figs import figure_data, new_figure

jax.config.update("jax_enable_x64", True)
# SHARPEN_QUICK=1 (the test suite's smoke run) runs one setting per figure; unset, the notebook
# runs each figure's quick settings.
QUICK = os.environ.get("SHARPEN_QUICK") == "1"

# %% [markdown]
# ## Best-of-N hits y* with probability 1 - (1 - p*)^N
#
# Left: the exact law (`theory.bon_law`) against Monte Carlo; Prop. C.1's bound `1 - e^{-N p*}`
# is dotted. Right: the mean log-likelihood of the selected response increases with `N` (the
# paper's Fig. 4).

# %%
from paper_figs.fig_bon import analysis as bon
from paper_figs.fig_bon import sweep as bon_sweep

df_bon = figure_data(bon_sweep, quick=True, settings=bon_sweep.QUICK[:1] if QUICK else None)
fig, axes = new_figure(2)
bon.plot_hit_probability(df_bon, axes[0])
bon.plot_mean_loglik(df_bon, axes[1])

# %% [markdown]
# ## Which self-reward sharpens toward correct answers?
#
# Toy reasoning tasks: random autoregressive policies whose last token is the answer
# (`paper_figs._toy_tasks`). When the truth is the base model's own likeliest answer, every
# self-reward lifts accuracy over greedy decoding; with **length bias** (short likely responses
# are wrong), log-likelihood best-of-N degrades with `N` while length normalization and majority
# vote do not (the paper's GPT-3.5/GSM8k observation); with a **weak base** nothing helps.

# %%
from paper_figs.fig_self_rewards import analysis as rewards
from paper_figs.fig_self_rewards import sweep as rewards_sweep

settings = rewards_sweep.QUICK[1:2] if QUICK else None  # QUICK: the length-bias task only
df_rewards = figure_data(rewards_sweep, quick=True, settings=settings)
task_names = list(dict.fromkeys(df_rewards["task"]))
fig, axes = new_figure(len(task_names), width=4.2)
for i, (ax, task) in enumerate(zip(axes, task_names, strict=True)):
    rewards.plot_lift(df_rewards, ax, task=task, title=rewards_sweep.LABELS[task], legend=i == 0)

# %% [markdown]
# ## Is likelihood a signal of correctness?
#
# The premise of the sharpening mechanism (the paper's Figs. 1c and 6): correct responses are more
# likely than incorrect ones. The AUC is the probability that a random correct sample is likelier
# than a random incorrect one.

# %%
from paper_figs.fig_loglik_by_correctness import analysis as loglik
from paper_figs.fig_loglik_by_correctness import sweep as loglik_sweep

df_ll = figure_data(loglik_sweep, quick=True, settings=loglik_sweep.QUICK[:1] if QUICK else None)
labels = list(dict.fromkeys(df_ll["label"]))
fig, axes = new_figure(len(labels), width=4.2)
for ax, label in zip(axes, labels, strict=True):
    loglik.plot_loglik_hist(df_ll, ax, label=label)
