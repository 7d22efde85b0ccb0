"""Exact law of best-of-n and its miss probability (Assumption 4.1, Prop. C.1)."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._argmax import _argmax_mask
from ._logmath import log1mexp, log_mass_in_set
from ._validation import (
    check_finite_on_support,
    check_gamma,
    check_integer,
    check_logp,
    check_scalar,
    log_count,
)

# Below this, log(t) stands for log(1 - exp(-t)) and log(softplus(d)) for d (errors < 1e-17).
_TINY_LOG = -40.0


def _times_count(n: jax.Array, log_n: jax.Array, v: jax.Array) -> jax.Array:
    """``n * v`` for ``v <= 0`` (a log-mass), also when ``n`` is beyond the float range.

    While ``n`` is a finite float the product is taken directly (one rounding); beyond, as
    ``-exp(log n + log(-v))``, so ``(1 - 1e-320)^(10^310)`` is still ``exp(-1e-10)`` and a
    log-mass of exactly 0 (the top group's ``S = 1``) gives 0, never ``inf * 0 = NaN``.
    """
    finite = jnp.isfinite(n)

    def direct():
        return jnp.where(finite, n, 0.0) * v

    def huge():
        return -jnp.exp(log_n + jnp.log(jnp.where(v < 0, -v, 1.0)))

    # Only one branch runs (both, as a select, where n is itself batched by vmap).
    return jnp.where(v == 0, jnp.zeros_like(v), jax.lax.cond(finite, direct, huge))


def _log1m_ratio_pow(d: jax.Array, log_n: jax.Array) -> jax.Array:
    """``log(1 - (L/S)^n)`` from ``d = log Q - log L`` where ``S = L + Q``.

    ``(L/S)^n = exp(-t)`` with ``t = n log1p(Q/L) = n softplus(d)``. When ``Q/L`` is tiny
    (``1e-300``, or ``1e-30`` in float32) ``softplus(d)`` underflows, so ``log t`` is formed as
    ``log n + d`` and ``log(1 - exp(-t)) = log t`` to first order, which is then exact.
    """
    log_softplus = jnp.where(
        d < _TINY_LOG, d, jnp.log(jax.nn.softplus(jnp.where(d < _TINY_LOG, 0.0, d)))
    )
    log_t = log_n + log_softplus
    small = log_t < _TINY_LOG
    return jnp.where(small, log_t, log1mexp(-jnp.exp(jnp.where(small, 0.0, log_t))))


def _log_prefix_sums(log_q: jax.Array, linear: bool) -> tuple[jax.Array, jax.Array]:
    """``(log L, log U)``: log of the exclusive prefix and suffix sums of ``exp(log_q)``.

    ``linear`` sums the masses themselves (every finite ``log_q`` must be well inside the float
    range, so that no term underflows and each partial sum keeps its relative accuracy); otherwise
    ``cumlogsumexp``, exact for any magnitudes but an associative scan about 25x slower than a
    ``cumsum`` on a CPU.
    """
    neg_inf = jnp.full((1,), -jnp.inf, log_q.dtype)
    if linear:
        q = jnp.exp(log_q)
        below = jnp.log(jnp.cumsum(q)[:-1])
        above = jnp.log(jnp.cumsum(q[::-1])[::-1][1:])
    else:
        below = jax.lax.cumlogsumexp(log_q)[:-1]
        above = jax.lax.cumlogsumexp(log_q, reverse=True)[1:]
    return jnp.concatenate([neg_inf, below]), jnp.concatenate([above, neg_inf])


# Tables with at least this many entries are sorted by numpy on the CPU (see _row_order).
_HOST_SORT_MIN_ENTRIES = 1 << 12


def _host_argsort(key: np.ndarray, stable: bool) -> np.ndarray:
    """numpy's row argsort; ``stable``: in the device's stable order wherever finite keys tie."""
    key = np.asarray(key)
    order = np.argsort(key, axis=-1)  # vectorized, not stable
    if stable:
        ranked = np.take_along_axis(key, order, axis=-1)
        tied = (ranked[..., 1:] == ranked[..., :-1]) & np.isfinite(ranked[..., 1:])
        tied = np.any(tied, axis=-1)
        if tied.any():
            order[tied] = np.argsort(key[tied], axis=-1, kind="stable")
    return order.astype(np.int32)


def _row_order(key: jax.Array, stable: bool = True) -> jax.Array:
    """``[R, Y]`` int32: each row's indices in increasing order of ``key``.

    XLA's CPU sort calls the compiled comparator through a pointer for every comparison; on a
    [2000, 2000] float64 table its row argsort takes about 4x numpy's stable argsort and 20x
    numpy's default (vectorized) one, and was most of ``bon_law``'s time (BENCHMARKS.md, benchmark
    1). On the CPU, tables of ``_HOST_SORT_MIN_ENTRIES`` entries or more are therefore sorted by
    numpy in a host callback (6x faster at 4096 entries, 13x on [2000, 2000]; below ~1000
    entries the callback's ~0.1 ms costs more than XLA's sort); other backends sort on the
    device. Both give the stable order (ties by index; ``-0.0`` is
    taken as ``0.0``, which numpy's sort does not tell apart), so the law is bit for bit the same
    on either path: a tie group's mass is summed in that order. ``stable=False`` lets the host
    leave ties in any order, for keys whose ties have equal masses (the default reward), where
    the order changes no sum.
    """
    key = jnp.where(key == 0, jnp.zeros_like(key), key)

    def on_device(k):
        return jnp.argsort(k, axis=-1, stable=True).astype(jnp.int32)

    if key.size < _HOST_SORT_MIN_ENTRIES:
        return on_device(key)

    def on_host(k):
        out = jax.ShapeDtypeStruct(k.shape, jnp.int32)
        sort = functools.partial(_host_argsort, stable=stable)
        return jax.pure_callback(sort, out, k, vmap_method="broadcast_all")

    # The order is piecewise constant in the keys: no derivative flows through it.
    return jax.lax.platform_dependent(jax.lax.stop_gradient(key), cpu=on_host, default=on_device)


def _bon_law_row(
    logp: jax.Array,
    key: jax.Array,
    n: jax.Array,
    log_n: jax.Array,
    linear: bool,
    order: jax.Array | None = None,
) -> jax.Array:
    """Log-law of best-of-n for one row ``logp[Y]`` with sort keys ``key[Y]`` (see bon_law);
    ``order[Y]`` sorts ``key`` (None: sorted here)."""
    num = logp.shape[-1]
    if order is None:
        order = _row_order(key[None])[0]
    lp = logp[order]
    k = key[order]
    starts = jnp.concatenate([jnp.ones((1,), bool), k[1:] != k[:-1]])
    gid = jnp.cumsum(starts) - 1  # group index of each sorted response, increasing reward

    # log Q_g: exact per-group log-sum-exp (a segment sum, never a difference of cumulative sums).
    gmax = jax.ops.segment_max(lp, gid, num_segments=num, indices_are_sorted=True)
    gmax = jnp.where(jnp.isfinite(gmax), gmax, 0.0)
    gsum = jax.ops.segment_sum(
        jnp.exp(lp - gmax[gid]), gid, num_segments=num, indices_are_sorted=True
    )
    log_q = jnp.where(gsum > 0, jnp.log(jnp.where(gsum > 0, gsum, 1.0)) + gmax, -jnp.inf)

    # log L_g (mass of strictly lower reward) and log U_g (strictly higher): sums of positive
    # terms, so each has small relative error.
    log_l, log_u = _log_prefix_sums(log_q, linear)
    # log S_g with S_g = L_g + Q_g = 1 - U_g: take log1p(-U_g) while U_g < 1/2 (so the top
    # group has S = 1 exactly and n log S carries no rounding amplified by n).
    log_s = jnp.where(log_u < -jnp.log(2.0), log1mexp(log_u), jnp.logaddexp(log_l, log_q))

    # log(S^n - L^n) = n log S + log(1 - (L/S)^n), with log(L/S) = -log1p(Q/L) = -softplus(
    # log Q - log L), exact when Q/L is 1e-300 or when L = 0 (then (L/S)^n = 0).
    empty = log_q == -jnp.inf
    safe_q = jnp.where(empty, 0.0, log_q)
    log_p_group = _times_count(n, log_n, log_s) + _log1m_ratio_pow(safe_q - log_l, log_n)
    log_p_group = jnp.where(empty, -jnp.inf, log_p_group)

    # Within a group the chosen sample is pi_base restricted to the group (exchangeability).
    out_sorted = jnp.where(lp == -jnp.inf, -jnp.inf, lp - safe_q[gid] + log_p_group[gid])
    return jnp.zeros_like(out_sorted).at[order].set(out_sorted)


def bon_law(logp_base: Any, n: Any, reward: Any = None) -> jax.Array:
    """Exact law pi^BoN_n of the best-of-n response (Assumption 4.1; Sec. 6 item 2).

    Draw y_1..y_n i.i.d. from pi_base(.|x) and return a y_i of largest reward r(x, y_i), ties
    broken uniformly at random among the sample indices that achieve the maximum (default
    r = log pi_base, the maximum-likelihood self-reward of Eq. 2).

    Derivation. Group the responses by reward value and sort the groups by increasing reward.
    For the group g of responses with reward r_g let Q_g = pi_base(g) be its mass, L_g the mass
    of strictly lower reward and S_g = L_g + Q_g. The maximum reward among the n samples is r_g
    exactly when all samples have reward <= r_g but not all < r_g:

        P[max reward = r_g] = S_g^n - L_g^n.

    Given that event, the set of indices in g and their values are exchangeable, and the
    uniformly chosen maximizing index holds a sample drawn from pi_base restricted to g, so

        P[BoN = y] = (pi_base(y) / Q_g) (S_g^n - L_g^n),   y in g.

    With r = log pi_base every member of g has the same probability and the split is uniform,
    P[BoN in g] = (1 - U_g)^n - (1 - U_g - Q_g)^n with U_g the mass above g (Sec. 6 item 2).
    With a general reward, ties between responses of different probability split in proportion
    to pi_base. Everything is computed in log space: log(S^n - L^n) = n log S +
    log(-expm1(n log(L/S))), log(L/S) = -softplus(log Q - log L), and Q_g is an exact segment
    sum; masses of 1e-300 (log-probabilities near -700, or far below) come out exact.

    Args:
      logp_base: ``[..., Y]`` normalized log-probabilities of pi_base.
      n: number of samples, an integer >= 1: a Python int of any size (``n = 10**30`` puts the
        mass on the argmax set, computed in log space), or an integer scalar that may be traced
        (e.g. swept with ``vmap``; then ``n >= 1`` is checked at run time).
      reward: ``[..., Y]`` reward broadcastable to ``logp_base``, finite where pi_base > 0;
        ``None`` for r = log pi_base.

    Returns:
      ``[..., Y]`` normalized log-probabilities of the best-of-n output; ``-inf`` for responses
      with zero base mass (or that can never win).
    """
    logp_base = check_logp(logp_base, "logp_base")
    n = check_integer(n, "n", minimum=1)
    if reward is None:
        key = logp_base
    else:
        reward = check_finite_on_support(reward, logp_base, "reward", "logp_base")
        key = jnp.broadcast_to(jnp.asarray(reward, dtype=logp_base.dtype), logp_base.shape)
    n_f, log_n = log_count(n, logp_base.dtype)
    return _bon_law(logp_base, key, n_f, log_n, reward is not None)


@functools.partial(jax.jit, static_argnums=4)
def _bon_law(
    logp_base: jax.Array, key: jax.Array, n_f: Any, log_n: Any, custom_reward: bool = True
) -> jax.Array:
    # Renormalize so that S = 1 holds for the top group up to rounding (float32 inputs may be
    # normalized only to ~1e-7).
    logp = logp_base - jax.nn.logsumexp(logp_base, axis=-1, keepdims=True)
    # Zero-mass responses can never be drawn: sort them below everything.
    key = jnp.where(logp == -jnp.inf, -jnp.inf, key)
    flat_logp = logp.reshape(-1, logp.shape[-1])
    flat_key = key.reshape(-1, logp.shape[-1])

    # With r = log pi_base, tied responses have equal masses: their order changes no sum.
    order = _row_order(flat_key, stable=custom_reward)

    def rows(linear: bool):
        return lambda: jax.vmap(_bon_law_row, in_axes=(0, 0, None, None, None, 0))(
            flat_logp, flat_key, n_f, log_n, linear, order
        )

    # Group masses are at least the smallest positive mass and at most 1. When every positive
    # mass is above tiny / eps^2 (1e-276 in float64, 1e-24 in float32), no term of the prefix
    # sums underflows and linear cumulative sums are as accurate as log-space ones: one decision
    # for the whole table, so only one branch runs (unless bon_law is itself vmapped).
    finfo = jnp.finfo(logp.dtype)
    floor = float(np.log(finfo.tiny) - 2 * np.log(finfo.eps))
    smallest = jnp.min(jnp.where(logp == -jnp.inf, 0.0, logp))
    out = jax.lax.cond(smallest > floor, rows(True), rows(False))
    return out.reshape(logp.shape)


def log_bon_miss_probability(logp_base: Any, n: Any, gamma: Any = 0.0) -> jax.Array:
    """``log P[BoN_n(x) not in y*_gamma(x)] = n log(1 - pi_base(y*_gamma(x)|x))`` (Prop. C.1).

    With the log-likelihood self-reward, best-of-n misses y*_gamma exactly when none of the n
    samples falls in it (the set is an upper set of likelihoods). The complement mass
    1 - pi_base(y*_gamma) is summed directly over the responses outside the set, so it is exact
    even when pi_base(y*_gamma) rounds to one, and the power is taken as n times its logarithm.

    Args:
      logp_base: ``[..., Y]`` normalized log-probabilities of pi_base.
      n: number of samples, an integer >= 1 of any size (may be a traced integer scalar,
        checked at run time).
      gamma: slack in [0, 1); scalar, may be traced (checked at run time).

    Returns:
      ``[...]`` log miss probabilities (``-inf`` when y*_gamma holds all the mass).
    """
    logp_base = check_logp(logp_base, "logp_base")
    n = check_integer(n, "n", minimum=1)
    check_scalar(gamma, "gamma")
    gamma = check_gamma(gamma, "gamma")
    n_f, log_n = log_count(n, logp_base.dtype)
    return _log_bon_miss_probability(logp_base, n_f, log_n, gamma)


@jax.jit
def _log_bon_miss_probability(logp_base: jax.Array, n_f: Any, log_n: Any, gamma: Any) -> jax.Array:
    _, log_out = log_mass_in_set(logp_base, _argmax_mask(logp_base, gamma))
    return _times_count(n_f, log_n, log_out)


def bon_miss_probability(logp_base: Any, n: Any, gamma: Any = 0.0) -> jax.Array:
    """``P[BoN_n(x) not in y*_gamma(x)] = (1 - pi_base(y*_gamma(x)|x))^n`` exactly (Prop. C.1).

    Prop. C.1: n >= log(1/rho) / pi_base(y*_gamma|x) makes this <= rho, since it is at most
    exp(-n pi_base(y*_gamma|x)).

    Args:
      logp_base: ``[..., Y]`` normalized log-probabilities of pi_base.
      n: number of samples, an integer >= 1 of any size (may be a traced integer scalar,
        checked at run time).
      gamma: slack in [0, 1); scalar, may be traced (checked at run time).

    Returns:
      ``[...]`` miss probabilities.
    """
    return jnp.exp(log_bon_miss_probability(logp_base, n, gamma))
