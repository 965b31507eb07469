"""The ``t5spec`` command: one subcommand per pipeline stage, each in its own module.

Each subcommand module defines ``add_arguments(parser)`` and ``run(args) -> int`` and is
imported only when its subcommand runs, so ``t5spec --help`` stays fast. Bad input
(:class:`~t5spec.errors.InputError`) prints one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from t5spec.errors import EXIT_BAD_INPUT, InputError

# name -> (module, one-line help). Order follows the data flow.
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("t5spec.data.cli", "inspect the math and BBH datasets and their splits"),
    "teacher": ("t5spec.teacher.cli", "sample chain-of-thought from an OpenAI-compatible teacher"),
    "align": ("t5spec.align.cli", "align teacher top-k distributions onto T5 tokens"),
    "convert": ("t5spec.models.convert_cli", "convert checkpoints HF safetensors <-> T5X"),
    "eval": ("t5spec.evaluate.cli", "evaluate a checkpoint on math and BBH benchmarks"),
    "select": ("t5spec.evaluate.select_cli", "pick the best checkpoint of a run by a dev metric"),
    "report": ("t5spec.report_cli", "render the paper's tables and figures from run outputs"),
    "serve": ("t5spec.serve.cli", "serve a checkpoint as an OpenAI-compatible completions API"),
    "lab": ("t5spec.lab.cli", "run the whole method end to end, offline, on CPU"),
    "plan": ("t5spec.plan", "memory / FLOP plan of a gin config on a topology"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="t5spec", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        parser = _top_parser()
        if argv and not argv[0].startswith("-"):
            parser.error(f"unknown command {argv[0]!r}; choose from {', '.join(COMMANDS)}")
        parser.print_help()
        return 0 if argv and argv[0] in ("-h", "--help") else EXIT_BAD_INPUT
    name, rest = argv[0], argv[1:]
    try:
        module = importlib.import_module(COMMANDS[name][0])
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("t5spec"):
            print(f"t5spec {name}: not available in this build ({e.name})", file=sys.stderr)
            return EXIT_BAD_INPUT
        raise
    parser = argparse.ArgumentParser(prog=f"t5spec {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except InputError as e:
        print(f"t5spec {name}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
