"""Issue 27 corpus for ``t5spec align``: every case through the real CLI.

Each bad input must exit 2 with one line naming file, line and field (no traceback), and
leave what an earlier run wrote byte-identical (a refused run writes nothing at all).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from t5spec import cli
from t5spec.align import store
from t5spec.align.inputs import content_digest
from t5spec.errors import InputError


@pytest.fixture(scope="module")
def good(codex_samples) -> list[dict]:
    """Three correct real samples as JSON records."""
    return [s.to_json() for s in codex_samples if s.correct][:3]


def _write(path: Path, records: list[dict], tail: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail, encoding="utf-8")
    return path


def _align(capsys, src, out, *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = cli.main(["align", "--no_progress", f"--teacher_samples={src}", f"--output={out}",
                   *extra])
    got = capsys.readouterr()
    return rc, got.out, got.err


def _snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _bad_exit(rc: int, err: str, *parts: str) -> None:
    assert rc == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for part in parts:
        assert part in err, (part, err)


def _dict_alternatives(r: dict) -> None:
    r["top_logprobs"][0] = {"x0": -0.1}


def _set(field, value):
    return lambda r: r.__setitem__(field, value)


TYPE_CASES = {
    "sample_index_str": (_set("sample_index", "0"), "sample_index"),
    "sample_index_float": (_set("sample_index", 1.5), "sample_index"),
    "valid_str": (_set("valid", "false"), "valid"),
    "correct_str": (_set("correct", "no"), "correct"),
    "alternatives_dict": (_dict_alternatives, "top_logprobs"),
    "question_int": (_set("question", 1), "question"),
    "gold_null": (_set("gold", None), "gold"),
}


@pytest.mark.parametrize("case", sorted(TYPE_CASES))
def test_wrong_typed_field_exits_2_naming_file_line_field(tmp_path, good, capsys, case):
    """Items 1 and 6: a wrong JSON type is exit 2; earlier shards are kept byte-identical."""
    out = tmp_path / "out"
    assert _align(capsys, _write(tmp_path / "first.jsonl", good[:1]), out)[0] == 0
    shard = out / "gsm8k_train-00000.tfrecord"
    before = shard.read_bytes()
    edit, field = TYPE_CASES[case]
    bad = json.loads(json.dumps(good[1]))
    edit(bad)
    src = _write(tmp_path / "in.jsonl", [good[0], bad, good[2]])
    rc, _, err = _align(capsys, src, out)
    _bad_exit(rc, err, f"{src}:line 2", f"field '{field}'")
    assert shard.read_bytes() == before


@pytest.mark.parametrize("case", ["question_int", "gold_null", "sample_index_float",
                                  "alternatives_dict"])
def test_skip_invalid_counts_wrong_types_and_commits_the_rest(tmp_path, good, capsys, case):
    """Item 6: with --skip_invalid the record is listed, the chunk's others committed."""
    edit, field = TYPE_CASES[case]
    bad = json.loads(json.dumps(good[1]))
    edit(bad)
    src = _write(tmp_path / "in.jsonl", [good[0], bad, good[2]])
    out = tmp_path / "out"
    rc, stdout, err = _align(capsys, src, out, "--skip_invalid")
    assert rc == 0, err
    assert "2 aligned" in stdout and "1 invalid" in stdout
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert [(r["key"], r["field"]) for r in rejects] == [(good[1]["key"], field)]
    assert not [p for p in out.rglob(".tmp-*")]
    assert [s.key for s in store.read_aligned(out)] == [good[0]["key"], good[2]["key"]]


def test_torn_last_line_is_skipped_with_a_warning(tmp_path, good, capsys):
    """Item 2: a last line without newline is not aligned, and the run says so."""
    torn = json.dumps(good[2])[:200]
    src = _write(tmp_path / "in.jsonl", good[:2], tail=torn)
    rc, stdout, err = _align(capsys, src, tmp_path / "out")
    assert rc == 0, err
    assert f"{src}: line 3 has no newline" in err
    assert "2 aligned" in stdout and f"torn last line(s) (no newline): {src}:3" in stdout
    summary = json.loads((tmp_path / "out" / "_summary.json").read_text())
    assert summary["torn_lines"] == [f"{src}:3"]


def test_empty_input_exits_2_and_writes_nothing(tmp_path, capsys):
    """Item 2: an empty file is exit 2 (aligning nothing is most likely a wrong path)."""
    src = tmp_path / "empty.jsonl"
    src.write_bytes(b"")
    rc, _, err = _align(capsys, src, tmp_path / "out")
    _bad_exit(rc, err, str(src), "empty input", "'teacher_samples'")
    assert not (tmp_path / "out").exists()


def test_duplicate_keys_identical_ok_conflicting_exit_2(tmp_path, good, capsys):
    """Item 2: an identical duplicate is skipped and counted; a different one names both."""
    src = _write(tmp_path / "same.jsonl", [good[0], good[1], good[0]])
    rc, stdout, err = _align(capsys, src, tmp_path / "a")
    assert rc == 0, err
    assert "2 aligned" in stdout and "1 identical duplicate record(s) skipped" in stdout
    other = dict(good[0], usage={"prompt_tokens": 1, "completion_tokens": 2})
    src = _write(tmp_path / "conflict.jsonl", [good[0], good[1], other])
    rc, _, err = _align(capsys, src, tmp_path / "b")
    _bad_exit(rc, err, f"{src}:line 3", f"also at {src}:1", "different content", "'key'")


def test_conflict_with_an_earlier_run_exits_2(tmp_path, good, capsys):
    out = tmp_path / "out"
    assert _align(capsys, _write(tmp_path / "a.jsonl", good[:2]), out)[0] == 0
    before = _snapshot(out)
    changed = dict(good[1], model="another-teacher")
    src = _write(tmp_path / "b.jsonl", [changed])
    rc, _, err = _align(capsys, src, out)
    _bad_exit(rc, err, f"{src}:line 1", "earlier run", "_state/gsm8k_train-00000.json")
    after = _snapshot(out)
    assert {k: v for k, v in after.items() if "tfrecord" in k or "_state" in k} == {
        k: v for k, v in before.items() if "tfrecord" in k or "_state" in k}


def test_output_with_shards_but_no_state_is_refused(tmp_path, good, capsys):
    """Item 3: another run's data (no _state/) is never overwritten."""
    src = _write(tmp_path / "in.jsonl", good)
    out = tmp_path / "out"
    assert _align(capsys, src, out)[0] == 0
    for p in sorted((out / "_state").iterdir(), reverse=True):
        p.unlink()
    (out / "_state").rmdir()
    before = _snapshot(out)
    rc, _, err = _align(capsys, src, out)
    _bad_exit(rc, err, str(out), "already holds aligned data", "'output'")
    assert _snapshot(out) == before


def test_resume_with_another_config_is_refused(tmp_path, good, capsys):
    """Item 3: --k 3 --paper_compat after k=5 names both fields and changes nothing."""
    src = _write(tmp_path / "in.jsonl", good[:2])
    out = tmp_path / "out"
    assert _align(capsys, src, out)[0] == 0
    before = _snapshot(out)
    rc, _, err = _align(capsys, _write(tmp_path / "more.jsonl", good), out, "--k=3",
                        "--paper_compat")
    _bad_exit(rc, err, "_state/config.json", "k: output has 5, this run 3",
              "paper_compat: output has False, this run True")
    assert _snapshot(out) == before
    rc, stdout, _ = _align(capsys, tmp_path / "more.jsonl", out)  # same config: resumes
    assert rc == 0 and "1 aligned, 2 already done" in stdout
    (out / "_state" / "config.json").unlink()  # state without a config: config unknown
    before = _snapshot(out)
    rc, _, err = _align(capsys, src, out)
    _bad_exit(rc, err, "no config.json")
    assert _snapshot(out) == before


@pytest.mark.parametrize("mode", [[], ["--paper_compat"]])
def test_row_mass_above_one_exits_2_in_both_modes(tmp_path, good, capsys, mode):
    """Item 5: top-k probabilities summing above 1 are bad input in both modes."""
    bad = json.loads(json.dumps(good[1]))
    bad["top_logprobs"][5] = [[t, -0.05] for t, _ in bad["top_logprobs"][5]]
    assert sum(math.exp(lp) for _, lp in bad["top_logprobs"][5]) > 1.5
    src = _write(tmp_path / "in.jsonl", [good[0], bad])
    rc, _, err = _align(capsys, src, tmp_path / "out", *mode)
    _bad_exit(rc, err, f"{src}:line 2", "'top_logprobs'", "token 5", "> 1")


def test_store_rows_never_sum_above_one(tmp_path, good, capsys):
    """Item 5: what is stored holds the store contract in both modes (real samples)."""
    src = _write(tmp_path / "in.jsonl", good)
    for mode in ([], ["--paper_compat"]):
        out = tmp_path / f"out{len(mode)}"
        assert _align(capsys, src, out, *mode)[0] == 0
        for s in store.read_aligned(out):
            assert (s.teacher_probs.sum(axis=1) <= 1 + 1e-6).all()


@pytest.mark.parametrize("victim", ["_state/gsm8k_train-00000.json", "_state/config.json",
                                    "manifest.json"])
def test_corrupt_state_exits_2_naming_it(tmp_path, good, capsys, victim):
    """Item 6: a corrupt state/config/manifest file is exit 2 naming that file."""
    src = _write(tmp_path / "in.jsonl", good[:2])
    out = tmp_path / "out"
    assert _align(capsys, src, out)[0] == 0
    (out / victim).write_text('{"index": 0, "keys": [', encoding="utf-8")
    before = _snapshot(out)
    rc, _, err = _align(capsys, _write(tmp_path / "more.jsonl", good), out)
    _bad_exit(rc, err, str(out / victim), "corrupt")
    assert _snapshot(out) == before


def test_output_that_is_a_file_exits_2(tmp_path, good, capsys):
    src = _write(tmp_path / "in.jsonl", good[:1])
    target = tmp_path / "notadir"
    target.write_text("keep me", encoding="utf-8")
    rc, _, err = _align(capsys, src, target)
    _bad_exit(rc, err, str(target), "not a directory", "'output'")
    assert target.read_text(encoding="utf-8") == "keep me"


def test_content_digest_is_stable_and_order_free(good):
    a = content_digest(good[0])
    assert a == content_digest(dict(reversed(list(good[0].items()))))
    assert a != content_digest(dict(good[0], model="x")) and len(a) == 64


@pytest.mark.parametrize(("field", "value"), [("question", 1), ("gold", None),
                                              ("sample_index", 1.5), ("valid", "false"),
                                              ("correct", "no")])
def test_aligner_api_checks_field_types(codex_samples, default_aligner, field, value):
    """Items 1 and 6 through the library: a sample built in code is checked as well."""
    bad = dataclasses.replace(codex_samples[0], **{field: value})
    with pytest.raises(InputError) as err:
        default_aligner.prepare(bad, "api.jsonl")
    assert err.value.field == field and "api.jsonl" in str(err.value)
