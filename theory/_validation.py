"""Argument checks shared by every public function of the toolkit.

Each check names the offending argument and the expected form, so that bad input fails loudly
instead of producing a silently wrong number.

What is checked when:

* **Concrete values** (eager calls, and concrete arrays closed over by a traced function): every
  check, before any work, raising ``ValueError`` / ``TypeError`` naming the argument.
* **Traced scalar parameters** (``n``, ``gamma``, ``beta``, ``delta``, ``eps``, ``p``, ``alpha``
  and the like, inside ``jax.jit`` / ``jax.vmap`` / ``jax.grad``): their shape and dtype at trace
  time, their value at run time inside the compiled program (:func:`runtime_check`, with
  ``equinox.error_if``): a bad value makes the call raise a ``RuntimeError``
  (``jax.errors.JaxRuntimeError`` under ``jit``, equinox's ``EquinoxRuntimeError`` under an
  eager ``vmap``) whose message names the argument, instead of returning NaN. This costs one
  predicate and a never-taken branch per parameter (no difference measurable above the noise
  of a shared 2-core machine on ``kl_tilt``, ``sharpening_error``, ``bon_law`` or ``coverage``).
* **Traced tables** (``logp[X, Y]``, ``mu``, rewards): shape and dtype only, at trace time; their
  values (normalization, NaN) are not scanned inside the program, where that would be a second
  pass over the table. Validate tables where they are concrete: policies, oracles and configs
  are validated once, at construction.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

# Rows of a log-probability table must have logsumexp within this of 0: a few float32 ulps times
# the row length's log for float32 (and narrower) tables; float64 tables are held to float64's
# precision, where an error of 1e-5 would pass into every quantity computed from them.
NORMALIZATION_ATOL = 1e-5
NORMALIZATION_ATOL_FLOAT64 = 1e-9


def normalization_atol(dtype: Any) -> float:
    """The normalization tolerance for a table of ``dtype``."""
    return NORMALIZATION_ATOL_FLOAT64 if jnp.dtype(dtype).itemsize >= 8 else NORMALIZATION_ATOL


# Largest table (number of entries) that enumeration helpers agree to build.
MAX_TABLE_ENTRIES = 50_000_000


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds actual values (not a tracer inside ``jit``/``vmap``/``grad``)."""
    return not isinstance(x, jax.core.Tracer)


def as_array(x: Any, name: str) -> jax.Array:
    """Converts ``x`` to a jax array, with a clear error naming ``name`` when that fails."""
    try:
        return jnp.asarray(x)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}") from err


def check_logp(logp: Any, name: str = "logp", *, min_ndim: int = 1) -> jax.Array:
    """Validates a log-probability table whose last axis is a distribution.

    Args:
      logp: ``[..., Y]`` log-probabilities; ``-inf`` marks zero mass.
      name: the argument's name, used in error messages.
      min_ndim: the least number of axes expected (``2`` for ``[X, Y]`` tables).

    Returns:
      ``logp`` as a jax array.

    Raises:
      ValueError: wrong number of axes, NaN, ``+inf``, or a row whose probabilities do not sum to 1.
    """
    arr = as_array(logp, name)
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        raise TypeError(
            f"{name} must be a floating-point array of log-probabilities, got {arr.dtype}"
        )
    if arr.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} axes ([..., Y] log-probabilities), "
            f"got shape {arr.shape}"
        )
    if arr.shape[-1] == 0:
        raise ValueError(f"{name} must have a non-empty response axis, got shape {arr.shape}")
    if is_concrete(arr):
        a = np.asarray(arr, dtype=np.float64)
        if np.isnan(a).any():
            raise ValueError(
                f"{name} contains NaN; expected log-probabilities (-inf for zero mass)"
            )
        if np.isposinf(a).any():
            raise ValueError(f"{name} contains +inf; expected log-probabilities <= 0")
        if (a > NORMALIZATION_ATOL).any():
            raise ValueError(
                f"{name} contains positive log-probabilities (max {a.max():.3g}); "
                "expected log-probabilities <= 0"
            )
        m = a.max(axis=-1, keepdims=True)
        if np.isneginf(m).any():
            raise ValueError(f"{name} has a row with no mass (all -inf); each row must sum to 1")
        lse = (m + np.log(np.exp(a - m).sum(axis=-1, keepdims=True)))[..., 0]
        bad = np.abs(lse) > normalization_atol(arr.dtype)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{name} must be normalized along its last axis (probabilities summing to 1); "
                f"row {idx} sums to {math.exp(lse[idx]):.10g}. Normalize with "
                "logits - logsumexp(logits, axis=-1, keepdims=True)."
            )
    return arr


def check_probs(p: Any, name: str = "probs", *, min_ndim: int = 1) -> jax.Array:
    """Validates a probability table (last axis a distribution) and returns its logarithm.

    Raises:
      ValueError: NaN, negative entries, or rows that do not sum to 1.
    """
    arr = as_array(p, name)
    if arr.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} axes, got shape {arr.shape}")
    if is_concrete(arr):
        a = np.asarray(arr, dtype=np.float64)
        if np.isnan(a).any():
            raise ValueError(f"{name} contains NaN; expected probabilities in [0, 1]")
        if (a < 0).any():
            raise ValueError(f"{name} contains negative probabilities (min {a.min():.3g})")
        s = a.sum(axis=-1)
        bad = np.abs(s - 1.0) > normalization_atol(arr.dtype)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{name} must sum to 1 along its last axis; row {idx} sums to {s[idx]:.10g}"
            )
    with np.errstate(divide="ignore"):
        return jnp.log(arr)


def check_mu(mu: Any, num_prompts: int, name: str = "mu") -> jax.Array:
    """Validates a prompt distribution ``mu[X]`` matching a table with ``num_prompts`` rows."""
    arr = as_array(mu, name)
    if arr.ndim != 1 or arr.shape[0] != num_prompts:
        raise ValueError(
            f"{name} must be a probability vector of shape ({num_prompts},) matching the table's "
            f"prompt axis, got shape {arr.shape}"
        )
    check_probs(arr, name)
    return arr


def runtime_check(
    value: Any, bad: Callable[[Any, Any], Any], message: str, shown: Any = None
) -> Any:
    """Refuses ``value`` where ``bad(value, xp)`` holds, now or, when traced, at run time.

    Args:
      value: a scalar or array, concrete or traced.
      bad: ``bad(v, xp) -> bool array``, written with operators and ``xp`` (``numpy`` for concrete
        values, ``jax.numpy`` for traced ones), true where ``v`` is invalid (NaN must count as
        invalid: write the valid range and negate it, comparisons with NaN are false).
      message: the error, naming the argument and the expected form; ``{}`` is filled with the
        value when it is concrete (with ``shown``, when given) or with "an invalid traced value".
      shown: what to print for a concrete value (default ``value`` itself).

    Returns:
      ``value``, or when traced the same value threaded through ``equinox.error_if``: callers
      must use the returned value, or the compiled program drops the check.

    Raises:
      ValueError: a concrete invalid value. A traced one raises a ``RuntimeError`` with
        ``message`` when the program runs.
      TypeError: a concrete value that is not a number (booleans included).
    """
    if is_concrete(value):
        if isinstance(value, (bool, np.bool_)) or getattr(value, "dtype", None) == np.bool_:
            raise TypeError(message.format(repr(value)))
        try:
            v = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise TypeError(message.format(repr(value))) from None
        if np.any(bad(v, np)):
            raise ValueError(message.format(value if shown is None else shown))
        return value
    return eqx.error_if(value, jnp.any(bad(value, jnp)), message.format("an invalid traced value"))


def check_open_unit(value: Any, name: str) -> Any:
    """Checks ``value`` in the open interval (0, 1) (for eps, delta, rho); traced: at run time."""
    return runtime_check(
        value,
        lambda v, xp: ~((v > 0) & (v < 1)),
        f"{name} must lie in the open interval (0, 1), got {{}}",
    )


def check_gamma(gamma: Any, name: str = "gamma") -> Any:
    """Checks the approximate-argmax slack gamma in [0, 1) (App. F.1); traced: at run time."""
    return runtime_check(
        gamma, lambda v, xp: ~((v >= 0) & (v < 1)), f"{name} must lie in [0, 1), got {{}}"
    )


def check_positive(value: Any, name: str) -> Any:
    """Checks ``0 < value < inf`` (for beta, temperatures, step sizes); traced: at run time."""
    return runtime_check(
        value,
        lambda v, xp: ~((v > 0) & xp.isfinite(v)),
        f"{name} must be a finite number > 0, got {{}}",
    )


def check_nonnegative(value: Any, name: str) -> Any:
    """Checks ``value >= 0`` (for the XPO optimism weight alpha, smoothing); traced: at run time."""
    return runtime_check(value, lambda v, xp: ~(v >= 0), f"{name} must be >= 0, got {{}}")


def check_count(n: Any, name: str, minimum: int = 1) -> int:
    """Checks an integer count ``n >= minimum`` (sample sizes N, n, T) and returns it as int."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {n!r}")
    if n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {n}")
    return int(n)


def format_count(n: int) -> str:
    """``n`` in 3-significant-digit scientific notation, also for integers beyond float range."""
    n = int(n)
    if n < 10**300:
        return f"{n:.3g}"
    digits = len(str(n))
    return f"{int(str(n)[:3]) / 100:.2f}e+{digits - 1}"


def _refuse_size(verb: str, num_entries: int, what: str, limit: int, advice: str) -> None:
    """The one message of every size refusal (enumeration and allocation alike)."""
    raise ValueError(
        f"{verb} {what} would need {format_count(num_entries)} entries, above the limit of "
        f"{limit:.3g}; {advice}"
    )


def check_table_size(num_entries: int, what: str, limit: int = MAX_TABLE_ENTRIES) -> None:
    """Refuses to enumerate more than ``limit`` entries, saying how large it would be."""
    if num_entries > limit:
        _refuse_size(
            "enumerating",
            num_entries,
            what,
            limit,
            "use a sampling estimate or a smaller instance (or pass a larger max_entries if "
            "memory allows)",
        )


# The most entries one array of the toolkit may have: sampling and table lookups index with
# int32 (2^31 - 1 is also XLA's limit for many CPU kernels).
MAX_ARRAY_ENTRIES = 2**31 - 1
# At most this fraction of the machine's physical memory goes to the arrays one call allocates.
MEMORY_FRACTION = 0.5


@functools.cache
def physical_memory_bytes() -> int:
    """The machine's physical memory in bytes (16 GiB when the OS does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30


def allocation_limit(bytes_per_entry: int) -> int:
    """The most entries a call may allocate at ``bytes_per_entry`` bytes each (all its arrays
    together): ``MAX_ARRAY_ENTRIES``, and at most ``MEMORY_FRACTION`` of physical memory."""
    by_memory = int(MEMORY_FRACTION * physical_memory_bytes()) // max(1, int(bytes_per_entry))
    return min(MAX_ARRAY_ENTRIES, by_memory)


def check_allocation(num_entries: int, what: str, names: str, bytes_per_entry: int = 8) -> None:
    """Refuses, before anything is allocated, a call whose arrays would have too many entries.

    Args:
      num_entries: the exact number of entries (a Python int: no overflow).
      what: what would be allocated, e.g. ``"the [X, Y] = [1, 1e+10] table"``.
      names: the arguments that set the size, named in the message (``"num_responses"``).
      bytes_per_entry: the bytes all arrays of the call take per entry (e.g. 8 for one float64
        array, more when several arrays of that size are built).

    Raises:
      ValueError: above :func:`allocation_limit` (the message has the same form as
        :func:`check_table_size`'s, and names ``names``).
    """
    limit = allocation_limit(bytes_per_entry)
    if num_entries > limit:
        gib = num_entries * bytes_per_entry / 2**30
        _refuse_size(
            f"{names}: allocating",
            num_entries,
            f"{what} (about {gib:.3g} GiB)",
            limit,
            f"lower {names} (the limit is {MAX_ARRAY_ENTRIES:.3g} entries, the int32 index "
            f"range, and {MEMORY_FRACTION:g} of this machine's "
            f"{physical_memory_bytes() / 2**30:.3g} GiB of memory)",
        )


def check_scalar(value: Any, name: str) -> Any:
    """Checks that ``value`` is a scalar (Python number or 0-d array, possibly traced).

    Sweeps over a continuous parameter batch with ``jax.vmap`` at the call site, where the
    parameter is again a scalar inside the mapped function.
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real scalar, got {value!r}")
    shape = np.shape(value) if not isinstance(value, jax.Array) else value.shape
    if len(shape) != 0:
        raise ValueError(f"{name} must be a scalar (use jax.vmap to sweep it), got shape {shape}")
    dtype = getattr(value, "dtype", None)
    if dtype is not None and not (
        jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)
    ):
        raise TypeError(f"{name} must be a real scalar, got dtype {dtype}")
    if dtype is None and not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a real scalar, got {type(value).__name__}")
    return value


def check_at_least(value: Any, name: str, minimum: float, *, allow_inf: bool = False) -> Any:
    """Checks ``minimum <= value < inf``, or ``<= inf`` with ``allow_inf`` (the coverage moment
    ``p``, whose ``p = inf`` is the essential supremum); traced: at run time."""
    bound = "" if allow_inf else " and finite"

    def bad(v, xp):
        ok = v >= minimum
        return ~ok if allow_inf else ~(ok & xp.isfinite(v))

    return runtime_check(value, bad, f"{name} must be >= {minimum}{bound}, got {{}}")


def check_integer(n: Any, name: str, minimum: int = 1) -> Any:
    """Checks an integer count ``n >= minimum`` that may be a traced integer scalar.

    Unlike :func:`check_count`, a 0-d integer jax array (concrete or traced) is accepted, so the
    count can be a traced value inside ``jit``/``vmap``; its value is checked when concrete, and
    at run time when traced (use the returned value). Python ints of any size are accepted
    (callers that need it as a float take it in log space, :func:`log_count`).
    """
    if isinstance(n, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {n!r}")
    if isinstance(n, (int, np.integer)):
        if n < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {n}")
        return int(n)
    dtype = getattr(n, "dtype", None)
    if dtype is None or not jnp.issubdtype(dtype, jnp.integer) or np.ndim(n) != 0:
        raise TypeError(f"{name} must be an integer scalar >= {minimum}, got {n!r}")
    if is_concrete(n):
        if int(n) < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {int(n)}")
        return n
    return runtime_check(
        n, lambda v, xp: v < minimum, f"{name} must be an integer >= {minimum}, got {{}}"
    )


def log_count(n: Any, dtype: Any) -> tuple[jax.Array, jax.Array]:
    """``(n, log n)`` of a count checked by :func:`check_integer`, as floats of ``dtype``.

    A Python int of any size is taken to the float on the host (``inf`` beyond the float range)
    and its logarithm exactly (``math.log`` of an int never overflows), so ``n = 10**30`` or
    ``10**400`` never reaches JAX's argument parsing as an integer (which overflows int64, or
    int32 without x64). Formulas use ``n`` while it is finite and ``log n`` beyond.
    """
    if isinstance(n, int):
        big = float(jnp.finfo(dtype).max)
        n_f = float(n) if n <= big else math.inf
        return jnp.asarray(n_f, dtype), jnp.asarray(math.log(n), dtype)
    n_f = jnp.asarray(n).astype(dtype)
    return n_f, jnp.log(n_f)


def check_same_shape(a: jax.Array, b: jax.Array, name_a: str, name_b: str, trailing: int) -> None:
    """Checks that ``a`` and ``b`` agree on their last ``trailing`` axes and broadcast elsewhere."""
    if a.shape[a.ndim - trailing :] != b.shape[b.ndim - trailing :]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same last {trailing} axes, got shapes "
            f"{a.shape} and {b.shape}"
        )
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError as err:
        raise ValueError(
            f"{name_a} and {name_b} must have broadcastable leading axes, got shapes "
            f"{a.shape} and {b.shape}"
        ) from err


def check_finite_on_support(
    values: Any, logp: jax.Array, name: str, logp_name: str = "logp"
) -> jax.Array:
    """Validates ``values`` broadcastable to ``logp.shape`` and finite where ``logp > -inf``.

    Used for rewards: entries where the table has zero mass are never sampled and are ignored.
    """
    arr = as_array(values, name)
    if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise TypeError(f"{name} must be a real array, got dtype {arr.dtype}")
    try:
        ok = np.broadcast_shapes(arr.shape, logp.shape) == logp.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{name} must broadcast to the shape of {logp_name} {logp.shape}, got shape {arr.shape}"
        )
    if is_concrete(arr) and is_concrete(logp):
        a = np.broadcast_to(np.asarray(arr, dtype=np.float64), logp.shape)
        support = np.asarray(logp, dtype=np.float64) > -np.inf
        if not np.isfinite(a[support]).all():
            raise ValueError(
                f"{name} must be finite wherever {logp_name} has positive mass "
                "(NaN or infinite values found)"
            )
    return arr


def check_log_mass(log_mass: Any, name: str = "log_mass", *, min_ndim: int = 1) -> jax.Array:
    """Validates log-masses (log-probabilities of events, not a distribution): ``<= 0``, no NaN."""
    arr = as_array(log_mass, name)
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating-point array of log-masses, got {arr.dtype}")
    if arr.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} axes, got shape {arr.shape}")
    if is_concrete(arr):
        a = np.asarray(arr, dtype=np.float64)
        if np.isnan(a).any():
            raise ValueError(f"{name} contains NaN; expected log-masses in [-inf, 0]")
        if (a > NORMALIZATION_ATOL).any():
            raise ValueError(f"{name} must be log-masses <= 0, got max {a.max():.3g}")
    return arr
