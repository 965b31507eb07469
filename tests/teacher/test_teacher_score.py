"""``t5spec teacher score``: the teacher's echo log-probs of student texts, as teacher records.

The served teacher is ``t5spec serve`` over a tiny random-weight T5X checkpoint with the lab's
teacher tokenizer (BPE, lossless, as the lab's teacher), started in this process; the CLI runs
as a subprocess, directly, through the 20%-fault proxy, and killed with SIGKILL mid-run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from teacher_faults import FaultProxy

from t5spec import cli
from t5spec.align import inputs as align_inputs
from t5spec.teacher.normalize import MalformedResponse, parse_echo
from t5spec.teacher.store import read_records, scan_store, shard_paths

MODEL = "tiny-teacher"
PROMPT_ID = "prompt_direct"
TEXTS = 40


def _serve_conftest():
    path = Path(__file__).resolve().parents[1] / "serve" / "conftest.py"
    spec = importlib.util.spec_from_file_location("serve_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def served_teacher(tmp_path_factory):
    """``t5spec serve`` of a random tiny T5 over the lab teacher's BPE vocabulary."""
    from t5spec import serve
    from t5spec.lab import tokenizers, world

    root = tmp_path_factory.mktemp("score_teacher")
    vocab = tokenizers.write_tokenizers(world.world_text(world.generate_world(0)), root)
    checkpoint = _serve_conftest().write_random_checkpoint(root / "ckpt", vocab_size=1536)
    engine = serve.load_engine(checkpoint, vocab["teacher"])
    config = serve.ServeConfig(model_name=MODEL, max_tokens=32, max_input_tokens=2048,
                               max_batch=8, min_batch=8, batch_wait_ms=20)
    with serve.ServerThread(serve.create_app(engine, config)) as server:
        yield server


@pytest.fixture(scope="module")
def texts_file(tmp_path_factory, gsm8k_train) -> Path:
    """Student texts for the first questions: two per question, one with a gold."""
    lines = []
    for i, ex in enumerate(gsm8k_train[:TEXTS // 2]):
        for j, text in enumerate((f" The answer is {i + 3}.", f" So it is {i} + 1 = {i + 1}.")):
            record = {"question_id": ex.id, "sample_index": j, "question": ex.question,
                      "continuation": text}
            if j == 0:
                record["gold"] = str(i + 3)
            lines.append(json.dumps(record))
    path = tmp_path_factory.mktemp("texts") / "student.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _command(url: str, texts: Path, out: Path, data_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "t5spec.cli", "teacher", "score", f"--base_url={url}",
            f"--model={MODEL}", "--echo=decoder_prompt", f"--texts={texts}",
            f"--data_dir={data_dir}", f"--prompt_id={PROMPT_ID}", f"--output={out}",
            "--no_progress", "--concurrency=4", *extra]


def _records(out: Path) -> dict[str, dict]:
    """key -> record of a store; scan_store first (it raises on a duplicate key)."""
    scan_store(out)
    return {r["key"]: r for path in shard_paths(out) for _, r in read_records(path)}


def _same_records(a: dict[str, dict], b: dict[str, dict]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        x, y = dict(a[key]), dict(b[key])
        for name in ("token_logprobs", "top_logprobs"):  # floats: batching may change bits
            xs, ys = x.pop(name), y.pop(name)
            if name == "top_logprobs":
                assert [[t for t, _ in alts] for alts in xs] == [[t for t, _ in alts]
                                                                 for alts in ys]
                xs = [lp for alts in xs for _, lp in alts]
                ys = [lp for alts in ys for _, lp in alts]
            np.testing.assert_allclose(xs, ys, atol=1e-5)
        assert x == y


@pytest.fixture(scope="module")
def reference(served_teacher, texts_file, data_dir, tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("reference") / "scored"
    done = subprocess.run(_command(served_teacher.base_url, texts_file, out, data_dir),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary == {"already_stored": 0, "failed": 0, "invalid": 0, "texts": TEXTS,
                       "written": TEXTS}
    return _records(out)


@pytest.mark.slow
def test_records_are_teacher_records_of_the_continuation(reference, texts_file, served_teacher,
                                                         data_dir):
    import httpx

    from t5spec.data import formats

    texts = [json.loads(line) for line in texts_file.read_text().splitlines()]
    assert len(reference) == TEXTS
    for t in texts:
        r = reference[f"{t['question_id']}#{t['sample_index']}"]
        assert r["source"] == "student" and r["valid"] and r["prompt_id"] == PROMPT_ID
        assert r["text"] == t["continuation"] == "".join(r["tokens"])
        assert len(r["tokens"]) == len(r["token_logprobs"]) == len(r["top_logprobs"])
        assert all(len(alts) == 5 for alts in r["top_logprobs"])
        assert r["correct"] == ("gold" in t)  # " The answer is {gold}." is right
    t = texts[0]  # the record holds exactly the server's numbers for the continuation
    prompt = formats.teacher_prompt(t["question"], data_dir, PROMPT_ID)
    body = httpx.post(f"{served_teacher.base_url}/completions", timeout=300, json={
        "model": MODEL, "prompt": prompt, "decoder_prompt": t["continuation"], "echo": True,
        "max_tokens": 0, "logprobs": 5}).json()
    lp = body["choices"][0]["logprobs"]
    r = reference[f"{t['question_id']}#0"]
    assert r["tokens"] == lp["tokens"][1:]
    np.testing.assert_allclose(r["token_logprobs"], lp["token_logprobs"][1:], atol=1e-6)


@pytest.mark.slow
def test_align_reads_the_records_unchanged(reference, tmp_path):
    path = tmp_path / "samples-00000.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in reference.values()))
    read = list(align_inputs.read_records(str(path)))
    assert len(read) == TEXTS
    assert all(r.error is None and r.sample is not None and r.sample.valid for r in read)


@pytest.mark.slow
def test_through_the_fault_proxy_no_record_is_lost_or_doubled(
        reference, served_teacher, texts_file, data_dir, tmp_path):
    out = tmp_path / "scored"
    # A 10 s timeout: a batch of new shape compiles on a busy CPU for seconds; hangs last 12.
    with FaultProxy(served_teacher.base_url, rate=0.2, hang_s=12.0, seed=3) as proxy:
        done = subprocess.run(
            _command(proxy.url, texts_file, out, data_dir, "--timeout=10", "--retry_base=0.05"),
            capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout[-1000:], done.stderr[-3000:])
    assert sum(proxy.faults.values()) >= 5, proxy.faults  # faults did happen
    _same_records(_records(out), reference)


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_gives_the_same_records(
        reference, served_teacher, texts_file, data_dir, tmp_path):
    out = tmp_path / "scored"
    command = _command(served_teacher.base_url, texts_file, out, data_dir, "--concurrency=1")
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while _lines(out) < 5 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert 5 <= _lines(out) < TEXTS  # killed mid-run
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["already_stored"] + summary["written"] == TEXTS
    _same_records(_records(out), reference)


def _lines(out: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in shard_paths(out)) if out.exists() else 0


@pytest.mark.parametrize(("line", "field", "reason"), [
    ('{"question_id": "q", "sample_index": 0, "question": "?", "continuation": " a", "x": 1}',
     "x", "unknown field"),
    ('{"question_id": "q", "sample_index": 0, "question": "?"}', "continuation", "missing"),
    ('{"question_id": "q", "sample_index": "0", "question": "?", "continuation": " a"}',
     "sample_index", "expected an integer"),
    ('{"question_id": "q", "sample_index": true, "question": "?", "continuation": " a"}',
     "sample_index", "expected an integer"),
    ('{"question_id": "q", "sample_index": -1, "question": "?", "continuation": " a"}',
     "sample_index", "negative"),
    ('{"question_id": "q", "sample_index": 0, "question": "?", "continuation": ""}',
     "continuation", "empty"),
    ('{"question_id": "q", "sample_index": 0, "question": "?", "continuation": " a", '
     '"gold": "seven"}', "gold", "not a single number"),
    ('{"question_id": "q", "sample_index": 0, "question": "?", "continuation": " b"}',
     "sample_index", "occurs twice (first at line 1)"),
    ("[1, 2]", None, "not a JSON object"),
])
def test_bad_texts_exit_2_naming_file_line_and_field(tmp_path, capsys, line, field, reason):
    good = '{"question_id": "q", "sample_index": 0, "question": "?", "continuation": " a"}'
    texts = tmp_path / "texts.jsonl"
    texts.write_text(f"{good}\n{line}\n")
    out = tmp_path / "out"
    code = cli.main(["teacher", "score", "--base_url=http://127.0.0.1:9/v1", "--model=m",
                     f"--texts={texts}", f"--output={out}"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert f"{texts}:line 2:" in err and reason in err
    assert field is None or f"field {field!r}" in err
    assert not out.exists()  # checked before any request or write


def test_empty_texts_exit_2(tmp_path, capsys):
    texts = tmp_path / "texts.jsonl"
    texts.write_text("\n")
    assert cli.main(["teacher", "score", "--base_url=http://127.0.0.1:9/v1", "--model=m",
                     f"--texts={texts}", f"--output={tmp_path / 'out'}"]) == 2
    assert "no texts to score" in capsys.readouterr().err


def _body(tokens, offsets, logprobs, tops, **extra):
    return {"model": "m", "usage": {"prompt_tokens": 9}, "choices": [{
        "text": "".join(tokens), "index": 0, "finish_reason": "length", **extra,
        "logprobs": {"tokens": tokens, "text_offset": offsets, "token_logprobs": logprobs,
                     "top_logprobs": tops}}]}


def test_parse_echo_keeps_the_continuation_of_a_decoder_only_echo():
    # prompt "Q: x\nA:" (7 chars) + continuation " 7." then a generated "\n" to ignore
    tokens, offsets = ["Q", ":", " x", "\nA", ":", " 7", ".", "\n"], [0, 1, 2, 4, 6, 7, 9, 10]
    lps = [None, -1.0, -2.0, -0.5, -0.1, -0.2, -0.3, -0.4]
    tops = [None] + [{t: lp, "z": -9.0} for t, lp in zip(tokens[1:], lps[1:], strict=True)]
    (choice,) = parse_echo(_body(tokens, offsets, lps, tops), " 7.", boundary=7, k=2).choices
    assert choice.invalid_reason is None and choice.text == " 7."
    assert choice.tokens == (" 7", ".") and choice.token_logprobs == (-0.2, -0.3)
    assert choice.top_logprobs == ([(" 7", -0.2), ("z", -9.0)], [(".", -0.3), ("z", -9.0)])
    straddle = parse_echo(_body(tokens, offsets, lps, tops), "A: 7.", boundary=5, k=2)
    assert "straddles" in straddle.choices[0].invalid_reason


def test_parse_echo_drops_the_decoder_start_and_flags_missing_logprobs():
    body = _body(["", " 7", "."], [0, 0, 2], [None, -0.2, -0.3],
                 [None, {" 7": -0.2}, {".": -0.3}])
    (choice,) = parse_echo(body, " 7.", boundary=0, k=1).choices
    assert choice.invalid_reason is None and choice.tokens == (" 7", ".")
    body = _body(["", " 7", "."], [0, 0, 2], [None, None, -0.3], [None, None, {".": -0.3}])
    assert "no log-probability" in parse_echo(body, " 7.", boundary=0, k=1).choices[0] \
        .invalid_reason
    assert "no logprobs" in parse_echo({"choices": [{"text": "x", "logprobs": None}]}, "x",
                                       boundary=0, k=1).choices[0].invalid_reason
    with pytest.raises(MalformedResponse):
        parse_echo({"choices": []}, "x", boundary=0, k=1)
