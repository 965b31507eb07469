"""Where the SeqIO tasks find their data, resolved when a dataset is built, not at import.

Tasks and mixtures register when ``t5spec.tasks`` is imported, which happens while gin files
are parsed (``import t5spec.tasks``) and before any binding is applied. So nothing here reads
a path at import time: data sources call :func:`current` and the shared vocabulary
:data:`VOCABULARY` looks its file up on first use. Bind the paths in gin::

    from t5spec.tasks import config as task_config
    task_config.TaskPaths.data_dir = '/data/t5spec'             # default: $T5SPEC_DATA_DIR
    task_config.TaskPaths.aligned_pattern = 'gs://bucket/aligned/gsm8k_train-*.tfrecord'
    task_config.TaskPaths.vocab_path = %T5SPEC_VOCAB            # default: public FlanT5 spiece

or in Python (tests, notebooks) with ``gin.parse_config`` / ``gin.bind_parameter``. Training
and evaluation tasks share this one config.
"""

from __future__ import annotations

import dataclasses
import glob
from pathlib import Path

import seqio
import tensorflow as tf

import gin
from t5spec import paths
from t5spec.errors import InputError

# The T5 1.1 / FlanT5 SentencePiece model (T5X t5_1_1 gins and the FlanT5 T5X checkpoints).
PUBLIC_FLANT5_VOCAB = "gs://t5-data/vocabs/cc_all.32000.100extra/sentencepiece.model"


@gin.configurable
@dataclasses.dataclass(frozen=True)
class TaskPaths:
    """Data locations for every t5spec SeqIO task.

    Attributes:
      data_dir: raw-data root (layout of ``shared/data``: ``gsm8k/``, ``svamp/``, ``bbh/``, …);
        None means ``$T5SPEC_DATA_DIR`` (:func:`t5spec.paths.data_dir`).
      aligned_pattern: glob (local or ``gs://``) of the aligned teacher TFRecord shards written
        by ``t5spec align`` (schema in ``t5spec.align.store``); None means
        ``<data_dir>/aligned/gsm8k_train-*.tfrecord*``.
      vocab_path: the SentencePiece model of the student (must equal the model gin's
        vocabulary file, T5X checks that task and model vocabularies match).
      vocab_extra_ids: sentinel ids added to the SentencePiece model (100 for FlanT5: 32100
        ids, as ``gin/models/flant5_*.gin`` bind ``seqio.SentencePieceVocabulary.extra_ids``).
      teacher_k: row width k of the aligned teacher arrays (top-5 for OpenAI-style teachers);
        a record with another k fails with its file and record index.
    """

    data_dir: str | None = None
    aligned_pattern: str | None = None
    vocab_path: str = PUBLIC_FLANT5_VOCAB
    vocab_extra_ids: int = 100
    teacher_k: int = 5

    def raw_dir(self) -> Path:
        """The raw-data root, or an InputError saying how to set it."""
        return paths.data_dir(self.data_dir)

    def aligned_glob(self) -> str:
        if self.aligned_pattern:
            return self.aligned_pattern
        return str(self.raw_dir() / "aligned" / "gsm8k_train-*.tfrecord*")

    def aligned_files(self) -> list[str]:
        """Sorted aligned shard files; InputError when the pattern matches nothing."""
        pattern = self.aligned_glob()
        files = sorted(tf.io.gfile.glob(pattern) if "://" in pattern else glob.glob(pattern))
        if not files:
            raise InputError(
                pattern,
                "no aligned teacher shards match; run `t5spec align` and bind "
                "t5spec.tasks.config.TaskPaths.aligned_pattern",
                field="aligned_pattern",
            )
        return files


def current() -> TaskPaths:
    """The paths in effect now (gin bindings applied at call time)."""
    return TaskPaths()


class LazySentencePieceVocabulary(seqio.SentencePieceVocabulary):
    """A SentencePiece vocabulary whose file is ``current().vocab_path`` at first use.

    Equality (``__getstate__``) uses the resolved path, so it equals the model gin's
    ``seqio.SentencePieceVocabulary(<same file>)`` as T5X's ``verify_matching_vocabs`` needs.
    """

    def __init__(self) -> None:
        super().__init__(sentencepiece_model_file="")

    def _resolve(self) -> None:
        cfg = current()
        self._sentencepiece_model_file = cfg.vocab_path
        self._extra_ids = cfg.vocab_extra_ids

    def _model_context(self):
        if self._model is None:
            self._resolve()
        return super()._model_context()

    @property
    def sentencepiece_model_file(self) -> str:
        if self._model is None:
            self._resolve()
        return self._sentencepiece_model_file

    @property
    def extra_ids(self) -> int:
        if self._model is None:
            self._resolve()
        return self._extra_ids

    def __getstate__(self) -> dict:
        if self._model is None:
            self._resolve()
        return super().__getstate__()


VOCABULARY = LazySentencePieceVocabulary()


def output_features() -> dict[str, seqio.Feature]:
    """``inputs`` / ``targets`` features with the shared lazy vocabulary, EOS appended."""
    return {
        "inputs": seqio.Feature(vocabulary=VOCABULARY, add_eos=True, required=False),
        "targets": seqio.Feature(vocabulary=VOCABULARY, add_eos=True),
    }
