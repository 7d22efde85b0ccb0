"""Units of work and the runners that execute them, under a watchdog (issue 13, section 1).

A long command (``sharpen verify``, ``sharpen reproduce``) is a list of *groups* of *units*: a unit
is one claim, one figure setting or one figure's plot, named for the report, and given as an
importable function plus keyword arguments (so any runner can send it anywhere). The units of a
group run in order on one worker (they share its compiled programs); groups are taken in order by
whichever worker is free.

A program that deadlocks inside XLA cannot be interrupted from within its process (every thread
waits in native code), so :class:`WorkerRunner` runs units in child processes and watches them
from this one. A unit is killed, reported failed by name, and its worker replaced by a fresh one
for the rest when either

* it makes no progress: its worker uses no CPU time for ``stall_seconds`` (a deadlock: the
  threads wait and CPU time freezes), or
* it runs longer than ``unit_seconds`` of wall time (a loop that never ends),

and the run goes on with the other units. A worker that dies (out of memory, a crash) fails its
unit the same way. :class:`InlineRunner` runs units in this process, without a watchdog (for
debugging, profilers, and tests that patch functions in this process). :class:`RayRunner` runs
each unit as a Ray task (``--executor ray``), on one machine or a cluster, with the same limits
watched from inside each task.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

# How often the parent checks on busy workers (seconds): a kill comes at most this late.
_POLL_SECONDS = 0.5


@dataclasses.dataclass(frozen=True)
class Unit:
    """One piece of work.

    Attributes:
      name: how the report names it (``"C9"``, ``"fig_bon/Setting-1a2b..."``).
      fn: ``"package.module:function"``, imported where the unit runs.
      kwargs: the function's keyword arguments (picklable).
      needs_group: run only if every earlier unit of its group succeeded (e.g. a figure's plot
        after its settings); otherwise it is reported failed as not attempted.
      timeout_s: the unit's own wall-clock limit (e.g. a claim's declared ``timeout_s``), used by
        the watchdog instead of the runner's ``unit_seconds``; None: the runner's.
    """

    name: str
    fn: str
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    needs_group: bool = False
    timeout_s: float | None = None


@dataclasses.dataclass
class UnitResult:
    """What became of a unit.

    Attributes:
      unit: the unit.
      value: the function's return value (None if it failed).
      error: why it failed, one line (None if it succeeded).
      killed: the watchdog killed it (no progress or over its time limit).
      seconds: wall time, including a fresh worker's start-up for the first unit it runs.
    """

    unit: Unit
    value: Any = None
    error: str | None = None
    killed: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclasses.dataclass(frozen=True)
class Limits:
    """The watchdog's limits (None: no limit of that kind).

    Attributes:
      unit_seconds: wall-clock seconds a unit may run.
      stall_seconds: seconds a unit's worker may go without using CPU time.
    """

    unit_seconds: float | None = None
    stall_seconds: float | None = None

    def __post_init__(self):
        for name in ("unit_seconds", "stall_seconds"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, int | float) and v > 0 and v == v):
                raise ValueError(f"{name} must be a positive number of seconds or None, got {v!r}")


def error_text(err: BaseException) -> str:
    """``Type: message (at file:line)`` of an exception, one line."""
    last = traceback.extract_tb(err.__traceback__)[-1:] if err.__traceback__ else []
    where = f" (at {Path(last[0].filename).name}:{last[0].lineno})" if last else ""
    text = f"{type(err).__name__}: {err}{where}"
    return " ".join(text.split())


def resolve(fn: str) -> Callable[..., Any]:
    """The function named ``"package.module:function"``."""
    module, _, name = fn.partition(":")
    if not module or not name:
        raise ValueError(f"fn must be 'package.module:function', got {fn!r}")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _call(unit: Unit) -> Any:
    return resolve(unit.fn)(**dict(unit.kwargs))


class InlineRunner:
    """Runs every unit in this process, in order: no watchdog (a hang hangs the run).

    An exception in a unit fails that unit; ``KeyboardInterrupt`` and other ``BaseException``s
    stop the run, as they would any Python code.
    """

    def prestart(self, n: int | None = None) -> None:
        """Nothing to start: units run in this process."""

    def close(self) -> None:
        """Nothing to stop."""

    def run(
        self,
        groups: Sequence[Sequence[Unit]],
        on_result: Callable[[UnitResult], None] | None = None,
        on_start: Callable[[Unit], None] | None = None,
        keep_workers: bool = False,
    ) -> list[UnitResult]:
        results = []
        for group in groups:
            failed = None
            for unit in group:
                if unit.needs_group and failed is not None:
                    r = UnitResult(unit, error=f"not attempted: {failed} failed")
                else:
                    if on_start is not None:
                        on_start(unit)
                    t0 = time.perf_counter()
                    try:
                        r = UnitResult(unit, value=_call(unit))
                    except Exception as err:
                        r = UnitResult(unit, error=error_text(err))
                    r.seconds = time.perf_counter() - t0
                if not r.ok and failed is None:
                    failed = unit.name
                results.append(r)
                if on_result is not None:
                    on_result(r)
        return results


# --------------------------------------------------------------------------------------------
# Worker processes.


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid``, all threads (None where /proc is absent)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode()
    except OSError:
        return None
    # Fields after the command name, which is in parentheses and may contain spaces.
    rest = stat[stat.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def _watch_parent(parent: int) -> None:
    """Ends this worker when the process that started it is gone (killed: no clean shutdown)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def _quick_exit() -> None:
    """Ends the worker without the interpreter's (and XLA's) finalization, which keeps the parent
    waiting about a second: results are sent and files fsynced by then.

    It first runs what multiprocessing runs at the end of every child process (its finalizers:
    semaphores unregistered, e.g. tqdm's lock), so nothing is reported leaked.
    """
    from multiprocessing import util

    exit_function = getattr(util, "_exit_function", None)
    if exit_function is None:  # another Python's multiprocessing: exit the slow, ordinary way
        return
    exit_function()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _worker_main(conn, init: str | None, init_kwargs: Mapping[str, Any]) -> None:
    """A worker's loop: receive ``(fn, kwargs)``, reply ``("ok", value)`` or ``("error", text)``;
    ``None`` or a closed pipe ends it."""
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    if init is not None:
        resolve(init)(**dict(init_kwargs))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            _quick_exit()
            return
        fn, kwargs = msg
        try:
            reply = ("ok", resolve(fn)(**kwargs))
        except Exception as err:
            reply = ("error", error_text(err))
        try:
            conn.send(reply)
        except Exception as err:  # e.g. a value that cannot be pickled
            conn.send(("error", f"its result could not be sent back: {error_text(err)}"))


class _Slot:
    """One worker process and the group it is working through."""

    def __init__(self):
        self.process = None
        self.conn = None
        self.group: deque[Unit] = deque()
        self.failed: str | None = None  # first failed unit of the current group
        self.unit: Unit | None = None
        self.started = 0.0
        self.cpu: float | None = None
        self.progressed = 0.0

    @property
    def busy(self) -> bool:
        return self.unit is not None


class WorkerRunner:
    """Runs units in ``workers`` child processes (spawned: fresh interpreters) under a watchdog.

    Args:
      workers: how many processes work at once (at least 1).
      limits: the watchdog's limits (see :class:`Limits`).
      init: optional ``"module:function"`` each new worker calls first (e.g. JAX settings).
      init_kwargs: its keyword arguments.

    A worker lives for as many units as it is given (so compiled programs are reused), and is
    replaced only when it is killed or dies.
    """

    def __init__(
        self,
        workers: int = 1,
        limits: Limits | None = None,
        init: str | None = None,
        init_kwargs: Mapping[str, Any] | None = None,
    ):
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be a positive int, got {workers!r}")
        self.workers = workers
        self.limits = Limits() if limits is None else limits
        self.init = init
        self.init_kwargs = dict(init_kwargs or {})
        self._started: list[_Slot] = []

    def prestart(self, n: int | None = None) -> None:
        """Starts ``n`` workers (default: all) now, so that their start-up (a fresh interpreter,
        imports, ``init``) overlaps this process's planning; :meth:`run` uses them first."""
        n = self.workers if n is None else min(n, self.workers)
        while len(self._started) < n:
            slot = _Slot()
            self._start(slot)
            self._started.append(slot)

    def close(self) -> None:
        """Stops the workers that :meth:`prestart` started or :meth:`run` kept."""
        started, self._started = self._started, []
        for slot in started:
            self._stop(slot, kill=False)

    def _start(self, slot: _Slot) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe()
        process = ctx.Process(
            target=_worker_main,
            args=(child_conn, self.init, self.init_kwargs),
            daemon=True,
            name="sharpen-worker",
        )
        try:
            process.start()
        finally:
            child_conn.close()
        slot.process, slot.conn = process, parent_conn

    def _stop(self, slot: _Slot, *, kill: bool) -> None:
        if slot.process is None:
            return
        if kill:
            slot.process.kill()
        else:
            try:
                slot.conn.send(None)
            except (OSError, ValueError):
                pass
        slot.process.join(timeout=None if kill else 10.0)
        if slot.process.is_alive():
            slot.process.kill()
            slot.process.join()
        slot.conn.close()
        slot.process = slot.conn = None

    def run(
        self,
        groups: Sequence[Sequence[Unit]],
        on_result: Callable[[UnitResult], None] | None = None,
        on_start: Callable[[Unit], None] | None = None,
        keep_workers: bool = False,
    ) -> list[UnitResult]:
        """Runs every unit; returns their results in the order they finished.

        Args:
          groups: lists of units; each list runs in order on one worker.
          on_result: called with each result as it arrives.
          on_start: called with each unit as it is handed to a worker.
          keep_workers: keep the workers running for the next :meth:`run` (then :meth:`close`
            stops them); by default they are stopped before this returns.
        """
        from multiprocessing.connection import wait

        pending = deque(deque(g) for g in groups if g)
        started, self._started = self._started, []
        slots = started + [_Slot() for _ in range(min(self.workers, len(pending)) - len(started))]
        results: list[UnitResult] = []

        def finish(slot: _Slot, r: UnitResult) -> None:
            if not r.ok and slot.failed is None:
                slot.failed = r.unit.name
            slot.unit = None
            results.append(r)
            if on_result is not None:
                on_result(r)

        def next_unit(slot: _Slot) -> None:
            """Hands ``slot`` its next unit (a new group when its own is done), if any."""
            while slot.unit is None:
                if not slot.group:
                    if not pending:
                        return
                    slot.group, slot.failed = pending.popleft(), None
                unit = slot.group.popleft()
                if unit.needs_group and slot.failed is not None:
                    finish(slot, UnitResult(unit, error=f"not attempted: {slot.failed} failed"))
                    continue
                if slot.process is None:
                    self._start(slot)
                if on_start is not None:
                    on_start(unit)
                slot.unit, slot.started = unit, time.monotonic()
                slot.cpu, slot.progressed = _cpu_seconds(slot.process.pid), slot.started
                try:
                    slot.conn.send((unit.fn, dict(unit.kwargs)))
                except (OSError, ValueError) as err:  # died already, or bad arguments
                    self._stop(slot, kill=True)
                    finish(slot, UnitResult(unit, error=f"could not be sent: {error_text(err)}"))

        def fail(slot: _Slot, error: str, killed: bool) -> None:
            unit, seconds = slot.unit, time.monotonic() - slot.started
            self._stop(slot, kill=True)  # the next unit gets a fresh worker
            finish(slot, UnitResult(unit, error=error, killed=killed, seconds=seconds))

        finished = False
        try:
            for slot in slots:
                next_unit(slot)
            while any(s.busy for s in slots):
                busy = {s.conn: s for s in slots if s.busy}
                for conn in wait(list(busy), timeout=_POLL_SECONDS):
                    slot = busy[conn]
                    try:
                        kind, value = conn.recv()
                    except (EOFError, OSError):
                        slot.process.join(timeout=5.0)
                        code = slot.process.exitcode
                        fail(slot, f"its worker process died (exit code {code})", killed=False)
                    except Exception as err:  # a value this process cannot unpickle
                        error = f"its result could not be read here: {error_text(err)}"
                        finish(slot, UnitResult(slot.unit, error=error))
                    else:
                        seconds = time.monotonic() - slot.started
                        if kind == "ok":
                            finish(slot, UnitResult(slot.unit, value=value, seconds=seconds))
                        else:
                            finish(slot, UnitResult(slot.unit, error=value, seconds=seconds))
                    next_unit(slot)
                now = time.monotonic()
                for slot in slots:
                    if not slot.busy:
                        continue
                    cpu = _cpu_seconds(slot.process.pid)
                    if cpu is not None and (slot.cpu is None or cpu > slot.cpu):
                        slot.cpu, slot.progressed = cpu, now
                    own = slot.unit.timeout_s
                    limit = self.limits.unit_seconds if own is None else own
                    stall = self.limits.stall_seconds
                    if stall is not None and cpu is not None and now - slot.progressed > stall:
                        fail(
                            slot,
                            f"no progress for {stall:g} s (its process used no CPU time), killed",
                            killed=True,
                        )
                    elif limit is not None and now - slot.started > limit:
                        why = (
                            "the unit limit), killed"
                            if own is None
                            else "its declared timeout), ended"
                        )
                        fail(slot, f"still running after {limit:g} s ({why}", True)
                    else:
                        continue
                    next_unit(slot)
            finished = True
        finally:
            for slot in slots:
                if finished and keep_workers and slot.process is not None:
                    self._started.append(slot)
                else:
                    self._stop(slot, kill=slot.busy)
        return results


# --------------------------------------------------------------------------------------------
# Ray tasks (``--executor ray``).

# A unit whose process used less CPU than this share of the stall window is stalled: a Ray worker's
# own threads (its RPCs) keep using a little CPU while the unit's threads wait.
_STALL_CPU_SHARE = 0.01
# Extra seconds the parent gives a unit past its limit before cancelling it itself (the task
# normally ends itself at the limit; this is for a worker that cannot).
_LIMIT_GRACE_SECONDS = 30.0
# What each Ray worker process has initialized: (init, kwargs) reprs.
_INITIALIZED: set[str] = set()


def _ray_unit(
    fn: str,
    kwargs: Mapping[str, Any],
    init: str | None,
    init_kwargs: Mapping[str, Any],
    limit: float | None,
    stall: float | None,
    require: str | None,
):
    """One unit as a Ray streaming-generator task, watched from inside its worker process.

    Yields ``("started", {"host", "pid"})``, then one of ``("ok", value, seconds)``, ``("error",
    text, seconds)`` or ``("killed", why)``. The unit runs in a thread; this loop watches its
    process's CPU time and wall time as :class:`WorkerRunner` does from outside. On ``"killed"`` it
    waits: the parent then cancels the task, which ends the worker process (a unit stuck in XLA
    cannot be stopped from inside). ``require`` is a path the unit's results depend on (the run's
    marker in its shared results folder): where it does not exist, the unit is refused.
    """
    import socket

    yield ("started", {"host": socket.gethostname(), "pid": os.getpid()})
    t0 = time.monotonic()
    if require is not None and not os.path.exists(require):
        text = (
            f"the results folder is not on this node ({socket.gethostname()}: {require} is "
            "missing): --out must be on storage every node mounts at the same path"
        )
        yield ("error", text, 0.0)
        return
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            key = repr((init, sorted(init_kwargs.items())))
            if init is not None and key not in _INITIALIZED:
                resolve(init)(**dict(init_kwargs))
                _INITIALIZED.add(key)
            box["reply"] = ("ok", resolve(fn)(**dict(kwargs)))
        except Exception as err:
            box["reply"] = ("error", error_text(err))

    thread = threading.Thread(target=target, daemon=True, name="sharpen-unit")
    thread.start()
    samples = deque([(t0, _cpu_seconds(os.getpid()))])
    why = None
    while thread.is_alive():
        thread.join(_POLL_SECONDS)
        if not thread.is_alive():
            break
        now, cpu = time.monotonic(), _cpu_seconds(os.getpid())
        samples.append((now, cpu))
        while len(samples) > 2 and stall is not None and now - samples[1][0] >= stall:
            samples.popleft()
        then, cpu_then = samples[0]
        if (
            stall is not None
            and cpu is not None
            and cpu_then is not None
            and now - then >= stall
            and cpu - cpu_then < _STALL_CPU_SHARE * (now - then)
        ):
            why = f"no progress for {stall:g} s (its process used no CPU time), killed"
        elif limit is not None and now - t0 > limit:
            why = f"still running after {limit:g} s (its time limit), killed"
        if why is not None:
            yield ("killed", why)
            time.sleep(_LIMIT_GRACE_SECONDS * 10)  # the parent cancels the task meanwhile
            os._exit(1)
    kind, value = box["reply"]
    yield (kind, value, time.monotonic() - t0)


@dataclasses.dataclass
class _RayGroup:
    """A group's units still to submit, how many run, and its first failed unit."""

    queue: deque
    running: int = 0
    failed: str | None = None


@dataclasses.dataclass
class _RayTask:
    unit: Unit
    group: _RayGroup
    limit: float | None
    submitted: float
    started: float | None = None


class RayRunner:
    """Runs every unit as a Ray task (``simulators.RayExecutor``), under the same watchdog.

    Each unit is one task with the executor's CPUs, GPUs, retries and environment; Ray decides
    where and when it runs (units of all groups at once, in group order). A unit with
    ``needs_group`` is submitted when the earlier units of its group have finished, and only if
    they all succeeded. Inside its worker each task watches its unit as :class:`WorkerRunner`
    does (no CPU time for ``stall_seconds``, or past its wall-clock limit: reported ``killed`` and
    its worker process ended by ``ray.cancel(force=True)``); this process cancels a unit itself
    ``_LIMIT_GRACE_SECONDS`` after its limit if the task cannot. A worker or node that dies is
    Ray's to handle: the task runs again (``max_retries``), and when the retries are spent the unit
    is reported failed by name.

    Args:
      executor: the ``simulators.RayExecutor``.
      limits: the watchdog's limits (see :class:`Limits`).
      init: optional ``"module:function"`` each worker process calls before its first unit.
      init_kwargs: its keyword arguments.
      require: a path every unit needs to see (the run's marker in its results folder; None:
        none), so a node that does not share the folder refuses its units instead of writing
        results nobody reads.

    Attributes:
      started: unit name -> ``{"host", "pid"}`` of the worker process that started it (last run).
    """

    def __init__(
        self,
        executor: Any,
        limits: Limits | None = None,
        init: str | None = None,
        init_kwargs: Mapping[str, Any] | None = None,
        require: str | None = None,
    ):
        self.executor = executor
        self.limits = Limits() if limits is None else limits
        self.init = init
        self.init_kwargs = dict(init_kwargs or {})
        self.require = require
        self.started: dict[str, dict[str, Any]] = {}

    def prestart(self, n: int | None = None) -> None:
        """Connects to Ray now (a local instance starts), before the run is planned."""
        self.executor.connect()

    def close(self) -> None:
        """Disconnects from Ray (a local instance that this process started stops)."""
        self.executor.shutdown()

    def run(
        self,
        groups: Sequence[Sequence[Unit]],
        on_result: Callable[[UnitResult], None] | None = None,
        on_start: Callable[[Unit], None] | None = None,
        keep_workers: bool = False,
    ) -> list[UnitResult]:
        """Runs every unit; returns their results in the order they finished (``keep_workers``
        is accepted for the runners' common interface: Ray keeps its workers anyway)."""
        ray = self.executor.connect()
        task = self.executor.remote(_ray_unit)
        results: list[UnitResult] = []
        active: dict[Any, _RayTask] = {}

        def finish(r: UnitResult, group: _RayGroup) -> None:
            if not r.ok and group.failed is None:
                group.failed = r.unit.name
            results.append(r)
            if on_result is not None:
                on_result(r)
            submit(group)

        def submit(group: _RayGroup) -> None:
            while group.queue:
                unit = group.queue[0]
                if unit.needs_group and group.running:
                    return  # after the earlier units of its group
                group.queue.popleft()
                if unit.needs_group and group.failed is not None:
                    finish(UnitResult(unit, error=f"not attempted: {group.failed} failed"), group)
                    return
                limit = self.limits.unit_seconds if unit.timeout_s is None else unit.timeout_s
                gen = task.remote(
                    unit.fn,
                    dict(unit.kwargs),
                    self.init,
                    self.init_kwargs,
                    limit,
                    self.limits.stall_seconds,
                    self.require,
                )
                active[gen] = _RayTask(unit, group, limit, time.monotonic())
                group.running += 1

        def done(gen: Any, error: str | None = None, killed: bool = False, **kw: Any) -> None:
            t = active.pop(gen)
            t.group.running -= 1
            seconds = kw.pop("seconds", None)
            if seconds is None:
                seconds = time.monotonic() - (t.started or t.submitted)
            r = UnitResult(t.unit, error=error, killed=killed, seconds=seconds, **kw)
            finish(r, t.group)

        finished = False
        try:
            for group in groups:
                if group:
                    submit(_RayGroup(deque(group)))
            while active:
                gens = list(active)
                ready, _ = ray.wait(gens, num_returns=1, timeout=_POLL_SECONDS)
                if ready:
                    ready, _ = ray.wait(gens, num_returns=len(gens), timeout=0)
                for gen in ready:
                    t = active[gen]
                    try:
                        item = ray.get(next(gen))
                    except StopIteration:
                        done(gen, "its Ray task ended without a result")
                        continue
                    except ray.exceptions.RayError as err:
                        text = " ".join(str(err).split())[:300]
                        done(gen, f"its Ray task failed ({type(err).__name__}: {text})")
                        continue
                    kind = item[0]
                    if kind == "started":
                        t.started = time.monotonic()
                        self.started[t.unit.name] = item[1]
                        if on_start is not None:
                            on_start(t.unit)
                    elif kind == "killed":
                        ray.cancel(gen, force=True)
                        done(gen, item[1], killed=True)
                    elif kind == "ok":
                        done(gen, value=item[1], seconds=item[2])
                    else:
                        done(gen, item[1], seconds=item[2])
                now = time.monotonic()
                for gen, t in list(active.items()):
                    if t.started and t.limit and now - t.started > t.limit + _LIMIT_GRACE_SECONDS:
                        ray.cancel(gen, force=True)
                        done(
                            gen, f"still running after {t.limit:g} s (its time limit), killed", True
                        )
            finished = True
        finally:
            if not finished:
                for gen in active:
                    ray.cancel(gen, force=True)
        return results


def make_runner(
    workers: int,
    limits: Limits | None = None,
    init: str | None = None,
    init_kwargs: Mapping[str, Any] | None = None,
    executor: Any = None,
    require: str | None = None,
) -> InlineRunner | WorkerRunner | RayRunner:
    """The runner for a command: Ray tasks when ``executor`` is a ``simulators.RayExecutor``
    (``require``: see :class:`RayRunner`), else ``workers`` processes under a watchdog, or
    (``workers == 0``) this process without one."""
    if executor is not None:
        return RayRunner(executor, limits, init, init_kwargs, require)
    if workers == 0:
        return InlineRunner()
    return WorkerRunner(workers, limits, init, init_kwargs)


__all__ = [
    "InlineRunner",
    "Limits",
    "RayRunner",
    "Unit",
    "UnitResult",
    "WorkerRunner",
    "error_text",
    "make_runner",
]
