"""The append-only store: manifest checks, resume, torn tails, duplicates."""

from __future__ import annotations

import json

import pytest

from t5spec.errors import InputError
from t5spec.teacher.record import TeacherSample
from t5spec.teacher.store import (
    RunSettings,
    TeacherStore,
    read_samples,
    scan_store,
    shard_paths,
)

SETTINGS = RunSettings(
    model="m", endpoint="completions", dataset="gsm8k", split="train", prompt_id="p",
    prompt_sha256="0" * 64, temperature=0.5, top_logprobs=5, num_samples=4, max_tokens=256,
    stop=(), seed=0,
)


def sample(q: int, i: int) -> TeacherSample:
    return TeacherSample(
        question_id=f"gsm8k/train/{q}", sample_index=i, prompt_id="p", question="Q?",
        gold="3", text="a b", tokens=("a", " b"), top_logprobs=([("a", -0.1)], [(" b", -0.2)]),
        token_logprobs=(-0.1, -0.2), answer="3", correct=True, model="m",
    )


def test_records_roundtrip_and_resume_in_a_new_shard(tmp_path):
    with TeacherStore(tmp_path, fsync="always") as store:
        assert store.open(SETTINGS) == set()
        store.append(sample(0, 0))
        store.append(sample(0, 1))
    with TeacherStore(tmp_path) as store:
        assert store.open(SETTINGS) == {"gsm8k/train/0#0", "gsm8k/train/0#1"}
        store.append(sample(1, 0))
        with pytest.raises(ValueError, match="duplicate"):
            store.append(sample(0, 1))
    assert [p.name for p in shard_paths(tmp_path)] == ["samples-00000.jsonl", "samples-00001.jsonl"]
    assert list(read_samples(tmp_path)) == [sample(0, 0), sample(0, 1), sample(1, 0)]
    sessions = (tmp_path / "sessions.jsonl").read_text().splitlines()
    assert [json.loads(s)["records_before"] for s in sessions] == [0, 2]


def test_one_writer_at_a_time(tmp_path):
    with TeacherStore(tmp_path) as store:
        store.open(SETTINGS)
        with pytest.raises(InputError, match="another sampling run is writing"):
            TeacherStore(tmp_path).open(SETTINGS)
    with TeacherStore(tmp_path) as again:  # released on close
        again.open(SETTINGS)


def test_record_json_round_trip():
    s = sample(3, 1)
    encoded = json.loads(json.dumps(s.to_json()))
    assert encoded["key"] == s.key
    assert TeacherSample.from_json(encoded) == s


def test_shards_roll_over(tmp_path):
    with TeacherStore(tmp_path, shard_records=2, fsync="never") as store:
        store.open(SETTINGS)
        for i in range(5):
            store.append(sample(0, i))
    assert len(shard_paths(tmp_path)) == 3
    assert len(scan_store(tmp_path).keys) == 5


def test_torn_last_line_is_cut_and_asked_again(tmp_path):
    with TeacherStore(tmp_path) as store:
        store.open(SETTINGS)
        store.append(sample(0, 0))
        store.append(sample(0, 1))
    shard = shard_paths(tmp_path)[0]
    whole = shard.read_bytes()
    torn = whole[: len(whole) - 17]  # the second record lost its end (and its newline)
    shard.write_bytes(torn)
    assert scan_store(tmp_path).keys == {"gsm8k/train/0#0"}  # a reader skips the torn tail
    with TeacherStore(tmp_path) as store:
        assert store.open(SETTINGS) == {"gsm8k/train/0#0"}
        assert store.torn_tails == 1
        store.append(sample(0, 1))
    assert shard.read_bytes() == whole[: whole.index(b"\n") + 1]
    (side,) = tmp_path.glob("*.torn-*")
    assert side.read_bytes() == torn[whole.index(b"\n") + 1 :]
    assert sorted(s.key for s in read_samples(tmp_path)) == ["gsm8k/train/0#0", "gsm8k/train/0#1"]


def test_corrupt_complete_line_and_duplicate_keys_are_errors(tmp_path):
    with TeacherStore(tmp_path) as store:
        store.open(SETTINGS)
        store.append(sample(0, 0))
    shard = shard_paths(tmp_path)[0]
    line = shard.read_bytes()
    shard.write_bytes(line + line)
    with pytest.raises(InputError, match="duplicate key 'gsm8k/train/0#0'") as e:
        scan_store(tmp_path)
    assert e.value.where == "line 2"
    shard.write_bytes(line + b"{not json\n")
    with pytest.raises(InputError, match="not a JSON record"):
        TeacherStore(tmp_path).open(SETTINGS)


def test_resume_with_other_settings_is_an_error(tmp_path):
    with TeacherStore(tmp_path) as store:
        store.open(SETTINGS)
    import dataclasses

    other = dataclasses.replace(SETTINGS, temperature=0.7, num_samples=40)
    with pytest.raises(InputError, match=r"temperature: run has 0\.5, now 0\.7") as e:
        TeacherStore(tmp_path).open(other)
    assert e.value.field == "temperature" and "num_samples" in str(e.value)
