"""Checks a TeacherSample before alignment: bad input is an InputError, never a wrong alignment.

Every error names the source file, the sample (``where``) and the field.
"""

from __future__ import annotations

import math
import os

from t5spec.errors import InputError
from t5spec.teacher.record import TeacherSample

MAX_TOP_K = 20
# How far above 1 the probabilities of one position may sum (logprobs arrive rounded).
PROB_SUM_TOL = 1e-3


def _first_difference(a: str, b: str) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def _check_logprob(lp: object, source, where: str, field: str, pos: str) -> None:
    if isinstance(lp, bool) or not isinstance(lp, (int, float)):
        raise InputError(source, f"{pos}: logprob {lp!r} is not a number", where=where, field=field)
    if not math.isfinite(lp):
        raise InputError(source, f"{pos}: logprob {lp!r} is not finite", where=where, field=field)
    if lp > 0:
        raise InputError(source, f"{pos}: logprob {lp!r} > 0", where=where, field=field)


_SCALARS = (("question_id", str), ("sample_index", int), ("question", str), ("gold", str),
            ("text", str), ("valid", bool), ("correct", bool))


def _check_scalars(sample: TeacherSample, source, where: str) -> None:
    """Field types, for samples built in code (JSON input is checked by align.inputs)."""
    for name, kind in _SCALARS:
        value = getattr(sample, name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise InputError(source, f"{value!r} is not {kind.__name__}", where=where,
                             field=name)
    if sample.sample_index < 0:
        raise InputError(source, f"negative index {sample.sample_index}", where=where,
                         field="sample_index")


def validate_sample(
    sample: TeacherSample, source: str | os.PathLike | None, where: str | None = None
) -> None:
    """Raises InputError when the sample cannot be aligned faithfully.

    Checks: field types (:data:`_SCALARS`); non-empty text; tokens are strings joining to
    exactly the text (or absent, with no top-k either: then the aligner re-tokenizes the
    text); one top-k list per token, each with at most 20 ``[string, logprob]`` entries;
    ``token_logprobs`` empty or one per token (``None`` allowed); every logprob finite and
    ≤ 0. (:func:`check_mass`, the sum of a position's probabilities, runs after
    tokenization, in :meth:`Aligner.prepare`.)
    """
    where = where or f"sample {sample.key}"
    _check_scalars(sample, source, where)
    if not sample.text:
        raise InputError(source, "empty text", where=where, field="text")
    n = len(sample.tokens)
    if n == 0 and sample.top_logprobs:
        raise InputError(source, "top_logprobs given but no tokens", where=where, field="tokens")
    if len(sample.top_logprobs) != n:
        raise InputError(
            source, f"{len(sample.top_logprobs)} top-k lists for {n} tokens",
            where=where, field="top_logprobs",
        )
    if len(sample.token_logprobs) not in (0, n):
        raise InputError(
            source, f"{len(sample.token_logprobs)} token_logprobs for {n} tokens",
            where=where, field="token_logprobs",
        )
    for i, tok in enumerate(sample.tokens):
        if not isinstance(tok, str) or not tok:
            raise InputError(source, f"token {i} is {tok!r}", where=where, field="tokens")
    joined = "".join(sample.tokens)
    if n and joined != sample.text:
        at = _first_difference(joined, sample.text)
        raise InputError(
            source, f"tokens do not join to the text (first difference at character {at})",
            where=where, field="tokens",
        )
    for i, lp in enumerate(sample.token_logprobs):
        if lp is not None:
            _check_logprob(lp, source, where, "token_logprobs", f"token {i}")
    for i, alts in enumerate(sample.top_logprobs):
        if len(alts) > MAX_TOP_K:
            raise InputError(
                source, f"token {i}: {len(alts)} alternatives (> {MAX_TOP_K})",
                where=where, field="top_logprobs",
            )
        for entry in alts:
            if len(entry) != 2 or not isinstance(entry[0], str):
                raise InputError(
                    source, f"token {i}: entry {entry!r} is not [string, logprob]",
                    where=where, field="top_logprobs",
                )
            _check_logprob(entry[1], source, where, "top_logprobs", f"token {i}")


def check_mass(sample: TeacherSample, source, where: str) -> None:
    """Raises InputError where a position's probabilities sum above ``1 + PROB_SUM_TOL``.

    Summed per token: the sampled token and its alternatives, the first of equal strings
    (as the aligner reads them). Entries of one distribution cannot sum above 1, so such a
    sample is bad input in both modes — rejected, not renormalized: ``paper_compat`` stores
    the probabilities as given, and the store's "each row ≤ 1" contract rests on this check.
    """
    for i, alts in enumerate(sample.top_logprobs):
        first: dict[str, float] = {}
        if sample.token_logprobs and sample.token_logprobs[i] is not None:
            first[sample.tokens[i]] = sample.token_logprobs[i]
        for t, lp in alts:
            first.setdefault(t, lp)
        total = sum(math.exp(lp) for lp in first.values())
        if total > 1 + PROB_SUM_TOL:
            raise InputError(
                source, f"token {i}: the sampled token and its alternatives have probabilities "
                f"summing to {total:.4f} > 1 (not a distribution)", where=where,
                field="top_logprobs",
            )
