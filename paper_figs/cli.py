"""The ``sharpen`` command line: one console script, one subcommand per job (DESIGN.md).

Subcommands import their modules lazily, so ``sharpen inspect`` does not pay for matplotlib or
torch, and the core works without the ``hf`` extra.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path

# XLA flags for the command's JAX programs on CPU. Compiling is most of the CPU time of
# `sharpen reproduce --quick` and `sharpen verify --quick` (hundreds of small programs, each run a
# few times). LLVM's -O1 (XLA's default is -O3) and XLA's loop emitters instead of its newer fusion
# emitters compile them about twice as fast; the programs run about as fast and the results agree
# to rounding (~1e-15). XLA reads the flags when JAX's backend starts; spawned processes inherit
# them. They are checked against jaxlib 0.10 (XLA refuses unknown flags, so other versions are left
# alone), and a flag the user already set in XLA_FLAGS wins.
FAST_COMPILE_FLAGS: tuple[str, ...] = (
    "--xla_backend_optimization_level=1",
    "--xla_cpu_use_fusion_emitters=false",
)


def prefer_fast_compiles() -> None:
    """Adds :data:`FAST_COMPILE_FLAGS` to ``XLA_FLAGS`` (before JAX's backend starts)."""
    import importlib.metadata

    try:
        if not importlib.metadata.version("jaxlib").startswith("0.10."):
            return
    except importlib.metadata.PackageNotFoundError:
        return
    flags = os.environ.get("XLA_FLAGS", "")
    new = [f for f in FAST_COMPILE_FLAGS if f.split("=")[0] not in flags]
    if new:
        os.environ["XLA_FLAGS"] = " ".join([flags, *new]).strip()


# Huge pages for XLA's buffers (BENCHMARKS.md, benchmarks 1 and 7). With transparent huge pages in
# `madvise` mode (the default of many Linux distributions) memory gets 2 MiB pages only where the
# program asks: numpy asks for its large arrays, XLA's CPU allocator does not, so each fresh output
# or temporary of a jitted call on a large table is faulted in 4 KiB at a time (2-3x the time of
# a table copy). This glibc tunable makes `malloc` ask on XLA's behalf; results are unchanged
# (only how memory is mapped). glibc reads it only when a process starts, so the command restarts
# itself once with it set (before importing anything heavy); spawned workers inherit it.
HUGE_PAGES_TUNABLE = "glibc.malloc.hugetlb=1"
_RESTARTED = "SHARPEN_RESTARTED_WITH_HUGE_PAGES"  # set across the one restart: never a loop


def transparent_huge_pages_mode() -> str:
    """The kernel's transparent-huge-page mode (``always``, ``madvise``, ``never``) or ``""``."""
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
        return text[text.index("[") + 1 : text.index("]")]
    except (OSError, ValueError):
        return ""


def huge_pages_environment(env: Mapping[str, str]) -> dict[str, str] | None:
    """``env`` with :data:`HUGE_PAGES_TUNABLE` added to ``GLIBC_TUNABLES``, or ``None`` where it
    would change nothing: not glibc >= 2.35 (older ones lack the tunable), huge pages not in
    ``madvise`` mode (``always`` has them already, ``never`` cannot), or ``glibc.malloc.hugetlb``
    already set by the user (their value wins)."""
    libc, version = platform.libc_ver()
    try:
        new_enough = libc == "glibc" and tuple(map(int, version.split(".")[:2])) >= (2, 35)
    except ValueError:
        new_enough = False
    tunables = env.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" in tunables or not new_enough:
        return None
    if transparent_huge_pages_mode() != "madvise":
        return None
    return dict(env, GLIBC_TUNABLES=":".join(filter(None, [tunables, HUGE_PAGES_TUNABLE])))


def _launched_as_command() -> bool:
    """Whether this process is the ``sharpen`` script or ``python -m paper_figs.cli`` itself
    (restarting any other program that calls :func:`main` would rerun its own code)."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    if not path or not getattr(sys, "orig_argv", None):
        return False
    path = Path(path)
    return path.name == "sharpen" or path.resolve() == Path(__file__).resolve()


def restart_with_huge_pages() -> None:
    """Replaces this process by the same command with :data:`HUGE_PAGES_TUNABLE` set (see
    :func:`huge_pages_environment`); returns without doing anything where it is not needed, after
    the one restart, or when the restart fails."""
    if os.environ.pop(_RESTARTED, None) is not None or not _launched_as_command():
        return
    env = huge_pages_environment(os.environ)
    if env is None:
        return
    env[_RESTARTED] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
    except OSError:
        return  # run on without huge pages


# subcommand -> (module implementing ``add_arguments(parser)`` and ``main(args) -> int``, help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "inspect": ("paper_figs._inspect", "print the exact quantities of a built-in toy instance"),
    "verify": ("paper_figs._verify", "run the paper's numerically checkable claims"),
    "reproduce": ("paper_figs._reproduce", "claims, every figure and REPORT.md (resumable)"),
    "bon": (
        "paper_figs.real_models.bon",
        "the paper's inference-time BoN protocol on a real model",
    ),
    "sft": ("paper_figs.real_models.sft", "SFT/RLHF/XPO-Sharpening of a real model with LoRA"),
    "power": (
        "paper_figs.real_models.power",
        "power samplers (MH, SMC, temperature, BoN) targeting pi_base^alpha on a real model",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sharpen",
        description=(
            "Reference toolkit for 'Self-Improvement in Language Models: The Sharpening "
            "Mechanism' (Huang et al., arXiv 2412.01951)."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        # Arguments are added on demand (only for the chosen subcommand) to keep start-up light.
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] and sys.argv[1] in SUBCOMMANDS:
        # The command line itself, about to run JAX work (tests and other callers pass argv).
        restart_with_huge_pages()
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in SUBCOMMANDS:
        parser.parse_args(argv)  # prints help or the usage error
        return 2
    name = argv[0]
    module = importlib.import_module(SUBCOMMANDS[name][0])
    sub = argparse.ArgumentParser(prog=f"sharpen {name}", description=SUBCOMMANDS[name][1])
    module.add_arguments(sub)
    args = sub.parse_args(argv[1:])
    prefer_fast_compiles()
    import jax

    # Exact quantities are compared at float64 precision throughout the toolkit's outputs.
    jax.config.update("jax_enable_x64", True)
    try:
        return int(module.main(args) or 0)
    except (ValueError, TypeError, OSError) as err:
        # Bad input, and a file or folder that cannot be read or written, are reported as a
        # one-line error naming the argument or path; SHARPEN_DEBUG=1 shows the traceback.
        if os.environ.get("SHARPEN_DEBUG"):
            raise
        print(f"sharpen {name}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
