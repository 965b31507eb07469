"""Self-consistency on test: ``python -m t5spec.lab.vote_eval``.

A trained student answers the first ``--examples`` test problems of each math slot
(``gsm8k``, ``multiarith``, ``asdiv``, ``svamp``: the items ``t5x.eval`` scores, in its order
and with its ids) ``--samples`` times each, sampling at ``--temperature`` (top-k
``--top_k``), and its answer is the majority vote of those samples (Wang et al. 2023, through
:func:`t5spec.evaluate.student_inference.answer`; answers extracted as the evaluation tasks
do). ``--samples=1 --temperature=0`` is greedy: the control (on a 1.44M lab student it scored
400 of 400 GSM8K-slot items as ``t5x.eval`` did; float rounding of other padding shapes can
change a late token of a degenerate chain). Modes: ``zs_cot`` (the zero-shot CoT input of
the ``*_zs_cot`` tasks, up to ``--max_new_tokens``) and ``label`` (distilling step-by-step's
label prefix, at most ``LABEL_MAX_NEW_TOKENS``).

Writes into ``--output_dir`` (as ``t5x.eval`` with t5spec's loggers does, so the lab's report
reads it like any cell)::

    inference_eval/predictions/t5spec_eval_<slot>_<mode>_vote-test-<step>.jsonl
        {id, benchmark, mode, split, bbh_task, input, outputs, votes, output, extracted, gold,
         correct}
    inference_eval/results.jsonl   {step, task, benchmark, mode, split, column, num_examples,
                                    metrics: {accuracy}}
    inference_cost.json            the GSM8K slot's cost (every sample's tokens count) and
                                   the vote's samples, temperature, top_k, seed

Each file is written whole to ``<name>.tmp`` and renamed; an existing ``--output_dir`` that
already holds predictions is refused (exit 2) unless ``--overwrite``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from t5spec.errors import InputError

MODES = ("zs_cot", "label")
SLOTS = ("gsm8k", "multiarith", "asdiv", "svamp")


@dataclasses.dataclass(frozen=True)
class Vote:
    """How each test answer is drawn: ``samples`` chains at ``temperature`` (top-k ``top_k``,
    0: the whole vocabulary), the majority answer kept; batch j samples with ``seed + j``."""

    samples: int = 5
    temperature: float = 0.7
    top_k: int = 40
    seed: int = 0

    def validate(self) -> None:
        """ValueError unless greedy with one sample, or sampling with ≥ 1 samples."""
        if self.samples < 1 or self.temperature < 0 or self.top_k < 0:
            raise ValueError(f"vote: samples >= 1, temperature >= 0, top_k >= 0; got {self}")
        if self.samples > 1 and self.temperature == 0:
            raise ValueError("vote: several samples need temperature > 0 (greedy gives "
                             "identical chains)")


def _inputs(mode: str, questions: Sequence[str], data_dir: str) -> tuple[list[str], int | None]:
    """The model inputs of ``mode`` and its decode cap (None: ``--max_new_tokens``)."""
    from t5spec.data import formats
    from t5spec.tasks import stepbystep_names as sbs

    if mode == "label":
        return [sbs.DEFAULT_LABEL_PREFIX + q for q in questions], sbs.LABEL_MAX_NEW_TOKENS
    return [formats.build_eval_input(q, "zero_shot_cot", data_dir) for q in questions], None


def _mode_name(mode: str) -> str:
    """The predictions' ``mode`` field: ``zs_cot_vote``, ``sbs_label_vote``."""
    return f"{'sbs_label' if mode == 'label' else mode}_vote"


def evaluate_slot(decoder, vocabulary, slot: str, mode: str, vote: Vote, *, data_dir: str,
                  examples: int, max_new_tokens: int, batch_size: int) -> tuple[list[dict], dict]:
    """(prediction records, cost) of one slot's first ``examples`` test problems."""
    from t5spec.data import math_datasets
    from t5spec.data.answers import format_number
    from t5spec.evaluate import student_inference as si
    from t5spec.models.decoding import SamplingParams

    rows = math_datasets.load(slot, "test", data_dir)[:examples]
    inputs, cap = _inputs(mode, [r.question for r in rows], data_dir)
    sampling = SamplingParams(max_new_tokens=cap or max_new_tokens, temperature=vote.temperature,
                              top_k=vote.top_k if vote.temperature > 0 else 0,
                              num_alternatives=0, seed=vote.seed)
    out = si.answer(decoder, vocabulary, inputs, sampling, num_samples=vote.samples,
                    batch_size=batch_size)
    name = _mode_name(mode)
    records = []
    for i, row in enumerate(rows):
        answer = out.answers[i]
        records.append({
            "id": row.id, "benchmark": slot, "mode": name, "split": "test", "bbh_task": "",
            "input": inputs[i], "outputs": list(out.outputs[i]),
            "votes": [None if a is None else format_number(a) for a in out.sample_answers[i]],
            "output": out.outputs[i][0], "extracted": None if answer is None
            else format_number(answer), "gold": format_number(row.answer),
            "correct": answer is not None and answer == row.answer})  # fmt: skip
    cost = out.cost
    return records, {"mode": name, "answers": cost.answers,
                     "generated_tokens": cost.generated_tokens, "wall_seconds": cost.wall_seconds,
                     "tokens_per_answer": cost.tokens_per_answer,
                     "seconds_per_100_answers": cost.seconds_per_100_answers,
                     "accuracy": out.accuracy([r.answer for r in rows])}  # fmt: skip


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def run(checkpoint: str, vocab: str, data_dir: str, mode: str, vote: Vote, *, output_dir: str,
        step: int, examples: int, max_new_tokens: int, batch_size: int,
        slots: Sequence[str] = SLOTS) -> dict[str, float]:  # fmt: skip
    """Evaluates every slot and writes ``output_dir``'s files; accuracy per column."""
    from t5spec.lab.inference_cost import SentencePieceVocab
    from t5spec.models.decoding import Decoder

    vocabulary = SentencePieceVocab(vocab)
    decoder = Decoder.from_checkpoint(checkpoint, eos_id=vocabulary.eos_id)
    out = Path(output_dir) / "inference_eval"
    results, accuracy = [], {}
    for slot in slots:
        records, cost = evaluate_slot(decoder, vocabulary, slot, mode, vote, data_dir=data_dir,
                                      examples=examples, max_new_tokens=max_new_tokens,
                                      batch_size=batch_size)  # fmt: skip
        name = cost["mode"]
        task = f"t5spec_eval_{slot}_{name}"
        _write(out / "predictions" / f"{task}-test-{step:06d}.jsonl",
               "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
        column = f"{slot}/{name}"
        accuracy[column] = cost["accuracy"]
        results.append({"step": step, "task": task, "benchmark": slot, "mode": name,
                        "split": "test", "column": column, "num_examples": len(records),
                        "metrics": {"accuracy": cost["accuracy"]}})  # fmt: skip
        if slot == "gsm8k":
            _write(Path(output_dir) / "inference_cost.json", json.dumps(
                {**cost, "checkpoint": checkpoint, "batch_size": batch_size,
                 "max_new_tokens": max_new_tokens, **dataclasses.asdict(vote)}, indent=1) + "\n")
    _write(out / "results.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in results))
    return accuracy


def _step(checkpoint: str) -> int:
    name = Path(checkpoint.rstrip("/")).name
    if not name.startswith("checkpoint_") or not name[11:].isdigit():
        raise InputError(checkpoint, "expected a T5X checkpoint_<step> directory",
                         field="--checkpoint")
    return int(name[11:])


def main(argv: Sequence[str] | None = None) -> int:
    from t5spec.lab.inference_cost import student_parser

    parser = student_parser("python -m t5spec.lab.vote_eval", __doc__.splitlines()[0], MODES,
                            "data root (the math test splits)")
    parser.add_argument("--samples", type=int, default=Vote.samples)
    parser.add_argument("--temperature", type=float, default=Vote.temperature)
    parser.add_argument("--top_k", type=int, default=Vote.top_k)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", type=int, required=True, help="test problems per slot")
    parser.add_argument("--max_new_tokens", type=int, default=256, help="zs_cot decode budget")
    parser.add_argument("--batch_size", type=int, default=32, help="rows per decode batch")
    parser.add_argument("--slots", default=",".join(SLOTS), help="comma-separated math slots")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--overwrite", action="store_true", help="replace earlier predictions")
    args = parser.parse_args(argv)
    vote = Vote(args.samples, args.temperature, args.top_k, args.seed)
    slots = [s for s in args.slots.split(",") if s]
    try:
        vote.validate()
        if args.examples < 1 or args.batch_size < 1 or args.max_new_tokens < 1:
            raise ValueError("--examples, --batch_size and --max_new_tokens must be >= 1")
        if not slots or set(slots) - set(SLOTS):
            raise ValueError(f"--slots: choose from {', '.join(SLOTS)}; got {args.slots!r}")
        step = _step(args.checkpoint)
        for flag, path, ok in (("--checkpoint", args.checkpoint, Path.is_dir),
                               ("--vocab", args.vocab, Path.is_file),
                               ("--data_dir", args.data_dir, Path.is_dir)):
            if not ok(Path(path)):
                raise InputError(path, "does not exist", field=flag)
        earlier = Path(args.output_dir) / "inference_eval" / "predictions"
        if not args.overwrite and earlier.is_dir() and any(earlier.iterdir()):
            raise InputError(earlier, "holds earlier predictions; pass --overwrite to replace "
                             "them")  # fmt: skip
    except (ValueError, InputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    accuracy = run(args.checkpoint, args.vocab, args.data_dir, args.mode, vote,
                   output_dir=args.output_dir, step=step, examples=args.examples,
                   max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, slots=slots)
    print(", ".join(f"{k} {v:.3f}" for k, v in accuracy.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
