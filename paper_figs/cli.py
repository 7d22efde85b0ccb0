"""The ``sharpen`` command line: one console script, one subcommand per job (DESIGN.md).

Subcommands import their modules lazily, so ``sharpen inspect`` does not pay for matplotlib or
torch, and the core works without the ``hf`` extra.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# subcommand -> (module implementing ``add_arguments(parser)`` and ``main(args) -> int``, help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "inspect": ("paper_figs._inspect", "print the exact quantities of a built-in toy instance"),
    "verify": ("paper_figs._verify", "run the paper's numerically checkable claims"),
    "reproduce": ("paper_figs._reproduce", "claims, every figure and REPORT.md (resumable)"),
    "bon": ("simulators.hf._cli", "the paper's inference-time BoN protocol on a real model"),
    "sft": ("simulators.hf._cli_train", "SFT/RLHF/XPO-Sharpening of a real model with LoRA"),
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
    import jax

    # Exact quantities are compared at float64 precision throughout the toolkit's outputs.
    jax.config.update("jax_enable_x64", True)
    try:
        return int(module.main(args) or 0)
    except (ValueError, TypeError) as err:
        # Bad input is reported as a one-line error naming the argument; SHARPEN_DEBUG=1 shows the
        # traceback.
        if os.environ.get("SHARPEN_DEBUG"):
            raise
        print(f"sharpen {name}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
