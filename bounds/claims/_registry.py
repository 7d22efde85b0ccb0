"""The claims registry: :class:`Claim`, the :func:`claim` decorator, ``CLAIMS``, :func:`run_claims`.

Each claim is an executable check: it measures something on a toy instance and compares it with what
the cited theorem predicts, under a pass rule written in the claim and derived from the theory (for
example "the fitted log-log slope of the minimal budget in C_cov lies in [0.8, 1.2]", Thm 4.1),
never tuned until it passes. A claim declares two settings, ``quick`` and ``full`` (instances of one
frozen dataclass: sample sizes and grids, never the pass rule), and its cost, ``timeout_s`` (quick,
full): a generous wall-clock bound the runners of ``sharpen verify`` and ``sharpen reproduce`` use
as the claim's time limit. ``run_claims`` runs them, with a progress bar, and returns
``ClaimResult`` records; ``sharpen verify`` prints them and writes them as JSON.

This module imports no check: importing :mod:`bounds.claims` registers the library's claims, and
a researcher's module registers more with the same decorator.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class ClaimResult:
    """The outcome of one claim.

    Attributes:
      id: ``"C1"`` ... ``"C14"`` for the paper's numerically checkable claims.
      title: one line saying what is checked.
      reference: the paper's statement (theorem, proposition, lemma).
      holds: whether the measurement satisfies the claim's pass rule.
      measured: the measurement, as a short human-readable string.
      predicted: the prediction and pass rule, as a short string.
      seconds: wall time of the check.
      details: numbers behind the verdict (free-form, for the report), and for a claim that does not
        hold, what was found about why.
    """

    id: str
    title: str
    reference: str
    holds: bool
    measured: str
    predicted: str
    seconds: float
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The record in ``sharpen verify --json`` format."""
        return {
            "id": self.id,
            "title": self.title,
            "reference": self.reference,
            "holds": bool(self.holds),
            "measured": self.measured,
            "predicted": self.predicted,
            "seconds": round(float(self.seconds), 3),
        }


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a claim's check function returns; ``run_claims`` adds identity and timing."""

    holds: bool
    measured: str
    predicted: str
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Claim:
    """A registered claim: identity, ``check(settings) -> Outcome``, its settings and its cost.

    Attributes:
      id: the claim id (``"C1"``, or a researcher's own, e.g. ``"X1"``).
      title: one line saying what is checked.
      reference: the paper's statement it checks.
      check: ``check(settings) -> Outcome``.
      quick: the settings of a quick run (a frozen dataclass instance).
      full: the settings of a full run (an instance of the same dataclass).
      timeout_s: ``(quick, full)`` wall-clock seconds past which the claim is a runaway: the
        runners' time limit of the claim's unit when the user sets none.
    """

    id: str
    title: str
    reference: str
    check: Callable[[Any], Outcome]
    quick: Any
    full: Any
    timeout_s: tuple[float, float]

    def settings(self, quick: bool) -> Any:
        """The ``quick`` or ``full`` settings."""
        return self.quick if quick else self.full

    def timeout(self, quick: bool) -> float:
        """The declared time limit of a quick or full run, in seconds."""
        return float(self.timeout_s[0] if quick else self.timeout_s[1])


CLAIMS: dict[str, Claim] = {}


def _is_frozen_dataclass(obj: Any) -> bool:
    params = getattr(type(obj), "__dataclass_params__", None)
    return dataclasses.is_dataclass(obj) and not isinstance(obj, type) and bool(params.frozen)


def claim(
    id: str,
    title: str,
    reference: str,
    *,
    quick: Any,
    full: Any,
    timeout_s: tuple[float, float],
):
    """Decorator registering ``check(settings) -> Outcome`` as claim ``id``.

    Args:
      id: a new claim id.
      title: one line saying what is checked.
      reference: the paper's statement it checks.
      quick: the settings of a quick run: an instance of a frozen dataclass.
      full: the settings of a full run: an instance of the same dataclass.
      timeout_s: ``(quick, full)`` seconds, both > 0: a generous bound on the check's wall time
        (about ten times what it takes), used as its unit's time limit.

    Raises:
      ValueError: ``id`` already registered, settings that are not instances of one frozen
        dataclass, or a timeout that is not positive.
    """
    if id in CLAIMS:
        raise ValueError(f"claim id {id!r} registered twice")
    if not (_is_frozen_dataclass(quick) and _is_frozen_dataclass(full)):
        raise ValueError(f"claim {id}: quick and full must be frozen dataclass instances")
    if type(quick) is not type(full):
        raise ValueError(
            f"claim {id}: quick and full must be of one dataclass, got "
            f"{type(quick).__name__} and {type(full).__name__}"
        )
    timeouts = tuple(timeout_s)
    if len(timeouts) != 2 or not all(
        isinstance(t, int | float) and math.isfinite(t) and t > 0 for t in timeouts
    ):
        raise ValueError(f"claim {id}: timeout_s must be (quick, full) seconds > 0: {timeout_s}")

    def register(check: Callable[[Any], Outcome]) -> Callable[[Any], Outcome]:
        if id in CLAIMS:
            raise ValueError(f"claim id {id!r} registered twice")
        CLAIMS[id] = Claim(
            id=id,
            title=title,
            reference=reference,
            check=check,
            quick=quick,
            full=full,
            timeout_s=(float(timeouts[0]), float(timeouts[1])),
        )
        return check

    return register


def claim_order(ids) -> list[str]:
    """Claim ids in order: C1, C2, ..., C10, ... (an id without a number last, by name)."""

    def key(cid: str):
        digits = cid.lstrip("C")
        return (0, int(digits), "") if cid.startswith("C") and digits.isdigit() else (1, 0, cid)

    return sorted(ids, key=key)


def run_claims(
    quick: bool = False, ids: Sequence[str] | None = None, progress: bool = True
) -> list[ClaimResult]:
    """Runs the registered claims (all, or those in ``ids``) and returns their results in order.

    Args:
      quick: each claim's ``quick`` settings (the library's registry in under 2 minutes on 2
        cores); else its ``full`` settings.
      ids: claim ids to run, e.g. ``["C1", "C4"]``; ``None`` runs all.
      progress: show a tqdm progress bar.

    Raises:
      ValueError: an unknown claim id.
    """
    wanted = claim_order(CLAIMS) if ids is None else list(ids)
    unknown = [i for i in wanted if i not in CLAIMS]
    if unknown:
        raise ValueError(f"ids must be claim ids among {claim_order(CLAIMS)}, got {unknown}")
    from tqdm.auto import tqdm

    results = []
    bar = tqdm(wanted, desc="claims", disable=not progress, leave=False)
    for cid in bar:
        c = CLAIMS[cid]
        bar.set_postfix_str(cid)
        t0 = time.perf_counter()
        out = c.check(c.settings(quick))
        results.append(
            ClaimResult(
                id=c.id,
                title=c.title,
                reference=c.reference,
                holds=bool(out.holds),
                measured=out.measured,
                predicted=out.predicted,
                seconds=time.perf_counter() - t0,
                details=dict(out.details),
            )
        )
    return results
