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
# # SFT-Sharpening vs RLHF-Sharpening
#
# Sharpening can be amortized into the model by self-training:
#
# * **SFT-Sharpening** (section 2.1): fit the best-of-N responses by maximum likelihood.
#   Theorem 4.1: `m = O(C_cov log|Pi| log(1/delta) / (delta eps^2))` queries suffice, with no
#   margin condition.
# * **RLHF-Sharpening** (section 2.2): maximize `E_pi[log pi_base] - beta KL(pi || pi_base)`, whose
#   optimum is `pi*_beta ~ pi_base^(1+1/beta)`. Offline, by the squared loss of Eq. 8 (Theorem 4.2,
#   needs a margin); online with exploration, by XPO (Algorithm 1, Theorem 4.3), which replaces the
#   coverage coefficient by a complexity of the model class.

# %%
import os

import jax

from paper_figs import figure_data, new_figure

jax.config.update("jax_enable_x64", True)
# SHARPEN_QUICK=1 (the test suite's smoke run) runs one small setting per figure; unset, the
# notebook runs each figure's quick settings.
QUICK = os.environ.get("SHARPEN_QUICK") == "1"

# %% [markdown]
# ## The KL-regularized optimum and the margin
#
# `pi*_beta` leaves mass `<= (|Y|-1)(1+gamma_margin)^-(1+1/beta)` off `y*` (Lemma 4.1's margin
# bound; tight on the two-level tables): a small margin needs a small `beta`.

# %%
from paper_figs.fig_tilt import analysis as tilt
from paper_figs.fig_tilt import sweep as tilt_sweep

df_tilt = figure_data(tilt_sweep, quick=True, settings=tilt_sweep.QUICK[:1] if QUICK else None)
fig, axes = new_figure(2)
tilt.plot_off_mass(df_tilt, axes[0])
tilt.plot_concentrability(df_tilt, axes[1])

# %% [markdown]
# ## Sample complexity of SFT-Sharpening
#
# Measured on Theorem 3.1's hard instance: the least budget `m = nN` at which SFT-Sharpening is
# `(eps, delta)`-sharpened in 75% of runs grows about linearly in `C_cov` and like `1/eps^2`.

# %%
from paper_figs.fig_sft_sample_complexity import analysis as sft
from paper_figs.fig_sft_sample_complexity import sweep as sft_sweep

df_sft = figure_data(sft_sweep, quick=True, settings=sft_sweep.QUICK[:1] if QUICK else None)
fig, axes = new_figure(3, width=4.2)
for ax, vary in zip(axes, ("C", "eps", "delta"), strict=True):
    sft.plot_scaling(df_sft, ax, vary=vary)

# %% [markdown]
# ## The margin: RLHF needs it, SFT does not
#
# With a `beta` chosen without knowing the margin, the squared loss fails on small margins at any
# budget; SFT-Sharpening's cost does not depend on the margin.

# %%
from paper_figs.fig_margin import analysis as margin
from paper_figs.fig_margin import sweep as margin_sweep

df_margin = figure_data(
    margin_sweep, quick=True, settings=margin_sweep.QUICK[:1] if QUICK else None
)
fig, axes = new_figure(2, width=5.0)
margin.plot_budget_vs_margin(df_margin, axes[0])
margin.plot_success_vs_margin(df_margin, axes[1])

# %% [markdown]
# ## Exploration removes the coverage dependence (Example J.1)
#
# On a spherical code of `2^(d+2)` responses, `C_cov` grows exponentially in `d` and so does what
# SFT-Sharpening needs, while XPO's queries grow slowly. One small setting per method here; the
# figure's full sweep runs `d = 3..9`.

# %%
import pandas as pd

from paper_figs.fig_separation import analysis as sep
from paper_figs.fig_separation import sweep as sep_sweep

if QUICK:  # one small code, and no hidden-direction instance
    settings = [sep_sweep.Setting("code", 3, num_seeds=2, T=4, n_max=8)]
else:
    settings = [sep_sweep.Setting("code", d, num_seeds=4, T=16, n_max=64) for d in (4, 6)]
    settings.append(sep_sweep.Setting("hidden", num_seeds=4, T=24))
df_sep = pd.concat([sep_sweep.run(s) for s in settings], ignore_index=True)
fig, axes = new_figure(2, width=5.0)
sep.plot_queries_vs_dim(df_sep, axes[0])
sep.plot_hidden(df_sep, axes[1])
