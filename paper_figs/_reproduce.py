"""``sharpen reproduce [--quick] [--out DIR]``: the claims, every figure and REPORT.md, resumably.

Writes ``DIR/figures/<fig>.png|pdf``, one tidy CSV per sweep setting under ``DIR/data/<fig>/``
(saved atomically with a hashed record as soon as the setting finishes; see
:mod:`paper_figs._store`), the claims' results under ``DIR/data/claims/``, and ``DIR/REPORT.md``.
Started again after an interruption, it loads every finished setting and claim whose files verify
and computes only the rest; a file that fails verification is named, set aside and recomputed.

The work is a list of units (:mod:`paper_figs._runner`): one per claim, one per figure setting
still to compute, and one per figure's plot. The claims form one group and each figure another;
two worker processes (on 2 cores) take the groups longest first, so they finish together and each
figure's settings share one process's compiled programs. Under the watchdog a unit that makes no
progress, or runs past its limit, is killed and reported by name (in REPORT.md and on stderr), the
rest goes on, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import os
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._figlib import (
    FIGURES,
    FigureSpec,
    check_figure_name,
    figure_cost,
    load_figure,
    sweep_version,
)
from ._report import ClaimsOutcome, FigureOutcome, write_report
from ._runner import Limits, Unit, UnitResult, error_text, make_runner
from ._store import (
    CorruptResult,
    ResultStore,
    check_output_dir,
    read_record,
    remove_stale_temporaries,
    setting_fields,
    setting_id,
    write_record,
)
from ._verify import (
    STALL_SECONDS,
    UNIT_SECONDS_FULL,
    UNIT_SECONDS_QUICK,
    add_executor_arguments,
    add_watchdog_arguments,
    claim_order,
    executor_from_args,
    measure_claim,
    watchdog_limits,
)

# The library packages whose code the claims exercise; their sources version the cached claims.
_CLAIM_CODE = ("theory", "simulators", "bounds")
# Keys every cached claim record has (the `sharpen verify --json` format).
_CLAIM_KEYS = ("id", "title", "reference", "holds", "measured", "predicted", "seconds")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="small settings (about a minute on 2 CPU cores)"
    )
    parser.add_argument(
        "--out", default="results", metavar="DIR", help="output folder (default: results)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="FIG",
        type=_figure_argument,
        help=f"make only these figures ({', '.join(FIGURES)}, or a figure package's dotted path)",
    )
    parser.add_argument("--no-claims", action="store_true", help="skip the claims")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--no-compile-cache",
        action="store_true",
        help="do not keep JAX's compiled programs in DIR/.jax_cache (they speed up reruns)",
    )
    parser.add_argument(
        "--serial",
        action="store_true",
        help="one worker process (default: two, which share the claims and figures)",
    )
    add_watchdog_arguments(parser)
    add_executor_arguments(parser)


def _library_version() -> str:
    """Hash of the library sources the claims run on (theory, simulators, bounds)."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for pkg in _CLAIM_CODE:
        # Subpackages too: the claims themselves are in bounds/claims/.
        for path in sorted((root / pkg).rglob("*.py")):
            h.update(path.relative_to(root / pkg).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _check_claim_record(cid: str):
    """A validator of a cached claim's payload (see :func:`paper_figs._store.read_record`)."""

    def validate(record: Any) -> None:
        if not isinstance(record, dict) or any(k not in record for k in _CLAIM_KEYS):
            raise CorruptResult(f"not a claim record (keys {', '.join(_CLAIM_KEYS)})")
        if record["id"] != cid or not isinstance(record["holds"], bool):
            raise CorruptResult(f"not the record of claim {cid}")

    return validate


def _claim_ids(run_claims) -> list[str] | None:
    """The registered claim ids, when ``run_claims`` can run them one at a time (else None)."""
    if "ids" not in inspect.signature(run_claims).parameters:
        return None
    import bounds

    registry = getattr(bounds, "CLAIMS", None)
    if registry is None:
        return None
    # Importing bounds registers the library's claims (bounds.claims); running none checks that
    # run_claims takes ids.
    run_claims(quick=True, ids=[], progress=False)
    return claim_order(registry) or None


def configure_jax(x64: bool, cache_dir: str | None) -> None:
    """The command line's JAX settings: float64, and optionally a persistent compilation cache.

    Compiling dominates the quick run on CPU. Finished settings and claims are loaded rather than
    recomputed on a rerun, so the cache matters when a sweep's code changed, a run was cut off
    mid-setting, or a worker was killed and its successor compiles again; it keeps only programs
    that took a second or more to compile, because writing the hundreds of small ones costs more
    than compiling them again.
    """
    from ._verify import init_worker

    init_worker(x64, cache_dir)


def _figure_argument(name: str) -> str:
    """``--only``'s check (``_figlib.check_figure_name``), as argparse reports it."""
    try:
        return check_figure_name(name)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid choice: {name!r} (choose from {', '.join(FIGURES)}, or give a figure "
            "package's dotted path)"
        ) from None


def _schedule(names: Sequence[str]) -> list[str]:
    """The figures in the order the workers take them: longest first (each figure's declared
    ``QUICK_CPU_SECONDS``, most of it compiling), so that they finish together."""

    def cost(name: str) -> float:
        try:
            return figure_cost(name)
        except (OSError, SyntaxError, ValueError):
            return 0.0  # a figure that cannot be read fails when it is loaded, not here

    return sorted(names, key=lambda n: -cost(n))


# --------------------------------------------------------------------------------------------
# The units' functions (run in a worker process, or here with --in-process).


def _spec_at(figure: str, version: str) -> FigureSpec:
    spec = load_figure(figure)
    if sweep_version(spec.sweep) != version:
        # The parent named results by the sweep it read; a worker that read an edited file would
        # store them under the wrong code version.
        raise RuntimeError(f"{figure}/sweep.py changed while the run was going on; run it again")
    return spec


def setting_unit(
    data_dir: str, figure: str, index: int, sid: str, version: str, quick: bool
) -> dict[str, Any]:
    """Computes (or loads, if it appeared meanwhile) one setting of a figure into the store."""
    spec = _spec_at(figure, version)
    setting = spec.settings(quick)[index]
    if setting_id(setting, version) != sid:
        raise RuntimeError(f"{figure}: setting {index} is not {sid} in this process")
    store = ResultStore(data_dir)
    store.get_or_run(figure, setting, version, spec.sweep.run)
    return {"computed": bool(store.computed), "set_aside": store.set_aside}


def plot_unit(out: str, figure: str, version: str, quick: bool) -> dict[str, Any]:
    """Plots a figure from its stored settings and saves its PNG and PDF."""
    spec = _spec_at(figure, version)
    root = Path(out)
    store = ResultStore(root / "data")
    paths = spec.make.make(root / "figures", quick=quick, store=store)
    png = next(p for p in paths if Path(p).suffix == ".png")
    pdf = next(p for p in paths if Path(p).suffix == ".pdf")
    return {
        "png": Path(png).relative_to(root).as_posix(),
        "pdf": Path(pdf).relative_to(root).as_posix(),
        # Settings whose files went bad after they were checked are recomputed by make().
        "computed": [sid for fig, sid in store.computed if fig == figure],
        "set_aside": store.set_aside,
    }


def claim_unit(cid: str, quick: bool, module: str | None, path: str, key: str) -> dict[str, Any]:
    """Runs one claim and caches its record (hashed) at ``path``."""
    record = measure_claim(cid, quick, module)
    write_record(path, key, record)
    return record


# --------------------------------------------------------------------------------------------
# Planning and putting the outcomes together.


def _plan_claims(
    data_dir: Path, quick: bool, timeouts: bool = False
) -> tuple[ClaimsOutcome, list[Unit], list[str]]:
    """The claims' outcome so far (cached records loaded), the units still to run, and the ids.

    With ``timeouts``, each unit ends at its claim's declared ``timeout_s`` for the mode."""
    try:
        from bounds import run_claims
    except ImportError as err:
        skipped = (
            f"`bounds.run_claims` is not available in this installation ({err}); "
            "the figures below do not depend on it."
        )
        return ClaimsOutcome(skipped=skipped), [], []
    import bounds

    version = _library_version()
    mode = "quick" if quick else "full"
    folder = data_dir / "claims" / mode
    try:
        ids = _claim_ids(run_claims)
    except Exception as err:
        return (
            ClaimsOutcome(skipped=f"listing the claims raised {error_text(err)}", error=True),
            [],
            [],
        )
    if ids is None:
        skipped = "`bounds.run_claims` cannot run the claims one at a time in this installation."
        return ClaimsOutcome(skipped=skipped), [], []
    outcome = ClaimsOutcome()
    units = []
    for cid in ids:
        path, key = folder / f"{cid}-{version}.json", f"claim/{mode}/{cid}/{version}"
        record = read_record(path, key, _check_claim_record(cid), problems=outcome.set_aside)
        if record is not None:
            outcome.results.append(record)
            outcome.loaded += 1
            continue
        claim = getattr(bounds, "CLAIMS", {}).get(cid)
        module = getattr(getattr(claim, "check", None), "__module__", None)
        kwargs = dict(cid=cid, quick=quick, module=module, path=str(path), key=key)
        declared = getattr(claim, "timeout_s", None)
        timeout = float(declared[0 if quick else 1]) if timeouts and declared is not None else None
        units.append(
            Unit(name=cid, fn="paper_figs._reproduce:claim_unit", kwargs=kwargs, timeout_s=timeout)
        )
    return outcome, units, ids


def _claim_failure(cid: str, error: str, seconds: float) -> dict[str, Any]:
    """The record of a claim that could not be measured (never cached: it runs again next time)."""
    title = reference = ""
    try:
        import bounds

        claim = bounds.CLAIMS.get(cid)
        if claim is not None:
            title, reference = claim.title, claim.reference
    except ImportError:
        pass
    return {
        "id": cid,
        "title": title,
        "reference": reference,
        "holds": False,
        "measured": "not measured",
        "predicted": "",
        "seconds": round(seconds, 3),
        "error": error,
    }


def reproduce(
    out_dir: str | Path,
    *,
    quick: bool = False,
    figures: Sequence[str] | None = None,
    claims: bool = True,
    progress: bool = True,
    command: str | None = None,
    workers: int = 2,
    limits: Limits | None = None,
    cache_dir: str | None = None,
    claim_timeouts: bool = True,
    executor: Any = None,
) -> tuple[Path, list[FigureOutcome], ClaimsOutcome]:
    """Makes the figures and runs the claims into ``out_dir``, then writes the report.

    Args:
      out_dir: output folder (created).
      quick: each figure's ``QUICK`` settings and the claims' quick mode.
      figures: names among :data:`paper_figs._figlib.FIGURES`, or dotted paths of figure
        packages outside the library (default: all of the library's).
      claims: run the claims.
      progress: show a progress bar over settings.
      command: the command line, for the report.
      workers: worker processes under the watchdog (0: everything in this process, no
        watchdog).
      limits: the watchdog's limits (default: ``--unit-timeout`` and ``--stall-timeout``'s
        defaults for this mode).
      cache_dir: JAX compilation cache folder of the workers (None: none).
      claim_timeouts: each claim (in a worker) also ends at the ``timeout_s`` it declares for
        the mode (``--unit-timeout`` not given); ``limits`` still bounds every unit.
      executor: a ``simulators.RayExecutor``: every claim, figure setting and plot is one Ray
        task (``workers`` is then unused). Tasks write through the same store: the CSVs are
        those of a local run, byte for byte, the claims' values and verdicts the same (their
        timings differ), and an interrupted run resumes the same way. ``out_dir`` must be on
        storage that every node mounts at the same path (a unit on a node that does not see it
        is refused, not written elsewhere).

    Returns:
      The report's path, the figures' outcomes and the claims' outcome.
    """
    import resource

    import jax
    from tqdm.auto import tqdm

    start = time.perf_counter()
    cpu_start = time.process_time()
    children_start = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    marker = None
    if executor is not None:
        # Tasks run in other processes, maybe on other machines, in other folders: every path
        # they are given is absolute, and each checks the run's marker before it writes.
        out = out.resolve()
        marker = out / f".sharpen-run-{os.getpid()}-{secrets.token_hex(4)}"
        marker.touch()
    data = out / "data"
    remove_stale_temporaries(data)
    store = ResultStore(data)
    if limits is None:
        limits = Limits(UNIT_SECONDS_QUICK if quick else UNIT_SECONDS_FULL, STALL_SECONDS)

    names = list(FIGURES if figures is None else figures)
    runner = make_runner(
        workers,
        limits,
        init="paper_figs._verify:init_worker",
        init_kwargs={"x64": bool(jax.config.jax_enable_x64), "cache_dir": cache_dir},
        executor=executor,
        require=None if marker is None else str(marker),
    )
    try:
        # The workers start (a fresh interpreter, JAX; or the connection to Ray) while this
        # process plans and verifies what is stored; every figure and the claims are one group
        # each, so no more are started than used.
        runner.prestart(min(workers, len(names) + bool(claims)) if workers else 0)
        outcomes: dict[str, FigureOutcome] = {}
        groups: dict[str, list[Unit]] = {}
        versions: dict[str, str] = {}
        loaded_total = total = 0
        for name in names:
            try:
                spec = load_figure(name)
            except Exception as err:
                outcomes[name] = FigureOutcome(
                    name=name, error=f"cannot import it: {error_text(err)}"
                )
                continue
            settings = spec.settings(quick)
            version = versions[name] = spec.version
            o = outcomes[name] = FigureOutcome(
                name=name, caption=spec.caption, settings=[setting_fields(s) for s in settings]
            )
            before = len(store.set_aside)
            units = []
            for i, s in enumerate(settings):
                if store.has(name, s, version):
                    loaded_total += 1
                    continue
                sid = setting_id(s, version)
                units.append(
                    Unit(
                        name=f"{name}/{sid}",
                        fn="paper_figs._reproduce:setting_unit",
                        kwargs=dict(
                            data_dir=str(data),
                            figure=name,
                            index=i,
                            sid=sid,
                            version=version,
                            quick=quick,
                        ),
                    )
                )
            o.set_aside += store.set_aside[before:]
            units.append(
                Unit(
                    name=f"{name} (plot)",
                    fn="paper_figs._reproduce:plot_unit",
                    kwargs=dict(out=str(out), figure=name, version=version, quick=quick),
                    needs_group=True,
                )
            )
            groups[name] = units
            total += len(settings)

        if claims:
            claims_outcome, claim_units, claim_ids = _plan_claims(
                data, quick, timeouts=claim_timeouts and (workers > 0 or executor is not None)
            )
        else:
            claims_outcome, claim_units, claim_ids = (
                ClaimsOutcome(skipped="not requested (`--no-claims`)."),
                [],
                [],
            )
        # The claims first: with two workers they run beside the longest figures.
        ordered = [claim_units] + [groups[n] for n in _schedule(groups)]
        claim_records: dict[str, dict[str, Any]] = {}
        with tqdm(
            total=total, initial=loaded_total, desc="settings", unit="setting", disable=not progress
        ) as bar:

            def on_start(unit: Unit) -> None:
                bar.set_postfix_str(unit.name)

            def on_result(r: UnitResult) -> None:
                kw = r.unit.kwargs
                if not r.ok:
                    bar.write(f"{r.unit.name}: failed: {r.error}", file=sys.stderr)
                if r.unit.fn.endswith(":claim_unit"):
                    cid = kw["cid"]
                    if r.ok:
                        claim_records[cid] = r.value
                    else:
                        claim_records[cid] = _claim_failure(cid, r.error, r.seconds)
                        claims_outcome.failed.append((cid, r.error))
                    claims_outcome.seconds += r.seconds
                    return
                o = outcomes[kw["figure"]]
                o.seconds += r.seconds
                if r.ok:
                    o.set_aside += [tuple(x) for x in r.value["set_aside"]]
                else:
                    o.failed_units.append((r.unit.name, r.error))
                    o.killed = o.killed or r.killed
                if r.unit.fn.endswith(":setting_unit"):
                    bar.update(1)
                    if r.ok and r.value["computed"]:
                        o.computed += 1
                        o.computed_ids.append(kw["sid"])
                        o.compute_seconds += r.seconds
                elif r.ok:  # the plot
                    o.png, o.pdf = r.value["png"], r.value["pdf"]
                    o.computed += len(r.value["computed"])
                    o.computed_ids += r.value["computed"]

            runner.run(ordered, on_result=on_result, on_start=on_start)
    finally:
        runner.close()
        if marker is not None:
            marker.unlink(missing_ok=True)

    for name, o in outcomes.items():
        if name in versions:
            spec = load_figure(name)
            o.stored_seconds = sum(
                store.seconds(name, s, versions[name]) or 0.0 for s in spec.settings(quick)
            )
        if o.error is None and o.failed_units:
            first, why = o.failed_units[0]
            # A plot not attempted because a setting failed is a consequence, not another failure.
            more = sum(not w.startswith("not attempted") for _, w in o.failed_units) - 1
            o.error = f"{first}: {why}" + (f" (and {more} more failed)" if more else "")
        elif o.error is None and o.png is None:
            o.error = "its plot did not run"
    if claim_ids:
        claims_outcome.results = claim_order_records(
            claims_outcome.results + list(claim_records.values()), claim_ids
        )
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (time.process_time() - cpu_start) + (
        children.ru_utime + children.ru_stime - children_start.ru_utime - children_start.ru_stime
    )
    figure_outcomes = [outcomes[name] for name in names]
    report = write_report(
        out,
        quick=quick,
        figures=figure_outcomes,
        claims=claims_outcome,
        wall_seconds=time.perf_counter() - start,
        cpu_seconds=cpu,
        command=command or f"sharpen reproduce{' --quick' if quick else ''} --out {out_dir}",
    )
    return report, figure_outcomes, claims_outcome


def claim_order_records(records: list[dict[str, Any]], ids: Sequence[str]) -> list[dict[str, Any]]:
    """``records`` in the order of ``ids``."""
    by_id = {r["id"]: r for r in records}
    return [by_id[cid] for cid in ids if cid in by_id]


def main(args: argparse.Namespace) -> int:
    import jax

    out = check_output_dir(args.out, "--out")  # before any work
    executor = executor_from_args(args)
    limits = watchdog_limits(args)
    cache_dir = None if args.no_compile_cache else str(out.resolve() / ".jax_cache")
    configure_jax(bool(jax.config.jax_enable_x64), cache_dir)
    report, outcomes, claims_outcome = reproduce(
        out,
        quick=args.quick,
        figures=args.only,
        claims=not args.no_claims,
        progress=not args.no_progress,
        command="sharpen " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["reproduce"] else None,
        workers=0 if args.in_process else 1 if args.serial else 2,
        limits=limits,
        cache_dir=cache_dir,
        claim_timeouts=args.unit_timeout is None,
        executor=executor,
    )
    failed = [o for o in outcomes if o.error is not None]
    for o in failed:
        print(f"{o.name}: not made: {o.error}", file=sys.stderr)
    for cid, why in claims_outcome.failed:
        print(f"{cid}: not measured: {why}", file=sys.stderr)
    for path, why in claims_outcome.set_aside + [x for o in outcomes for x in o.set_aside]:
        print(f"set aside and recomputed: {path} ({why})", file=sys.stderr)
    if claims_outcome.skipped is None:
        held = sum(bool(r["holds"]) for r in claims_outcome.results)
        print(f"claims: {held} of {len(claims_outcome.results)} hold")
    else:
        print(f"claims: skipped: {claims_outcome.skipped}")
    print(f"figures: {len(outcomes) - len(failed)} of {len(outcomes)} made")
    print(f"report: {report}")
    # Non-zero whenever something was not made: a figure, a claim's measurement, the claims.
    return 1 if failed or claims_outcome.failed or claims_outcome.error else 0


__all__ = ["add_arguments", "configure_jax", "main", "reproduce"]
