"""``t5spec align``: teacher sample JSONL → aligned TFRecord shards for distillation.

Example::

    t5spec align --teacher_samples='teacher/gsm8k_train-*.jsonl' --output=aligned/ \\
        --vocab=../shared/data/t5_vocab/spiece.model

Re-running the same command skips every sample already aligned or rejected (only with the
same options: another config, or a directory holding another run's data, is refused). Prints
one summary line at the end. Bad input exits with status 2 (``--skip_invalid`` counts it
instead and lists it in ``<output>/rejects.jsonl``).

    t5spec align verify aligned/ [--sample N | --all]

checks an aligned dataset against its ``manifest.json`` (t5spec.align.verify): exit 0 when it
matches, 1 on a mismatch (each named on stderr), 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="align_command", metavar="{verify}")
    verify = sub.add_parser("verify", help="check an aligned dataset against its manifest")
    verify.add_argument("dir", metavar="DIR", help="an aligned dataset (t5spec align --output)")
    verify.add_argument("--sample", type=int, default=100,
                        help="records to decode and check, evenly spread (default 100)")
    verify.add_argument("--all", action="store_true", help="decode and check every record")
    parser.add_argument("--teacher_samples",
                        help="(required) a teacher store directory (t5spec teacher sample "
                        "--output), a JSONL file of TeacherSample records, or a glob of shards")
    parser.add_argument("--output", help="(required) output directory for the shards")
    parser.add_argument("--vocab", default=None,
                        help="T5 spiece.model (default: <data_dir>/t5_vocab/spiece.model)")
    parser.add_argument("--data_dir", default=None, help="raw data root ($T5SPEC_DATA_DIR)")
    parser.add_argument("--paper_compat", action="store_true",
                        help="reproduce the authors' alignment exactly (see t5spec.align.transfer)")
    parser.add_argument("--k", type=int, default=5, help="stored top-k row width (1..20)")
    parser.add_argument("--prefix", default="gsm8k_train", help="shard name prefix")
    parser.add_argument("--records_per_shard", type=int, default=5000)
    parser.add_argument("--batch_size", type=int, default=256, help="samples per compiled DP call")
    parser.add_argument("--include_incorrect", action="store_true",
                        help="also align valid samples whose answer is wrong")
    parser.add_argument("--skip_invalid", action="store_true",
                        help="count bad samples and list them in rejects.jsonl instead of failing")
    parser.add_argument("--teacher_encoding", default="p50k_base",
                        help="tiktoken encoding for samples that carry only text")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")


def run_verify(args: argparse.Namespace) -> int:
    from t5spec.align.verify import verify

    report = verify(args.dir, sample=0 if args.all else args.sample)
    for problem in report.problems:
        print(f"t5spec align verify: MISMATCH {problem}", file=sys.stderr)
    status = "OK" if not report.problems else f"{len(report.problems)} mismatch(es)"
    print(f"t5spec align verify: {status}: {report.shards} shard(s), {report.records} "
          f"record(s), {report.checked} decoded and checked in {args.dir}")
    return 1 if report.problems else 0


def _summary(stats, args: argparse.Namespace) -> str:
    mode = "paper_compat" if args.paper_compat else "default"
    line = (
        f"t5spec align: {stats.aligned} aligned, {stats.already_done} already done, "
        f"{stats.skipped_filter} not valid+correct, {stats.rejected} rejected by mode, "
        f"{stats.invalid} invalid; {stats.shards} new shard(s) in {args.output}; "
        f"teacher distribution on {100 * stats.coverage:.1f}% of {stats.positions} T5 "
        f"positions ({mode})"
    )
    if stats.duplicates:
        line += f"; {stats.duplicates} identical duplicate record(s) skipped"
    if stats.torn_lines:
        line += f"; skipped torn last line(s) (no newline): {', '.join(stats.torn_lines)}"
    return line


def run(args: argparse.Namespace) -> int:
    if args.align_command == "verify":
        return run_verify(args)
    missing = [f"--{n}" for n in ("teacher_samples", "output") if not getattr(args, n)]
    if missing:
        print(f"t5spec align: error: the following arguments are required: "
              f"{', '.join(missing)}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    from t5spec import paths
    from t5spec.align.aligner import AlignConfig, Aligner
    from t5spec.align.pipeline import AlignRun, input_files
    from t5spec.align.vocab import T5Vocab

    input_files(args.teacher_samples)  # fail fast (exit 2) before loading anything heavy
    vocab = T5Vocab(args.vocab or paths.t5_vocab_path(args.data_dir))
    config = AlignConfig(paper_compat=args.paper_compat, k=args.k)
    aligner = Aligner(vocab, config, teacher_encoding=args.teacher_encoding)
    job = AlignRun(aligner, args.output, prefix=args.prefix,
                   records_per_shard=args.records_per_shard, batch_size=args.batch_size,
                   include_incorrect=args.include_incorrect, skip_invalid=args.skip_invalid,
                   warn=lambda msg: print(f"t5spec align: warning: {msg}", file=sys.stderr))
    with tqdm(desc="align", unit=" samples", disable=args.no_progress, file=sys.stderr) as bar:
        stats = job.run(args.teacher_samples, progress=bar.update)
    print(_summary(stats, args))
    return 0
