"""The aligned teacher store: sharded TFRecord files that SeqIO reads for distillation.

One ``tf.train.Example`` per teacher sample. This module is the ONE place the schema lives:

=================  ===========  ===========================================================
feature            dtype/shape  meaning
=================  ===========  ===========================================================
``key``            bytes        ``"{question_id}#{sample_index}"`` (TeacherSample.key)
``question_id``    bytes        e.g. ``"gsm8k/train/17"``
``sample_index``   int64        0-based sample index for that question
``question``       bytes        the question, UTF-8 (carried from the TeacherSample)
``gold``           bytes        the gold answer as an exact string (e.g. ``"72"``)
``target_text``    bytes        the text whose T5 tokens are ``targets`` (UTF-8)
``targets``        int64[L]     T5 SentencePiece ids of ``target_text``, WITHOUT ``</s>``
``teacher_ids``    int64[L*k]   row-major [L, k] T5 ids of the teacher's kept top-k entries
``teacher_probs``  float[L*k]   row-major [L, k] their probabilities (float32)
``teacher_mask``   int64[L]     1 = a teacher distribution, 0 = one-hot on ``targets``
``k``              int64        the row width of ``teacher_ids`` / ``teacher_probs``
=================  ===========  ===========================================================

Rows are padded with id 0 / prob 0.0. A one-hot row (mask 0) is ``[target, 0, …]`` with
probabilities ``[1.0, 0, …]``, so a loss may use the rows everywhere and the mask only to
tell the two kinds apart. In the default alignment mode every row sums to 1; in
``paper_compat`` mode distribution rows sum to at most 1 (the authors did not renormalize).
The ``</s>`` position is not stored: SeqIO appends EOS, and the feature converter pads the
teacher arrays with a one-hot (mask 0) row for it.

Shards are named ``<prefix>-NNNNN.tfrecord`` (e.g. ``gsm8k_train-00000.tfrecord``) so a glob
``<dir>/<prefix>-*.tfrecord*`` finds them; they are written to a hidden temporary name and
renamed into place, so a visible shard is always complete.

TensorFlow is imported inside the functions that need it (``import t5spec.align.store`` is cheap).
"""

from __future__ import annotations

import dataclasses
import glob as globlib
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

SCALAR_BYTES = ("key", "question_id", "question", "gold", "target_text")
SCALAR_INTS = ("sample_index", "k")
SEQUENCE_INTS = ("targets", "teacher_ids", "teacher_mask")
SEQUENCE_FLOATS = ("teacher_probs",)


@dataclasses.dataclass(frozen=True)
class AlignedSample:
    """One teacher sample aligned onto T5 tokens.

    Attributes:
      key, question_id, sample_index, question, gold: carried from the TeacherSample.
      target_text: the text whose T5 tokens are ``targets``.
      targets: int32 [L] T5 ids (no EOS).
      teacher_ids: int32 [L, k] T5 ids of the kept teacher entries (0-padded).
      teacher_probs: float32 [L, k] their probabilities (0-padded).
      teacher_mask: int32 [L] 1 where a teacher distribution exists, 0 for one-hot.
    """

    key: str
    question_id: str
    sample_index: int
    question: str
    gold: str
    target_text: str
    targets: np.ndarray
    teacher_ids: np.ndarray
    teacher_probs: np.ndarray
    teacher_mask: np.ndarray

    @property
    def k(self) -> int:
        return int(self.teacher_ids.shape[1])

    @property
    def length(self) -> int:
        return int(self.targets.shape[0])

    def coverage(self) -> float:
        """Fraction of T5 positions that carry a teacher distribution."""
        return float(self.teacher_mask.mean()) if self.length else 0.0


def _feature_dict(s: AlignedSample) -> dict[str, Any]:
    import tensorflow as tf

    def b(x: str):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[x.encode("utf-8")]))

    def i(x):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=np.asarray(x).ravel()))

    def f(x):
        return tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(x).ravel()))

    return {
        **{name: b(getattr(s, name)) for name in SCALAR_BYTES},
        "sample_index": i([s.sample_index]),
        "k": i([s.k]),
        "targets": i(s.targets),
        "teacher_ids": i(s.teacher_ids),
        "teacher_probs": f(s.teacher_probs),
        "teacher_mask": i(s.teacher_mask),
    }


def serialize(sample: AlignedSample) -> bytes:
    """One ``tf.train.Example`` as bytes."""
    import tensorflow as tf

    _check_shapes(sample)
    ex = tf.train.Example(features=tf.train.Features(feature=_feature_dict(sample)))
    return ex.SerializeToString()


def _check_shapes(s: AlignedSample) -> None:
    n = s.targets.shape[0]
    if s.teacher_ids.shape != s.teacher_probs.shape or s.teacher_ids.shape[0] != n:
        raise ValueError(f"{s.key}: teacher arrays {s.teacher_ids.shape} do not match L={n}")
    if s.teacher_mask.shape != (n,):
        raise ValueError(f"{s.key}: teacher_mask shape {s.teacher_mask.shape} != ({n},)")


def deserialize(record: bytes) -> AlignedSample:
    """Inverse of :func:`serialize` (pure protobuf, no graph)."""
    import tensorflow as tf

    ex = tf.train.Example.FromString(record)
    f = ex.features.feature
    k = int(f["k"].int64_list.value[0])
    targets = np.asarray(f["targets"].int64_list.value, np.int32)
    n = targets.shape[0]
    return AlignedSample(
        **{name: f[name].bytes_list.value[0].decode("utf-8") for name in SCALAR_BYTES},
        sample_index=int(f["sample_index"].int64_list.value[0]),
        targets=targets,
        teacher_ids=np.asarray(f["teacher_ids"].int64_list.value, np.int32).reshape(n, k),
        teacher_probs=np.asarray(f["teacher_probs"].float_list.value, np.float32).reshape(n, k),
        teacher_mask=np.asarray(f["teacher_mask"].int64_list.value, np.int32),
    )


def shard_name(prefix: str, index: int) -> str:
    """``<prefix>-NNNNN.tfrecord``."""
    return f"{prefix}-{index:05d}.tfrecord"


def write_shard(path: str | os.PathLike, samples: Iterable[AlignedSample]) -> int:
    """Writes one shard atomically (hidden temp file, then rename). Returns the record count."""
    import tensorflow as tf

    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}")
    n = 0
    try:
        with tf.io.TFRecordWriter(str(tmp)) as writer:
            for s in samples:
                writer.write(serialize(s))
                n += 1
    except BaseException:
        tmp.unlink(missing_ok=True)  # never leave a half-written temp shard behind
        raise
    os.replace(tmp, path)
    return n


def write_shards(
    samples: Iterable[AlignedSample],
    output_dir: str | os.PathLike,
    prefix: str = "gsm8k_train",
    records_per_shard: int = 10_000,
    first_index: int = 0,
) -> list[Path]:
    """Streams samples into ``<output_dir>/<prefix>-NNNNN.tfrecord`` shards.

    At most ``records_per_shard`` samples are held in memory at once. Returns the shard paths.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    buf: list[AlignedSample] = []
    for s in samples:
        buf.append(s)
        if len(buf) >= records_per_shard:
            paths.append(out / shard_name(prefix, first_index + len(paths)))
            write_shard(paths[-1], buf)
            buf = []
    if buf:
        paths.append(out / shard_name(prefix, first_index + len(paths)))
        write_shard(paths[-1], buf)
    return paths


def expand(pattern: str | os.PathLike) -> list[str]:
    """Sorted files matching a glob (a directory means all ``*.tfrecord*`` inside it)."""
    p = os.fspath(pattern)
    if os.path.isdir(p):
        p = os.path.join(p, "*.tfrecord*")
    return sorted(globlib.glob(p))


def read_aligned(pattern: str | os.PathLike) -> Iterator[AlignedSample]:
    """Streams every record of the shards matching ``pattern`` (glob or directory), in order."""
    import tensorflow as tf

    for path in expand(pattern):
        for rec in tf.data.TFRecordDataset(path).as_numpy_iterator():
            yield deserialize(rec)


def seqio_features() -> dict[str, Any]:
    """``feature_description`` for ``seqio.TFExampleDataSource`` (needs TensorFlow)."""
    import tensorflow as tf

    spec: dict[str, Any] = {n: tf.io.FixedLenFeature([], tf.string) for n in SCALAR_BYTES}
    spec.update({n: tf.io.FixedLenFeature([], tf.int64) for n in SCALAR_INTS})
    spec.update({n: tf.io.VarLenFeature(tf.int64) for n in SEQUENCE_INTS})
    spec.update({n: tf.io.VarLenFeature(tf.float32) for n in SEQUENCE_FLOATS})
    return spec


class _LazyFeatures(Mapping):
    """``SEQIO_FEATURES`` as a mapping that imports TensorFlow on first use only."""

    def _spec(self) -> dict[str, Any]:
        if not hasattr(self, "_cache"):
            self._cache = seqio_features()
        return self._cache

    def __getitem__(self, name: str) -> Any:
        return self._spec()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._spec())

    def __len__(self) -> int:
        return len(self._spec())


SEQIO_FEATURES: Mapping[str, Any] = _LazyFeatures()


def parse_features(ex: Mapping[str, Any]) -> dict[str, Any]:
    """Densifies a parsed example (``SEQIO_FEATURES``) and reshapes the teacher rows to [L, k].

    For use in a SeqIO preprocessor (``dataset.map(parse_features)``); TF ops only.
    Returns ``targets`` int32 [L], ``teacher_ids`` int32 [L, k], ``teacher_probs`` float32
    [L, k], ``teacher_mask`` int32 [L], and the scalar string/int features unchanged.
    """
    import tensorflow as tf

    out = dict(ex)
    for name in (*SEQUENCE_INTS, *SEQUENCE_FLOATS):
        v = ex[name]
        out[name] = tf.sparse.to_dense(v) if isinstance(v, tf.SparseTensor) else v
    k = tf.cast(ex["k"], tf.int32)
    out["targets"] = tf.cast(out["targets"], tf.int32)
    out["teacher_mask"] = tf.cast(out["teacher_mask"], tf.int32)
    out["teacher_ids"] = tf.reshape(tf.cast(out["teacher_ids"], tf.int32), [-1, k])
    out["teacher_probs"] = tf.reshape(out["teacher_probs"], [-1, k])
    return out
