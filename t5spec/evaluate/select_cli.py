"""``t5spec select``: name a run's best checkpoint under each dev rule; evaluate it on test.

Example::

    t5spec select --run=runs/small_kl --by=mas_dev            # evaluates on the test splits
    t5spec select --run=runs/small_kl --by=gsm8k_dev --print_only   # prints the t5x.eval line

Reads every ``results.jsonl`` of the run (dev = split ``dev``), prints the best step under
``gsm8k_dev``, ``mas_dev`` and ``bbh_dev`` (rules in :mod:`t5spec.evaluate.select`), writes
``RUN/selection.json`` and evaluates ``RUN/checkpoint_<step>`` of the ``--by`` rule into
``RUN/eval/test_checkpoint_<step>/`` (skipped when that evaluation already has results, unless
``--force``). Model size and vocabulary come from the run's ``config.gin`` unless given.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from t5spec.errors import InputError
from t5spec.evaluate import command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="the run directory (T5X MODEL_DIR)")
    parser.add_argument("--by", required=True, help="selection rule: gsm8k_dev, mas_dev, bbh_dev")
    parser.add_argument(
        "--mode",
        default="zs_cot",
        help="math prompting mode of the dev columns (zs_cot, ic_cot, zs_ao, ic_ao)",
    )
    parser.add_argument("--model", help="model size or .gin (default: from the run's config.gin)")
    parser.add_argument("--force", action="store_true", help="re-evaluate even if results exist")
    command.add_eval_arguments(parser)


def _print_selections(selections: dict, chosen: str) -> None:
    print(f"{'rule':<11} {'step':>10} {'dev score':>10} {'candidates':>11}  columns")
    for rule, sel in selections.items():
        mark = "*" if rule == chosen else " "
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


def _already_done(output: Path, step: int, split: str) -> bool:
    from t5spec.evaluate import results

    path = output / "inference_eval" / results.RESULTS_FILE
    return path.is_file() and any(
        r.step == step and r.split == split for r in results.read_results(path)
    )


def run(args: argparse.Namespace) -> int:
    from t5spec.evaluate import benchmarks, results, runinfo, select
    from t5spec.evaluate.cli import print_summary, request_from_args

    select.rule_columns(args.by, args.mode)  # unknown rule / mode: InputError before any work
    run_dir = Path(args.run)
    records = results.load_run(run_dir)
    dev = results.accuracy_table(records, "dev")
    if not dev:
        raise InputError(
            run_dir,
            "no dev results (split 'dev') in its results files; evaluate "
            "with split 'validation' during training (gin/infer_eval.gin)",
        )
    selections = select.select_all(dev, select.RULES, args.mode)
    _print_selections(selections, args.by)
    print(f"wrote {_write_selection(run_dir, selections, args.mode)}")
    chosen = selections[args.by]
    if chosen is None:
        select.select(dev, args.by, args.mode)  # raises the explanatory InputError
    info = runinfo.read_run_info(run_dir)
    model = args.model or info.model
    if model in (None, "unknown"):
        raise InputError(
            run_dir / "config.gin", "cannot tell the model size; pass --model", field="model"
        )
    checkpoint = run_dir / f"checkpoint_{chosen.step}"
    split = benchmarks.SEQIO_SPLITS[args.split]
    output = run_dir / "eval" / f"{split}_checkpoint_{chosen.step}"
    req = request_from_args(
        args, str(checkpoint), str(output), command.model_gin(model), args.vocab or info.vocab
    )
    if args.print_only:
        print(command.shell_command(req))
        return 0
    command.check_checkpoint(str(checkpoint))
    if _already_done(output, chosen.step, split) and not args.force:
        print(f"{output} already has {split} results for step {chosen.step} (--force redoes it)")
    else:
        command.run_eval(req, timeout_s=args.timeout_s)
    print_summary(output / "inference_eval", split)
    return 0
