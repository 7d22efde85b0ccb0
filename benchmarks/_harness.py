"""Timing, memory and markdown helpers shared by every benchmark.

Conventions (the same for the toolkit and for each baseline, measured in the same process):

* Jitted functions are compiled ahead of time (``jax.jit(f).lower(...).compile()``) and the
  compilation is timed and reported on its own; the first run is also timed separately (warm-up:
  page faults, caches). The figure that is compared is the **median of the repeats** that follow,
  each ended by ``block_until_ready`` on every array of the result, so JAX's asynchronous dispatch
  does not hide work.
* Memory is the **peak resident-set growth** during the timed repeats, read from
  ``/proc/self/status`` (``VmHWM``) after resetting the high-water mark through
  ``/proc/self/clear_refs``; for jitted JAX functions also the size of XLA's temporary buffers from
  ``Compiled.memory_analysis()``, i.e. the memory the compiled program needs for intermediates.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

# ---------------------------------------------------------------------------------------------
# Blocking and memory
# ---------------------------------------------------------------------------------------------


def block(x: Any) -> Any:
    """Waits for every array in the pytree ``x`` (JAX arrays, torch CUDA tensors, numpy arrays,
    tuples, dataclasses)."""
    import jax

    for leaf in jax.tree_util.tree_leaves(x):
        ready = getattr(leaf, "block_until_ready", None)
        if ready is not None:
            ready()
        elif getattr(leaf, "is_cuda", False):  # a torch tensor: CUDA kernels run asynchronously
            import torch

            torch.cuda.synchronize(leaf.device)
    return x


def _proc_status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes() -> int | None:
    """Current resident set size of this process (bytes), or None where /proc is missing."""
    kib = _proc_status_kib("VmRSS")
    return None if kib is None else kib * 1024


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int | None:
    kib = _proc_status_kib("VmHWM")
    return None if kib is None else kib * 1024


def xla_temp_bytes(jitted: Callable, *args, **kwargs) -> int | None:
    """Bytes of temporary buffers XLA allocates for one call of ``jitted`` (its intermediates)."""
    try:
        stats = jitted.lower(*args, **kwargs).compile().memory_analysis()
        return int(stats.temp_size_in_bytes)
    except Exception:  # memory_analysis is best effort on some backends
        return None


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Measurement:
    """One implementation timed the house way.

    Attributes:
      label: what was run.
      first_s: wall time of the first call (for ``measure_jit``, the first run after compiling).
      median_s: median wall time of the repeats (the number that is compared).
      min_s: fastest repeat.
      repeats: number of timed repeats.
      peak_rss_delta: growth of the resident set above its level before the repeats (bytes).
      xla_temp: XLA's temporary-buffer bytes for one call, when the callable is jitted.
      load: the 1-minute load average when the measurement finished.
    """

    label: str
    first_s: float
    median_s: float
    min_s: float
    repeats: int
    peak_rss_delta: int | None = None
    xla_temp: int | None = None
    load: float | None = None
    extra: dict = dataclasses.field(default_factory=dict)

    compiled: Any = dataclasses.field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        """The numbers, for the JSON dump (without the compiled program)."""
        d = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "compiled"
        }
        return d

    @property
    def compile_s(self) -> float:
        """Compilation time when measured (``measure_jit``), else first call minus a median call."""
        if "compile_s" in self.extra:
            return self.extra["compile_s"]
        return max(self.first_s - self.median_s, 0.0)


def measure(
    label: str,
    fn: Callable[[], Any],
    *,
    repeats: int = 5,
    max_seconds: float | None = None,
    xla_temp: int | None = None,
) -> Measurement:
    """Times ``fn()`` (no arguments; close over inputs) the house way.

    Args:
      label: row label.
      fn: the call to time; its result is blocked on and then dropped.
      repeats: timed repeats after the first call.
      max_seconds: stop repeating early once this much time was spent in repeats (at least 1).
      xla_temp: XLA temp bytes to record (see :func:`xla_temp_bytes`).
    """
    gc.collect()
    t0 = time.perf_counter()
    out = block(fn())
    first = time.perf_counter() - t0
    del out
    gc.collect()
    base = rss_bytes()
    have_peak = _reset_peak()
    times: list[float] = []
    spent = 0.0
    for _ in range(max(repeats, 1)):
        t = time.perf_counter()
        out = block(fn())
        dt = time.perf_counter() - t
        del out
        times.append(dt)
        spent += dt
        if max_seconds is not None and spent > max_seconds:
            break
    peak = peak_rss_bytes() if have_peak else None
    delta = None if (peak is None or base is None) else max(peak - base, 0)
    print(
        f"[benchmarks]   {label}: median {fmt_s(statistics.median(times))} "
        f"(first {fmt_s(first)}, {len(times)} repeats)",
        file=sys.stderr,
        flush=True,
    )
    return Measurement(
        label=label,
        first_s=first,
        median_s=statistics.median(times),
        min_s=min(times),
        repeats=len(times),
        peak_rss_delta=delta,
        xla_temp=xla_temp,
        load=os.getloadavg()[0],
    )


def measure_interleaved(
    fns: dict[str, tuple[str, Callable[[], Any]]], *, repeats: int = 5
) -> dict[str, Measurement]:
    """Times several calls round-robin (A B C A B C ...), so slow drifts of a shared machine's
    load affect each of them alike; for close comparisons.

    Args:
      fns: ``{key: (label, fn)}``.
      repeats: timed rounds after one warm-up call of each.

    Returns:
      ``{key: Measurement}``; peak RSS growth is the largest over the calls of that function.
    """
    first: dict[str, float] = {}
    for k, (_, fn) in fns.items():
        gc.collect()
        t0 = time.perf_counter()
        out = block(fn())
        first[k] = time.perf_counter() - t0
        del out
    times: dict[str, list[float]] = {k: [] for k in fns}
    peaks: dict[str, int | None] = {k: None for k in fns}
    for _ in range(max(repeats, 1)):
        for k, (_, fn) in fns.items():
            gc.collect()
            base = rss_bytes()
            have_peak = _reset_peak()
            t = time.perf_counter()
            out = block(fn())
            times[k].append(time.perf_counter() - t)
            del out
            peak = peak_rss_bytes() if have_peak else None
            if peak is not None and base is not None:
                peaks[k] = max(peaks[k] or 0, peak - base)
    result = {}
    for k, (label, _) in fns.items():
        med = statistics.median(times[k])
        print(
            f"[benchmarks]   {label}: median {fmt_s(med)} (first {fmt_s(first[k])}, "
            f"{len(times[k])} interleaved repeats)",
            file=sys.stderr,
            flush=True,
        )
        result[k] = Measurement(
            label=label,
            first_s=first[k],
            median_s=med,
            min_s=min(times[k]),
            repeats=len(times[k]),
            peak_rss_delta=peaks[k],
            load=os.getloadavg()[0],
        )
    return result


def compile_jit(fn: Callable, *args) -> tuple[Any, float, int | None]:
    """``(compiled, seconds, XLA temp bytes)`` for ``jax.jit(fn)`` at ``args`` (ahead of time)."""
    import jax

    gc.collect()
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    seconds = time.perf_counter() - t0
    try:
        temp = int(compiled.memory_analysis().temp_size_in_bytes)
    except Exception:  # best effort on some backends
        temp = None
    return compiled, seconds, temp


def measure_jit(
    label: str,
    fn: Callable,
    *args,
    repeats: int = 5,
    max_seconds: float | None = None,
) -> Measurement:
    """Compiles ``jax.jit(fn)`` for ``args`` ahead of time, then times the compiled call.

    The compilation (lowering + XLA) is timed on its own and stored in ``extra['compile_s']``;
    ``first_s`` is then the first *run* of the compiled program. XLA's temporary-buffer size comes
    from the same compiled object, so nothing is compiled twice.
    """
    compiled, compile_s, temp = compile_jit(fn, *args)
    m = measure(label, lambda: compiled(*args), repeats=repeats, max_seconds=max_seconds)
    m.xla_temp = temp
    m.extra["compile_s"] = compile_s
    m.compiled = compiled  # reuse it instead of compiling again
    return m


def measure_all(
    specs: dict[str, tuple], *, repeats: int = 5, interleave: bool = False
) -> dict[str, Measurement]:
    """Compiles the jitted entries ahead of time, then times every entry.

    Args:
      specs: ``{key: (label, fn, args, jitted)}``; a jitted entry is ``jax.jit(fn)(*args)``
        compiled ahead of time (compile time and XLA temp recorded), a plain one is ``fn(*args)``.
      repeats: timed repeats per entry.
      interleave: time round-robin (:func:`measure_interleaved`) instead of each entry's repeats
        back to back. Round-robin evens out drifts of a shared machine's load, but entries then
        run in each other's memory state (freed large buffers, fragmented huge pages), which
        penalizes whichever allocates most; use it for small-memory comparisons only.
    """
    calls, compiled_info = {}, {}
    for k, (label, fn, args, jitted) in specs.items():
        if jitted:
            compiled, seconds, temp = compile_jit(fn, *args)
            compiled_info[k] = (compiled, seconds, temp)
            calls[k] = (label, lambda c=compiled, a=args: c(*a))
        else:
            calls[k] = (label, lambda f=fn, a=args: f(*a))
    if interleave:
        ms = measure_interleaved(calls, repeats=repeats)
    else:
        ms = {k: measure(label, call, repeats=repeats) for k, (label, call) in calls.items()}
    for k, (compiled, seconds, temp) in compiled_info.items():
        ms[k].extra["compile_s"] = seconds
        ms[k].xla_temp = temp
        ms[k].compiled = compiled
    return ms


# ---------------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------------


def fmt_s(x: float | None) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    if x >= 100:
        return f"{x:.0f} s"
    if x >= 1:
        return f"{x:.2f} s"
    if x >= 1e-3:
        return f"{x * 1e3:.1f} ms"
    return f"{x * 1e6:.0f} us"


def fmt_bytes(x: float | None) -> str:
    if x is None:
        return "n/a"
    x = float(x)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(x) < 1024 or unit == "TiB":
            return f"{x:.0f} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1024
    return f"{x:.1f} TiB"


def fmt_ratio(x: float | None) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    if x >= 100:
        return f"{x:.0f}x"
    if x >= 10:
        return f"{x:.1f}x"
    return f"{x:.2f}x"


def fmt_rate(x: float | None, unit: str) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f} {prefix}{unit}"
    return f"{x:.1f} {unit}"


def fmt_pct(x: float | None) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{100 * x:.0f}%"


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; cells are converted with ``str``."""
    head = "| " + " | ".join(str(h).replace("|", "\\|") for h in headers) + " |"
    sep = "|" + "|".join("---" for _ in headers) + "|"
    body = ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join([head, sep, *body])


def timing_rows(
    measurements: Sequence[Measurement], reference: Measurement, *, ratio_label: str = ""
) -> list[list[str]]:
    """Table rows: label, compile, first call, median, repeats, ratio, peak RSS, XLA temp."""
    rows = []
    for m in measurements:
        rows.append(
            [
                m.label,
                fmt_s(m.extra["compile_s"]) if "compile_s" in m.extra else "-",
                fmt_s(m.first_s),
                fmt_s(m.median_s),
                str(m.repeats),
                fmt_ratio(m.median_s / reference.median_s),
                fmt_bytes(m.peak_rss_delta),
                fmt_bytes(m.xla_temp) if m.xla_temp is not None else "-",
            ]
        )
    return rows


TIMING_HEADERS = [
    "implementation",
    "compile",
    "first call",
    "median",
    "repeats",
    "time / reference",
    "peak RSS growth",
    "XLA temp",
]


@dataclasses.dataclass
class Section:
    """One benchmark's section of BENCHMARKS.md.

    Attributes:
      key: the benchmark's module name (``--only`` value).
      title: heading.
      compared: what is compared with what.
      sizes: problem sizes actually run.
      body: markdown (tables) with the measurements.
      target: the target, in words.
      met: True / False, or None when not applicable or not measured.
      explanation: why the numbers are what they are.
      status: ``ok``, ``skipped: ...`` or ``error: ...``.
      seconds: wall time of the whole benchmark.
      load: 1-minute load averages at the start and end.
      data: raw numbers (for the JSON dump).
    """

    key: str
    title: str
    compared: str = ""
    sizes: str = ""
    body: str = ""
    target: str = ""
    met: bool | None = None
    explanation: str = ""
    status: str = "ok"
    seconds: float = 0.0
    load: tuple[float, float] | None = None
    data: dict = dataclasses.field(default_factory=dict)

    def to_markdown(self, number: int) -> str:
        met = {True: "**met**", False: "**not met**", None: "n/a"}[self.met]
        if not self.status.startswith("ok"):
            met = "not measured"
        load = (
            f"{self.load[0]:.2f} at start, {self.load[1]:.2f} at end"
            if self.load is not None
            else "n/a"
        )
        parts = [
            f"## {number}. {self.title}",
            "",
            f"- **Compared:** {self.compared}",
            f"- **Sizes:** {self.sizes}",
            f"- **Target:** {self.target}",
            f"- **Met:** {met}",
            f"- **Status:** {self.status}",
            f"- **Benchmark wall time:** {fmt_s(self.seconds)}; load average {load}",
            "",
            self.body.strip() if self.body.strip() else "_No measurements._",
            "",
            "**Explanation.** " + (self.explanation.strip() or "n/a"),
            "",
        ]
        return "\n".join(parts)


def environment_lines() -> list[str]:
    """Machine and library versions, for the report's header."""
    import jax

    try:
        with open("/proc/cpuinfo") as f:
            model = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?"
            )
    except OSError:
        model = platform.processor() or "?"
    try:
        with open("/proc/meminfo") as f:
            mem_kib = int(next(ln for ln in f if ln.startswith("MemTotal")).split()[1])
        mem = fmt_bytes(mem_kib * 1024)
    except (OSError, StopIteration):
        mem = "?"
    return [
        f"- CPU: {model}, {os.cpu_count()} logical cores; memory {mem}",
        f"- Python {sys.version.split()[0]}, numpy {np.__version__}, jax {jax.__version__} "
        f"({jax.default_backend()}), x64 {'on' if jax.config.jax_enable_x64 else 'off'}",
    ]
