"""A SeqIO feature converter that carries the teacher's top-k arrays through packing.

Task features (per example, from ``t5spec.tasks.specialization``):
  ``inputs`` int32[I], ``targets`` int32[T] (EOS included),
  ``teacher_ids`` int32[T, k], ``teacher_probs`` float32[T, k], ``teacher_mask`` int32[T]
  (row t describes target position t; the EOS row is one-hot, mask 0), ``format_id`` int32
  scalar (index into ``t5spec.data.formats.FORMATS`` + 1; 0 = unknown). All teacher features
  and ``format_id`` are optional: evaluation tasks and plain seq2seq tasks convert too, with
  a one-hot row at the target (mask 0) everywhere.

Model features: SeqIO's ``EncDecFeatureConverter`` features plus
  ``decoder_teacher_ids`` int32[L, k], ``decoder_teacher_probs`` float32[L, k],
  ``decoder_teacher_mask`` int32[L], ``decoder_format_ids`` int32[L] (format + 1 at every
  target position of the example, 0 on padding).

How it packs: SeqIO packs only rank-1 int32 features and finds each sequence's length by
counting non-zeros. So the teacher arrays become 2k + 2 rank-1 int32 "streams" aligned with
``targets`` — ids + 1, float32 bits of the probabilities + 1, mask + 1, format + 1 — which are
never 0 inside a sequence; SeqIO packs or pads them exactly like ``targets``; they are decoded
back to [L, k] afterwards (0, i.e. padding, decodes to id 0 / prob 0.0 / mask 0).

Unpacked examples without teacher arrays (evaluation tasks) skip the streams: their teacher
features are derived from the padded targets after seqio's own conversion, the same arrays
(tests hold the two paths equal on trimmed and padded examples and on the paper's six
evaluation tasks), at a fraction of the ``tf.data`` tracing: 14 features trimmed and padded
become 2 (the evaluator's set-up in a T5X process converts each task once or twice).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import seqio
import tensorflow as tf
from seqio import utils as seqio_utils

FeatureSpec = seqio.FeatureConverter.FeatureSpec

TEACHER_TASK_FEATURES = ("teacher_ids", "teacher_probs", "teacher_mask", "format_id")
_MASK, _FMT = "targets_teacher_mask_stream", "targets_format_stream"


def _id_key(j: int) -> str:
    return f"targets_teacher_id{j}_stream"


def _prob_key(j: int) -> str:
    return f"targets_teacher_prob{j}_stream"


class DistillationFeatureConverter(seqio.EncDecFeatureConverter):
    """``EncDecFeatureConverter`` plus the teacher top-k features, with or without packing.

    Example (packed, k = 2; ``p`` are float32 probabilities):

      ds = [{"inputs": [7, 8, 5, 1], "targets": [3, 9, 1],
             "teacher_ids": [[3, 4], [9, 2], [1, 0]],
             "teacher_probs": [[.7, .3], [.6, .4], [1., 0.]],
             "teacher_mask": [1, 1, 0], "format_id": 4},
            {"inputs": [8, 4, 9, 3, 1], "targets": [4, 1],
             "teacher_ids": [[4, 0], [1, 0]], "teacher_probs": [[1., 0.], [1., 0.]],
             "teacher_mask": [0, 0], "format_id": 3}]
      task_feature_lengths = {"inputs": 10, "targets": 7}

      converted_ds = [{
           "encoder_input_tokens": [7, 8, 5, 1, 8, 4, 9, 3, 1, 0],
            "encoder_segment_ids": [1, 1, 1, 1, 2, 2, 2, 2, 2, 0],
              "encoder_positions": [0, 1, 2, 3, 0, 1, 2, 3, 4, 0],
          "decoder_target_tokens": [3, 9, 1, 4, 1, 0, 0],
           "decoder_input_tokens": [0, 3, 9, 0, 4, 0, 0],
           "decoder_loss_weights": [1, 1, 1, 1, 1, 0, 0],
            "decoder_segment_ids": [1, 1, 1, 2, 2, 0, 0],
              "decoder_positions": [0, 1, 2, 0, 1, 0, 0],
            "decoder_teacher_ids": [[3, 4], [9, 2], [1, 0], [4, 0], [1, 0], [0, 0], [0, 0]],
          "decoder_teacher_probs": [[.7, .3], [.6, .4], [1., 0.], [1., 0.], [1., 0.],
                                    [0., 0.], [0., 0.]],
           "decoder_teacher_mask": [1, 1, 0, 0, 0, 0, 0],
             "decoder_format_ids": [4, 4, 4, 3, 3, 0, 0],
      }]

    Without packing each example is padded alone (the teacher rows with id 0 / prob 0).
    The probabilities come back bit-exact (float32 bits travel as int32).

    Args:
      teacher_k: k used when a dataset has no ``teacher_ids`` (otherwise its own k).
      Other arguments as ``seqio.EncDecFeatureConverter`` (no pass-through features).
    """

    MODEL_FEATURES: ClassVar[dict[str, FeatureSpec]] = {
        **seqio.EncDecFeatureConverter.MODEL_FEATURES,
        "decoder_teacher_ids": FeatureSpec(dtype=tf.int32, rank=2),
        "decoder_teacher_probs": FeatureSpec(dtype=tf.float32, rank=2),
        "decoder_teacher_mask": FeatureSpec(dtype=tf.int32),
        "decoder_format_ids": FeatureSpec(dtype=tf.int32),
    }
    # Unpacked examples without teacher arrays take `_one_hot_rows` (False: the streams, as
    # packed ones; the tests compare the two).
    derive_one_hot_rows: ClassVar[bool] = True

    def __init__(
        self,
        pack: bool = True,
        use_custom_packing_ops: bool = False,
        apply_length_check: bool = True,
        bos_id: int = 0,
        teacher_k: int = 5,
    ):
        super().__init__(
            pack=pack,
            use_custom_packing_ops=use_custom_packing_ops,
            apply_length_check=apply_length_check,
            bos_id=bos_id,
        )
        self._teacher_k = teacher_k
        self._custom_ops = use_custom_packing_ops
        # SeqIO refuses rank-2 model features when packing with its TF ops; ours are packed
        # as rank-1 streams (above), so that check does not apply. `_pack_or_pad` below uses
        # the caller's own `use_custom_packing_ops` choice.
        self._use_custom_packing_ops = True

    # -- streams ---------------------------------------------------------------------------
    def _to_streams(self, k: int):
        def fn(ex: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
            out = {key: v for key, v in ex.items() if key not in TEACHER_TASK_FEATURES}
            targets = tf.cast(ex["targets"], tf.int32)
            n = tf.shape(targets)[0]
            if "teacher_ids" in ex:
                ids = tf.cast(ex["teacher_ids"], tf.int32)
                probs = tf.cast(ex["teacher_probs"], tf.float32)
                mask = tf.cast(ex["teacher_mask"], tf.int32)
                checks = [
                    tf.debugging.assert_equal(
                        tf.shape(x)[0], n, message=f"{name} rows != len(targets)"
                    )
                    for name, x in (("teacher_ids", ids), ("teacher_probs", probs),
                                    ("teacher_mask", mask))
                ]
                with tf.control_dependencies(checks):
                    ids = tf.identity(ids)
            else:
                ids = tf.pad(targets[:, None], [[0, 0], [0, k - 1]])
                probs = tf.pad(tf.ones([n, 1], tf.float32), [[0, 0], [0, k - 1]])
                mask = tf.zeros([n], tf.int32)
            fmt = tf.cast(ex.get("format_id", tf.constant(0)), tf.int32)
            bits = tf.bitcast(probs, tf.int32)
            for j in range(k):
                out[_id_key(j)] = ids[:, j] + 1
                out[_prob_key(j)] = bits[:, j] + 1
            out[_MASK] = mask + 1
            out[_FMT] = tf.fill([n], fmt + 1)
            return out

        return fn

    def _stream_keys(self, k: int) -> list[str]:
        return [_id_key(j) for j in range(k)] + [_prob_key(j) for j in range(k)] + [_MASK, _FMT]

    def _pack_or_pad(self, ds: tf.data.Dataset, packed_lengths: Mapping[str, int]):
        if self.pack:
            return seqio_utils.trim_and_pack_dataset(ds, packed_lengths, self._custom_ops)
        return seqio_utils.trim_and_pad_dataset(ds, packed_lengths)

    def _convert_features(
        self, ds: tf.data.Dataset, task_feature_lengths: Mapping[str, int]
    ) -> tf.data.Dataset:
        spec = ds.element_spec
        k = spec["teacher_ids"].shape[-1] if "teacher_ids" in spec else self._teacher_k
        if k is None:
            raise ValueError("teacher_ids must have a static last dimension (k)")
        if not self.pack and "teacher_ids" not in spec and self.derive_one_hot_rows:
            return self._one_hot_rows(ds, task_feature_lengths, k)
        ds = ds.map(self._to_streams(k), num_parallel_calls=tf.data.AUTOTUNE)
        lengths = dict(task_feature_lengths)
        lengths.update({key: task_feature_lengths["targets"] for key in self._stream_keys(k)})
        ds = self._pack_or_pad(ds, lengths)

        def convert(features: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
            d = dict(self._convert_example(features))
            dec = {key: tf.maximum(features[key] - 1, 0) for key in self._stream_keys(k)}
            d["decoder_teacher_ids"] = tf.stack([dec[_id_key(j)] for j in range(k)], axis=-1)
            d["decoder_teacher_probs"] = tf.bitcast(
                tf.stack([dec[_prob_key(j)] for j in range(k)], axis=-1), tf.float32
            )
            d["decoder_teacher_mask"] = dec[_MASK]
            d["decoder_format_ids"] = dec[_FMT]
            return d

        return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)

    def _one_hot_rows(self, ds: tf.data.Dataset, task_feature_lengths: Mapping[str, int],
                      k: int) -> tf.data.Dataset:  # fmt: skip
        """Unpacked examples without teacher arrays: seqio's padding and conversion, then the
        rows the streams would give — the target token with probability 1 (mask 0) and the
        example's format at every position whose target is not padding (id 0, as seqio's
        loss weights count them), zeros elsewhere."""
        ds = seqio_utils.trim_and_pad_dataset(ds, task_feature_lengths)

        def convert(features: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
            d = dict(self._convert_example(features))
            targets = tf.cast(d["decoder_target_tokens"], tf.int32)
            real = tf.cast(tf.not_equal(targets, 0), tf.int32)
            zeros = tf.zeros_like(targets)
            d["decoder_teacher_ids"] = tf.stack([targets] + [zeros] * (k - 1), axis=-1)
            d["decoder_teacher_probs"] = tf.stack(
                [tf.cast(real, tf.float32)] + [tf.zeros_like(targets, tf.float32)] * (k - 1),
                axis=-1)
            d["decoder_teacher_mask"] = zeros
            d["decoder_format_ids"] = real * tf.cast(features.get("format_id", 0), tf.int32)
            return d

        return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)

    def get_model_feature_lengths(self, task_feature_lengths: Mapping[str, int]):
        lengths = dict(super().get_model_feature_lengths(task_feature_lengths))
        decoder_length = task_feature_lengths["targets"]
        for key in ("decoder_teacher_ids", "decoder_teacher_probs", "decoder_teacher_mask",
                    "decoder_format_ids"):
            lengths[key] = decoder_length
        return lengths
