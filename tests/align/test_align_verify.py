"""Issue 28: every aligned dataset has a manifest, and ``t5spec align verify`` checks it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from t5spec import cli
from t5spec.align import store
from t5spec.align.state import file_sha256


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, codex_samples) -> Path:
    d = tmp_path_factory.mktemp("teacher")
    recs = [s.to_json() for s in codex_samples[:10]]
    (d / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    (d / "rev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in reversed(recs)),
                                 encoding="utf-8")
    (d / "half.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs[:4]),
                                  encoding="utf-8")
    return d


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = cli.main(["align", *argv])
    got = capsys.readouterr()
    return rc, got.out, got.err


def _align(capsys, src: Path, out: Path, *extra: str) -> None:
    rc, _, err = _run(capsys, "--no_progress", f"--teacher_samples={src}", f"--output={out}",
                      "--records_per_shard=3", *extra)
    assert rc == 0, err


@pytest.fixture()
def dataset(tmp_path, teacher, capsys) -> Path:
    out = tmp_path / "aligned"
    _align(capsys, teacher / "a.jsonl", out)
    return out


def _manifest(d: Path) -> dict:
    return json.loads((d / "manifest.json").read_text(encoding="utf-8"))


def test_manifest_describes_the_shards(dataset, teacher):
    m = _manifest(dataset)
    shards = sorted(p.name for p in dataset.glob("gsm8k_train-*.tfrecord"))
    assert [s["name"] for s in m["shards"]] == shards and len(shards) == 4
    for s in m["shards"]:
        assert s["sha256"] == file_sha256(dataset / s["name"])
        assert s["records"] == len(list(store.read_aligned(dataset / s["name"])))
    assert m["counts"] == {"aligned": 10, "rejected": 0, "invalid": 0, "shards": 4}
    assert m["config"]["k"] == 5 and m["config"]["paper_compat"] is False
    assert m["teacher"]["records"] == 10
    src = str((teacher / "a.jsonl").resolve())
    assert m["teacher"]["files"][src] == {"sha256": file_sha256(src), "records": 10}


def test_fingerprint_is_order_and_resume_independent(tmp_path, dataset, teacher, capsys):
    """Same teacher records -> same fingerprint, whatever the file order or the runs."""
    rev, resumed = tmp_path / "rev", tmp_path / "resumed"
    _align(capsys, teacher / "rev.jsonl", rev)
    _align(capsys, teacher / "half.jsonl", resumed)
    half = _manifest(resumed)["teacher"]["fingerprint"]
    _align(capsys, teacher / "a.jsonl", resumed)
    fp = _manifest(dataset)["teacher"]["fingerprint"]
    assert _manifest(rev)["teacher"]["fingerprint"] == fp
    assert _manifest(resumed)["teacher"]["fingerprint"] == fp != half
    assert len(_manifest(resumed)["teacher"]["files"]) == 2  # both runs' inputs listed
    assert _manifest(resumed)["counts"]["aligned"] == 10


def test_verify_ok(dataset, capsys):
    rc, out, err = _run(capsys, "verify", str(dataset), "--all")
    assert rc == 0, err
    assert "OK: 4 shard(s), 10 record(s), 10 decoded and checked" in out


def test_verify_flipped_byte_exits_1_naming_the_shard(dataset, capsys):
    shard = dataset / "gsm8k_train-00001.tfrecord"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    rc, _, err = _run(capsys, "verify", str(dataset))
    assert rc == 1
    assert f"MISMATCH {shard}: sha256 differs from the manifest" in err
    assert err.count("MISMATCH") == 1


def test_verify_removed_or_extra_shard_exits_1(dataset, capsys):
    shard = dataset / "gsm8k_train-00002.tfrecord"
    shard.rename(dataset / "gsm8k_train-00007.tfrecord")
    rc, _, err = _run(capsys, "verify", str(dataset))
    assert rc == 1
    assert f"{shard}: missing" in err
    assert "gsm8k_train-00007.tfrecord: shard not in the manifest" in err


def test_verify_checks_record_invariants(dataset, capsys):
    """A shard rewritten with a row summing above 1 (and a manifest that matches it)."""
    path = dataset / "gsm8k_train-00000.tfrecord"
    recs = list(store.read_aligned(path))
    probs = recs[1].teacher_probs.copy()
    probs[2, :] = 0.6
    recs[1] = dataclasses.replace(recs[1], teacher_probs=probs)
    store.write_shard(path, recs)
    m = _manifest(dataset)
    m["shards"][0]["sha256"] = file_sha256(path)
    (dataset / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    rc, _, err = _run(capsys, "verify", str(dataset), "--all")
    assert rc == 1
    assert f"{path}: record 1: row 2 of teacher_probs sums to 3.0000 > 1" in err
    ids = recs[0].teacher_ids.copy()
    ids[0, 0] = 40_000
    recs[1] = dataclasses.replace(recs[0], teacher_ids=ids)
    store.write_shard(path, recs)
    m["shards"][0]["sha256"] = file_sha256(path)
    (dataset / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    rc, _, err = _run(capsys, "verify", str(dataset), "--all")
    assert rc == 1 and f"{path}: record 1: teacher_ids has an id outside [0, 32100)" in err
    assert "record 0" not in err


def test_verify_bad_input_exits_2(tmp_path, dataset, capsys):
    rc, _, err = _run(capsys, "verify", str(tmp_path / "nope"))
    assert rc == 2 and "not a directory" in err and "Traceback" not in err
    rc, _, err = _run(capsys, "verify", str(tmp_path))
    assert rc == 2 and "no manifest" in err
    (dataset / "manifest.json").write_text("[1, 2", encoding="utf-8")
    rc, _, err = _run(capsys, "verify", str(dataset))
    assert rc == 2 and f"{dataset / 'manifest.json'}" in err and "corrupt" in err


def test_align_without_required_flags_exits_2(capsys):
    rc, _, err = _run(capsys, "--output=x")
    assert rc == 2 and "required: --teacher_samples" in err
