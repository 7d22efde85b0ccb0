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

Ready-made experiments (configs and their ``run`` functions) live in :mod:`simulators.experiments`.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.extend.core as jcore
import jax.numpy as jnp
import numpy as np
import pandas as pd

from theory.checks import check_allocation, check_count

from ._executors import as_executor
from ._memory import jaxpr_live_bytes


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
        if not budgets:
            raise ValueError("budgets must set at least one config field, got an empty dict")
        cols = {}
        for k, v in budgets.items():
            try:
                cols[k] = np.asarray(v)
            except (TypeError, ValueError) as err:
                raise TypeError(f"budgets[{k!r}] must be a [B] array of numbers") from err
    else:
        budgets = list(budgets)
        if not budgets or not all(isinstance(b, Mapping) for b in budgets):
            raise TypeError("budgets must be a dict of [B] arrays or a non-empty list of dicts")
        keys = set(budgets[0])
        if not keys:
            raise ValueError("budgets[0] must set at least one config field, got {}")
        for i, b in enumerate(budgets):
            if set(b) != keys:
                raise ValueError(
                    f"every budget must set the same config fields: budgets[{i}] sets "
                    f"{sorted(b)}, budgets[0] sets {sorted(keys)}"
                )
        cols = {k: np.asarray([b[k] for b in budgets]) for k in budgets[0]}
    for k, v in cols.items():
        if v.ndim != 1:
            raise ValueError(f"budgets[{k!r}] must be a 1-d [B] array, got shape {v.shape}")
        if v.size == 0:
            raise ValueError(f"budgets[{k!r}] is empty: each budget field needs B >= 1 values")
        if v.dtype == object or not (
            np.issubdtype(v.dtype, np.integer) or np.issubdtype(v.dtype, np.floating)
        ):
            raise TypeError(f"budgets[{k!r}] must hold int or float values, got dtype {v.dtype}")
    lengths = {k: v.shape[0] for k, v in cols.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"budget fields must have one length B, got lengths {lengths}")
    return cols, int(next(iter(lengths.values())))


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


def _per_seed(run, key, cfg, budget_arrays):
    """One seed's metrics over every budget, ``{metric: [B]}`` (``[1]`` without budgets)."""
    if budget_arrays is None:
        return jax.tree_util.tree_map(lambda v: v[None], _run_one(run, key, cfg, None))
    # The same key for every budget: draws do not depend on the budget axis, so vmap leaves
    # them unbatched and all budgets share one set of samples.
    return jax.vmap(lambda b: _run_one(run, key, cfg, b))(budget_arrays)


class _TracedSeed:
    """One seed's program (:func:`_per_seed`) for one setting structure, traced once.

    The jaxpr serves twice: its liveness gives the memory estimate that sizes the seed batches,
    and evaluating it is the program :func:`_sweep_group` maps over settings and seeds, so the
    experiment's Python function runs once per structure. Instances are cached, so a later sweep
    of the same structure reuses the object and with it ``jit``'s compilation.
    """

    def __init__(self, run, cfg, budget_arrays):
        key = jax.random.key(0)
        closed, out_shape = jax.make_jaxpr(
            lambda k, c, b: _per_seed(run, k, c, b), return_shape=True
        )(key, cfg, budget_arrays)
        self._fn = jcore.jaxpr_as_fun(closed)
        self._out_tree = jax.tree_util.tree_structure(out_shape)
        self.shared, self.per_seed = jaxpr_live_bytes(closed, num_key_leaves=1)

    def __call__(self, key, cfg, budget_arrays):
        leaves = jax.tree_util.tree_leaves((key, cfg, budget_arrays))
        return jax.tree_util.tree_unflatten(self._out_tree, self._fn(*leaves))


_TRACES: dict[Any, _TracedSeed] = {}


def _traced(run, cfg, budget_arrays) -> _TracedSeed:
    key = (run, _signature(cfg), None if budget_arrays is None else _signature(budget_arrays))
    if key not in _TRACES:
        if len(_TRACES) > 256:
            _TRACES.clear()
        _TRACES[key] = _TracedSeed(run, cfg, budget_arrays)
    return _TRACES[key]


@functools.partial(jax.jit, static_argnames=("per_seed", "seed_batch_size"))
def _sweep_group(seed_array, settings, budget_arrays, *, per_seed, seed_batch_size):
    """One compiled call: vmap over settings, seeds (vmap or batched lax.map), budgets."""
    # Stacked inside the call: one dispatch for the group, not one per leaf.
    stacked_cfg = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *settings)
    per_seed = functools.partial(per_seed, budget_arrays=budget_arrays)

    def per_setting(cfg):
        if seed_batch_size is None:
            keys = jax.vmap(jax.random.key)(seed_array)
            return jax.vmap(per_seed, in_axes=(0, None))(keys, cfg)
        # Balanced batches of at most seed_batch_size, the last padded with repeats of the last
        # seed (their results are dropped): one compiled body, where lax.map's batch_size would
        # compile a second one for a remainder.
        S = seed_array.shape[0]
        num_batches = -(-S // seed_batch_size)
        size = -(-S // num_batches)
        padded = jnp.concatenate([seed_array, jnp.repeat(seed_array[-1:], num_batches * size - S)])
        keys = jax.vmap(jax.random.key)(padded).reshape(num_batches, size)
        out = jax.lax.map(jax.vmap(lambda k: per_seed(k, cfg)), keys)
        return jax.tree_util.tree_map(lambda v: v.reshape((-1,) + v.shape[2:])[:S], out)

    return jax.vmap(per_setting)(stacked_cfg)


# What one seed batch of a sweep may keep alive on a CPU (estimated by
# simulators._memory.jaxpr_live_bytes). Measured on the issue-15 instance (X = 100, Y = 1000,
# n = 200, N = 1024, 15 budgets, 256 seeds; ~40 MB estimated per seed): batches of 4-8 seeds
# ran in 1.2 s, 16 in 1.9 s and all 256 at once (2 GB) in 2.4 s, since small batches keep
# their working set in cache.
CPU_BATCH_BYTES = 2**28


def default_batch_bytes() -> int:
    """The default memory budget of one seed batch: :data:`CPU_BATCH_BYTES` on a CPU; an eighth of
    an accelerator's memory (whose parallelism wants large batches), 1 GiB if it does not say."""
    if jax.default_backend() == "cpu":
        return CPU_BATCH_BYTES
    stats = getattr(jax.devices()[0], "memory_stats", lambda: None)() or {}
    return int(stats.get("bytes_limit", 8 * 2**30)) // 8


def choose_seed_batch(
    run, cfg, budget_arrays, num_seeds: int, num_settings: int, limit: int | None = None
) -> tuple[int | None, dict[str, int]]:
    """The seed batch size that keeps one batch of a sweep group within ``limit`` bytes.

    ``None`` (one ``vmap`` over all seeds) when they all fit, else the largest batch that does
    (at least 1). Returns the choice and the estimate it rests on: ``{"shared": bytes,
    "per_seed": bytes, "limit": bytes}`` (:func:`simulators._memory.jaxpr_live_bytes`).
    """
    limit = default_batch_bytes() if limit is None else limit
    traced = _traced(run, cfg, budget_arrays)
    shared, per_seed = traced.shared, traced.per_seed
    per_seed_all = max(1, per_seed * num_settings)
    fits = max(1, (limit - shared) // per_seed_all)
    batch = None if fits >= num_seeds else int(fits)
    return batch, {"shared": int(shared), "per_seed": int(per_seed), "limit": int(limit)}


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
            cfg = _replace(cfg, {k: np.asarray(v)[0] for k, v in budget_cols.items()})
            settings[i] = cfg
        groups.setdefault(_signature(cfg), []).append(i)
    return settings, list(groups.values())


def _validate_settings(run, settings, labels, budget_cols) -> None:
    """Concrete checks of every setting and budget row before the traced, compiled call.

    Inside :func:`sweep` the experiment sees tracers, so its own value checks (budgets within
    the drawn sizes, a normalized ``mu``, ``delta`` in (0, 1), ...) cannot run. An experiment
    that defines ``run.validate_config(config, budgets)`` (``budgets``: ``None`` or the
    ``{field: [B] array}`` of budget values) has it called here, once per setting, on concrete
    values; it raises the errors the eager call would raise.
    """
    validate = getattr(run, "validate_config", None)
    if validate is None:
        return
    for label, cfg in zip(labels, settings, strict=True):
        try:
            validate(cfg, budget_cols)
        except (TypeError, ValueError) as err:
            if len(settings) == 1:
                raise
            raise type(err)(f"setting {label!r}: {err}") from err


def _label_values(labels: list[Any]):
    """The column pandas builds from ``labels`` (the dtype it infers: ``str`` for strings,
    ``object`` otherwise), to be indexed by codes."""
    try:
        # Inferring the dtype costs more than taking 10^4 rows from the result, and sweeps
        # repeat their labels. Types are part of the key: 0, 0.0 and False are equal keys.
        return _label_values_cached(tuple((type(v), v) for v in labels))
    except TypeError:  # unhashable labels
        return _label_values_uncached(labels)


def _label_values_uncached(labels) -> Any:
    arr = np.empty(len(labels), dtype=object)
    arr[:] = labels  # (tuples stay elements, not rows)
    return pd.Series(arr).array


@functools.lru_cache(maxsize=128)
def _label_values_cached(typed_labels: tuple) -> Any:
    return _label_values_uncached([v for _, v in typed_labels])


def _frame_columns(out, setting_ids, seeds, budget_cols, B, setting_values):
    """Tidy columns of one group's ``{metric: [G, S, B]}`` outputs but the values, rows in
    (metric, setting, seed, budget) order; needs only the outputs' names and shapes."""
    G, S = len(setting_ids), seeds.size
    for metric, values in out.items():
        if values.shape != (G, S, B):
            raise ValueError(f"metric {metric!r} must be a scalar, got shape {values.shape[3:]}")
    M = len(out)
    # Labels are taken from the few distinct ones by code, not built as an object per row.
    cols = {
        "setting": setting_values.take(np.tile(np.repeat(np.asarray(setting_ids), S * B), M)),
        "seed": np.tile(np.repeat(seeds, B), G * M),
        "budget": np.tile(np.arange(B), G * S * M),
    }
    if budget_cols is not None:
        cols |= {k: np.tile(v, G * S * M) for k, v in budget_cols.items()}
    cols["metric"] = _label_values(list(out)).take(np.repeat(np.arange(M), G * S * B))
    return cols


def _start_group(run, seeds, settings, budget_arrays, seed_batch_size, memory_limit):
    """Dispatches one group's compiled call (asynchronously); returns ``(out, batch, estimate)``:
    the ``{metric: [G, S, B]}`` outputs, the seed batch size and the memory estimate it rests on."""
    batch, estimate = seed_batch_size, {}
    if batch == "auto":
        batch, estimate = choose_seed_batch(
            run, settings[0], budget_arrays, seeds.size, len(settings), memory_limit
        )
    out = _sweep_group(
        seeds,
        tuple(settings),
        budget_arrays,
        per_seed=_traced(run, settings[0], budget_arrays),
        seed_batch_size=batch,
    )
    return out, batch, estimate


def group_task(run, seeds, settings, budget_arrays, seed_batch_size, memory_limit):
    """One setting group as a unit of work of an executor (a Ray task): :func:`_start_group`
    and the transfer of its outputs to host memory, with the seconds they took."""
    t0 = time.perf_counter()
    out, batch, estimate = _start_group(
        run, seeds, settings, budget_arrays, seed_batch_size, memory_limit
    )
    out = jax.device_get(out)
    return out, batch, estimate, time.perf_counter() - t0


def _concat(parts: list) -> Any:
    """One column from the groups' parts (numpy arrays or pandas extension arrays)."""
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(parts)
    return pd.concat([pd.Series(p) for p in parts], ignore_index=True).array


def sweep(
    run: Callable[[jax.Array, Any], Mapping[str, Any]],
    configs: Any,
    seeds: Any,
    budgets: Any = None,
    *,
    seed_batch_size: int | str | None = "auto",
    memory_limit: int | None = None,
    progress: bool = True,
    executor: Any = None,
) -> pd.DataFrame:
    """Runs ``run(key, config)`` over settings x seeds x budgets; one compilation per setting group.

    Args:
      run: the experiment, ``run(key, config) -> {metric: scalar}``; pure and jit-compatible.
        If it has a ``validate_config(config, budgets)`` attribute (as :func:`run_tabular_sft`
        does), every setting and budget column is checked with it on concrete values before
        the traced call, which cannot check values itself.
      configs: a config pytree (a frozen dataclass registered with ``jax.tree_util``), a sequence
        of them, or a mapping ``label -> config``. Configs with the same static structure (tree
        and leaf shapes) form one group, compiled once with their leaves stacked and vmapped, so
        a base config with swept array leaves (``beta``, ``gamma``, ...) compiles once.
      seeds: an int ``S`` (seeds ``0..S-1``) or a sequence of int seeds; the key of seed ``s`` is
        ``jax.random.key(s)``.
      budgets: ``None``, a list of dicts ``{field: value}`` or a dict ``{field: [B] values}``; the
        fields are array leaves of the config set per budget (vmapped with a shared key).
      seed_batch_size: map seeds in batches of this size (``lax.map``) instead of one ``vmap``,
        to bound memory; still one compiled call. ``"auto"`` (default) picks it per group from
        an estimate of one seed's live memory (:func:`choose_seed_batch`): all seeds in one
        ``vmap`` when they fit in ``memory_limit``, else the largest batch that does. ``None``
        forces one ``vmap`` over all seeds.
      memory_limit: bytes one seed batch may keep alive under ``"auto"`` (default
        :func:`default_batch_bytes`: 256 MiB on a CPU, where small batches also run faster
        because they stay in cache).
      progress: show a tqdm bar over the setting groups (each group is one compilation).
      executor: where the setting groups run: ``None`` or ``"local"`` (default: here, one after
        the other), ``"ray"`` (each group one Ray task on a local Ray instance, or on the cluster
        at ``$RAY_ADDRESS``) or a :class:`simulators.RayExecutor` (its address, CPUs and GPUs per
        task, retries). ``run`` and the configs are pickled to the workers (``run`` by reference
        when its module is importable there). The frame is the same, value for value: every
        group runs the same program under this process's ``jax_enable_x64`` and ``XLA_FLAGS``,
        its seeds' keys are ``jax.random.key(seed)`` wherever it runs, and the frame is put
        together here in group order. Settings are checked here before any task starts.

    Returns:
      A tidy DataFrame with one row per setting x seed x budget x metric and columns ``setting``,
      ``seed``, ``budget`` (index), one column per budget field, ``metric``, ``value``.
      ``df.attrs["num_groups"]`` is the number of setting groups (one compiled call each; a later
      sweep with the same ``run``, shapes and static fields reuses the compilation) and
      ``df.attrs["seconds"]`` the wall time per group; ``df.attrs["seed_batch_size"]`` the batch
      size each group ran with (``None``: all seeds at once) and ``df.attrs["memory"]`` the
      estimates ``"auto"`` chose it from (``{}`` where the size was given);
      ``df.attrs["executor"]`` is ``"local"`` or ``"ray"``.
    """
    from tqdm.auto import tqdm

    remote = as_executor(executor)

    labels, settings = _as_settings(configs)
    if not settings:
        raise ValueError("configs must contain at least one setting")
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        count = check_count(seeds, "seeds")
        check_allocation(count, f"{count:.3g} seeds", "seeds", 16)
        seeds = np.arange(count)
    seeds = np.asarray(seeds)
    if seeds.ndim != 1 or seeds.size == 0 or not np.issubdtype(seeds.dtype, np.integer):
        raise ValueError("seeds must be an int count or a non-empty sequence of int seeds")
    if isinstance(seed_batch_size, str):
        if seed_batch_size != "auto":
            raise ValueError(
                f"seed_batch_size must be an int >= 1, None or 'auto', got {seed_batch_size!r}"
            )
    elif seed_batch_size is not None:
        seed_batch_size = check_count(seed_batch_size, "seed_batch_size")
    if memory_limit is not None:
        memory_limit = check_count(memory_limit, "memory_limit")
    budget_cols, B = _as_budgets(budgets)

    settings, groups = group_settings(settings, budget_cols)
    _validate_settings(run, settings, labels, budget_cols)

    budget_arrays = (
        None if budget_cols is None else {k: np.asarray(v) for k, v in budget_cols.items()}
    )
    setting_values = _label_values(labels)
    columns: dict[str, list[Any]] = {}
    seconds, batches, memory = [], [], []
    bar = tqdm(total=len(groups), desc="sweep", disable=not progress)
    finished = None
    if remote is not None:
        # Every group one task, all submitted at once; Ray runs them as CPUs free up.
        finished = remote.map(
            group_task,
            [
                (
                    run,
                    seeds,
                    [settings[i] for i in idx],
                    budget_arrays,
                    seed_batch_size,
                    memory_limit,
                )
                for idx in groups
            ],
            names=[
                f"setting group {k} (settings {[labels[i] for i in idx]})"
                for k, idx in enumerate(groups)
            ],
            on_done=lambda _: bar.update(1),
        )
    for k, idx in enumerate(groups):
        t0 = time.perf_counter()
        if finished is not None:
            out, batch, estimate, group_seconds = finished[k]
        else:
            out, batch, estimate = _start_group(
                run, seeds, [settings[i] for i in idx], budget_arrays, seed_batch_size, memory_limit
            )
            bar.set_postfix_str(f"seed batch {'all' if batch is None else batch}")
        batches.append(batch)
        memory.append(estimate)
        # Built while the call runs (dispatch is asynchronous): sweeps of many cheap runs spend
        # as much time on the tidy frame as on the runs.
        group_columns = _frame_columns(out, idx, seeds, budget_cols, B, setting_values)
        out = jax.device_get(out)  # {metric: [G, S, B]}, one transfer
        group_columns["value"] = np.concatenate([v.ravel() for v in out.values()]).astype(
            np.float64
        )
        if finished is None:
            group_seconds = time.perf_counter() - t0
            bar.update(1)
        seconds.append(group_seconds)
        for k, v in group_columns.items():
            columns.setdefault(k, []).append(v)
    df = pd.DataFrame({k: _concat(v) for k, v in columns.items()}, copy=False)
    df.attrs["num_groups"] = len(groups)
    df.attrs["seconds"] = seconds
    df.attrs["seed_batch_size"] = batches
    df.attrs["memory"] = memory
    df.attrs["executor"] = "local" if remote is None else "ray"
    bar.close()
    return df
