"""``t5spec align`` end to end on the 52 real samples: round trip, resume, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from t5spec import cli
from t5spec.align import store


@pytest.fixture()
def teacher_jsonl(tmp_path, codex_samples):
    paths = []
    for shard, part in enumerate((codex_samples[:30], codex_samples[30:])):
        p = tmp_path / f"teacher-{shard}.jsonl"
        p.write_text("".join(json.dumps(s.to_json()) + "\n" for s in part), encoding="utf-8")
        paths.append(p)
    return paths


def _align(*args: str) -> int:
    return cli.main(["align", "--no_progress", *args])


def test_round_trip_and_resume(tmp_path, teacher_jsonl, codex_samples, default_aligner, capsys):
    out = tmp_path / "out"
    pattern = str(tmp_path / "teacher-*.jsonl")
    # A first run over one shard only, then the glob: the second run must skip the first 30.
    assert _align(f"--teacher_samples={teacher_jsonl[0]}", f"--output={out}",
                  "--records_per_shard=16") == 0
    assert "30 aligned" in capsys.readouterr().out
    assert _align(f"--teacher_samples={pattern}", f"--output={out}",
                  "--records_per_shard=16") == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("t5spec align: 21 aligned, 30 already done, 1 not valid+correct")
    shards = store.expand(str(out / "gsm8k_train-*.tfrecord*"))
    assert len(shards) == 4
    mtimes = [(out / s).stat().st_mtime_ns for s in shards]
    back = {s.key: s for s in store.read_aligned(str(out / "gsm8k_train-*.tfrecord*"))}
    expected = default_aligner.align([s for s in codex_samples if s.correct])
    assert sorted(back) == sorted(s.key for s in expected)
    for e in expected:
        b = back[e.key]
        assert b.target_text == e.target_text and b.question == e.question and b.gold == e.gold
        for name in ("targets", "teacher_ids", "teacher_probs", "teacher_mask"):
            np.testing.assert_array_equal(getattr(b, name), getattr(e, name))
    # Nothing left to do: no shard is rewritten.
    assert _align(f"--teacher_samples={pattern}", f"--output={out}") == 0
    assert "0 aligned, 51 already done" in capsys.readouterr().out
    assert [(out / s).stat().st_mtime_ns for s in shards] == mtimes


def test_output_does_not_depend_on_the_teachers_finishing_order(tmp_path, codex_samples):
    """A concurrent teacher run writes samples as they finish; the aligned shards are the same
    bytes whatever that order (records are aligned in key order: 0#2 before 0#10)."""
    import random

    shuffled = list(codex_samples)
    random.Random(0).shuffle(shuffled)
    outs = []
    for name, samples in (("ordered", codex_samples), ("shuffled", shuffled)):
        src = tmp_path / f"{name}.jsonl"
        src.write_text("".join(json.dumps(s.to_json()) + "\n" for s in samples), "utf-8")
        assert _align(f"--teacher_samples={src}", f"--output={tmp_path / name}",
                      "--records_per_shard=16") == 0
        outs.append([(tmp_path / name / p).read_bytes() for p in
                     store.expand(str(tmp_path / name / "gsm8k_train-*.tfrecord*"))])
    assert len(outs[0]) == 4 and outs[0] == outs[1]
    keys = [s.key for s in store.read_aligned(str(tmp_path / "shuffled"))]
    assert keys.index("gsm8k/train/0#2") < keys.index("gsm8k/train/0#10")


def test_bad_input_exits_2_and_keeps_earlier_work(tmp_path, teacher_jsonl, capsys):
    lines = teacher_jsonl[0].read_text(encoding="utf-8").splitlines()
    bad = json.loads(lines[5])
    bad["top_logprobs"] = bad["top_logprobs"][:-1]
    lines[5] = json.dumps(bad)
    lines.insert(8, "{not json")
    src = tmp_path / "bad.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert _align(f"--teacher_samples={src}", f"--output={out}") == 2
    err = capsys.readouterr().err
    assert "line 6 (sample gsm8k/train/0#5)" in err and "'top_logprobs'" in err
    assert len(list(store.read_aligned(str(out)))) == 5  # the samples before it are kept
    assert _align(f"--teacher_samples={src}", f"--output={out}", "--skip_invalid") == 2
    assert "line 9: not a JSON record" in capsys.readouterr().err
    del lines[8]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert _align(f"--teacher_samples={src}", f"--output={out}", "--skip_invalid") == 0
    # The --skip_invalid run that stopped at line 9 had kept lines 6-8 (line 6 as a reject).
    assert "22 aligned, 8 already done, 0 not valid+correct, 0 rejected by mode, 0 invalid" in (
        capsys.readouterr().out)
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert [(r["key"], r["field"]) for r in rejects] == [("gsm8k/train/0#5", "top_logprobs")]
    assert _align("--teacher_samples=/nonexistent/*.jsonl", f"--output={out}") == 2


def test_paper_compat_cli_counts_rejections(tmp_path, teacher_jsonl, capsys):
    out = tmp_path / "paper"
    assert _align(f"--teacher_samples={tmp_path / 'teacher-*.jsonl'}", f"--output={out}",
                  "--paper_compat", "--include_incorrect") == 0
    line = capsys.readouterr().out
    assert "51 aligned" in line and "1 rejected by mode" in line and "81.1%" in line
