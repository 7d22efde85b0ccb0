"""Sweeps: one experiment over settings, seeds and budgets, returned as a tidy DataFrame.

An experiment is a pure function ``run(key, config) -> dict[str, scalar]`` (DESIGN.md item 7).
:func:`sweep` compiles it once per group of settings that share their static structure, and inside
that one ``jax.jit`` call maps

* settings of the group (their array leaves stacked, ``vmap``),
* seeds (``vmap``, or ``lax.map`` in batches to bound memory), and
* budgets (``vmap`` innermost, with the SAME key for every budget).

Budgets are array leaves of the config (e.g. ``n_used``, ``N_used``), never static shapes: the
experiment draws the largest sample once (static ``n``, ``N``) and masks it down to each budget.
Because every budget sees the same key, the draw does not depend on the budget axis, so ``vmap``
leaves it unbatched and it is computed once; budgets share their samples, as the paper simulates
small ``N`` from ``N_max`` draws (App. A.1).

:func:`run_tabular_sft` is a ready-made experiment (SFT-Sharpening on a tabular instance with exact
evaluation by ``theory.sharpening_error``).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

import theory
from theory._validation import check_count

from ._algorithms import sft_sharpening
from ._classes import TabularClass
from ._oracle import SampleEvaluateOracle
from ._tabular import TabularPolicy


def _signature(config: Any):
    leaves, treedef = jax.tree_util.tree_flatten(config)
    shapes = tuple((np.shape(x), jnp.result_type(x)) for x in leaves)
    return treedef, shapes


def _as_settings(configs: Any) -> tuple[list[Any], list[Any]]:
    """``(labels, configs)`` from one config, a sequence, or a mapping label -> config."""
    if isinstance(configs, Mapping):
        return list(configs.keys()), list(configs.values())
    if isinstance(configs, (list, tuple)):
        return list(range(len(configs))), list(configs)
    return [0], [configs]


def _as_budgets(budgets: Any) -> tuple[dict[str, np.ndarray] | None, int]:
    """Budgets as ``{field: [B] array}`` from a list of dicts or a dict of arrays."""
    if budgets is None:
        return None, 1
    if isinstance(budgets, Mapping):
        cols = {k: np.asarray(v) for k, v in budgets.items()}
    else:
        budgets = list(budgets)
        if not budgets or not all(isinstance(b, Mapping) for b in budgets):
            raise TypeError("budgets must be a dict of [B] arrays or a non-empty list of dicts")
        keys = set(budgets[0])
        if any(set(b) != keys for b in budgets):
            raise ValueError("every budget must set the same config fields")
        cols = {k: np.asarray([b[k] for b in budgets]) for k in budgets[0]}
    sizes = {v.shape for v in cols.values()}
    if len(sizes) != 1 or len(next(iter(sizes))) != 1:
        raise ValueError(f"budget fields must be 1-d arrays of one length, got shapes {sizes}")
    return cols, int(next(iter(sizes))[0])


def _replace(config: Any, fields: Mapping[str, Any]) -> Any:
    try:
        return dataclasses.replace(config, **fields)
    except TypeError as err:
        raise TypeError(
            f"could not set budget fields {sorted(fields)} on {type(config).__name__}: {err}"
        ) from err


def _run_one(run, key, cfg, budget):
    if budget is not None:
        cfg = _replace(cfg, budget)
    out = run(key, cfg)
    if not isinstance(out, Mapping):
        raise TypeError(f"run must return a dict of scalar metrics, got {type(out).__name__}")
    return {k: jnp.asarray(v) for k, v in out.items()}


@functools.partial(jax.jit, static_argnames=("run", "seed_batch_size"))
def _sweep_group(seed_array, stacked_cfg, budget_arrays, *, run, seed_batch_size):
    """One compiled call: vmap over settings, seeds (vmap or batched lax.map), budgets."""

    def per_seed(key, cfg):
        if budget_arrays is None:
            return jax.tree_util.tree_map(lambda v: v[None], _run_one(run, key, cfg, None))
        # The same key for every budget: draws do not depend on the budget axis, so vmap leaves
        # them unbatched and all budgets share one set of samples.
        return jax.vmap(lambda b: _run_one(run, key, cfg, b))(budget_arrays)

    def per_setting(cfg):
        keys = jax.vmap(jax.random.key)(seed_array)
        if seed_batch_size is None:
            return jax.vmap(per_seed, in_axes=(0, None))(keys, cfg)
        return jax.lax.map(lambda k: per_seed(k, cfg), keys, batch_size=seed_batch_size)

    return jax.vmap(per_setting)(stacked_cfg)


def group_settings(settings: list[Any], budget_cols=None) -> tuple[list[Any], list[list[int]]]:
    """Groups settings by static structure (tree, static fields, leaf shapes and dtypes).

    Each group is one compiled call of :func:`sweep`. Budget fields are set first (from the
    first budget) so that their dtype is the budgets'.

    Returns:
      ``(settings, groups)``: the settings with budget fields set, and lists of indices.
    """
    groups: dict[Any, list[int]] = {}
    settings = list(settings)
    for i, cfg in enumerate(settings):
        if budget_cols is not None:
            cfg = _replace(cfg, {k: jnp.asarray(np.asarray(v)[0]) for k, v in budget_cols.items()})
            settings[i] = cfg
        groups.setdefault(_signature(cfg), []).append(i)
    return settings, list(groups.values())


def sweep(
    run: Callable[[jax.Array, Any], Mapping[str, Any]],
    configs: Any,
    seeds: Any,
    budgets: Any = None,
    *,
    seed_batch_size: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Runs ``run(key, config)`` over settings x seeds x budgets; one compilation per setting group.

    Args:
      run: the experiment, ``run(key, config) -> {metric: scalar}``; pure and jit-compatible.
      configs: a config pytree (a frozen dataclass registered with ``jax.tree_util``), a sequence
        of them, or a mapping ``label -> config``. Configs with the same static structure (tree
        and leaf shapes) form one group, compiled once with their leaves stacked and vmapped, so
        a base config with swept array leaves (``beta``, ``gamma``, ...) compiles once.
      seeds: an int ``S`` (seeds ``0..S-1``) or a sequence of int seeds; the key of seed ``s`` is
        ``jax.random.key(s)``.
      budgets: ``None``, a list of dicts ``{field: value}`` or a dict ``{field: [B] values}``; the
        fields are array leaves of the config set per budget (vmapped with a shared key).
      seed_batch_size: map seeds in batches of this size (``lax.map``) instead of one ``vmap``, to
        bound memory; still one compiled call.
      progress: show a tqdm bar over the setting groups (each group is one compilation).

    Returns:
      A tidy DataFrame with one row per setting x seed x budget x metric and columns ``setting``,
      ``seed``, ``budget`` (index), one column per budget field, ``metric``, ``value``.
      ``df.attrs["num_groups"]`` is the number of setting groups (one compiled call each; a later
      sweep with the same ``run``, shapes and static fields reuses the compilation) and
      ``df.attrs["seconds"]`` the wall time per group.
    """
    from tqdm.auto import tqdm

    labels, settings = _as_settings(configs)
    if not settings:
        raise ValueError("configs must contain at least one setting")
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = np.arange(check_count(seeds, "seeds"))
    seeds = np.asarray(seeds)
    if seeds.ndim != 1 or seeds.size == 0 or not np.issubdtype(seeds.dtype, np.integer):
        raise ValueError("seeds must be an int count or a non-empty sequence of int seeds")
    if seed_batch_size is not None:
        seed_batch_size = check_count(seed_batch_size, "seed_batch_size")
    budget_cols, B = _as_budgets(budgets)

    settings, groups = group_settings(settings, budget_cols)

    budget_arrays = (
        None if budget_cols is None else {k: jnp.asarray(v) for k, v in budget_cols.items()}
    )
    frames, seconds = [], []
    for idx in tqdm(groups, desc="sweep", disable=not progress):
        stacked = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *[settings[i] for i in idx])
        t0 = time.perf_counter()
        out = _sweep_group(
            jnp.asarray(seeds), stacked, budget_arrays, run=run, seed_batch_size=seed_batch_size
        )
        out = jax.tree_util.tree_map(np.asarray, out)  # [G, S, B]
        seconds.append(time.perf_counter() - t0)
        for metric, values in out.items():
            if values.shape != (len(idx), seeds.size, B):
                raise ValueError(
                    f"metric {metric!r} must be a scalar, got shape {values.shape[3:]}"
                )
            g, s, b = np.meshgrid(
                np.arange(len(idx)), np.arange(seeds.size), np.arange(B), indexing="ij"
            )
            frame = {
                "setting": np.asarray([labels[i] for i in idx], dtype=object)[g.ravel()],
                "seed": seeds[s.ravel()],
                "budget": b.ravel(),
            }
            if budget_cols is not None:
                for k, v in budget_cols.items():
                    frame[k] = v[b.ravel()]
            frame["metric"] = metric
            frame["value"] = values.ravel().astype(np.float64)
            frames.append(pd.DataFrame(frame))
    df = pd.concat(frames, ignore_index=True)
    df.attrs["num_groups"] = len(groups)
    df.attrs["seconds"] = seconds
    return df


# ----------------------------------------------------------------------------------------------
# A ready-made experiment


def _static(**kw):
    return dataclasses.field(metadata=dict(static=True), **kw)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TabularSFTConfig:
    """SFT-Sharpening on a tabular instance with the unrestricted tabular class.

    Attributes:
      logp_base: ``[X, Y]`` base model table.
      mu: ``[X]`` prompt distribution.
      n: static int, the largest number of prompts (drawn once).
      N: static int, the largest number of responses per prompt (drawn once).
      n_used: int leaf, prompts used (a budget, ``<= n``).
      N_used: int leaf, responses used per prompt (a budget, ``<= N``).
      delta: the ``delta`` of the sharpening error (Def. 3.1).
      smoothing: additive smoothing of the tabular MLE.
    """

    logp_base: jax.Array
    mu: jax.Array
    n: int = _static()
    N: int = _static()
    n_used: Any = None
    N_used: Any = None
    delta: Any = 0.1
    smoothing: Any = 0.0


def run_tabular_sft(key: jax.Array, config: TabularSFTConfig) -> dict[str, jax.Array]:
    """One SFT-Sharpening run; metrics: ``sharpening_error`` (exact, Def. 3.1), ``mass_on_argmax``
    (``E_x pi_hat(y*(x)|x)``), ``queries`` (``m = n_used N_used``)."""
    X, Y = config.logp_base.shape
    oracle = SampleEvaluateOracle(TabularPolicy(config.logp_base), config.mu)
    res = sft_sharpening(
        key,
        oracle,
        TabularClass(X, Y, config.smoothing),
        config.n,
        config.N,
        n_used=config.n_used,
        N_used=config.N_used,
        realizability="skip",
    )
    logp_hat = res.policy.logp
    err = theory.sharpening_error(logp_hat, config.logp_base, config.mu, config.delta)
    mass = jnp.exp(theory.log_mass_on_argmax(logp_hat, config.logp_base))
    return {
        "sharpening_error": err,
        "mass_on_argmax": jnp.sum(config.mu * mass),
        "queries": res.queries,
    }
