"""``t5spec teacher sample`` end to end against the stub teacher (fast, in-process)."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from teacher_faults import closed_port_url, golds_of

from t5spec.cli import main
from t5spec.teacher.store import read_samples, scan_store


def _sample(url: str, out, *extra: str) -> list[str]:
    return ["teacher", "sample", f"--base_url={url}", "--model=stub-teacher",
            "--split=train", f"--output={out}", "--no_progress", "--fsync=never",
            "--retry_base=0.01", *extra]


def _stats_line(capsys) -> dict:
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def test_sampling_stores_every_sample_once_and_filters(stub_teacher, gsm8k_train, tmp_path,
                                                       capsys):
    stub = stub_teacher(golds=golds_of(gsm8k_train[:5]))
    out = tmp_path / "store"
    assert main(_sample(stub.url, out, "--limit=5", "--num_samples=10")) == 0
    samples = list(read_samples(out))
    assert sorted(s.key for s in samples) == sorted(
        f"gsm8k/train/{q}#{i}" for q in range(5) for i in range(10))
    # n is honoured: 10 samples per question in requests of 8 + 2.
    assert stub.requests == 5 * 2
    by_key = {s.key: s for s in samples}
    s0 = by_key["gsm8k/train/0#0"]
    assert s0.gold == "72" and s0.prompt_id == "prompt_complex" and s0.model == "stub-teacher"
    assert s0.valid and "".join(s0.tokens) == s0.text and len(s0.top_logprobs[0]) == 5
    assert s0.usage["completion_tokens"] == len(s0.tokens)
    # The stub answers the gold for even seeds: correctness is judged, not assumed.
    kept = [s for s in samples if s.correct]
    assert 0 < len(kept) < len(samples)
    assert all(s.answer == s.gold for s in kept)
    assert all(s.answer != s.gold for s in samples if not s.correct)
    stats = _stats_line(capsys)
    assert stats["samples"] == 50 and stats["kept"] == len(kept) and stats["questions"] == 5
    assert stats["coverage"] == pytest.approx(
        len({s.question_id for s in kept}) / 5)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["num_samples"] == 10 and manifest["settings"]["temperature"] == 0.5
    assert manifest["code_version"].startswith("0.1.0+")


def test_server_that_ignores_n_gets_one_request_per_sample(stub_teacher, tmp_path, capsys):
    stub = stub_teacher(honor_n=False)
    out = tmp_path / "store"
    assert main(_sample(stub.url, out, "--question_ids=3,7", "--num_samples=4",
                        "--concurrency=2")) == 0
    keys = scan_store(out).keys
    assert keys == {f"gsm8k/train/{q}#{i}" for q in (3, 7) for i in range(4)}
    # At most one request per question asked n=4 before the fallback was seen.
    assert stub.requests == 8
    assert "ignored n>1" in capsys.readouterr().err


def test_resume_asks_only_for_missing_samples(stub_teacher, tmp_path):
    stub = stub_teacher()
    out = tmp_path / "store"
    assert main(_sample(stub.url, out, "--limit=2", "--num_samples=3",
                        "--samples_per_request=1")) == 0
    assert stub.requests == 6
    assert main(_sample(stub.url, out, "--limit=4", "--num_samples=3",
                        "--samples_per_request=1")) == 0
    assert stub.requests == 12
    assert len(scan_store(out).keys) == 12
    assert main(_sample(stub.url, out, "--limit=4", "--num_samples=3")) == 0
    assert stub.requests == 12


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("no_logprobs", "response has no logprobs (tokens)"),
     ("short_k", "token N has N top_logprobs, asked for N"),
     ("bad_join", "tokens do not concatenate to the text (first difference at char N; "
                  "N vs N chars)")],
)
def test_unusable_responses_are_stored_invalid_and_counted(stub_teacher, tmp_path, capsys,
                                                           mode, reason):
    stub = stub_teacher(mode=mode)
    out = tmp_path / "store"
    assert main(_sample(stub.url, out, "--limit=2", "--num_samples=2")) == 0
    stats = _stats_line(capsys)
    assert stats["samples"] == 4 and stats["valid"] == 0 and stats["kept"] == 0
    assert stats["invalid_reasons"] == {reason: 4}
    assert all(not s.valid and not s.correct for s in read_samples(out))


def test_chat_endpoint_k_plus_one_progress_and_stats(stub_teacher, tmp_path, capsys):
    stub = stub_teacher(mode="plus_one")
    out = tmp_path / "store"
    args = _sample(stub.url, out, "--limit=1", "--num_samples=2", "--endpoint=chat",
                   "--top_logprobs=3")
    args.remove("--no_progress")
    assert main(args) == 0
    samples = list(read_samples(out))
    assert len(samples) == 2 and all(s.valid for s in samples)
    assert all(len(alts) == 3 for s in samples for alts in s.top_logprobs)
    err = capsys.readouterr().err
    assert "questions 1/1, retries 0" in err and "sample/s" in err  # the tqdm bar
    assert main(["teacher", "stats", str(out)]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["samples"] == 2


def test_a_teacher_that_never_answers_stops_the_run(stub_teacher, tmp_path, capsys):
    from teacher_faults import FaultProxy

    stub = stub_teacher()
    out = tmp_path / "store"
    with FaultProxy(stub.url, rate=1.0, hang_s=3.0) as proxy:
        rc = main(_sample(proxy.url, out, "--limit=3", "--num_samples=2", "--max_retries=2",
                          "--timeout=1", "--concurrency=1"))
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no request has succeeded; gave up after 3 attempts" in err
    assert sum(proxy.faults.values()) == 3


def test_bad_setup_fails_fast_with_one_line(stub_teacher, tmp_path, capsys):
    stub = stub_teacher(api_key="right-key")
    out = tmp_path / "store"
    key_file = tmp_path / "key"
    key_file.write_text("wrong-key\n")
    cases = [
        (stub.url, ["--api_key_file", str(key_file)], "authentication failed (401)"),
        (closed_port_url(), [], "cannot reach the teacher"),
    ]
    for url, extra, message in cases:
        assert main(_sample(url, out, "--limit=1", "--num_samples=1", *extra)) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("t5spec teacher: error: ") and message in err[-1]
    assert stub.requests == 0 and stub.model_listings == 1
    key_file.write_text("right-key\n")
    assert main(_sample(stub.url, out, "--limit=1", "--num_samples=1",
                        "--api_key_file", str(key_file))) == 0
    # The same store with other settings: refused, nothing written.
    assert main(_sample(stub.url, out, "--limit=1", "--num_samples=1", "--temperature=0.9",
                        "--api_key_file", str(key_file))) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "cannot resume with different settings (temperature: run has 0.5, now 0.9)" in err
    assert len(scan_store(out).keys) == 1


def test_dry_run_prints_the_estimate_and_writes_nothing(stub_teacher, tmp_path, capsys):
    out = tmp_path / "store"
    assert main(_sample("http://127.0.0.1:9/v1", out, "--limit=3", "--dry_run",
                        "--usd_per_1m_prompt=1.5")) == 0
    err = capsys.readouterr().err
    assert "3 questions × 40 samples; estimate: 120 samples in ≥120 requests" in err
    assert "at most $" in err and not out.exists()


def test_a_sample_draws_the_same_seed_however_its_requests_are_grouped(stub_teacher, tmp_path):
    """Sample i of a question is sent with seed base(question) + i (choice j of a request
    with seed s draws with s + j), so n per request and resuming change no sample."""
    stub = stub_teacher()

    def texts(out) -> dict[str, str]:
        return {s.key: s.text for s in read_samples(out)}

    whole, pairs, resumed = tmp_path / "whole", tmp_path / "pairs", tmp_path / "resumed"
    assert main(_sample(stub.url, whole, "--limit=3", "--num_samples=5")) == 0
    assert main(_sample(stub.url, pairs, "--limit=3", "--num_samples=5",
                        "--samples_per_request=2")) == 0
    shutil.copytree(whole, resumed)  # then samples 1 and 3 of each question go missing
    for shard in resumed.glob("samples-*.jsonl"):
        lines = shard.read_text().splitlines(keepends=True)
        shard.write_text("".join(x for x in lines if not re.search(r'#[13]"', x)))
    assert len(texts(resumed)) == 9
    assert main(_sample(stub.url, resumed, "--limit=3", "--num_samples=5")) == 0
    assert len(texts(whole)) == 15
    assert texts(pairs) == texts(whole) and texts(resumed) == texts(whole)
    assert len(set(texts(whole).values())) > 1
