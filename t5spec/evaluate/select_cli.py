"""``t5spec select``: name a run's best checkpoint under each dev rule; evaluate it on test.

Example::

    t5spec select --run=runs/small_kl --by=mas_dev            # evaluates on the test splits
    t5spec select --run=runs/small_kl --by=gsm8k_dev --print_only   # prints the t5x.eval line
    t5spec select --run=runs/small_kl --by=gsm8k_dev,mas_dev   # both rules, one t5x.eval

Reads every ``results.jsonl`` of the run (dev = split ``dev``), prints the best step under
``gsm8k_dev``, ``mas_dev`` and ``bbh_dev`` (rules in :mod:`t5spec.evaluate.select`), writes
``RUN/selection.json`` and evaluates ``RUN/checkpoint_<step>`` of the ``--by`` rule into
``RUN/eval/test_checkpoint_<step>/`` (skipped when the run already has results for that step and
split, unless ``--force``). Several comma-separated rules evaluate their distinct steps in one
``t5x.eval`` process (one start-up and compilation), into
``RUN/eval/<split>_checkpoints_<step>_<step>/``: that folder's ``checkpoints/`` links the chosen
checkpoints and T5X evaluates them all (restore mode ``all``; T5X's list-of-paths restore does
not work with Orbax checkpoints). Runs on ``gs://`` get one ``t5x.eval`` per step. Model size
and vocabulary come from the run's ``config.gin`` unless given.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from t5spec.errors import InputError
from t5spec.evaluate import command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="the run directory (T5X MODEL_DIR)")
    parser.add_argument(
        "--by", required=True, help="selection rule(s), comma-separated: gsm8k_dev,mas_dev,bbh_dev"
    )
    parser.add_argument(
        "--mode",
        default="zs_cot",
        help="math prompting mode of the dev columns (zs_cot, ic_cot, zs_ao, ic_ao; "
        "sbs_label, sbs_rationale for step-by-step students)",
    )
    parser.add_argument("--model", help="model size or .gin (default: from the run's config.gin)")
    parser.add_argument("--force", action="store_true", help="re-evaluate even if results exist")
    command.add_eval_arguments(parser)


def _print_selections(selections: dict, chosen: list[str]) -> None:
    print(f"{'rule':<11} {'step':>10} {'dev score':>10} {'candidates':>11}  columns")
    for rule, sel in selections.items():
        mark = "*" if rule in chosen else " "
        if sel is None:
            print(f"{rule + mark:<11} {'not run':>10} {'':>10} {0:>11}")
            continue
        print(
            f"{rule + mark:<11} {sel.step:>10} {sel.score:>10.4f} {sel.candidates:>11}  "
            f"{', '.join(sel.columns)}"
        )


def _write_selection(run: Path, selections: dict, mode: str) -> Path:
    path = run / "selection.json"
    payload = {
        rule: None
        if sel is None
        else {
            "step": sel.step,
            "dev_score": sel.score,
            "candidates": sel.candidates,
            "columns": list(sel.columns),
            "checkpoint": str(run / f"checkpoint_{sel.step}"),
        }
        for rule, sel in selections.items()
    }
    path.write_text(json.dumps({"mode": mode, "rules": payload}, indent=1) + "\n", encoding="utf-8")
    return path


def _evaluated_steps(run: Path, split: str, benchmarks_arg: str) -> set[int]:
    """Steps for which the run already has ``split`` results of every requested benchmark."""
    from t5spec.evaluate import benchmarks, results

    names = benchmarks.resolve_names(
        "t5spec_eval_all" if benchmarks_arg == "all" else benchmarks_arg
    )
    wanted = {benchmarks.task_by_name(n).column for n in names}
    table = results.accuracy_table(results.load_run(run), split)
    return {step for step, row in table.items() if wanted <= set(row)}


def _chosen_steps(args: argparse.Namespace, run_dir: Path, info: Any) -> list[int]:
    """The steps the ``--by`` rules select, in order; writes ``selection.json``."""
    from t5spec.evaluate import results, select

    rules = [r.strip() for r in args.by.split(",") if r.strip()]
    for rule in rules:  # unknown rule / mode: InputError before any work
        select.rule_columns(rule, args.mode)
    records = results.load_run(run_dir)
    dev = results.accuracy_table(records, "dev")
    if not dev:
        raise InputError(
            run_dir,
            "no dev results (split 'dev') in its results files; evaluate "
            "with split 'validation' during training (gin/infer_eval.gin)",
        )
    dev = select.trained_steps(dev, info.eval_before_training)  # the "before" is no candidate
    if not dev:
        raise InputError(run_dir, "only the evaluation before training has dev results; "
                         "no trained checkpoint was evaluated yet")
    selections = select.select_all(dev, select.RULES, args.mode)
    _print_selections(selections, rules)
    print(f"wrote {_write_selection(run_dir, selections, args.mode)}")
    for rule in rules:
        if selections[rule] is None:
            select.select(dev, rule, args.mode)  # raises the explanatory InputError
    return sorted({selections[rule].step for rule in rules})


def run(args: argparse.Namespace) -> int:
    from t5spec.evaluate import benchmarks, runinfo
    from t5spec.evaluate.cli import print_summary, request_from_args
    from t5spec.paths import absolute_local

    run_dir = Path(absolute_local(args.run))
    info = runinfo.read_run_info(run_dir)
    steps = _chosen_steps(args, run_dir, info)
    model = args.model or info.model
    if model in (None, "unknown"):
        raise InputError(
            run_dir / "config.gin", "cannot tell the model size; pass --model", field="model"
        )
    split = benchmarks.SEQIO_SPLITS[args.split]
    if not args.force and not args.print_only:
        done = _evaluated_steps(run_dir, split, args.benchmarks)
        for step in (s for s in steps if s in done):
            print(f"{run_dir} already has {split} results for step {step} (--force redoes it)")
        steps = [s for s in steps if s not in done]
    model_gin, vocab = command.model_gin(model), args.vocab or info.vocab
    for checkpoint, output, every in _evaluations(run_dir, split, steps, args.print_only):
        req = request_from_args(args, checkpoint, str(output), model_gin, vocab)
        req = dataclasses.replace(req, every_checkpoint=every)
        if args.print_only:
            print(command.shell_command(req))
            continue
        command.run_eval(req, timeout_s=args.timeout_s)
        print_summary(output / "inference_eval", split)
    return 0


def _evaluations(
    run_dir: Path, split: str, steps: list[int], dry: bool
) -> list[tuple[str, Path, bool]]:
    """(checkpoint or folder of checkpoints, EVAL_OUTPUT_DIR, every_checkpoint) per t5x.eval:
    one for all ``steps`` of a local run (a folder of links to them), else one per step; none
    when every step already has its results."""
    if not steps:
        return []
    if len(steps) == 1 or "://" in str(run_dir):
        return [
            (str(run_dir / f"checkpoint_{s}"), run_dir / "eval" / f"{split}_checkpoint_{s}", False)
            for s in steps
        ]
    output = run_dir / "eval" / f"{split}_checkpoints_{'_'.join(str(s) for s in steps)}"
    links = output / "checkpoints"
    if not dry:
        links.mkdir(parents=True, exist_ok=True)
        for step in steps:
            link = links / f"checkpoint_{step}"
            if not link.is_symlink():
                link.symlink_to((run_dir / f"checkpoint_{step}").resolve(), True)
        for done in output.glob("eval.*.ckpt"):  # T5X's list of evaluated ones: redo them all
            done.unlink()
    return [(str(links), output, True)]
