"""The lab's two tokenizers, trained with SentencePiece on the world's text.

* **Student** (stands in for the T5/FlanT5 vocabulary): a unigram model with T5's special ids —
  pad=0, eos=1, unk=2, no bos — T5's ``nmt_nfkc`` normalization (a newline becomes a space,
  as in T5) and ``▁`` word-start pieces. Written as ``t5_vocab/spiece.model`` in the lab data
  folder, so :func:`t5spec.paths.t5_vocab_path` and ``seqio.SentencePieceVocabulary`` load it
  like the real one.
* **Teacher** (stands in for a GPT BPE such as Codex's ``p50k_base``): a BPE model of a
  different size, identity normalization (spaces and newlines kept), no dummy prefix and byte
  fallback, so its pieces read as GPT tokens once ``▁`` is shown as a space
  (:func:`t5spec.tokenization.gpt_style`): ``"The answer is 72"`` → ``["The", " answer",
  " is", " 72"]``. Same special ids as the student (pad=0, eos=1, unk=2), so a T5X model can
  be trained on it.

The two segment the same text differently (unigram vs BPE, different sizes, different
whitespace handling), so the teacher→student alignment has real work to do. Training is
deterministic (one thread, every sentence used, fixed order) and takes a second or two.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

STUDENT_VOCAB_SIZE = 1000
TEACHER_VOCAB_SIZE = 1500
STUDENT_PATH = "t5_vocab/spiece.model"
TEACHER_PATH = "teacher_vocab/teacher.model"
_COMMON = {
    "pad_id": 0, "eos_id": 1, "unk_id": 2, "bos_id": -1,
    "num_threads": 1, "input_sentence_size": 0, "shuffle_input_sentence": False,
    "character_coverage": 1.0, "minloglevel": 2, "hard_vocab_limit": False,
}

PathLike = str | os.PathLike


def _train(sentences: Sequence[str], **options: object) -> bytes:
    import sentencepiece as spm

    if not sentences:
        raise ValueError("no training text")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=model, **_COMMON, **options)
    return model.getvalue()


def train_student(texts: Iterable[str], vocab_size: int = STUDENT_VOCAB_SIZE) -> bytes:
    """A T5-style unigram SentencePiece model (serialized bytes) trained on ``texts``."""
    sentences = [line for t in texts for line in t.split("\n") if line.strip()]
    return _train(sentences, model_type="unigram", vocab_size=vocab_size,
                  normalization_rule_name="nmt_nfkc")


def train_teacher(texts: Iterable[str], vocab_size: int = TEACHER_VOCAB_SIZE) -> bytes:
    """A GPT-style BPE SentencePiece model (serialized bytes) trained on ``texts``.

    Newlines stay in the text (one training sentence per text, ``\\n`` a user symbol), leading
    spaces attach to the following word, and unseen characters fall back to bytes.
    """
    sentences = [t for t in texts if t.strip()]
    return _train(sentences, model_type="bpe", vocab_size=vocab_size,
                  normalization_rule_name="identity", add_dummy_prefix=False,
                  remove_extra_whitespaces=False, split_by_whitespace=True,
                  user_defined_symbols=["\n"], byte_fallback=True,
                  max_sentence_length=1 << 16)


def load(model: bytes | PathLike):
    """A ``sentencepiece.SentencePieceProcessor`` from serialized bytes or a ``.model`` path."""
    import sentencepiece as spm

    proto = model if isinstance(model, bytes) else Path(model).read_bytes()
    return spm.SentencePieceProcessor(model_proto=proto)


def write_tokenizers(texts: Iterable[str], out_dir: PathLike) -> dict[str, Path]:
    """Trains both tokenizers on ``texts``; writes ``STUDENT_PATH`` and ``TEACHER_PATH``."""
    texts = list(texts)
    written = {}
    for name, relative, model in (("student", STUDENT_PATH, train_student(texts)),
                                  ("teacher", TEACHER_PATH, train_teacher(texts))):
        path = Path(out_dir) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(model)
        written[name] = path
    return written
