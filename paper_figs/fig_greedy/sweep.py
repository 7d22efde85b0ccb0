"""Settings of the greedy-decoding figure (Proposition 3.1, THEORY.md claim 6).

Random autoregressive tabular policies over V^H (every next-token row softmax(scale * z), z i.i.d.
standard normal), one prompt per policy draw. For each prompt: the exact sequence argmax y*
(dynamic programming), token-wise greedy decoding, and their probabilities. Large scales give
sharp sequence distributions (pi(y*) near 1), small ones flat ones, so the sweep covers pi(y*) in
(0, 1).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd


@dataclasses.dataclass(frozen=True)
class Setting:
    """A batch of random autoregressive policies (one prompt each).

    Attributes:
      V: vocabulary size.
      instance: "random" (``simulators.AutoregressivePolicy`` with Gaussian logits) or
        "counterexample" (THEORY.md claim 6's two-token example,
        ``simulators.greedy_counterexample``; V, H, scale and num_prompts are then ignored).
      H: horizon (response length).
      scale: standard deviation of the next-token logits.
      num_prompts: how many independent prompts (policies) to draw.
      seed: PRNG seed.
    """

    V: int
    H: int
    scale: float
    num_prompts: int = 2000
    seed: int = 0
    instance: str = "random"


COUNTEREXAMPLE = Setting(2, 2, 0.0, num_prompts=1, instance="counterexample")


SWEEP: tuple[Setting, ...] = tuple(
    Setting(V, H, c, seed=s)
    for V, H in ((2, 4), (3, 3), (4, 4))
    for c in (1.0, 2.5, 5.0)
    for s in (0, 1)
) + (COUNTEREXAMPLE,)
QUICK: tuple[Setting, ...] = tuple(
    Setting(V, H, c, num_prompts=1000) for V, H in ((2, 4), (3, 3)) for c in (1.5, 4.0)
) + (COUNTEREXAMPLE,)


def run(setting: Setting) -> pd.DataFrame:
    """One row per prompt: ``p_star`` = pi(y*|x), ``p_greedy`` = pi(greedy|x), ``fails``.

    ``fails`` is True when greedy decoding does not return the sequence argmax; when the argmax is
    not unique (ties, probability zero for continuous random logits) greedy reaching any maximizer
    counts as success, which is why the comparison is made on probabilities.
    """
    from simulators import (
        AutoregressivePolicy,
        greedy,
        greedy_counterexample,
        log_prob,
        num_prefixes,
        sequence_argmax,
    )

    if setting.instance == "counterexample":
        policy, _ = greedy_counterexample()
    elif setting.instance == "random":
        shape = (setting.num_prompts, num_prefixes(setting.V, setting.H), setting.V)
        z = jax.random.normal(jax.random.PRNGKey(setting.seed), shape)
        policy = AutoregressivePolicy.from_logits(setting.scale * z)
    else:
        raise ValueError(f"instance must be 'random' or 'counterexample', got {setting.instance!r}")
    x = jnp.arange(policy.num_prompts)
    y_star = sequence_argmax(policy, x)
    y_greedy = greedy(policy, x)
    lp_star = np.asarray(log_prob(policy, x, y_star), dtype=float)
    lp_greedy = np.asarray(log_prob(policy, x, y_greedy), dtype=float)
    return pd.DataFrame(
        {
            "instance": setting.instance,
            "V": policy.V,
            "H": policy.H,
            "scale": setting.scale,
            "seed": setting.seed,
            "prompt": np.arange(policy.num_prompts),
            "p_star": np.exp(lp_star),
            "p_greedy": np.exp(lp_greedy),
            # Relative tolerance: greedy's path reaching another exact maximizer is not a failure.
            "fails": lp_greedy < lp_star - 1e-9 * np.maximum(1.0, np.abs(lp_star)),
        }
    )


# Found by paper_figs' discovery (no list to edit): the figure's place in the report, and the CPU
# seconds of its QUICK sweep on 2 cores (measured), which schedules the longest first and makes
# its smoke test slow above paper_figs.SLOW_QUICK_SECONDS.
REPORT_ORDER = 5
QUICK_CPU_SECONDS = 4.6
