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
    """Runs ``t5spec COMMAND ...``: ``argv`` (default: ``sys.argv[1:]``, the program's own
    arguments; only then may a command such as ``serve`` re-execute the process with
    :mod:`t5spec.hugepages`' settings). Returns the exit status."""
    program = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        parser = _top_parser()
        if argv and not argv[0].startswith("-"):
            parser.error(f"unknown command {argv[0]!r}; choose from {', '.join(COMMANDS)}")
        parser.print_help()
        return 0 if argv and argv[0] in ("-h", "--help") else EXIT_BAD_INPUT
    name, rest = argv[0], argv[1:]
    from t5spec.launch.aot import skip_tpu_probe_without_tpu

    skip_tpu_probe_without_tpu()  # libtpu installed, no TPU here: no probe, no libtpu errors
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
    if program and getattr(module, "REEXEC_WITH_HUGE_PAGES", False):
        from t5spec import hugepages

        hugepages.reexec_with_huge_pages()  # only as a program: never replaces a caller
    try:
        return int(module.run(args) or 0)
    except InputError as e:
        print(f"t5spec {name}: error: {_describe(e, parser)}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _describe(error: InputError, parser: argparse.ArgumentParser) -> str:
    """One line for an InputError: ``file:line: field 'x': reason``, or, when no file is
    involved (a flag's value is wrong), ``--flag: reason`` instead of a placeholder file."""
    if error.path is not None or error.where is not None:
        return str(error)
    flag = _flag_for(error.field, parser)
    if flag is not None:
        return f"{flag}: {error.reason}"
    return f"field {error.field!r}: {error.reason}" if error.field else error.reason


def _flag_for(field: str | None, parser: argparse.ArgumentParser) -> str | None:
    """The option string (``--redo``) whose destination or name is ``field``, if any."""
    if not field:
        return None
    wanted = field.lstrip("-")
    for action in parser._actions:  # argparse keeps no public list of its actions
        if isinstance(action, argparse._SubParsersAction):  # `t5spec teacher sample --x`
            found = (_flag_for(field, p) for p in action.choices.values())
            if (flag := next((f for f in found if f), None)) is not None:
                return flag
            continue
        names = [o.lstrip("-") for o in action.option_strings]
        if action.dest == wanted or wanted in names:
            if action.option_strings:
                return action.option_strings[-1]
            return action.metavar if isinstance(action.metavar, str) else action.dest.upper()
    return None


if __name__ == "__main__":
    sys.exit(main())
