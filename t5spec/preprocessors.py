"""SeqIO preprocessors for the specialization tasks (TF ops; bound with functools.partial).

Pipeline of a teacher task (``t5spec.tasks.specialization``)::

    {record, source_file, record_index}          (the data source: raw TFRecord bytes)
      → parse_aligned_records(k)                 validate + parse (t5spec.align.store schema)
      → aligned_to_format(fmt, make_inputs)      inputs text; targets = aligned ids (CoT) or
                                                 "The answer is N" (answer-only, no teacher)
      → tokenize_strings                         inputs (and answer-only targets) → ids
      → seqio.preprocessors.append_eos_after_trim
      → finalize_teacher(k)                      teacher rows cut to the targets, EOS row
                                                 one-hot (mask 0); one-hot rows if no teacher

Bad records fail on the first one, naming the shard file, the record index and the field:
``InvalidArgumentError: … <file>: record 3: field teacher_probs: expected len(targets)*k
values``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import seqio
import tensorflow as tf

_BYTES = ("key", "question_id", "question", "gold", "target_text")
_SCALAR_INTS = ("sample_index", "k")
_INT_LISTS = ("targets", "teacher_ids", "teacher_mask")
TEACHER_FEATURES = ("teacher_ids", "teacher_probs", "teacher_mask")


def _varlen_spec() -> dict[str, tf.io.VarLenFeature]:
    spec = {n: tf.io.VarLenFeature(tf.string) for n in _BYTES}
    spec.update({n: tf.io.VarLenFeature(tf.int64) for n in (*_SCALAR_INTS, *_INT_LISTS)})
    spec["teacher_probs"] = tf.io.VarLenFeature(tf.float32)
    return spec


def _fail_unless(cond: tf.Tensor, where: tf.Tensor, field: str, reason: str) -> tf.Operation:
    msg = tf.strings.join([where, f": field {field}: {reason}"])
    return tf.debugging.Assert(cond, [msg])


def parse_aligned_records(ds: tf.data.Dataset, *, k: int) -> tf.data.Dataset:
    """Parses and validates aligned-store records (schema: ``t5spec.align.store``).

    Input elements: ``record`` (serialized ``tf.train.Example``), ``source_file``,
    ``record_index`` (0-based index in that file). Output: the string fields, ``k``,
    ``targets`` int32[L], ``teacher_ids`` int32[L, k], ``teacher_probs`` float32[L, k],
    ``teacher_mask`` int32[L]. Every field must be present, ``k`` must equal ``k`` (the task's
    row width) and the teacher arrays must have L·k / L entries.
    """
    spec = _varlen_spec()

    def parse(ex: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        where = tf.strings.join(
            [ex["source_file"], ": record ", tf.strings.as_string(ex["record_index"])]
        )
        parsed = tf.io.parse_single_example(ex["record"], spec)
        dense = {
            n: tf.sparse.to_dense(v, default_value="" if v.dtype == tf.string else 0)
            for n, v in parsed.items()
        }
        n = tf.size(dense["targets"])
        checks = [
            _fail_unless(tf.equal(tf.size(dense[f]), 1), where, f, "missing or not a scalar")
            for f in (*_BYTES, *_SCALAR_INTS)
        ]
        checks.append(_fail_unless(n > 0, where, "targets", "missing or empty"))
        with tf.control_dependencies(checks):
            rec_k = tf.identity(tf.reshape(dense["k"], [-1])[0])
        shape_checks = [
            _fail_unless(tf.equal(rec_k, k), where, "k", f"expected k = {k}"),
            _fail_unless(
                tf.equal(tf.size(dense["teacher_ids"]), n * k),
                where, "teacher_ids", "expected len(targets)*k values",
            ),
            _fail_unless(
                tf.equal(tf.size(dense["teacher_probs"]), n * k),
                where, "teacher_probs", "expected len(targets)*k values",
            ),
            _fail_unless(
                tf.equal(tf.size(dense["teacher_mask"]), n),
                where, "teacher_mask", "expected len(targets) values",
            ),
        ]
        with tf.control_dependencies(shape_checks):
            out = {f: tf.reshape(dense[f], [-1])[0] for f in (*_BYTES, *_SCALAR_INTS)}
            out["targets"] = tf.cast(dense["targets"], tf.int32)
            out["teacher_ids"] = tf.reshape(tf.cast(dense["teacher_ids"], tf.int32), [-1, k])
            out["teacher_probs"] = tf.reshape(dense["teacher_probs"], [-1, k])
            out["teacher_mask"] = tf.cast(dense["teacher_mask"], tf.int32)
        return out

    return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)


MakeInputs = Callable[[str, str], str]  # (example key, question) -> inputs text


def _py_inputs(make_inputs: MakeInputs, key: tf.Tensor, question: tf.Tensor) -> tf.Tensor:
    def fn(k: bytes, q: bytes) -> bytes:
        return make_inputs(k.decode("utf-8"), q.decode("utf-8")).encode("utf-8")

    out = tf.numpy_function(fn, [key, question], tf.string, stateful=False)
    return tf.ensure_shape(out, [])


def aligned_to_format(
    ds: tf.data.Dataset, *, make_inputs: MakeInputs, answer_only: bool, format_id: int
) -> tf.data.Dataset:
    """One training example per aligned sample, in one format.

    CoT formats: ``targets`` = the aligned T5 ids (no EOS yet) with the teacher arrays,
    ``targets_pretokenized`` = ``target_text``. Answer-only formats: ``targets`` =
    ``"The answer is <gold>"`` (text, tokenized later) and no teacher arrays. ``inputs`` =
    ``make_inputs(key, question)``; ``format_id`` = the format's number (1-based).
    """

    def fn(ex: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        out = {
            "key": ex["key"],
            "question_id": ex["question_id"],
            "inputs": _py_inputs(make_inputs, ex["key"], ex["question"]),
            "format_id": tf.constant(format_id, tf.int32),
        }
        if answer_only:
            out["targets"] = tf.strings.join(["The answer is ", ex["gold"]])
        else:
            out["targets"] = ex["targets"]
            out["targets_pretokenized"] = ex["target_text"]
            out.update({f: ex[f] for f in TEACHER_FEATURES})
        return out

    return ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE)


def tokenize_strings(
    ds: tf.data.Dataset, output_features: Mapping[str, seqio.Feature]
) -> tf.data.Dataset:
    """Tokenizes the *string* ``inputs`` / ``targets`` with their feature's vocabulary.

    Like ``seqio.preprocessors.tokenize`` (copying ``<name>_pretokenized``), but it leaves
    already-tokenized features — the aligned CoT ``targets`` — and every other feature alone.
    """

    def fn(ex: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        ex = dict(ex)
        for name in ("inputs", "targets"):
            if name in ex and name in output_features and ex[name].dtype == tf.string:
                ex[f"{name}_pretokenized"] = ex[name]
                ex[name] = tf.cast(output_features[name].vocabulary.encode_tf(ex[name]), tf.int32)
        return ex

    return ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE)


def finalize_teacher(ds: tf.data.Dataset, *, k: int, eos_id: int = 1) -> tf.data.Dataset:
    """Makes the teacher arrays exactly as long as ``targets`` (EOS included).

    Runs after ``append_eos_after_trim``: rows ``[0, n−1)`` are the teacher rows of the
    (possibly trimmed) targets, row ``n−1`` — SeqIO's EOS — is one-hot ``[eos, 0, …]`` /
    ``[1, 0, …]`` with mask 0. Examples without teacher arrays (answer-only, gold
    rationales) get one-hot rows at every target with mask 0. Output shapes: ids/probs
    [n, k], mask [n].
    """

    def onehot(tokens: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        m = tf.shape(tokens)[0]
        ids = tf.pad(tokens[:, None], [[0, 0], [0, k - 1]])
        probs = tf.pad(tf.ones([m, 1], tf.float32), [[0, 0], [0, k - 1]])
        return ids, probs, tf.zeros([m], tf.int32)

    def fn(ex: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        ex = dict(ex)
        targets = tf.cast(ex["targets"], tf.int32)
        if "teacher_ids" not in ex:
            ex["teacher_ids"], ex["teacher_probs"], ex["teacher_mask"] = onehot(targets)
            return ex
        n = tf.shape(targets)[0]
        check = tf.debugging.assert_greater_equal(
            tf.shape(ex["teacher_ids"])[0], n - 1,
            message="teacher rows shorter than targets (did EOS get appended twice?)",
        )
        with tf.control_dependencies([check]):
            eos_ids, eos_probs, eos_mask = onehot(tf.fill([1], eos_id))
            ex["teacher_ids"] = tf.concat([ex["teacher_ids"][: n - 1], eos_ids], 0)
            ex["teacher_probs"] = tf.concat([ex["teacher_probs"][: n - 1], eos_probs], 0)
            ex["teacher_mask"] = tf.concat([ex["teacher_mask"][: n - 1], eos_mask], 0)
        return ex

    return ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE)
