"""REPORT.md of ``sharpen reproduce``: claims measured vs predicted, every figure with a caption
saying what to see, the settings behind each figure, package versions and wall times."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib.metadata
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._store import atomic_write_text

# Packages whose versions the report records (the pinned core, then the optional extra).
_PACKAGES = (
    "jax",
    "jaxlib",
    "numpy",
    "pandas",
    "matplotlib",
    "optax",
    "tqdm",
    "torch",
    "transformers",
)


@dataclasses.dataclass
class FigureOutcome:
    """What ``sharpen reproduce`` did for one figure.

    Attributes:
      name: ``fig_*``.
      caption: what the figure shows and what to see in it.
      png, pdf: paths of the saved figure relative to the output folder (None if it failed).
      settings: the settings' fields, one dict per setting, in sweep order.
      computed: how many settings this run computed (the rest were loaded from disk).
      computed_ids: the file stems of the settings this run computed.
      compute_seconds: seconds this run spent computing settings.
      stored_seconds: seconds all settings took when they were computed (this run or earlier).
      seconds: wall time of the whole figure in this run (compute, load, plot, save).
      error: why the figure could not be made (None if it was).
      failed_units: ``(unit, reason)`` of each of its units that failed in this run (a setting or
        its plot; killed by the watchdog included).
      killed: whether the watchdog killed one of its units.
      set_aside: ``(path, reason)`` of its stored files that failed verification and were set
        aside (and recomputed).
    """

    name: str
    caption: str = ""
    png: str | None = None
    pdf: str | None = None
    settings: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    computed: int = 0
    computed_ids: list[str] = dataclasses.field(default_factory=list)
    compute_seconds: float = 0.0
    stored_seconds: float = 0.0
    seconds: float = 0.0
    error: str | None = None
    failed_units: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    killed: bool = False
    set_aside: list[tuple[str, str]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ClaimsOutcome:
    """The claims section.

    Attributes:
      results: one record per claim (``id``, ``title``, ``reference``, ``holds``, ``measured``,
        ``predicted``, ``seconds``; a claim that could not be measured also has ``error``).
      skipped: why the claims were not run at all (None if they were).
      error: whether ``skipped`` is a failure (the claims could not even be listed), not a choice.
      loaded: how many records came from an earlier run's verified files.
      seconds: seconds the claims took in this run.
      failed: ``(id, reason)`` of each claim that could not be measured in this run.
      set_aside: ``(path, reason)`` of cached claim files that failed verification.
    """

    results: list[Any] = dataclasses.field(default_factory=list)
    skipped: str | None = None
    error: bool = False
    loaded: int = 0
    seconds: float = 0.0
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    set_aside: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def package_versions() -> dict[str, str]:
    """Versions of Python, the toolkit and the packages it uses ("not installed" where absent)."""
    out = {"python": platform.python_version()}
    for name in ("sharpen-toolkit", *_PACKAGES):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed" if name != "sharpen-toolkit" else "source tree"
    return out


def _cell(value: Any) -> str:
    """A markdown table cell: pipes escaped, newlines flattened."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _field(r: Any, name: str) -> Any:
    return r[name] if isinstance(r, dict) else getattr(r, name)


def _problems(figures: Sequence[FigureOutcome], claims: ClaimsOutcome) -> list[str]:
    """The report's list of what went wrong in this run, one line each (empty: nothing)."""
    lines = []
    if claims.error and claims.skipped:
        lines.append(f"* claims: not run: {claims.skipped}")
    for cid, why in claims.failed:
        lines.append(f"* claim `{cid}`: not measured: {why}")
    for f in figures:
        if f.error is not None and not f.failed_units:
            lines.append(f"* figure `{f.name}`: not made: {f.error}")
        for unit, why in f.failed_units:
            lines.append(f"* `{unit}`: failed: {why}")
    for path, why in claims.set_aside + [x for f in figures for x in f.set_aside]:
        lines.append(f"* `{path}` failed verification ({why}): set aside and recomputed")
    return [_cell(line) for line in lines]


def _short(value: Any) -> str:
    """A setting value for the report; long tuples are abbreviated."""
    if isinstance(value, tuple) and len(value) > 6:
        return (
            f"({value[0]:g}, {value[1]:g}, ..., {value[-1]:g}; {len(value)} values)"
            if all(isinstance(v, int | float) for v in value)
            else f"({len(value)} values)"
        )
    return str(value)


def _settings_summary(settings: Sequence[dict[str, Any]]) -> str:
    """Each setting field with the values it takes across the sweep (a compact settings listing)."""
    if not settings:
        return "(none)"
    lines = []
    for key in settings[0]:
        values = []
        for s in settings:
            v = s.get(key)
            v = tuple(v) if isinstance(v, list) else v
            if v not in values:
                values.append(v)
        shown = ", ".join(_short(v) for v in values[:12]) + (", ..." if len(values) > 12 else "")
        lines.append(f"`{key}` in {{{shown}}}")
    return "; ".join(lines)


def _fmt_seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def write_report(
    out_dir: str | os.PathLike,
    *,
    quick: bool,
    figures: Sequence[FigureOutcome],
    claims: ClaimsOutcome,
    wall_seconds: float,
    command: str,
    cpu_seconds: float | None = None,
) -> Path:
    """Writes ``out_dir/REPORT.md`` and returns its path."""
    out = Path(out_dir)
    made = [f for f in figures if f.error is None]
    lines = [
        "# Sharpening toolkit: reproduction report",
        "",
        "Huang et al., *Self-Improvement in Language Models: The Sharpening Mechanism* "
        "(arXiv 2412.01951), reproduced on toy models: the paper's numerically checkable claims "
        "(THEORY.md section 6) and its figures' analogues, with theory overlaid.",
        "",
        f"* Command: `{command}`",
        f"* Mode: {'quick (small settings)' if quick else 'full'}",
        f"* Finished: {_dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"* Wall time of this run: {_fmt_seconds(wall_seconds)} on {os.cpu_count()} CPU cores "
        f"({platform.machine()}, {platform.system()})"
        + (
            "" if cpu_seconds is None else f"; CPU time {_fmt_seconds(cpu_seconds)} (all processes)"
        ),
        f"* Figures: {len(made)} of {len(figures)} made"
        + (
            f"; claims: {sum(bool(_field(r, 'holds')) for r in claims.results)} of "
            f"{len(claims.results)} hold"
            + (f" ({len(claims.failed)} not measured)" if claims.failed else "")
            if claims.skipped is None
            else "; claims: skipped"
        ),
        "* Tidy results: `data/<figure>/<Setting>-<hash>.csv`, one per setting (the hash covers "
        "the "
        "setting and its sweep's code), with a `.json` record of the setting and the CSV's "
        "SHA-256 beside each.",
        "",
    ]
    problems = _problems(figures, claims)
    if problems:
        lines += [
            "## Problems in this run",
            "",
            "Units that failed (the watchdog's kills included) and stored files that failed "
            "verification; the command's exit status is non-zero when a unit failed.",
            "",
            *problems,
            "",
        ]
    lines += ["## Claims: measured vs predicted", ""]
    if claims.skipped is not None:
        lines += [f"Claims skipped: {claims.skipped}", ""]
    else:
        lines += [
            "| id | claim | reference | holds | measured | predicted | seconds |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in claims.results:
            error = r.get("error") if isinstance(r, dict) else None
            holds = "**NOT MEASURED**" if error else "yes" if _field(r, "holds") else "**NO**"
            lines.append(
                "| "
                + " | ".join(
                    _cell(v)
                    for v in (
                        _field(r, "id"),
                        _field(r, "title"),
                        _field(r, "reference"),
                        holds,
                        f"not measured: {error}" if error else _field(r, "measured"),
                        _field(r, "predicted"),
                        f"{float(_field(r, 'seconds')):.1f}",
                    )
                )
                + " |"
            )
        note = f" ({claims.loaded} loaded from an earlier run)" if claims.loaded else ""
        lines += ["", f"Claims took {_fmt_seconds(claims.seconds)} in this run{note}.", ""]

    lines += ["## Figures", ""]
    for i, f in enumerate(figures, 1):
        lines += [f"### Figure {i}: `{f.name}`", ""]
        if f.error is not None:
            lines += [f"Not made: {f.error}", ""]
            continue
        lines += [
            f"![{f.name}]({f.png})",
            "",
            f.caption.strip(),
            "",
            f"[PDF]({f.pdf}) · data: `data/{f.name}/` · {len(f.settings)} settings, "
            f"{f.computed} computed in this run ({_fmt_seconds(f.compute_seconds)}), "
            f"{_fmt_seconds(f.stored_seconds)} of compute in all.",
            "",
        ]

    lines += ["## Settings", ""]
    for f in figures:
        lines += [f"* `{f.name}` ({len(f.settings)} settings): {_settings_summary(f.settings)}"]
    lines += [
        "",
        "## Wall time",
        "",
        "| part | seconds in this run | settings computed |",
        "|---|---|---|",
    ]
    for f in figures:
        lines.append(f"| {f.name} | {f.seconds:.1f} | {f.computed} of {len(f.settings)} |")
    if claims.skipped is None:
        lines.append(
            f"| claims | {claims.seconds:.1f} | {len(claims.results) - claims.loaded} of "
            f"{len(claims.results)} |"
        )
    lines += [f"| **total** | **{wall_seconds:.1f}** | |", ""]

    lines += ["## Package versions", "", "| package | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in package_versions().items()]
    lines.append("")

    path = out / "REPORT.md"
    atomic_write_text(path, "\n".join(lines))
    return path
