"""The decoding side of ``t5spec serve``: prompts to ids, a batch of rows to OpenAI choices.

:class:`Engine` holds the tokenizer and a :class:`t5spec.models.decoding.Decoder`;
:meth:`Engine.run` decodes one batch of compatible :class:`Row` s (blocking) and turns each
row into a choice: ``text``, ``finish_reason`` and legacy ``logprobs``.

Token strings: a SentencePiece piece is shown with ``▁`` as a space and byte pieces as their
bytes (pieces that split one UTF-8 character are merged into one token), so ``tokens`` always
join to ``text`` — with a T5 vocabulary the text starts with a space (T5's dummy prefix).
Alternatives that are a partial character read ``bytes:\\xNN``, as OpenAI writes them.

Seeds: every row carries its own seed; its draws come from a key made of that seed alone
(folded with the decode step inside the jitted sampler), so what a row generates does not
depend on the other rows of its batch, the batch size or the row's position in it. Its
log-probs are bit-identical too when every batch has one shape (``min_batch = max_batch`` and
every prompt within ``min_input_tokens``, as the lab serves); across shapes (another padded
batch size or input length: another XLA program) they can differ in float32's last bits
(~1e-6 measured), the tokens not.

Scoring: a row with ``decoder_ids`` (an ``echo`` request) generates nothing; :meth:`Engine.run`
scores those ids teacher-forced (:func:`t5spec.models.scoring.score`) and echoes them, led by
the decoder start token: ``""`` with a ``null`` log-prob and ``null`` alternatives (it is
given, not predicted: OpenAI's "first token of the echoed prompt"). Offsets count from the
start of the decoder text.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from t5spec.tokenization import vocabulary_bytes

NUM_ALTERNATIVES = 5


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """Server limits. ``max_tokens`` bounds what a request may ask for; decode batches are
    padded to a power of two of at least ``min_batch`` rows (fewer shapes to compile)."""

    model_name: str
    max_tokens: int = 256
    max_input_tokens: int = 1024
    max_batch: int = 32
    min_batch: int = 1
    batch_wait_ms: float = 5.0
    max_pending: int = 4096
    seed: int = 0
    min_input_tokens: int = 16  # encoder inputs are padded to a power of two of at least this


@dataclasses.dataclass
class Row:
    """One sequence to generate: encoder ids (with EOS) and its request's settings."""

    ids: list[int]
    prompt_chars: int
    max_tokens: int
    temperature: float
    top_p: float
    logprobs: int | None
    stop: tuple[str, ...]
    seed: int = 0
    decoder_ids: list[int] | None = None  # ids to score teacher-forced (echo), not generate
    future: Any = None  # the asyncio.Future its request awaits (set by the batcher)


def _bucket(n: int, low: int, high: int | None = None) -> int:
    size = max(low, 1 << max(0, n - 1).bit_length())
    return min(size, high) if high else size


class Engine:
    """Tokenizer + decoder; :meth:`run` decodes one batch of compatible rows (blocking)."""

    def __init__(self, decoder: Any, processor: Any, *, eos_id: int = 1):
        self.decoder, self.sp, self.eos_id = decoder, processor, eos_id
        vocab = decoder.config.vocab_size
        if processor.get_piece_size() > vocab:
            raise ValueError(f"vocabulary has {processor.get_piece_size()} pieces but the "
                             f"model only {vocab} embedding rows")
        self.piece_bytes = vocabulary_bytes(processor, vocab)
        self.alt_text = [_show(b) for b in self.piece_bytes]

    def encode(self, prompt: str) -> list[int]:
        return [*self.sp.encode(prompt), self.eos_id]

    def encode_decoder(self, text: str) -> list[int]:
        """Decoder-side ids of a text to score (no EOS: generated samples carry none)."""
        return list(self.sp.encode(text))

    def _encoder_batch(self, rows: list[Row], min_batch: int, min_input: int = 16) -> Any:
        import numpy as np

        batch = _bucket(len(rows), min_batch)
        length = _bucket(max(len(r.ids) for r in rows), max(16, min_input))
        tokens = np.zeros((batch, length), np.int32)
        for b, r in enumerate(rows):
            tokens[b, :len(r.ids)] = r.ids
        tokens[len(rows):, 0] = self.eos_id
        return tokens

    def run(self, rows: list[Row], min_batch: int = 1, min_input: int = 16) -> list[dict]:
        """One choice per row; rows share temperature and top_p, and either all generate or
        all score (``decoder_ids``; the batcher groups them)."""
        import numpy as np

        from t5spec.models.decoding import SamplingParams

        if rows[0].decoder_ids is not None:
            return self._score(rows, min_batch)
        tokens = self._encoder_batch(rows, min_batch, min_input)
        batch = tokens.shape[0]
        row_keys = np.zeros((batch, 2), np.uint32)
        row_keys[:len(rows)] = [row_key(r.seed) for r in rows]
        top_p = rows[0].top_p if rows[0].top_p < 1 else 0.0
        params = SamplingParams(
            max_new_tokens=_bucket(max(r.max_tokens for r in rows), 16),
            temperature=rows[0].temperature, top_p=top_p,
            num_alternatives=NUM_ALTERNATIVES)
        gen = self.decoder.generate(tokens, params, row_keys=row_keys)
        n = len(rows)  # plain lists once per batch: no per-element numpy scalars below
        lists = _Lists(gen.lengths[:n].tolist(), gen.tokens[:n].tolist(),
                       gen.token_logprobs[:n], gen.top_ids[:n].tolist(),
                       gen.top_logprobs[:n].tolist())
        return [self._choice(lists, b, r) for b, r in enumerate(rows)]

    def _choice(self, gen: _Lists, b: int, row: Row) -> dict:
        """``text``, ``finish_reason``, ``logprobs`` and the id count of one generated row."""
        length = min(gen.lengths[b], row.max_tokens)
        ids = gen.tokens[b][:length]
        finish = "length"
        if self.eos_id in ids:
            ids, finish = ids[:ids.index(self.eos_id)], "stop"
        groups = _merge_characters([self.piece_bytes[i] for i in ids])
        strings = [s for s, _ in groups]
        keep, stopped = _apply_stop(strings, row.stop)
        groups = groups[:keep]
        finish = "stop" if stopped else finish
        out = {"text": "".join(s for s, _ in groups), "finish_reason": finish,
               "logprobs": None, "n_ids": len(ids)}
        if row.logprobs is not None:
            out["logprobs"] = self._logprobs(gen, b, row, groups)
        return out

    def _score(self, rows: list[Row], min_batch: int) -> list[dict]:
        """Echo choices: each row's ``decoder_ids`` scored teacher-forced (see module doc)."""
        import numpy as np

        from t5spec.models import scoring

        tokens = self._encoder_batch(rows, min_batch)
        targets = np.zeros((tokens.shape[0], _bucket(max(len(r.decoder_ids) for r in rows), 16)),
                           np.int32)
        for b, r in enumerate(rows):
            targets[b, :len(r.decoder_ids)] = r.decoder_ids
        out = scoring.score(self.decoder.config, self.decoder.params, tokens, targets,
                            NUM_ALTERNATIVES)
        n = len(rows)
        lists = _Lists([len(r.decoder_ids) for r in rows], [r.decoder_ids for r in rows],
                       out.token_logprobs[:n], out.top_ids[:n].tolist(),
                       out.top_logprobs[:n].tolist())
        choices = []
        for b, row in enumerate(rows):
            groups = _merge_characters([self.piece_bytes[i] for i in row.decoder_ids])
            logprobs = None
            if row.logprobs is not None:
                lp = self._logprobs(lists, b, row, groups)
                logprobs = {"tokens": ["", *lp["tokens"]],
                            "token_logprobs": [None, *lp["token_logprobs"]],
                            "top_logprobs": [None, *lp["top_logprobs"]],
                            "text_offset": [0, *lp["text_offset"]]}
            choices.append({"text": "".join(s for s, _ in groups), "finish_reason": "length",
                            "logprobs": logprobs, "n_ids": 0})
        return choices

    def _logprobs(self, gen: _Lists, b: int, row: Row, groups: list[tuple[str, range]]) -> dict:
        tokens, token_lp, tops, offsets = [], [], [], []
        offset = row.prompt_chars
        row_lp, row_ids, row_top = gen.token_logprobs[b], gen.top_ids[b], gen.top_logprobs[b]
        alt_text = self.alt_text
        for text, span in groups:
            tokens.append(text)
            token_lp.append(float(sum(row_lp[t] for t in span)))  # float32 sum, as generated
            first = span[0]
            top: dict[str, float] = {}
            for i, lp in zip(row_ids[first], row_top[first], strict=True):
                if len(top) == row.logprobs:
                    break
                top.setdefault(alt_text[i], lp)
            top.setdefault(text, token_lp[-1])
            tops.append(top)
            offsets.append(offset)
            offset += len(text)
        return {"tokens": tokens, "token_logprobs": token_lp, "top_logprobs": tops,
                "text_offset": offsets}


@dataclasses.dataclass(frozen=True)
class _Lists:
    """A :class:`~t5spec.models.decoding.Generation`'s first rows as Python lists (token
    log-probs stay float32 numpy: merged tokens sum them in float32)."""

    lengths: list[int]
    tokens: list[list[int]]
    token_logprobs: Any
    top_ids: list[list[list[int]]]
    top_logprobs: list[list[list[float]]]


def row_key(seed: int) -> tuple[int, int]:
    """A row's PRNG key data (two uint32 words) from its seed taken modulo 2**64; for
    0 <= seed < 2**32 it is ``jax.random.PRNGKey(seed)``'s."""
    seed %= 1 << 64
    return seed >> 32, seed & 0xFFFFFFFF


def _show(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{c:02x}" for c in raw)


def _merge_characters(pieces: list[bytes]) -> list[tuple[str, range]]:
    """(token string, positions) per output token; pieces that split a character merge."""
    out: list[tuple[str, range]] = []
    start, pending = 0, b""
    for pos, raw in enumerate(pieces):
        pending += raw
        try:
            text = pending.decode("utf-8")
        except UnicodeDecodeError:
            if pos + 1 < len(pieces) and pos - start < 3:
                continue
            text = pending.decode("utf-8", errors="replace")
        out.append((text, range(start, pos + 1)))
        start, pending = pos + 1, b""
    return out


def _apply_stop(strings: list[str], stop: tuple[str, ...]) -> tuple[int, bool]:
    """(number of whole tokens before the first stop string, whether one occurred)."""
    text = "".join(strings)
    cuts = [text.find(s) for s in stop if s and s in text]
    if not cuts:
        return len(strings), False
    cut, end = min(cuts), 0
    for n, s in enumerate(strings):
        end += len(s)
        if end > cut:
            return n, True
    return len(strings), True




def load_engine(checkpoint: str | os.PathLike, vocab: str | os.PathLike) -> Engine:
    """An :class:`Engine` over a T5X checkpoint and a SentencePiece model file."""
    import sentencepiece as spm

    from t5spec.errors import InputError
    from t5spec.models.decoding import Decoder

    try:
        processor = spm.SentencePieceProcessor(model_file=os.fspath(vocab))
    except (OSError, RuntimeError) as e:
        raise InputError(vocab, f"not a SentencePiece model: {e}") from None
    decoder = Decoder.from_checkpoint(checkpoint, eos_id=processor.eos_id())
    try:
        return Engine(decoder, processor, eos_id=processor.eos_id())
    except ValueError as e:
        raise InputError(vocab, str(e)) from None
