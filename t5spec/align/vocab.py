"""The student's T5 SentencePiece vocabulary, as the aligner needs it.

Wraps ``sentencepiece`` directly (the same model and ids as ``seqio.SentencePieceVocabulary``,
without importing TensorFlow): text → ids and pieces, and piece string → id for mapping teacher
alternatives. ``piece_id`` mirrors the authors' membership test ``piece in
T5Tokenizer.get_vocab()``: the 32000 SentencePiece pieces plus the 100 ``<extra_id_N>``
sentinels (ids 32099 - N) that HF/SeqIO add on top.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from t5spec.errors import InputError

EXTRA_IDS = 100


class T5Vocab:
    """A loaded ``spiece.model``."""

    def __init__(self, path: str | os.PathLike):
        import sentencepiece as spm

        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(self.path, "T5 SentencePiece model not found", field="vocab")
        try:
            self.sp = spm.SentencePieceProcessor(model_file=str(self.path))
        except (OSError, RuntimeError) as e:
            raise InputError(self.path, f"not a SentencePiece model ({e})", field="vocab") from e
        self.size = self.sp.get_piece_size()
        self.unk_id = self.sp.unk_id()
        self.eos_id = self.sp.eos_id()
        self.pad_id = self.sp.pad_id()
        self.eos_piece = self.sp.id_to_piece(self.eos_id)
        self._ids: dict[str, int] = {}

    def encode(self, text: str) -> tuple[np.ndarray, list[str]]:
        """T5 ids int32 [L] (no EOS) and their piece strings."""
        ids = self.sp.encode(text)
        return np.asarray(ids, np.int32), [self.sp.id_to_piece(i) for i in ids]

    def piece_id(self, piece: str) -> int:
        """The id of an exact piece, or -1 when the vocabulary has no such piece."""
        got = self._ids.get(piece)
        if got is None:
            got = self._lookup(piece)
            self._ids[piece] = got
        return got

    def _lookup(self, piece: str) -> int:
        if piece.startswith("<extra_id_") and piece.endswith(">"):
            n = piece[len("<extra_id_") : -1]
            if n.isdigit() and int(n) < EXTRA_IDS and str(int(n)) == n:
                return self.size + EXTRA_IDS - 1 - int(n)
        i = self.sp.piece_to_id(piece)
        if i == self.unk_id and piece != self.sp.id_to_piece(self.unk_id):
            return -1
        return int(i)


@functools.lru_cache(maxsize=4)
def load_vocab(path: str) -> T5Vocab:
    """A cached :class:`T5Vocab` per path."""
    return T5Vocab(path)
