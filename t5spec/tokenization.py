"""SentencePiece pieces as the bytes and GPT-style strings they stand for.

Shared by ``t5spec serve`` (token strings of its ``logprobs``) and the lab (its GPT-style
teacher tokenizer, :mod:`t5spec.lab.tokenizers`):

* :func:`piece_bytes` — a piece's UTF-8 bytes: ``▁`` is a space, a byte-fallback piece
  ``<0xNN>`` is that one byte.
* :func:`vocabulary_bytes` — the bytes of every id of a model's vocabulary, the ids past the
  SentencePiece model (T5's sentinels) as ``<extra_id_N>``.
* :func:`gpt_style` / :func:`teacher_tokens` — pieces as GPT-style token strings, split
  characters merged (:func:`t5spec.bpe.join_utf8`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from t5spec.bpe import join_utf8

EXTRA_IDS = 100  # T5's sentinels <extra_id_0> … <extra_id_99>, the last ids of its vocabulary
_BYTE_PIECE = re.compile(r"<0x([0-9A-F]{2})>")


def piece_bytes(piece: str) -> bytes:
    """The UTF-8 bytes a piece stands for: ``▁`` is a space, ``<0xNN>`` one byte."""
    byte = _BYTE_PIECE.fullmatch(piece)
    if byte:
        return bytes([int(byte.group(1), 16)])
    return piece.replace("\u2581", " ").encode("utf-8")


def vocabulary_bytes(processor: Any, vocab_size: int) -> list[bytes]:
    """The bytes of ids ``0 … vocab_size-1`` of a SentencePiece ``processor``.

    Ids past the processor's pieces are T5's sentinels counted down from the end of the
    first ``EXTRA_IDS`` extra rows (``<extra_id_99>`` first, as seqio numbers them), then
    ``<id_N>`` for any further padding rows.
    """
    pieces = processor.get_piece_size()
    out = []
    for i in range(vocab_size):
        extra = i - pieces
        if extra < 0:
            out.append(piece_bytes(processor.id_to_piece(i)))
        elif extra < EXTRA_IDS:
            out.append(f"<extra_id_{EXTRA_IDS - 1 - extra}>".encode())
        else:
            out.append(f"<id_{i}>".encode())
    return out


def gpt_style(pieces: Iterable[str]) -> list[str]:
    """Pieces as GPT-style token strings (``"▁is"`` → ``" is"``).

    Byte-fallback pieces that split one multi-byte character are merged with the following
    ones until the bytes decode, so every string is valid text (as OpenAI APIs return them).
    """
    return join_utf8(piece_bytes(p) for p in pieces)


def teacher_tokens(processor: Any, text: str) -> list[str]:
    """``text`` as GPT-style token strings whose concatenation is ``text``."""
    return gpt_style(processor.encode(text, out_type=str))
