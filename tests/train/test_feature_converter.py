"""DistillationFeatureConverter: teacher arrays through packing and padding (docstring example)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from t5spec.feature_converters import DistillationFeatureConverter

EXAMPLES = [
    {"inputs": [7, 8, 5, 1], "targets": [3, 9, 1],
     "teacher_ids": [[3, 4], [9, 2], [1, 0]],
     "teacher_probs": [[.7, .3], [.6, .4], [1., 0.]],
     "teacher_mask": [1, 1, 0], "format_id": 4},
    {"inputs": [8, 4, 9, 3, 1], "targets": [4, 1],
     "teacher_ids": [[4, 0], [1, 0]], "teacher_probs": [[1., 0.], [1., 0.]],
     "teacher_mask": [0, 0], "format_id": 3},
]
LENGTHS = {"inputs": 10, "targets": 7}


def _dataset(examples, teacher=True):
    sig = {"inputs": tf.TensorSpec([None], tf.int32), "targets": tf.TensorSpec([None], tf.int32)}
    if teacher:
        sig.update({"teacher_ids": tf.TensorSpec([None, 2], tf.int32),
                    "teacher_probs": tf.TensorSpec([None, 2], tf.float32),
                    "teacher_mask": tf.TensorSpec([None], tf.int32),
                    "format_id": tf.TensorSpec([], tf.int32)})

    def gen():
        for ex in examples:
            yield {k: np.asarray(ex[k], np.float32 if k == "teacher_probs" else np.int32)
                   for k in sig}

    return tf.data.Dataset.from_generator(gen, output_signature=sig)


def test_packed_worked_example():
    (ex,) = list(DistillationFeatureConverter(pack=True)(_dataset(EXAMPLES), LENGTHS)
                 .as_numpy_iterator())
    assert ex["decoder_target_tokens"].tolist() == [3, 9, 1, 4, 1, 0, 0]
    assert ex["decoder_segment_ids"].tolist() == [1, 1, 1, 2, 2, 0, 0]
    assert ex["decoder_teacher_ids"].tolist() == [[3, 4], [9, 2], [1, 0], [4, 0], [1, 0],
                                                   [0, 0], [0, 0]]
    expected_probs = np.array([[.7, .3], [.6, .4], [1, 0], [1, 0], [1, 0], [0, 0], [0, 0]],
                              np.float32)
    np.testing.assert_array_equal(ex["decoder_teacher_probs"], expected_probs)  # bit-exact
    assert ex["decoder_teacher_mask"].tolist() == [1, 1, 0, 0, 0, 0, 0]
    assert ex["decoder_format_ids"].tolist() == [4, 4, 4, 3, 3, 0, 0]
    assert ex["encoder_input_tokens"].tolist() == [7, 8, 5, 1, 8, 4, 9, 3, 1, 0]


def test_unpacked_pads_each_example():
    out = list(DistillationFeatureConverter(pack=False)(_dataset(EXAMPLES), LENGTHS)
               .as_numpy_iterator())
    assert len(out) == 2 and "decoder_segment_ids" not in out[0]
    assert out[1]["decoder_teacher_ids"].tolist() == [[4, 0], [1, 0]] + [[0, 0]] * 5
    assert out[0]["decoder_teacher_mask"].tolist() == [1, 1, 0, 0, 0, 0, 0]
    assert out[0]["decoder_teacher_ids"].shape == (7, 2)


def test_without_teacher_features_rows_are_one_hot():
    conv = DistillationFeatureConverter(pack=False, teacher_k=3)
    (ex, _) = list(conv(_dataset(EXAMPLES, teacher=False), LENGTHS).as_numpy_iterator())
    assert ex["decoder_teacher_ids"][:3].tolist() == [[3, 0, 0], [9, 0, 0], [1, 0, 0]]
    assert ex["decoder_teacher_probs"][:3, 0].tolist() == [1, 1, 1]
    assert ex["decoder_teacher_mask"].sum() == 0 and ex["decoder_format_ids"].sum() == 0


def test_teacher_rows_must_match_targets():
    bad = [dict(EXAMPLES[0], teacher_mask=[1, 1])]
    with pytest.raises(tf.errors.InvalidArgumentError, match="teacher_mask rows"):
        list(DistillationFeatureConverter(pack=False)(_dataset(bad), LENGTHS))


class _StreamsAlways(DistillationFeatureConverter):
    derive_one_hot_rows = False


@pytest.mark.parametrize("with_format", [True, False])
def test_one_hot_rows_equal_the_streams(with_format: bool) -> None:
    """Unpacked examples without teacher arrays: the derived rows are the streams' arrays."""
    examples = [{k: v for k, v in ex.items() if k in ("inputs", "targets", "format_id")}
                for ex in EXAMPLES]
    sig = {"inputs": tf.TensorSpec([None], tf.int32), "targets": tf.TensorSpec([None], tf.int32)}
    if with_format:
        sig["format_id"] = tf.TensorSpec([], tf.int32)
    ds = tf.data.Dataset.from_generator(
        lambda: ({k: np.asarray(ex[k], np.int32) for k in sig} for ex in examples),
        output_signature=sig)
    short = {"inputs": 4, "targets": 2}  # trims as well (no length check, as the evaluator's)
    for lengths in (LENGTHS, short):
        kw = dict(pack=False, teacher_k=3, apply_length_check=lengths is LENGTHS)
        fast = list(DistillationFeatureConverter(**kw)(ds, lengths).as_numpy_iterator())
        slow = list(_StreamsAlways(**kw)(ds, lengths).as_numpy_iterator())
        assert len(fast) == len(slow) == 2
        for a, b in zip(fast, slow, strict=True):
            assert a.keys() == b.keys()
            for key in a:
                assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert fast[0]["decoder_format_ids"].tolist() == ([4, 4] if with_format else [0, 0])
