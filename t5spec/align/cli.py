"""``t5spec align``: teacher sample JSONL → aligned TFRecord shards for distillation.

Example::

    t5spec align --teacher_samples='teacher/gsm8k_train-*.jsonl' --output=aligned/ \\
        --vocab=../shared/data/t5_vocab/spiece.model

Re-running the same command skips every sample already aligned or rejected. Prints one
summary line at the end. Bad input exits with status 2 (``--skip_invalid`` counts it instead
and lists it in ``<output>/rejects.jsonl``).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher_samples", required=True,
                        help="a teacher store directory (t5spec teacher sample --output), "
                        "a JSONL file of TeacherSample records, or a glob of shards")
    parser.add_argument("--output", required=True, help="output directory for the shards")
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


def run(args: argparse.Namespace) -> int:
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
                   include_incorrect=args.include_incorrect, skip_invalid=args.skip_invalid)
    with tqdm(desc="align", unit=" samples", disable=args.no_progress, file=sys.stderr) as bar:
        stats = job.run(args.teacher_samples, progress=bar.update)
    mode = "paper_compat" if args.paper_compat else "default"
    print(
        f"t5spec align: {stats.aligned} aligned, {stats.already_done} already done, "
        f"{stats.skipped_filter} not valid+correct, {stats.rejected} rejected by mode, "
        f"{stats.invalid} invalid; {stats.shards} new shard(s) in {args.output}; "
        f"teacher distribution on {100 * stats.coverage:.1f}% of {stats.positions} T5 "
        f"positions ({mode})"
    )
    return 0
