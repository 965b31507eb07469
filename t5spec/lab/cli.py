"""``t5spec lab``: the paper's whole experiment, offline, on CPU (see :mod:`t5spec.lab`).

``t5spec lab`` runs gin/lab.gin (≤ 15 minutes on 2 cores), ``--quick`` gin/lab_quick.gin
(smoke-test sizes); ``--experiment=methods`` the methods comparison of gin/lab_methods.gin
(:mod:`t5spec.lab.methods`, report in ``report/methods.md``). Every stage is cached in
``--lab_dir``: a second invocation skips what is done, ``--redo STAGE`` reruns a stage and
everything after it. At the end it prints the
stage time table and the report's Table 1, and appends the settings and times to the report.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from t5spec import gin_names as gn
from t5spec.lab.stages import GIN

EXPERIMENTS = ("spec", "methods")
_DEFAULT_GIN = {("spec", False): "lab.gin", ("spec", True): "lab_quick.gin",
                ("methods", False): "lab_methods.gin", ("methods", True): "lab_methods_quick.gin"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="smoke-test sizes (gin/lab_quick.gin instead of gin/lab.gin)")
    parser.add_argument("--lab_dir", help="where everything goes (default ./t5spec_lab, "
                        "./t5spec_lab_quick with --quick)")
    parser.add_argument("--gin_file", action="append", default=[],
                        help="gin file replacing gin/lab.gin (repeatable)")
    parser.add_argument("--gin_param", action="append", default=[], metavar="BINDING",
                        help="gin binding, e.g. \"specialize/lab.TrainBudget.steps=400\"")
    parser.add_argument("--jobs", type=int, default=2, help="stages run at once (default 2)")
    parser.add_argument("--redo", action="append", default=[], metavar="STAGE",
                        help="rerun STAGE (and what depends on it) even if done")
    parser.add_argument("--print_only", action="store_true",
                        help="print every stage's command and exit")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    parser.add_argument("--experiment", choices=EXPERIMENTS, default="spec",
                        help="spec: the paper's experiment (default); methods: sm/dm/"
                        "step-by-step/hybrid × student sizes × seeds (gin/lab_methods.gin, "
                        "report/methods.md)")
    parser.add_argument("--sizes", default="", metavar="S1,S2",
                        help="methods experiment: only these student sizes (a part; its "
                        "results go to report/results_<sizes>_s<seeds>/)")
    parser.add_argument("--seeds", default="", metavar="0,1",
                        help="methods experiment: only these seeds (a part, as --sizes)")


def _gin_files(args: argparse.Namespace) -> list[str]:
    if args.gin_file:
        return args.gin_file
    return [str(GIN / _DEFAULT_GIN[getattr(args, "experiment", "spec"), bool(args.quick)])]


def settings_section(config, gin_files: list[str], bindings: list[str], table: str) -> str:
    """The lab part of report.md: how the numbers above were produced."""
    import platform

    lines = ["", "## Lab settings and stage times", "",
             f"Produced by `t5spec lab` on {platform.node() or 'this machine'} "
             f"({platform.machine()}, {_cpu_count()} CPU cores, Python "
             f"{platform.python_version()}), {time.strftime('%Y-%m-%d')}.",
             f"Gin: {', '.join(gin_files)}" + (f"; bindings {bindings}" if bindings else ""),
             "", "The data are the lab's generated world, not the real benchmarks: the "
             "gsm8k/multiarith/asdiv/svamp/bbh names are the slots they fill.", "",
             "```", repr(config), "```", "", table, ""]  # fmt: skip
    return "\n".join(lines)


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _table1(report: Path) -> str:
    if not report.is_file():
        return ""
    text = report.read_text(encoding="utf-8")
    if "## Table 1" not in text:
        return ""
    return "## Table 1" + text.split("## Table 1", 1)[1].split("\n## ", 1)[0]


def run(args: argparse.Namespace) -> int:
    from t5spec.errors import InputError
    from t5spec.lab import config as lab_config
    from t5spec.lab import methods, methods_graph, pipeline, runner, stages
    from t5spec.launch.ginsyntax import check_bindings

    gin_files = _gin_files(args)
    for f in gin_files:
        if not Path(f).is_file():
            raise InputError(f, "gin file not found", field="gin_file")
    check_bindings(args.gin_param, flag="gin_param")
    methods_cfg = None
    bindings = [*args.gin_param, *_part_bindings(args)]
    try:
        if args.experiment == "methods":
            cfg, methods_cfg = methods.load(gin_files, bindings)
        else:
            cfg = lab_config.load(gin_files, args.gin_param)
    except (ValueError, TypeError) as e:
        raise InputError(gin_files[-1], f"bad lab config: {e}") from None
    root = Path(args.lab_dir or ("t5spec_lab_quick" if args.quick else "t5spec_lab")).resolve()
    paths = stages.LabPaths(root)
    if methods_cfg is None:
        graph = pipeline.build_stages(cfg, paths)
    else:
        graph = methods_graph.build_stages(cfg, methods_cfg, paths)
    _check_redo(args.redo, graph)
    if args.print_only:
        for stage in graph:
            print(f"# {stage.name} (after {', '.join(stage.deps) or 'nothing'})")
        print(stages.commands_text(cfg, paths) if methods_cfg is None
              else methods_graph.commands_text(cfg, methods_cfg, paths))
        return 0
    t0 = time.monotonic()
    lab = runner.Runner(paths, graph, jobs=args.jobs, redo=args.redo,
                        progress=not args.no_progress)  # fmt: skip
    try:
        outcomes = lab.run()
    except runner.StageFailed as e:
        print(runner.time_table(list(lab.outcomes.values()), time.monotonic() - t0))
        print(f"t5spec lab: {e}", file=sys.stderr)
        return 1
    table = runner.time_table(outcomes, time.monotonic() - t0)
    report = paths.report / ("report.md" if methods_cfg is None else "methods.md")
    settings = settings_section(cfg, gin_files, args.gin_param, table)
    if methods_cfg is not None:
        settings += f"\n```\n{methods_cfg!r}\n```\n"
    with report.open("a", encoding="utf-8") as f:
        f.write(settings)
    first = _table1(report) if methods_cfg is None else _methods_table(report)
    print(f"\n{table}\n\n{first}\nreport: {report}")
    written = _write_results(args, cfg, methods_cfg, paths, gin_files, graph,
                             time.monotonic() - t0)  # fmt: skip
    print(f"results: {written}")
    if methods_cfg is None:  # the main claim, with its paired interval (issue 29)
        print("\n".join(pipeline.main_claim(cfg, paths)))
    return 0


def _check_redo(redo: list[str], graph: list) -> None:
    """``--redo`` must name stages of this experiment (a typo would silently redo nothing)."""
    from t5spec.errors import InputError

    names = [stage.name for stage in graph]
    unknown = [r for r in redo if r not in names]
    if unknown:
        raise InputError(None, f"unknown stage(s) {', '.join(map(repr, unknown))}; "
                         f"valid stages: {', '.join(names)}", field="redo")


def _part_bindings(args: argparse.Namespace) -> list[str]:
    """``--sizes`` / ``--seeds`` as MethodsConfig bindings (InputError outside methods)."""
    from t5spec.errors import InputError

    sizes = [s for s in getattr(args, "sizes", "").split(",") if s]
    seeds = [s for s in getattr(args, "seeds", "").split(",") if s]
    if (sizes or seeds) and args.experiment != "methods":
        raise InputError(None, "--sizes/--seeds select a part of --experiment=methods only")
    if not all(s.isdigit() for s in seeds):
        raise InputError(None, f"--seeds must be comma-separated integers, got {args.seeds!r}")
    out = [f"{gn.METHODS_STUDENTS}={tuple(sizes)!r}"] if sizes else []
    return out + ([f"{gn.METHODS_SEEDS}={tuple(map(int, seeds))!r}"] if seeds else [])


def _write_results(args, cfg, methods_cfg, paths, gin_files, graph, wall_s: float) -> Path:
    """``report/results.{json,md}`` (a methods part: ``report/results_<part>/``)."""
    import shlex

    from t5spec.lab import results

    flags = [f"--experiment={args.experiment}"] * (args.experiment != "spec")
    flags += ["--quick"] * bool(args.quick) + [f"--gin_file={g}" for g in args.gin_file]
    flags += [f"--gin_param={b}" for b in args.gin_param]
    flags += [f"--{k}={getattr(args, k)}" for k in ("sizes", "seeds") if getattr(args, k, "")]
    title = "t5spec lab" if methods_cfg is None else "t5spec lab --experiment=methods"
    meta = results.meta(title, shlex.join(["t5spec", "lab", *flags]), gin_files,
                        args.gin_param, wall_s, paths, [s.name for s in graph])  # fmt: skip
    if methods_cfg is None:
        return results.write_spec(cfg, paths, meta)
    part = results.part_name([s for s in args.sizes.split(",") if s],
                             [int(s) for s in args.seeds.split(",") if s])  # fmt: skip
    return results.write_methods(cfg, methods_cfg, paths, meta, part)


def _methods_table(report: Path) -> str:
    """The methods table and verdicts of ``methods.md`` (up to the first figure)."""
    text = report.read_text(encoding="utf-8") if report.is_file() else ""
    return text.split("![", 1)[0]
