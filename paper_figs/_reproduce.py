"""``sharpen reproduce [--quick] [--out DIR]``: the claims, every figure and REPORT.md, resumably.

Writes ``DIR/figures/<fig>.png|pdf``, one tidy CSV per sweep setting under ``DIR/data/<fig>/``
(saved atomically as soon as the setting finishes; see :mod:`paper_figs._store`), the claims'
results under ``DIR/data/claims/``, and ``DIR/REPORT.md``. Started again after an interruption, it
loads every finished setting and claim and computes only the rest. On two cores a second process
runs the claims and then shares the figures, taken longest first from one schedule.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import inspect
import json
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._figlib import FIGURES, FigureSpec, figure_data, load_figure
from ._report import ClaimsOutcome, FigureOutcome, write_report
from ._store import ResultStore, atomic_write_text, setting_fields

# The library packages whose code the claims exercise; their sources version the cached claims.
_CLAIM_CODE = ("theory", "simulators", "bounds")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="small settings (about a minute on 2 CPU cores)"
    )
    parser.add_argument(
        "--out", default="results", metavar="DIR", help="output folder (default: results)"
    )
    parser.add_argument(
        "--only", nargs="+", metavar="FIG", choices=FIGURES, help="make only these figures"
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
        help="do everything in this process (default: a second process runs the claims, then "
        "shares the figures)",
    )


def _error_text(err: BaseException) -> str:
    last = traceback.extract_tb(err.__traceback__)[-1:] if err.__traceback__ else []
    where = f" (at {Path(last[0].filename).name}:{last[0].lineno})" if last else ""
    return f"{type(err).__name__}: {err}{where}"


def _library_version() -> str:
    """Hash of the library sources the claims run on (theory, simulators, bounds)."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for pkg in _CLAIM_CODE:
        for path in sorted((root / pkg).glob("*.py")):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _claim_record(r: Any) -> dict[str, Any]:
    if hasattr(r, "to_json"):
        return dict(r.to_json())
    if dataclasses.is_dataclass(r):
        return dataclasses.asdict(r)
    return dict(r)


def _claim_ids(run_claims) -> list[str] | None:
    """The registered claim ids, when ``run_claims`` can run them one at a time (else None)."""
    if "ids" not in inspect.signature(run_claims).parameters:
        return None
    import bounds

    registry = getattr(bounds, "CLAIMS", None)
    if registry is None:
        return None
    if not registry:
        # The registry fills when the checks are imported; running no claim imports them.
        run_claims(quick=True, ids=[], progress=False)
    ids = list(registry)
    return sorted(ids, key=lambda c: (len(c), c)) or None


def run_claims_resumable(data_dir: Path, *, quick: bool, progress: bool) -> ClaimsOutcome:
    """Runs ``bounds.run_claims``, one claim at a time when it allows, caching each result.

    Cached results live in ``data_dir/claims/<mode>/<id>-<library hash>.json``; a claim whose file
    exists for the current library sources is loaded, not rerun.
    """
    start = time.perf_counter()
    try:
        from bounds import run_claims
    except ImportError as err:
        return ClaimsOutcome(
            skipped=f"`bounds.run_claims` is not available in this installation ({err}); "
            "the figures below do not depend on it."
        )
    version = _library_version()
    folder = data_dir / "claims" / ("quick" if quick else "full")
    try:
        ids = _claim_ids(run_claims)
        if ids is None:
            path = folder / f"all-{version}.json"
            if path.exists():
                records = json.loads(path.read_text())
                return ClaimsOutcome(
                    records, loaded=len(records), seconds=time.perf_counter() - start
                )
            records = [_claim_record(r) for r in run_claims(quick=quick)]
            atomic_write_text(path, json.dumps(records, indent=1))
            return ClaimsOutcome(records, seconds=time.perf_counter() - start)
        records, loaded = [], 0
        for cid in ids:
            path = folder / f"{cid}-{version}.json"
            if path.exists():
                records.append(json.loads(path.read_text()))
                loaded += 1
                continue
            (result,) = run_claims(quick=quick, ids=[cid], progress=progress)
            record = _claim_record(result)
            atomic_write_text(path, json.dumps(record, indent=1))
            records.append(record)
        return ClaimsOutcome(records, loaded=loaded, seconds=time.perf_counter() - start)
    except Exception as err:  # a failing claim must not cost the figures
        return ClaimsOutcome(
            skipped=f"running the claims raised {_error_text(err)}",
            seconds=time.perf_counter() - start,
        )


def configure_jax(x64: bool, cache_dir: str | None) -> None:
    """The command line's JAX settings: float64, and optionally a persistent compilation cache.

    Compiling dominates the quick run on CPU. Finished settings and claims are loaded rather than
    recomputed on a rerun, so the cache matters when a sweep's code changed or a run was cut off
    mid-setting; it keeps only programs that took a second or more to compile, because writing
    the hundreds of small ones costs more than compiling them again (the two processes share few
    programs).
    """
    import jax

    jax.config.update("jax_enable_x64", x64)
    if cache_dir is not None:
        jax.config.update("jax_compilation_cache_dir", cache_dir)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


# The figures in the order the two processes take them: longest first (CPU seconds of the quick
# run on 2 cores, most of it compiling), so that they finish together. Only the order matters;
# figures not listed go last.
_LONGEST_FIRST = (
    "fig_separation",
    "fig_self_rewards",
    "fig_heatmap",
    "fig_bon",
    "fig_sft_sample_complexity",
    "fig_margin",
    "fig_adaptive",
    "fig_greedy",
    "fig_tilt",
    "fig_loglik_by_correctness",
    "fig_nonclosure",
    "fig_lower_bound",
)


def _schedule(names: Sequence[str]) -> list[str]:
    rank = {name: i for i, name in enumerate(_LONGEST_FIRST)}
    return sorted(names, key=lambda n: rank.get(n, len(rank)))


def _take(counter) -> int:
    """The next position in the shared schedule (both processes draw from one counter)."""
    with counter.get_lock():
        i = counter.value
        counter.value += 1
    return i


def _helper_job(queue, counter, job: dict[str, Any]) -> None:
    """The second process (spawned: a fresh interpreter): the claims, then figures from the shared
    schedule until none is left. Puts ``("claims", status, value)``, ``("figure", name, outcome)``
    and finally ``("done", None, None)``."""
    import multiprocessing

    try:
        configure_jax(job["x64"], job["cache_dir"])
        out, quick = Path(job["out"]), job["quick"]
        if job["claims"]:
            try:
                claims = run_claims_resumable(out / "data", quick=quick, progress=False)
                queue.put(("claims", "ok", claims))
            except Exception as err:  # reported by the parent, which keeps the figures
                queue.put(("claims", "error", _error_text(err)))
        store = ResultStore(out / "data")
        names = job["names"]
        parent = multiprocessing.parent_process()
        # Stop taking figures if the first process is gone (killed without its atexit clean-up).
        while parent.is_alive() and (i := _take(counter)) < len(names):
            outcome = _make_figure(load_figure(names[i]), out, store, quick=quick, bar=None)
            queue.put(("figure", names[i], outcome))
    finally:
        queue.put(("done", None, None))


class _Helper:
    """A second process that runs the claims, then makes figures beside the first (2 cores).

    Both processes take figures from one shared schedule (:data:`_LONGEST_FIRST` order). The
    process is a daemon, so an interrupted reproduction does not wait for it; if it dies (killed,
    out of memory), the parent does what it left undone (the claims, loading those already
    cached, and the figures it had taken, loading their finished settings).
    """

    def __init__(self, out: Path, quick: bool, cache_dir: str | None, names, claims: bool):
        import multiprocessing

        import jax

        ctx = multiprocessing.get_context("spawn")
        self.names = list(names)
        self.queue = ctx.Queue()
        self.counter = ctx.Value("i", 0)
        job = {
            "out": str(out),
            "quick": quick,
            "x64": bool(jax.config.jax_enable_x64),
            "cache_dir": cache_dir,
            "names": self.names,
            "claims": claims,
        }
        self.process = ctx.Process(
            target=_helper_job, args=(self.queue, self.counter, job), daemon=True
        )
        self.process.start()
        self.claims: ClaimsOutcome | None = None
        self.done = False

    def take(self) -> str | None:
        """The next figure for this process, or None when every figure is taken."""
        i = _take(self.counter)
        return self.names[i] if i < len(self.names) else None

    def poll(self, timeout: float = 0.0) -> FigureOutcome | None:
        """Reads one message (waiting up to ``timeout`` s); a figure's outcome if it was one."""
        import queue

        try:
            kind, key, value = (
                self.queue.get(timeout=timeout) if timeout else self.queue.get_nowait()
            )
        except queue.Empty:
            if not self.process.is_alive() and self.queue.empty():
                self.done = True  # died without saying so
            return None
        if kind == "done":
            self.done = True
        elif kind == "claims":
            self.claims = (
                value
                if key == "ok"
                else ClaimsOutcome(skipped=f"the claims process raised {value}")
            )
        elif kind == "figure":
            return value
        return None

    def finish(self, on_figure) -> None:
        """Waits for the process to finish, calling ``on_figure(outcome)`` as figures arrive."""
        while not self.done:
            outcome = self.poll(timeout=0.2)
            if outcome is not None:
                on_figure(outcome)
        self.process.join(timeout=5.0)


def _make_figure(
    spec: FigureSpec, out: Path, store: ResultStore, *, quick: bool, bar: Any
) -> FigureOutcome:
    settings = spec.settings(quick)
    outcome = FigureOutcome(
        name=spec.name,
        caption=spec.caption,
        settings=[setting_fields(s) for s in settings],
    )
    start = time.perf_counter()
    before = len(store.computed)
    try:
        t0 = time.perf_counter()
        figure_data(spec.sweep, quick=quick, store=store, progress=bar)
        outcome.computed = len(store.computed) - before
        outcome.compute_seconds = time.perf_counter() - t0 if outcome.computed else 0.0
        paths = spec.make.make(out / "figures", quick=quick, store=store)
        png = next(p for p in paths if Path(p).suffix == ".png")
        pdf = next(p for p in paths if Path(p).suffix == ".pdf")
        outcome.png = Path(png).relative_to(out).as_posix()
        outcome.pdf = Path(pdf).relative_to(out).as_posix()
    except Exception as err:
        outcome.error = _error_text(err)
        outcome.computed = len(store.computed) - before
    outcome.computed_ids = [sid for fig, sid in store.computed[before:] if fig == spec.name]
    outcome.stored_seconds = sum(store.seconds(spec.name, s, spec.version) or 0.0 for s in settings)
    outcome.seconds = time.perf_counter() - start
    return outcome


def reproduce(
    out_dir: str | Path,
    *,
    quick: bool = False,
    figures: Sequence[str] | None = None,
    claims: bool = True,
    progress: bool = True,
    command: str | None = None,
    parallel: bool = True,
    cache_dir: str | None = None,
) -> tuple[Path, list[FigureOutcome], ClaimsOutcome]:
    """Makes the figures and runs the claims into ``out_dir``, then writes the report.

    Args:
      out_dir: output folder (created).
      quick: each figure's ``QUICK`` settings and the claims' quick mode.
      figures: names among :data:`paper_figs._figlib.FIGURES` (default: all).
      claims: run the claims.
      progress: show a progress bar over settings.
      command: the command line, for the report.
      parallel: run the claims in a second (spawned) process, which then makes figures too, while
        this one makes figures.
      cache_dir: JAX compilation cache folder of the second process (None: none).

    Returns:
      The report's path, the figures' outcomes and the claims' outcome.
    """
    import resource

    from tqdm.auto import tqdm

    start = time.perf_counter()
    cpu_start = time.process_time()
    children_start = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    store = ResultStore(out / "data")
    names = list(FIGURES if figures is None else figures)
    specs: list[FigureSpec | FigureOutcome] = []
    for name in names:
        try:
            specs.append(load_figure(name))
        except Exception as err:
            specs.append(FigureOutcome(name=name, error=f"cannot import it: {_error_text(err)}"))
    total = sum(len(s.settings(quick)) for s in specs if isinstance(s, FigureSpec))

    runnable = {s.name: s for s in specs if isinstance(s, FigureSpec)}
    helper = None
    if parallel and (claims or len(runnable) > 1):
        try:
            helper = _Helper(out, quick, cache_dir, _schedule(runnable), claims)
        except OSError:  # no second process available: do everything here
            helper = None

    done: dict[str, FigureOutcome] = {
        s.name: s for s in specs if isinstance(s, FigureOutcome)
    }  # figures that could not be imported
    with tqdm(total=total, desc="settings", unit="setting", disable=not progress) as bar:

        def make(spec: FigureSpec) -> None:
            bar.set_postfix_str(spec.name)
            done_before = bar.n
            done[spec.name] = _make_figure(spec, out, store, quick=quick, bar=bar)
            # A failed figure leaves its remaining settings uncounted; keep the bar's total honest.
            bar.update(len(spec.settings(quick)) - (bar.n - done_before))

        def from_helper(outcome: FigureOutcome) -> None:
            done[outcome.name] = outcome
            bar.update(len(runnable[outcome.name].settings(quick)))

        if helper is None:
            for name in _schedule(runnable):
                make(runnable[name])
        else:
            while (name := helper.take()) is not None:
                make(runnable[name])
                while (outcome := helper.poll()) is not None:
                    from_helper(outcome)
            helper.finish(from_helper)
            # Whatever a dead helper left undone (finished settings are loaded, not recomputed).
            for name in _schedule(runnable):
                if name not in done:
                    make(runnable[name])
    outcomes = [done[name] for name in names]

    if not claims:
        claims_outcome = ClaimsOutcome(skipped="not requested (`--no-claims`).")
    elif helper is not None and helper.claims is not None:
        claims_outcome = helper.claims
    else:
        claims_outcome = run_claims_resumable(out / "data", quick=quick, progress=progress)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (time.process_time() - cpu_start) + (
        children.ru_utime + children.ru_stime - children_start.ru_utime - children_start.ru_stime
    )
    report = write_report(
        out,
        quick=quick,
        figures=outcomes,
        claims=claims_outcome,
        wall_seconds=time.perf_counter() - start,
        cpu_seconds=cpu,
        command=command or f"sharpen reproduce{' --quick' if quick else ''} --out {out_dir}",
    )
    return report, outcomes, claims_outcome


def main(args: argparse.Namespace) -> int:
    import jax

    cache_dir = None if args.no_compile_cache else str(Path(args.out).resolve() / ".jax_cache")
    configure_jax(bool(jax.config.jax_enable_x64), cache_dir)
    report, outcomes, claims_outcome = reproduce(
        args.out,
        quick=args.quick,
        figures=args.only,
        claims=not args.no_claims,
        progress=not args.no_progress,
        command="sharpen " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["reproduce"] else None,
        parallel=not args.serial,
        cache_dir=cache_dir,
    )
    failed = [o for o in outcomes if o.error is not None]
    for o in failed:
        print(f"{o.name}: not made: {o.error}", file=sys.stderr)
    if claims_outcome.skipped is None:
        held = sum(bool(r["holds"]) for r in claims_outcome.results)
        print(f"claims: {held} of {len(claims_outcome.results)} hold")
    else:
        print(f"claims: skipped: {claims_outcome.skipped}")
    print(f"figures: {len(outcomes) - len(failed)} of {len(outcomes)} made")
    print(f"report: {report}")
    return 1 if failed else 0


__all__ = ["add_arguments", "configure_jax", "main", "reproduce", "run_claims_resumable"]
