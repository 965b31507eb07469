"""What answering costs a trained student: ``python -m t5spec.lab.inference_cost``.

Times :mod:`t5spec.evaluate.student_inference` on the first ``--examples`` GSM8K-slot test
questions of ``--data_dir`` in one mode and writes ``--output`` (JSON)::

    {"mode", "answers", "generated_tokens", "wall_seconds", "tokens_per_answer",
     "seconds_per_100_answers", "accuracy", "checkpoint", "batch_size", "max_new_tokens"}

Modes: ``label`` — distilling step-by-step's label prefix, greedy, at most
``LABEL_MAX_NEW_TOKENS`` tokens; ``rationale`` — its rationale prefix, then the answer, greedy,
up to ``--max_new_tokens``; ``zs_cot`` — the zero-shot CoT input the evaluation tasks
use, greedy, up to ``--max_new_tokens``; ``lab_teacher`` — the lab teacher's sampling prompt
(``paper_release/lib_prompt/lab_teacher.txt`` + the question, :mod:`t5spec.tasks.lab`'s
``t5spec_eval_*_lab_teacher`` inputs), greedy, up to ``--max_new_tokens``. Tokens include
EOS; seconds are wall time on this machine after one untimed compile (compare only runs timed
on the same machine).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

MODES = ("label", "rationale", "zs_cot", "lab_teacher")


class SentencePieceVocab:
    """The ``encode`` / ``decode`` / ``eos_id`` that student_inference needs, without SeqIO
    (no TensorFlow import): a SentencePiece file's ids are the T5 ids below the extra ids."""

    def __init__(self, path: str) -> None:
        import sentencepiece as spm

        self._sp = spm.SentencePieceProcessor(model_file=path)
        self.eos_id = self._sp.eos_id()

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(text)

    def decode(self, ids: Sequence[int]) -> str:
        return self._sp.decode([i for i in ids if i < self._sp.get_piece_size()])


def measure(checkpoint: str, vocab: str, data_dir: str, mode: str, examples: int,
            max_new_tokens: int, batch_size: int) -> dict:  # fmt: skip
    """Answers the questions in ``mode``; the cost and accuracy as a JSON-able dict."""
    from t5spec.data import formats, math_datasets
    from t5spec.evaluate import student_inference as si
    from t5spec.models.decoding import Decoder, SamplingParams
    from t5spec.tasks import stepbystep_names as stepbystep

    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from {MODES}")
    rows = math_datasets.load("gsm8k", "test", data_dir)[:examples]
    vocabulary = SentencePieceVocab(vocab)
    decoder = Decoder.from_checkpoint(checkpoint, eos_id=vocabulary.eos_id)
    questions = [r.question for r in rows]
    if mode == "label":
        out = si.answer_from_label(decoder, vocabulary, questions,
                                   prefix=stepbystep.DEFAULT_LABEL_PREFIX, batch_size=batch_size)
        max_new_tokens = stepbystep.LABEL_MAX_NEW_TOKENS
    elif mode == "rationale":
        out = si.answer_from_rationale(decoder, vocabulary, questions,
                                       prefix=stepbystep.DEFAULT_RATIONALE_PREFIX,
                                       max_new_tokens=max_new_tokens, batch_size=batch_size)
    else:
        from t5spec.lab.world import TEACHER_PROMPT_ID

        inputs = [formats.teacher_prompt(q, data_dir, TEACHER_PROMPT_ID) if mode == "lab_teacher"
                  else formats.build_eval_input(q, "zero_shot_cot", data_dir)
                  for q in questions]  # fmt: skip
        out = si.answer(decoder, vocabulary, inputs,
                        SamplingParams(max_new_tokens=max_new_tokens, num_alternatives=0),
                        batch_size=batch_size)
    cost = out.cost
    return {"mode": mode, "answers": cost.answers, "generated_tokens": cost.generated_tokens,
            "wall_seconds": cost.wall_seconds, "tokens_per_answer": cost.tokens_per_answer,
            "seconds_per_100_answers": cost.seconds_per_100_answers,
            "accuracy": out.accuracy([r.answer for r in rows]), "checkpoint": checkpoint,
            "batch_size": batch_size, "max_new_tokens": max_new_tokens}  # fmt: skip


def student_parser(prog: str, description: str, modes: Sequence[str],
                   data_help: str) -> argparse.ArgumentParser:  # fmt: skip
    """The arguments every student-answering command takes: checkpoint, vocabulary, data,
    answer mode."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--checkpoint", required=True, help="T5X checkpoint_<step> directory")
    parser.add_argument("--vocab", required=True, help="the model's SentencePiece model")
    parser.add_argument("--data_dir", required=True, help=data_help)
    parser.add_argument("--mode", choices=modes, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = student_parser("python -m t5spec.lab.inference_cost", __doc__.splitlines()[0],
                            MODES, "data root (gsm8k test questions)")
    parser.add_argument("--examples", type=int, default=20, help="questions timed")
    parser.add_argument("--max_new_tokens", type=int, default=256,
                        help="zs_cot / lab_teacher decode budget")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--output", required=True, help="JSON file to write")
    args = parser.parse_args(argv)
    result = measure(args.checkpoint, args.vocab, args.data_dir, args.mode, args.examples,
                     args.max_new_tokens, args.batch_size)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(f"{args.mode}: {result['tokens_per_answer']:.1f} tokens/answer, "
          f"{result['seconds_per_100_answers']:.2f} s/100 answers, "
          f"accuracy {result['accuracy']:.3f} (n={result['answers']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
