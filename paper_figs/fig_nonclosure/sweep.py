"""Settings of the non-closure figure (Proposition E.2; THEORY.md claim 10).

Proposition E.2's class (``bounds.nonclosure_table``): X = {bot}, V = [n], H = d = 2, with
phi_1(1) = phi_1(2), so every model of the class has pi(y_1 = 1) = pi(y_1 = 2) and hence
pi(2, 1) <= 1/2, while the base model theta* = (B e_1, B e_1), B = log n, has sequence argmax
(2, 1) with constant mass. For each vocabulary size n:

* the largest pi_theta(2, 1) over the class ||theta_h|| <= B' (the log-likelihood is separable in
  theta_1 and theta_2, so each is maximized on the circle of radius B'), as B' grows;
* the tempered base model pi_{s theta*} (inverse temperature s), which the class contains;
* inference-time best-of-N's exact hit rate P[BoN_N = (2, 1)] (``theory.bon_law``), which is not
  bound by the class.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

_RADII = tuple(float(r) for r in np.geomspace(0.25, 64.0, 13))
_NS = (1, 2, 4, 8, 16, 32, 64, 128)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One vocabulary size.

    Attributes:
      n: vocabulary size (>= 3).
      radii: the class radii B' (and the tempered base's ||s theta*||).
      ns: best-of-N's N values.
      num_angles: angles of the class search's first grid (then golden-section refinement).
      seed: unused (the computation is exact); kept for the sweep's convention.
    """

    n: int
    radii: tuple[float, ...] = _RADII
    ns: tuple[int, ...] = _NS
    num_angles: int = 72
    seed: int = 0


SWEEP: tuple[Setting, ...] = tuple(Setting(n) for n in (4, 16, 64, 256))
QUICK: tuple[Setting, ...] = (Setting(4), Setting(64))


def _maximize_on_circle(f, radius: float, num_angles: int) -> tuple[float, np.ndarray]:
    """max of f(theta) over ||theta|| = radius: a grid of angles, then golden-section refinement."""
    point = lambda a: radius * np.array([np.cos(a), np.sin(a)])
    grid = np.linspace(-np.pi, np.pi, num_angles, endpoint=False)
    vals = np.array([f(point(a)) for a in grid])
    step = grid[1] - grid[0]
    lo, hi = grid[np.argmax(vals)] - step, grid[np.argmax(vals)] + step
    g = (np.sqrt(5) - 1) / 2
    for _ in range(30):
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
        if f(point(a)) >= f(point(b)):
            hi = b
        else:
            lo = a
    best = point((lo + hi) / 2)
    return float(f(best)), best


def _class_sup(n: int, radius: float, num_angles: int) -> float:
    """max pi_theta(2, 1) over ||theta_1||, ||theta_2|| <= radius.

    log pi(2, 1) = f_1(theta_1) + f_2(theta_2) is separable and each term is a log-softmax entry,
    which is largest on the boundary of the ball, so each theta_h is searched on the circle.
    """
    import bounds

    zero = np.zeros(2)
    f1 = lambda p: bounds.nonclosure_table(n, np.stack([p, zero]))[1, 0]
    _, th1 = _maximize_on_circle(f1, radius, num_angles)
    f2 = lambda p: bounds.nonclosure_table(n, np.stack([th1, p]))[1, 0]
    value, _ = _maximize_on_circle(f2, radius, num_angles)
    return float(np.exp(value))


def run(setting: Setting) -> pd.DataFrame:
    """Tidy rows ``n, curve, x, value``: curves ``class_sup`` (x = B'), ``tempered`` (x = ||s
    theta*||), ``bon`` (x = N), and the constants ``base_mass`` and ``base_max_other``."""
    import jax.numpy as jnp

    import bounds
    import theory

    n = setting.n
    B = float(np.log(n))
    theta_star = np.array([[B, 0.0], [B, 0.0]])
    table = bounds.nonclosure_table(n, theta_star)  # [n, n], rows y_1, columns y_2
    base_mass = float(np.exp(table[1, 0]))
    others = np.delete(np.exp(table).ravel(), 1 * n + 0)
    rows = [
        {"curve": "class_sup", "x": r, "value": _class_sup(n, r, setting.num_angles)}
        for r in setting.radii
    ]
    norm = np.linalg.norm(theta_star[0])
    rows += [
        {
            "curve": "tempered",
            "x": r,
            "value": float(np.exp(bounds.nonclosure_table(n, theta_star * (r / norm))[1, 0])),
        }
        for r in setting.radii
    ]
    flat = jnp.asarray(table.ravel())
    rows += [
        {
            "curve": "bon",
            "x": float(N),
            "value": float(np.exp(np.asarray(theory.bon_law(flat, int(N)))[1 * n + 0])),
        }
        for N in setting.ns
    ]
    df = pd.DataFrame(rows)
    df.insert(0, "n", n)
    df["base_mass"] = base_mass
    df["base_max_other"] = float(others.max())
    df["base_B"] = B
    return df


# Found by paper_figs' discovery (no list to edit): the figure's place in the report, and the CPU
# seconds of its QUICK sweep on 2 cores (measured), which schedules the longest first and makes
# its smoke test slow above paper_figs.SLOW_QUICK_SECONDS.
REPORT_ORDER = 12
QUICK_CPU_SECONDS = 2.5
