"""``sharpen verify [--quick] [--json PATH]``: run every numerically checkable claim.

The claims are the paper's fourteen numerically checkable claims, each an executable comparison of
a measurement against the theorem it cites (``bounds.CLAIMS``, registered by :mod:`bounds.claims`).
The JSON output is a list of objects with keys
``id``, ``title``, ``reference``, ``holds``, ``measured``, ``predicted``, ``seconds``; a claim that
could not be measured (it raised, made no progress, or ran past its limit) has ``holds: false``,
``measured: "not measured"`` and one more key, ``error``, saying why.

Each claim runs as one unit in a worker process under the watchdog of
:mod:`paper_figs._runner`, so a claim that hangs is killed and reported by name while the others
run; ``--in-process`` runs them here instead, without the watchdog. A claim's time limit is the
``timeout_s`` it declares (quick or full), unless ``--unit-timeout`` sets one for every unit. The
``--json`` path is checked before any claim runs.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
from collections.abc import Sequence
from typing import Any

from ._runner import Limits, Unit, UnitResult, make_runner
from ._store import atomic_write_text, check_output_file

# The watchdog's defaults. A claim's worker that uses no CPU time for this long is deadlocked (the
# C9 hang of issue 13 froze CPU time after 20-35 s of work).
STALL_SECONDS = 180.0
# Wall-clock limit of one unit (a claim, a figure setting): far above the longest one measured on
# 2 cores (about 2 minutes quick, 10 full), so it only ends a runaway.
UNIT_SECONDS_QUICK = 900.0
UNIT_SECONDS_FULL = 3600.0


def seconds_arg(text: str) -> float:
    """An argparse type: a number of seconds > 0, or 0 for "no limit" (returned as 0.0)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0 (0: no limit), got {text!r}")
    return value


def add_watchdog_arguments(parser: argparse.ArgumentParser) -> None:
    """The watchdog's options, shared by ``verify`` and ``reproduce``."""
    parser.add_argument(
        "--unit-timeout",
        type=seconds_arg,
        metavar="SECONDS",
        help="wall-clock limit of one claim or figure setting; past it, it is killed and "
        "reported failed (default: the timeout each claim declares, and for a figure setting "
        f"{UNIT_SECONDS_QUICK:g} with --quick, else {UNIT_SECONDS_FULL:g}; 0: none)",
    )
    parser.add_argument(
        "--stall-timeout",
        type=seconds_arg,
        default=STALL_SECONDS,
        metavar="SECONDS",
        help="a claim or setting whose process uses no CPU time for this long is deadlocked: it "
        f"is killed and reported failed (default {STALL_SECONDS:g}; 0: never)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run everything in this process, without the watchdog (for debuggers and profilers)",
    )


def count_arg(text: str) -> int:
    """An argparse type: an int >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {text!r}")
    return value


def positive_arg(text: str, *, allow_zero: bool = False) -> float:
    """An argparse type: a finite number > 0 (>= 0 with ``allow_zero``)."""
    expected = f"expected a number {'>=' if allow_zero else '>'} 0, got {text!r}"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(expected) from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise argparse.ArgumentTypeError(expected)
    return value


def nonnegative_arg(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    return positive_arg(text, allow_zero=True)


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the units run (``--executor ray`` and its options), shared by ``verify`` and
    ``reproduce``."""
    group = parser.add_argument_group("executor (where the claims and figure settings run)")
    group.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local: worker processes on this machine (default); ray: one Ray task per claim and "
        "figure setting, on a local Ray instance or the cluster at --address (the 'ray' extra)",
    )
    group.add_argument(
        "--address",
        metavar="ADDRESS",
        help="with --executor ray: the cluster's head node HOST:PORT, 'auto' (the cluster `ray "
        "start` started on this machine), ray://HOST:PORT, or 'local' (default: $RAY_ADDRESS, "
        "else a new Ray instance on this machine)",
    )
    group.add_argument(
        "--task-cpus",
        type=positive_arg,
        default=1.0,
        metavar="N",
        help="with --executor ray: CPUs each task asks for; its XLA, OpenMP and BLAS threads "
        "follow (default 1)",
    )
    group.add_argument(
        "--task-gpus",
        type=nonnegative_arg,
        default=0.0,
        metavar="N",
        help="with --executor ray: GPUs each task asks for (default 0)",
    )
    group.add_argument(
        "--max-retries",
        type=count_arg,
        default=3,
        metavar="N",
        help="with --executor ray: how often Ray reruns a task whose worker or node died "
        "(default 3)",
    )


def executor_from_args(args: argparse.Namespace):
    """The ``simulators.RayExecutor`` the parsed options ask for, or None (``--executor local``).

    Raises:
      ValueError: naming the option (a Ray option without ``--executor ray``, options that
        exclude each other, a bad address, Ray not installed).
    """
    ray_only = {"--address": args.address is not None}
    ray_only["--task-cpus"] = args.task_cpus != 1.0
    ray_only["--task-gpus"] = args.task_gpus != 0.0
    ray_only["--max-retries"] = args.max_retries != 3
    if args.executor != "ray":
        given = [name for name, set_ in ray_only.items() if set_]
        if given:
            raise ValueError(f"{', '.join(given)}: only with --executor ray")
        return None
    for flag, name in (("--in-process", "in_process"), ("--serial", "serial")):
        if getattr(args, name, False):
            raise ValueError(f"{flag} and --executor ray exclude each other")
    import simulators

    try:
        executor = simulators.RayExecutor(
            address=args.address,
            num_cpus=args.task_cpus,
            num_gpus=args.task_gpus,
            max_retries=args.max_retries,
        )
        executor.check_available()  # Ray installed, $RAY_ADDRESS well formed
    except (TypeError, ValueError, ImportError) as err:
        message = str(err)
        if message.startswith("address "):
            message = "--" + message
        raise ValueError(f"--executor ray: {message}") from None
    return executor


def watchdog_limits(args: argparse.Namespace) -> Limits:
    """The :class:`Limits` the parsed options ask for (0 means none)."""
    unit = args.unit_timeout
    if unit is None:
        unit = UNIT_SECONDS_QUICK if args.quick else UNIT_SECONDS_FULL
    return Limits(
        unit_seconds=unit or None,
        stall_seconds=args.stall_timeout or None,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="small settings (under 2 minutes)")
    parser.add_argument("--json", metavar="PATH", help="write the results as a JSON list")
    parser.add_argument(
        "--only", nargs="+", metavar="ID", help="run only these claim ids (e.g. C1 C4)"
    )
    add_watchdog_arguments(parser)
    add_executor_arguments(parser)


def init_worker(x64: bool, cache_dir: str | None = None, preload: Sequence[str] = ()) -> None:
    """A new worker's JAX settings (float64 as in the command, an optional compile cache), then
    the imports of ``preload`` (done while the parent still plans, not when the first unit
    arrives)."""
    import jax

    jax.config.update("jax_enable_x64", x64)
    if cache_dir is not None:
        jax.config.update("jax_compilation_cache_dir", cache_dir)
        # Only programs that took a second or more: writing the hundreds of small ones costs more
        # than compiling them again.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    for module in preload:
        importlib.import_module(module)


def registered_claims() -> dict[str, Any]:
    """``bounds.CLAIMS``, which importing :mod:`bounds.claims` fills with the library's claims."""
    from bounds.claims import CLAIMS

    return CLAIMS


def claim_order(ids) -> list[str]:
    """Claim ids in the paper's order (C1, C2, ..., C10, ...)."""
    return sorted(ids, key=lambda c: (len(c), c))


def run_claim(cid: str, quick: bool, module: str | None = None):
    """Runs claim ``cid`` and returns its ``bounds.ClaimResult``.

    Args:
      cid: the claim id.
      quick: its QUICK settings.
      module: the module that registers the claim, imported first if the claim is not one of the
        library's (a claim registered from outside the library, in a fresh worker).
    """
    from bounds import CLAIMS, run_claims

    registered_claims()
    if cid not in CLAIMS and module:
        importlib.import_module(module)
    (result,) = run_claims(quick=quick, ids=[cid], progress=False)
    return result


def measure_claim(cid: str, quick: bool, module: str | None = None) -> dict[str, Any]:
    """A claim unit's function: :func:`run_claim`'s result as its JSON record (plain data, so
    the parent need not import the library to read it)."""
    return dict(run_claim(cid, quick, module).to_json())


def list_claims(modules: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The registered claims (the library's, and those ``modules`` register), in order, as
    ``{"id", "title", "reference", "module", "timeout_s"}`` (a unit's function, run in the
    worker; ``timeout_s`` is the claim's declared ``[quick, full]`` seconds)."""
    claims = registered_claims()
    for module in modules:
        importlib.import_module(module)
    return [
        {
            "id": cid,
            "title": claims[cid].title,
            "reference": claims[cid].reference,
            "module": getattr(claims[cid].check, "__module__", None),
            "timeout_s": [float(t) for t in claims[cid].timeout_s],
        }
        for cid in claim_order(claims)
    ]


def _outside_claim_modules() -> list[str]:
    """Modules of claims registered in this process from outside the library (a worker imports
    them to know those claims); none when the registry was never imported here."""
    registry = sys.modules.get("bounds.claims._registry")
    if registry is None:
        return []
    modules = {getattr(c.check, "__module__", None) for c in registry.CLAIMS.values()}
    # `__main__` is re-run in a spawned worker as `__mp_main__`: its claims register there.
    return sorted(
        m for m in modules if m and m != "__main__" and not m.startswith("bounds.claims.")
    )


def not_measured(claim: dict[str, Any], error: str, seconds: float) -> dict[str, Any]:
    """The record of a claim that could not be measured."""
    return {
        "id": claim["id"],
        "title": claim["title"],
        "reference": claim["reference"],
        "holds": False,
        "measured": "not measured",
        "predicted": "",
        "seconds": round(float(seconds), 3),
        "error": error,
    }


def format_table(results: Sequence[dict[str, Any]]) -> str:
    """A fixed-width text table of claim records (``sharpen verify --json`` format)."""
    rows = [("id", "holds", "seconds", "reference", "measured", "predicted")]
    for r in results:
        error = r.get("error")
        rows.append(
            (
                r["id"],
                "FAILED" if error else "yes" if r["holds"] else "NO",
                f"{float(r['seconds']):.1f}",
                r["reference"],
                f"not measured: {error}" if error else r["measured"],
                r["predicted"],
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verify(
    ids: Sequence[str] | None = None,
    *,
    quick: bool = False,
    workers: int = 1,
    limits: Limits | None = None,
    progress: bool = True,
    claim_timeouts: bool = True,
    executor: Any = None,
) -> list[dict[str, Any]]:
    """Runs the claims, each as a unit under the watchdog, and returns their records.

    The worker lists the claims and runs them; this process only watches (it does not import
    the library), so the watchdog adds one interpreter start-up to the command.

    Args:
      ids: claim ids (default: every registered claim), run in this order.
      quick: the claims' QUICK settings.
      workers: worker processes (0: in this process, without the watchdog).
      limits: the watchdog's limits.
      progress: a progress bar over the claims.
      claim_timeouts: each claim's time limit is the ``timeout_s`` it declares for the mode
        (instead of ``limits.unit_seconds``, which then bounds only the listing).
      executor: a ``simulators.RayExecutor``: the listing and every claim are Ray tasks (claims
        then run side by side, as many as the cluster has room for); None: ``workers``.

    Returns:
      One record per id, in order, in the ``sharpen verify --json`` format; a claim that could
      not be measured (it raised, or the watchdog killed it) has ``holds: False``, ``measured:
      "not measured"`` and ``error`` saying why.

    Raises:
      ValueError: an unknown claim id (before any claim runs).
      RuntimeError: the claims could not even be listed (the library does not import).
    """
    import jax
    from tqdm.auto import tqdm

    runner = make_runner(
        workers,
        limits,
        init="paper_figs._verify:init_worker",
        init_kwargs={"x64": bool(jax.config.jax_enable_x64), "preload": ["bounds.claims"]},
        executor=executor,
    )
    try:
        (listing,) = runner.run(
            [
                [
                    Unit(
                        "listing the claims",
                        "paper_figs._verify:list_claims",
                        {"modules": _outside_claim_modules()},
                    )
                ]
            ],
            keep_workers=True,  # the same worker then runs the claims
        )
        if not listing.ok:
            raise RuntimeError(f"listing the claims failed: {listing.error}")
        claims = {c["id"]: c for c in listing.value}
        wanted = list(claims) if ids is None else list(ids)
        unknown = [i for i in wanted if i not in claims]
        if unknown:
            raise ValueError(
                f"claim ids (--only) must be among {list(claims)}, got unknown {unknown}"
            )
        units = [
            Unit(
                name=cid,
                fn="paper_figs._verify:measure_claim",
                kwargs=dict(cid=cid, quick=quick, module=claims[cid]["module"]),
                timeout_s=claims[cid]["timeout_s"][0 if quick else 1] if claim_timeouts else None,
            )
            for cid in wanted
        ]
        done: dict[str, dict[str, Any]] = {}
        with tqdm(total=len(units), desc="claims", disable=not progress, leave=False) as bar:

            def on_start(unit: Unit) -> None:
                bar.set_postfix_str(unit.name)

            def on_result(r: UnitResult) -> None:
                cid = r.unit.kwargs["cid"]
                done[cid] = r.value if r.ok else not_measured(claims[cid], r.error, r.seconds)
                if not r.ok:
                    bar.write(f"{cid}: not measured: {r.error}", file=sys.stderr)
                bar.update(1)

            # The claims run in order on one worker, sharing its compiled programs; each under
            # its own time limit (Unit.timeout_s).
            runner.run([units], on_result=on_result, on_start=on_start)
    finally:
        runner.close()
    return [done[cid] for cid in wanted]


def main(args: argparse.Namespace) -> int:
    if args.json:
        check_output_file(args.json, "--json")  # before the claims, not after
    executor = executor_from_args(args)
    try:
        results = verify(
            args.only,
            quick=args.quick,
            workers=0 if args.in_process else 1,
            limits=watchdog_limits(args),
            progress=True,
            claim_timeouts=args.unit_timeout is None,
            executor=executor,
        )
    except RuntimeError as err:
        print(f"sharpen verify: error: {err}", file=sys.stderr)
        return 1
    print(format_table(results))
    held = sum(bool(r["holds"]) for r in results)
    failed = [r["id"] for r in results if r.get("error")]
    print(f"\n{held} of {len(results)} claims hold")
    if failed:
        print(f"not measured (failed or killed): {', '.join(failed)}", file=sys.stderr)
    if args.json:
        import json

        atomic_write_text(args.json, json.dumps(results, indent=2))
    return 0 if held == len(results) else 1
