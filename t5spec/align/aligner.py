"""Teacher samples → :class:`~t5spec.align.store.AlignedSample`: validate, tokenize, DP, transfer.

Two phases so a caller can batch the compiled DP over many samples and still handle bad input
per sample: :meth:`Aligner.prepare` (per sample; raises InputError or Rejected) and
:meth:`Aligner.finish` (one compiled DP call for the whole batch).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np

from t5spec.align import dp
from t5spec.align.store import AlignedSample
from t5spec.align.transfer import AlignConfig, Prepared, Rejected, prepare, transfer
from t5spec.align.validate import check_mass, validate_sample
from t5spec.align.vocab import T5Vocab
from t5spec.errors import InputError
from t5spec.teacher.record import TeacherSample

__all__ = ["AlignConfig", "Aligner", "Job", "Rejected"]


@dataclasses.dataclass(frozen=True)
class Job:
    """A validated, tokenized sample waiting for the DP."""

    sample: TeacherSample
    prepared: Prepared
    t5_ids: np.ndarray
    t5_pieces: list[str]


class Aligner:
    """Aligns teacher samples onto one T5 vocabulary under one :class:`AlignConfig`.

    ``teacher_encoding``: the tiktoken encoding used to re-tokenize samples that carry only
    text (``p50k_base`` for Codex-family teachers).
    """

    def __init__(self, vocab: T5Vocab, config: AlignConfig = AlignConfig(),
                 teacher_encoding: str = "p50k_base"):
        if not 1 <= config.k <= 20:
            raise InputError(None, f"k must be in 1..20, got {config.k}", field="k")
        self.vocab = vocab
        self.config = config
        self.teacher_encoding = teacher_encoding

    def prepare(self, sample: TeacherSample, source: str | os.PathLike | None = None,
                where: str | None = None) -> Job:
        """Validates and tokenizes one sample (InputError: bad input; Rejected: mode filter)."""
        where = where or f"sample {sample.key}"
        validate_sample(sample, source, where)
        if not sample.tokens:
            from t5spec.align.teacher_tokens import retokenize

            tokens = retokenize(sample.text, self.teacher_encoding)
            sample = dataclasses.replace(sample, tokens=tokens, top_logprobs=((),) * len(tokens),
                                         token_logprobs=())
        prep = prepare(sample, self.config)
        ids, pieces = self.vocab.encode(prep.target_text)
        if len(ids) == 0:
            raise Rejected("target text has no T5 tokens")
        if not self.config.paper_compat and (ids == self.vocab.unk_id).any():
            unk = self.vocab.unk_id
            bad = sorted(c for c in set(prep.target_text) if unk in self.vocab.encode(c)[0])
            raise InputError(source, f"T5 has no piece for {''.join(bad)!r} (would be <unk>)",
                             where=where, field="text")
        check_mass(sample, source, where)
        return Job(sample, prep, ids, pieces)

    def finish(self, jobs: Sequence[Job]) -> list[AlignedSample]:
        """Runs the compiled DP over all jobs at once and transfers the teacher rows."""
        paths = dp.align_batch([(j.prepared.teacher, j.t5_pieces) for j in jobs])
        out = []
        for job, path in zip(jobs, paths, strict=True):
            ids, probs, mask = transfer(job.prepared, job.t5_ids, job.t5_pieces, path,
                                        self.vocab, self.config)
            s = job.sample
            out.append(AlignedSample(
                key=s.key, question_id=s.question_id, sample_index=s.sample_index,
                question=s.question, gold=s.gold, target_text=job.prepared.target_text,
                targets=job.t5_ids, teacher_ids=ids, teacher_probs=probs, teacher_mask=mask,
            ))
        return out

    def align(self, samples: Sequence[TeacherSample]) -> list[AlignedSample]:
        """Aligns samples; raises on the first bad (InputError) or rejected sample."""
        return self.finish([self.prepare(s) for s in samples])
