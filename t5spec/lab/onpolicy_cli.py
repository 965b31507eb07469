"""The on-policy round's glue steps as commands, for runs outside the lab (a real API teacher,
``gin/flant5_<size>_onpolicy.gin``'s header gives the whole sequence)::

    python -m t5spec.lab.onpolicy_cli prompts --data_dir=DATA --questions=7473 \\
        --samples_per_question=4 --output=RUN/round1/prompts.jsonl
    python -m t5spec.lab.onpolicy_cli texts --prompts=RUN/round1/prompts.jsonl \\
        --predictions=RUN/round1/samples/t5spec_onpolicy_prompts-predict.jsonl-00000-of-00001 \\
        --output=RUN/round1/texts.jsonl
    python -m t5spec.lab.onpolicy_cli mix --on_policy=RUN/round1/aligned \\
        --off_policy='gs://B/aligned/gsm8k_train-*.tfrecord*' --rate=0.5 --seed=0 \\
        --output=RUN/round1/mixed

The same functions the lab's stages call (:mod:`t5spec.lab.onpolicy`). Exit status 2 on bad
input (a missing file, a rate outside (0, 1]).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from t5spec.errors import InputError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m t5spec.lab.onpolicy_cli", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="step", required=True)
    prompts = sub.add_parser("prompts", help="the student's prompts: each question m times")
    prompts.add_argument("--data_dir", required=True, help="raw data root (gsm8k/train.jsonl)")
    prompts.add_argument("--questions", type=int, required=True, help="the first N questions")
    prompts.add_argument("--samples_per_question", type=int, required=True)
    prompts.add_argument("--output", required=True)
    texts = sub.add_parser("texts", help="t5x.infer predictions -> teacher score input")
    texts.add_argument("--prompts", required=True)
    texts.add_argument("--predictions", required=True)
    texts.add_argument("--output", required=True)
    mix = sub.add_parser("mix", help="on-policy + off-policy aligned shards at rate λ")
    mix.add_argument("--on_policy", required=True, help="aligned shards (glob or directory)")
    mix.add_argument("--off_policy", required=True, help="aligned shards (glob or directory)")
    mix.add_argument("--rate", type=float, required=True, help="λ: on-policy fraction, (0, 1]")
    mix.add_argument("--seed", type=int, default=0)
    mix.add_argument("--output", required=True)
    return p


def run(args: argparse.Namespace) -> str:
    """Runs one step; returns its summary line. InputError on bad input."""
    from t5spec.lab import onpolicy, onpolicy_mix
    from t5spec.lab.config import LabConfig

    if args.step == "prompts":
        ocfg = onpolicy.OnPolicyConfig(questions=args.questions,
                                       samples_per_question=args.samples_per_question)
        ocfg.validate(ocfg.rounds)
        n = onpolicy.write_prompts(LabConfig(), ocfg, Path(args.data_dir), Path(args.output))
        return f"{n} prompts in {args.output}"
    if args.step == "texts":
        for name in ("prompts", "predictions"):
            if not Path(getattr(args, name)).is_file():
                raise InputError(getattr(args, name), "file not found", field=name)
        written, left = onpolicy.texts_from_predictions(
            Path(args.predictions), Path(args.prompts), Path(args.output))
        return f"{written} texts in {args.output} ({left} samples left out)"
    if not 0.0 < args.rate <= 1.0:
        raise InputError(None, f"--rate must be in (0, 1], got {args.rate}", field="rate")
    summary = onpolicy_mix.mix(args.on_policy, args.off_policy, Path(args.output), args.rate,
                               args.seed)  # fmt: skip
    return f"{summary['on_policy']} on-policy + {summary['off_policy']} off-policy records"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        print(run(args))
    except (InputError, ValueError) as e:
        print(f"onpolicy_cli {args.step}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
