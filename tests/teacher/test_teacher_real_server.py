"""Against the real peer: llama.cpp's OpenAI-compatible server with SmolLM2-135M.

The 135M model is weak at math and slow to return log-probabilities on a shared CPU
(llama-cpp-python sorts the 49k-entry vocabulary in Python for every generated token), so
these tests check mechanics with few tokens and the short ``prompt_original`` prompt (8
exemplars, ~840 tokens); they report accuracy, they do not assert it.
"""

from __future__ import annotations

import json
import re

import pytest
from teacher_faults import KINDS, FaultProxy

from t5spec.cli import main
from t5spec.teacher.store import read_samples, scan_store, shard_paths

pytestmark = pytest.mark.slow
LLAMA_ALIAS = "smollm2-135m"  # the --model_alias the fixture serves


def _sample(url: str, key_file, out, *extra: str) -> list[str]:
    return ["teacher", "sample", f"--base_url={url}", f"--model={LLAMA_ALIAS}",
            "--split=train", f"--output={out}", f"--api_key_file={key_file}", "--no_progress",
            "--prompt_id=prompt_original", "--retry_base=0.2", *extra]


def test_sampling_through_a_fault_proxy_stores_every_sample_once(llama_server, tmp_path,
                                                                 capsys):
    questions, samples = 8, 3
    out = tmp_path / "store"
    # The server answers one request at a time; at concurrency 2 a request waits for at
    # most one other, well inside the 40 s timeout. A "hang" outlasts the timeout.
    with FaultProxy(llama_server.url, rate=0.2, hang_s=45.0, seed=1) as proxy:
        rc = main(_sample(proxy.url, llama_server.key_file, out, f"--limit={questions}",
                          f"--num_samples={samples}", "--max_tokens=4", "--concurrency=2",
                          "--timeout=40"))
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    keys = scan_store(out).keys  # raises on a duplicate
    assert keys == {f"gsm8k/train/{q}#{i}" for q in range(questions) for i in range(samples)}
    assert sum(p.read_bytes().count(b"\n") for p in shard_paths(out)) == questions * samples
    assert sum(proxy.faults.values()) >= 5 and set(proxy.faults) == set(KINDS)
    retries = re.search(r"retries: (.*)", captured.err).group(1)
    print(f"faults injected: {dict(proxy.faults)}; client retries: {retries}")
    print(captured.out)
    assert "ignored n>1" in captured.err  # llama.cpp answers one choice whatever n is
    records = list(read_samples(out))
    for s in records:
        assert s.model == LLAMA_ALIAS and s.usage["prompt_tokens"] > 800
        if s.valid:
            assert "".join(s.tokens) == s.text and 1 <= len(s.tokens) <= 4
            assert all(len(alts) == 5 for alts in s.top_logprobs)
            assert all(lp <= 0 for alts in s.top_logprobs for _, lp in alts)
        else:
            assert s.invalid_reason and not s.correct
    stats = json.loads(captured.out.strip().splitlines()[-1])
    assert stats["samples"] == questions * samples
    assert stats["valid"] + stats["invalid"] == stats["samples"]


def test_chat_endpoint_returns_top_logprobs(llama_server, tmp_path):
    out = tmp_path / "store"
    assert main(_sample(llama_server.url, llama_server.key_file, out, "--limit=1",
                        "--num_samples=1", "--max_tokens=4", "--endpoint=chat",
                        "--prompt_id=prompt_direct")) == 0
    (s,) = read_samples(out)
    print("chat sample:", s.valid, s.invalid_reason, repr(s.text))
    assert s.valid or s.invalid_reason
    if s.valid:
        assert "".join(s.tokens) == s.text and all(len(a) == 5 for a in s.top_logprobs)


@pytest.mark.parametrize(
    ("model", "key", "message"),
    [
        ("gpt-4", None, "unknown model 'gpt-4'"),
        (LLAMA_ALIAS, "wrong", "authentication failed (401)"),
    ],
)
def test_unknown_model_and_bad_key_fail_fast(llama_server, tmp_path, capsys, model, key,
                                             message):
    key_file = llama_server.key_file
    if key:
        key_file = tmp_path / "key"
        key_file.write_text(key)
    args = _sample(llama_server.url, key_file, tmp_path / "store", "--limit=1")
    args[3] = f"--model={model}"
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]  # checked before any estimate or write
    assert not list(shard_paths(tmp_path / "store"))
