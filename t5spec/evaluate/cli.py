"""``t5spec eval``: evaluate one checkpoint on the math and BBH benchmarks via ``t5x.eval``.

Examples::

    # a checkpoint of a run: results go to runs/small_kl/eval/test_checkpoint_12000/
    t5spec eval --checkpoint=runs/small_kl/checkpoint_12000 --model=small
    # a baseline (FlanT5 before specialization), dev and test, into its own run directory
    t5spec eval --checkpoint=gs://t5-data/pretrained_models/t5x/flan_t5_small/checkpoint_1198000 \\
        --model=small --run=runs/flant5_small_before --split=validation
    # just print the T5X command
    t5spec eval --checkpoint=... --model=small --print_only

The run directory (``--run``, default: the checkpoint's parent when it is a T5X model dir)
collects every evaluation under ``eval/<split>_<checkpoint>/``, where ``t5spec select`` and
``t5spec report`` find them. A checkpoint outside the run directory makes it a baseline run
(recorded in ``run_info.json``).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from t5spec.errors import InputError
from t5spec.evaluate import command
from t5spec.paths import absolute_local

_STEP_DIR = re.compile(r"checkpoint_(\d+)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="T5X checkpoint dir (checkpoint_N)")
    parser.add_argument(
        "--model",
        required=True,
        help="model size (tiny, small, base, large, xl, xxl) or a model .gin",
    )
    parser.add_argument("--run", help="run directory to file the results under")
    parser.add_argument("--output", help="EVAL_OUTPUT_DIR (default: RUN/eval/<split>_<ckpt>)")
    command.add_eval_arguments(parser)


def _run_dir(checkpoint: str, run: str | None) -> tuple[Path, bool]:
    """(run directory, whether the checkpoint is outside it, i.e. a baseline)."""
    ckpt = Path(checkpoint.rstrip("/"))
    parent_is_run = "://" not in checkpoint and _STEP_DIR.fullmatch(ckpt.name) is not None
    if run is None:
        if not parent_is_run:
            raise InputError(
                checkpoint,
                "pass --run (or --output): the checkpoint is not a checkpoint_<step> dir of a run",
                field="run",
            )
        return ckpt.parent, False
    run_path = Path(run)
    inside = parent_is_run and ckpt.parent.resolve() == run_path.resolve()
    return run_path, not inside


def request_from_args(
    args: argparse.Namespace, checkpoint: str, output: str, model_gin: str, vocab: str | None
) -> command.EvalRequest:
    return command.EvalRequest(
        checkpoint=checkpoint,
        model_gin=model_gin,
        output_dir=output,
        mixture=command.mixture_for(args.benchmarks),
        split=args.split,
        max_examples=args.max_examples,
        max_decode_length=args.max_decode_length,
        batch_size=args.batch_size,
        vocab=vocab,
        data_dir=args.data_dir,
        bindings=tuple(args.gin),
    )


def print_summary(inference_dir: Path, split_name: str) -> None:
    """Prints ``column  accuracy  n`` for what an evaluation wrote."""
    from t5spec.evaluate import results

    path = inference_dir / results.RESULTS_FILE
    if not path.is_file():
        print(f"no results written to {path}")
        return
    for r in results.read_results(path):
        print(
            f"{r.column:<20} {split_name:<10} step {r.step:<8} accuracy {r.accuracy:.4f} "
            f"(n={r.num_examples})"
        )


def run(args: argparse.Namespace) -> int:
    from t5spec.evaluate import benchmarks, runinfo

    args.checkpoint = absolute_local(args.checkpoint)  # relative paths break Orbax / t5x.eval
    gin_path = command.model_gin(args.model)
    if args.output:
        output = Path(args.output)
        run_dir, baseline = None, False
    else:
        run_dir, baseline = _run_dir(args.checkpoint, args.run)
        ckpt_name = Path(args.checkpoint.rstrip("/")).name
        output = run_dir / "eval" / f"{benchmarks.SEQIO_SPLITS[args.split]}_{ckpt_name}"
    req = request_from_args(args, args.checkpoint, str(output), gin_path, args.vocab)
    command.check_checkpoint(args.checkpoint)  # also with --print_only: no command for nothing
    if args.print_only:
        print(command.shell_command(req))
        return 0
    if run_dir is not None and baseline:
        runinfo.write_run_info(
            run_dir,
            stage="baseline",
            model=Path(gin_path).stem.removeprefix("flant5_"),
            checkpoint=args.checkpoint,
        )
    inference_dir = command.run_eval(req, timeout_s=args.timeout_s)
    print_summary(inference_dir, benchmarks.SEQIO_SPLITS[args.split])
    return 0
