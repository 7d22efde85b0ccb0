"""The registry of THEORY.md section 6's fourteen numerically checkable claims.

Each claim is an executable check: it measures something on a toy instance and compares it with what
the cited theorem predicts, under a pass rule written in the claim and derived from the theory (for
example "the fitted log-log slope of the minimal budget in C_cov lies in [0.8, 1.2]"), never tuned
until it passes. ``run_claims`` runs them, with a progress bar, and returns ``ClaimResult`` records;
``sharpen verify`` prints them and writes them as JSON.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class ClaimResult:
    """The outcome of one claim.

    Attributes:
      id: ``"C1"`` ... ``"C14"`` (THEORY.md section 6 item number).
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
        """The record in ``sharpen verify --json`` format (DESIGN.md)."""
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
    """A registered claim: identity plus ``check(quick: bool) -> Outcome``."""

    id: str
    title: str
    reference: str
    check: Callable[[bool], Outcome]


CLAIMS: dict[str, Claim] = {}


def claim(id: str, title: str, reference: str):
    """Decorator registering ``check(quick) -> Outcome`` as claim ``id``."""

    def register(check: Callable[[bool], Outcome]) -> Callable[[bool], Outcome]:
        if id in CLAIMS:
            raise ValueError(f"claim id {id!r} registered twice")
        CLAIMS[id] = Claim(id=id, title=title, reference=reference, check=check)
        return check

    return register


def _claim_order(cid: str) -> int:
    return int(cid.lstrip("C"))


def run_claims(
    quick: bool = False, ids: Sequence[str] | None = None, progress: bool = True
) -> list[ClaimResult]:
    """Runs the registered claims (all, or those in ``ids``) and returns their results in order.

    Args:
      quick: small settings (the whole registry in under 2 minutes on 2 cores).
      ids: claim ids to run, e.g. ``["C1", "C4"]``; ``None`` runs all.
      progress: show a tqdm progress bar.

    Raises:
      ValueError: an unknown claim id.
    """
    from . import _claim_checks  # noqa: F401  (registers the checks)

    wanted = sorted(CLAIMS, key=_claim_order) if ids is None else list(ids)
    unknown = [i for i in wanted if i not in CLAIMS]
    if unknown:
        raise ValueError(
            f"ids must be claim ids among {sorted(CLAIMS, key=_claim_order)}, got {unknown}"
        )
    from tqdm.auto import tqdm

    results = []
    bar = tqdm(wanted, desc="claims", disable=not progress, leave=False)
    for cid in bar:
        c = CLAIMS[cid]
        bar.set_postfix_str(cid)
        t0 = time.perf_counter()
        out = c.check(quick)
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
