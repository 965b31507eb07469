"""The aligned store: write → read back → same arrays, and the SeqIO-side parse to [L, k]."""

from __future__ import annotations

import numpy as np

from t5spec.align import store


def _same(a: store.AlignedSample, b: store.AlignedSample) -> None:
    for name in ("key", "question_id", "sample_index", "question", "gold", "target_text"):
        assert getattr(a, name) == getattr(b, name)
    for name in ("targets", "teacher_ids", "teacher_probs", "teacher_mask"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_round_trip_and_seqio_parse(tmp_path, codex_samples, default_aligner):
    import tensorflow as tf

    aligned = default_aligner.align(codex_samples[:7])
    paths = store.write_shards(aligned, tmp_path, prefix="t", records_per_shard=3)
    assert [p.name for p in paths] == ["t-00000.tfrecord", "t-00001.tfrecord", "t-00002.tfrecord"]
    back = list(store.read_aligned(str(tmp_path / "t-*.tfrecord*")))
    assert len(back) == 7
    for a, b in zip(aligned, back, strict=True):
        _same(a, b)
    ds = tf.data.TFRecordDataset([str(p) for p in paths]).map(
        lambda r: store.parse_features(tf.io.parse_single_example(r, store.SEQIO_FEATURES)))
    first = next(iter(ds.as_numpy_iterator()))
    assert first["teacher_ids"].shape == (aligned[0].length, aligned[0].k)
    np.testing.assert_array_equal(first["teacher_ids"], aligned[0].teacher_ids)
    np.testing.assert_allclose(first["teacher_probs"], aligned[0].teacher_probs)
    np.testing.assert_array_equal(first["targets"], aligned[0].targets)
    assert first["question"].decode() == codex_samples[0].question
    assert first["gold"].decode() == "72"


def test_seqio_data_source_reads_the_shards(tmp_path, codex_samples, default_aligner):
    import seqio

    store.write_shards(default_aligner.align(codex_samples[:2]), tmp_path, prefix="s")
    source = seqio.TFExampleDataSource({"train": str(tmp_path / "s-*.tfrecord")},
                                       feature_description=dict(store.SEQIO_FEATURES))
    ds = source.get_dataset("train", shuffle=False).map(store.parse_features)
    got = [ex["key"].decode() for ex in ds.as_numpy_iterator()]
    assert got == ["gsm8k/train/0#0", "gsm8k/train/0#1"]
