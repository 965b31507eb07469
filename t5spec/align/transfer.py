"""Which teacher tokens and text become the student target, and how top-k moves onto T5 ids.

Two modes (:class:`AlignConfig`):

``paper_compat=True`` reproduces the authors' ``transform_step_probs``
(``notebooks/dev_align_codex_to_flan_t5_dtw.ipynb``) exactly:
  * a sample must start with the tokens ``" step", "\\n"`` and end with
    ``("\\n" | "\\n\\n"), "\\n"``; those four are dropped (others are rejected);
  * the target text is their stored prediction: the completion after ``" step"``, cut after
    the first line containing ``"answer is"``, with every ``": "`` removed (a side effect of
    their ``''.join(pred.split(': ')[1:])``), stripped;
  * a T5 position gets the teacher's entries iff the DTW maps it to exactly one teacher token
    and the piece equals that token with ``" "`` → ``"▁"``; the entries are the sampled token
    then the API's top-k in API order, each kept if ``" "`` → ``"▁"`` is a T5 piece, the first
    of equal pieces kept, probabilities as given (not renormalized). Everything else is
    one-hot.

The default mode keeps the DP and that matching idea, and changes what loses information:
  1. *Word-initial tokens match.* T5's normalizer turns a newline into a space and adds one
     at the start of the text, so every line- and sequence-initial piece carries ``▁``
     (``▁She``) while the teacher's token does not (``She`` after ``"\\n"``). The paper counts
     these as mismatches (one-hot); here a teacher string is compared by its T5 surface —
     surrounding whitespace removed, ``▁`` prefixed when it starts a word (leading whitespace,
     or the previous token ended in whitespace, or sequence start). Alternatives at that
     position use the same surface, so ``"The"`` and ``" The"`` after a newline both mean
     ``▁The``. Where T5 spells a word as a lone ``▁`` then the piece (`` x`` → ``▁``, ``x``),
     the piece after the lone ``▁`` is compared without the marker.
  2. *Duplicates are summed, not first-kept*: two teacher strings with one T5 surface are the
     same student event, so their probabilities add.
  3. *Renormalized over the kept support.* The stored rows then are a distribution over the
     ≤ k ids, which is what a sparse KL over k gathered ids assumes; unnormalized rows would
     scale each position's loss by the mass the teacher's top-k happened to cover.
  4. ``<|endoftext|>`` among the alternatives means "stop here", i.e. T5's ``</s>`` id.
  5. If the sampled token has a logprob but is missing from the API's top-k (the API may
     omit it), it is still an entry; if its logprob is unknown and it is missing, it gets the
     mass the top-k leaves over.
  6. *Whitespace tokens do not break a match.* A teacher ``"\n"`` has no T5 counterpart (the
     normalizer folds it into the next piece's ``▁``), but the DP must map it somewhere, usually
     onto the ``.`` before it, which the paper then counts as one-to-many (one-hot). Here
     whitespace-only teacher tokens are not counted when deciding one-to-one.
  7. Teacher tokens are not cut at an ``answer is`` line and ``": "`` is kept; only
     whitespace tokens at both ends and the prompt continuation (``" step"`` of the paper's
     prompt that stops at "step by") are trimmed. A target with a T5 ``<unk>`` is bad input
     (the student would learn to emit ``<unk>``).
Measured on the 51 finished real Codex samples (``bench/bench_align.py`` prints it; tests pin
the direction): T5 positions with a teacher distribution, paper_compat 81.1%, default 97.1%;
without choice 1, 88.1%; without choice 6, 90.3%.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from t5spec.align.vocab import T5Vocab
from t5spec.teacher.record import TeacherSample

PAPER_PREFIX = (" step", "\n")
PAPER_SUFFIX_PENULTIMATE = ("\n", "\n\n")
END_OF_TEXT = "<|endoftext|>"


@dataclasses.dataclass(frozen=True)
class AlignConfig:
    """How to align. ``k``: row width of the stored top-k (entries beyond it are dropped,
    least probable first). ``prompt_continuation``: leading teacher tokens that finish the
    prompt's last line (default mode only)."""

    paper_compat: bool = False
    k: int = 5
    prompt_continuation: tuple[str, ...] = (" step",)
    # Default-mode choices 1 and 6 below, switchable only to measure what each one buys.
    match_word_initial: bool = True
    ignore_whitespace_tokens: bool = True


@dataclasses.dataclass(frozen=True)
class Prepared:
    """The part of a sample that is aligned.

    teacher: the teacher tokens [n]; candidates: per token, ``(string, prob)`` — the sampled
    token first (when its logprob is known), then the top-k in API order; word_start: per
    token, whether it starts a word in T5 terms; target_text: the student's target text.
    """

    teacher: tuple[str, ...]
    candidates: tuple[tuple[tuple[str, float], ...], ...]
    word_start: tuple[bool, ...]
    target_text: str


class Rejected(Exception):
    """A sample the chosen mode does not align (not bad input), with the reason."""


def _candidates(sample: TeacherSample, i: int) -> tuple[tuple[str, float], ...]:
    out = []
    if sample.token_logprobs and sample.token_logprobs[i] is not None:
        out.append((sample.tokens[i], math.exp(sample.token_logprobs[i])))
    out.extend((t, math.exp(lp)) for t, lp in sample.top_logprobs[i])
    return tuple(out)


def _paper_target(completion: str) -> str:
    lines = completion.split("\n")
    for n, line in enumerate(lines):
        if "answer is" in line:
            lines = lines[: n + 1]
            break
    return ("\n".join(lines) + "\n").replace(": ", "").strip()


def prepare(sample: TeacherSample, config: AlignConfig) -> Prepared:
    """Selects the aligned teacher tokens and the target text (raises :class:`Rejected`)."""
    toks = sample.tokens
    if config.paper_compat:
        if (len(toks) < 5 or tuple(toks[:2]) != PAPER_PREFIX
                or toks[-2] not in PAPER_SUFFIX_PENULTIMATE or toks[-1] != "\n"):
            raise Rejected("paper_compat: tokens must start ' step','\\n' and end '\\n','\\n'")
        start, end = 2, len(toks) - 2
        target = _paper_target("".join(toks[1:]))
    else:
        start, end = 0, len(toks)
        if len(toks) > 1 and toks[0] in config.prompt_continuation and "\n" in toks[1]:
            start = 1
        while start < end and not toks[start].strip():
            start += 1
        while end > start and not toks[end - 1].strip():
            end -= 1
        if start == end:
            raise Rejected("no non-whitespace teacher tokens")
        target = "".join(toks[start:end]).strip()
    word_start = tuple(
        toks[i][:1].isspace()
        or (config.match_word_initial and (i == start or toks[i - 1][-1:].isspace()))
        for i in range(start, end)
    )
    return Prepared(
        teacher=tuple(toks[start:end]),
        candidates=tuple(_candidates(sample, i) for i in range(start, end)),
        word_start=word_start,
        target_text=target,
    )


def t5_surface(token: str, word_start: bool, after_bare_marker: bool = False) -> str | None:
    """The T5 piece a teacher string would be in this position (default mode), or None.

    ``after_bare_marker``: the previous T5 piece is a lone ``▁`` (T5 writes `` x`` as ``▁``,
    ``x``), so the word-initial marker is already spent.
    """
    core = token.strip()
    if not core:
        return None
    core = "▁".join(core.split())
    return "▁" + core if word_start and not after_bare_marker else core


def one_to_one(path: np.ndarray, m: int, invisible: np.ndarray | None = None) -> np.ndarray:
    """Per T5 position, the single teacher index the path maps it to, or -1. int64 [m].

    ``invisible`` (bool [n]): teacher tokens not counted (default mode: whitespace-only tokens,
    which T5's normalizer folds into the next piece's ``▁``).
    """
    if invisible is not None:
        path = path[~invisible[path[:, 0]]]
    counts = np.bincount(path[:, 1], minlength=m)
    teacher_of = np.full(m, -1, np.int64)
    teacher_of[path[:, 1]] = path[:, 0]
    teacher_of[counts != 1] = -1
    return teacher_of


def _paper_row(cands, vocab: T5Vocab) -> list[tuple[int, float]]:
    row: dict[int, float] = {}
    for t, p in cands:
        i = vocab.piece_id(t.replace(" ", "▁"))
        if i >= 0 and i not in row:
            row[i] = p
    return list(row.items())


def _default_row(cands, word_start: bool, bare: bool, target_id: int, vocab: T5Vocab):
    row: dict[int, float] = {}
    unique = dict(reversed(cands))  # the sampled token usually reappears in the top-k
    for t, p in unique.items():
        surface = vocab.eos_piece if t == END_OF_TEXT else t5_surface(t, word_start, bare)
        i = -1 if surface is None else vocab.piece_id(surface)
        if i >= 0:
            row[i] = row.get(i, 0.0) + p
    if unique and target_id not in row:
        rest = 1.0 - sum(unique.values())
        if rest > 0:
            row[target_id] = rest
    return list(row.items())


def transfer(
    prep: Prepared, t5_ids: np.ndarray, t5_pieces: Sequence[str], path: np.ndarray,
    vocab: T5Vocab, config: AlignConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k rows for the student: ids int32 [L, k], probs float32 [L, k], mask int32 [L]."""
    m, k = len(t5_ids), config.k
    ids = np.zeros((m, k), np.int32)
    probs = np.zeros((m, k), np.float32)
    mask = np.zeros(m, np.int32)
    ids[:, 0], probs[:, 0] = t5_ids, 1.0
    invisible = None
    if not config.paper_compat and config.ignore_whitespace_tokens:
        invisible = np.array([not t.strip() for t in prep.teacher])
    for j, i in enumerate(one_to_one(path, m, invisible)):
        if i < 0:
            continue
        tok, piece = prep.teacher[i], t5_pieces[j]
        if config.paper_compat:
            if piece != tok.replace(" ", "▁"):
                continue
            row = _paper_row(prep.candidates[i], vocab)
        else:
            bare = j > 0 and t5_pieces[j - 1] == "▁"
            if piece != t5_surface(tok, prep.word_start[i], bare):
                continue
            row = _default_row(prep.candidates[i], prep.word_start[i], bare, int(t5_ids[j]), vocab)
        if not row:
            continue
        if len(row) > k:  # keep the k most probable, in their order
            keep = sorted(range(len(row)), key=lambda x: -row[x][1])[:k]
            row = [row[x] for x in sorted(keep)]
        if not config.paper_compat:
            row.sort(key=lambda e: -e[1])
            total = sum(p for _, p in row)
            if total <= 0:
                continue
            row = [(t, p / total) for t, p in row]
        n = len(row)
        ids[j, :n] = [t for t, _ in row]
        probs[j, :n] = [p for _, p in row]
        probs[j, n:] = 0.0
        ids[j, n:] = 0
        mask[j] = 1
    return ids, probs, mask
