"""Typed records for the math benchmarks: one :class:`MathExample` per problem.

Every reader in :mod:`t5spec.data.math_datasets` returns these, whatever the source format
(GSM8K JSON Lines, SVAMP / MultiArith JSON arrays, ASDiv XML), so downstream code (teacher
sampling, SeqIO tasks, evaluation) sees one shape.

Ids name the *source record*, not the split it landed in: ``"<dataset>/<source>/<index>"`` with
``index`` the 0-based position in the original file and ``source`` the file's own split —
``train`` or ``test`` for GSM8K, and ``test`` for SVAMP, ASDiv and MultiArith (one file each,
all of it evaluation data in the paper). So ``gsm8k/train/9`` is the same problem whether it
was loaded as ``split="train"`` or ``split="paper_dev"``, and an id never changes when split
definitions do.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction


@dataclasses.dataclass(frozen=True)
class MathExample:
    """One math word problem with an exact numeric answer.

    Attributes:
      id: stable id ``"<dataset>/<source>/<index>"`` (see module docstring), e.g.
        ``"gsm8k/train/17"``, ``"svamp/test/3"``.
      dataset: ``"gsm8k"``, ``"multiarith"``, ``"asdiv"`` or ``"svamp"``.
      split: the split this record was loaded as (``"train"``, ``"dev"``, ``"test"``,
        ``"paper_dev"``).
      question: the problem text, whitespace-trimmed.
      answer: the exact gold answer (a Fraction; never compare floats).
      answer_text: the gold answer as written in the source (``"1,080"``, ``"51.0"``,
        ``"9 (apples)"``).
      rationale: GSM8K's reference solution without the ``#### N`` line and with the
        ``<<expr=result>>`` calculator annotations removed; None for the other datasets.
    """

    id: str
    dataset: str
    split: str
    question: str
    answer: Fraction
    answer_text: str
    rationale: str | None = None

    @property
    def index(self) -> int:
        """The 0-based position of this record in its source file."""
        return int(self.id.rsplit("/", 1)[1])


def make_id(dataset: str, source: str, index: int) -> str:
    """Builds the stable record id ``"<dataset>/<source>/<index>"``."""
    return f"{dataset}/{source}/{index}"
