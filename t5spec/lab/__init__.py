"""The mini lab: a small, offline replica of the paper's experiment (issue 9).

This package builds the lab's data: a seeded math world (:mod:`t5spec.lab.world`), generated
BBH-format tasks (:mod:`t5spec.lab.generic`) and two tokenizers trained on that text
(:mod:`t5spec.lab.tokenizers`). :func:`build_data` writes all of it into one folder laid out
like ``shared/data`` — ``gsm8k/``, ``multiarith/``, ``asdiv/``, ``svamp/``, ``bbh/``,
``paper_release/`` (dev indices, teacher and evaluation prompts), ``t5_vocab/spiece.model``
(the student vocabulary) and ``teacher_vocab/teacher.model`` — so every downstream stage runs
unchanged with ``data_dir`` (or ``$T5SPEC_DATA_DIR``) pointing at it. Importing this package
is cheap; the modules load SentencePiece only when training.
"""

from __future__ import annotations

import os
from pathlib import Path

LAB_README = """\
# t5spec lab data (generated; seed {seed})

Synthetic stand-ins for the paper's benchmarks, written by `t5spec.lab.build_data` in the
layout of shared/data so the same readers load them (`data_dir=<this folder>`). The dataset
names are the slots they fill, not the real benchmarks. Every number of every solution step
is at most {max_value}.

- `gsm8k/`: in-distribution GSM8K-like problems, train.jsonl ({gsm8k_train}) + test.jsonl
  ({gsm8k_test}), gold CoT + `#### N`.
- `multiarith/MultiArith.json` ({multiarith}), `asdiv/ASDiv.xml` ({asdiv}),
  `svamp/SVAMP.json` ({svamp}): out-of-distribution families in those files' formats.
- `bbh/`: {n_tasks} generated BBH-format tasks ({bbh} examples each) + {shots}-shot CoT prompts.
- `paper_release/`: `gsm8k_validation_index.json` (200 train indices) and
  `lib_prompt/prompt_complex.txt` (teacher) / `prompt_simple_4_cases.txt` (evaluation).
- `t5_vocab/spiece.model`: student SentencePiece (unigram, pad 0, eos 1, unk 2).
- `teacher_vocab/teacher.model`: teacher SentencePiece (BPE, GPT-style spaces).
"""

PathLike = str | os.PathLike


def build_data(
    out_dir: PathLike, seed: int = 0, sizes=None, bbh_examples: int = 100, bbh_shots: int = 3
) -> list[Path]:
    """Writes the whole lab data folder (see module docstring); returns the paths written.

    Args:
      out_dir: the folder to fill (created if missing; files there are overwritten).
      seed: the world and task seed; same seed, same bytes.
      sizes: a :class:`t5spec.lab.world.WorldSizes` (default sizes if None).
      bbh_examples: examples per generated BBH task (> 50, the BBH dev size).
      bbh_shots: exemplars in each task's ``cot-prompts`` file (BBH has 3).
    """
    import dataclasses

    from t5spec.lab import generic, tokenizers, world

    out = Path(out_dir)
    the_world = world.generate_world(seed, sizes)
    written = world.write_world(the_world, out)
    written += generic.write_bbh(out / "bbh", bbh_examples, seed, bbh_shots)
    texts = [*world.world_text(the_world), *generic.generic_text(bbh_examples, seed, bbh_shots)]
    written += tokenizers.write_tokenizers(texts, out).values()
    counts = {**dataclasses.asdict(sizes or world.WorldSizes())}
    readme = out / "README.md"
    readme.write_text(LAB_README.format(seed=seed, bbh=bbh_examples,
                                        n_tasks=len(generic.LAB_BBH_TASKS), shots=bbh_shots,
                                        **counts))
    return [*written, readme]
