"""``t5spec/hugepages.py``: the glibc tunables that give XLA:CPU's buffers huge pages and keep
freed ones in the process, set in the environment of the processes t5spec starts and by
re-executing a benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from t5spec import hugepages
from t5spec.lab import runner, stages

ON = "glibc.malloc.hugetlb=1:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=4294967296"
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def test_the_tunables_are_added_once_and_a_users_choice_stands() -> None:
    assert hugepages.with_huge_pages({})["GLIBC_TUNABLES"] == ON
    added = hugepages.with_huge_pages({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2", "X": "1"})
    assert added == {"GLIBC_TUNABLES": f"glibc.malloc.arena_max=2:{ON}", "X": "1"}
    assert hugepages.with_huge_pages(added) == added
    mine = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0:glibc.malloc.trim_threshold=0"}
    assert hugepages.with_huge_pages(mine) == {
        "GLIBC_TUNABLES": f"{mine['GLIBC_TUNABLES']}:glibc.malloc.mmap_max=0"}
    assert "GLIBC_TUNABLES" not in hugepages.with_huge_pages({hugepages.OPT_OUT: "0"})


def test_lab_children_start_with_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.delenv(hugepages.OPT_OUT, raising=False)
    assert runner.child_env(stages.LabPaths(tmp_path))["GLIBC_TUNABLES"] == ON
    monkeypatch.setenv(hugepages.OPT_OUT, "0")
    assert "GLIBC_TUNABLES" not in runner.child_env(stages.LabPaths(tmp_path))


SCRIPT = """
import os, resource, sys
from t5spec import hugepages
hugepages.reexec_with_huge_pages()
import numpy as np
block = np.ones(96 << 18, dtype=np.float32)  # 96 MiB, touched
rollup = open("/proc/self/smaps_rollup").read() if os.path.exists("/proc/self/smaps_rollup") else ""
huge = [int(l.split()[1]) for l in rollup.splitlines() if l.startswith("AnonHugePages:")]
del block
buffer = bytearray(64 << 20)  # malloc'd and zeroed: its pages are touched
del buffer
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):  # the same 64 MiB, allocated and freed again, as a train step's temporaries
    buffer = bytearray(64 << 20)
    del buffer
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(os.environ.get("GLIBC_TUNABLES", ""), sys.argv[1:], huge[0] if huge else -1, faults)
"""


def _run(tmp_path: Path, **extra: str) -> list[str]:
    script = tmp_path / "probe.py"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", hugepages.OPT_OUT)}
    done = subprocess.run([sys.executable, "-u", str(script), "a b", "--c"], env={**env, **extra},
                          capture_output=True, text=True, check=True, timeout=120)
    return done.stdout.strip().rsplit(" ", 2)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tunables: Linux only")
def test_a_benchmark_reexecutes_itself_with_them_gets_huge_pages_and_reuses_memory(
        tmp_path: Path) -> None:
    """The re-executed process keeps its interpreter flags and arguments; where the kernel
    grants huge pages on request (THP 'madvise' or 'always'), its 96 MiB array gets some; a
    freed 64 MiB buffer allocated again faults no pages in (16,384 of 4 KiB each time, without)."""
    head, huge, faults = _run(tmp_path)
    assert head == f"{ON} ['a b', '--c']"
    mode = THP.read_text().split("[")[1].split("]")[0] if THP.exists() else "never"
    if mode in ("madvise", "always"):
        assert int(huge) >= 32 << 10, huge  # kB
    assert int(faults) < 1000, faults
    head, _, faults = _run(tmp_path, **{hugepages.OPT_OUT: "0"})
    assert head == "['a b', '--c']"  # no tunable: the output starts with the arguments
    if mode != "always":  # 4 KiB pages: each 64 MiB allocation is mapped and faulted again
        assert int(faults) > 4 * 8000, faults


def test_one_arena_is_added_on_request_and_a_users_choice_stands() -> None:
    one = hugepages.with_huge_pages({}, one_arena=True)["GLIBC_TUNABLES"]
    assert one == f"{ON}:glibc.malloc.arena_max=1"
    mine = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}
    assert hugepages.with_huge_pages(mine, one_arena=True)["GLIBC_TUNABLES"] == \
        f"glibc.malloc.arena_max=2:{ON}"


def test_long_training_stages_get_one_arena(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The lab's training stages of at least ``ONE_ARENA_MIN_STEPS`` steps start with
    ``arena_max=1``; shorter ones (the quick lab's) and every other child without."""
    from t5spec.lab import pipeline

    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.delenv(hugepages.OPT_OUT, raising=False)
    paths = stages.LabPaths(tmp_path)
    child = "import os; print('tunables', os.environ['GLIBC_TUNABLES'])"
    for steps in (pipeline.ONE_ARENA_MIN_STEPS, pipeline.ONE_ARENA_MIN_STEPS - 1):
        log = tmp_path / f"train_{steps}.log"
        stage = runner.Stage("s", (), lambda s: "", "f", progress=(steps, lambda: 0))
        pipeline.train_run([sys.executable, "-c", child], log, paths, stage)
        one = steps >= pipeline.ONE_ARENA_MIN_STEPS
        assert f"tunables {ON}{':glibc.malloc.arena_max=1' if one else ''}\n" in log.read_text()


THREAD_PROBE = """
import resource, threading
def churn(out):  # a worker thread re-allocating a freed 96 MiB buffer, as XLA's temporaries
    buffer = bytearray(96 << 20)
    del buffer
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    for _ in range(4):
        buffer = bytearray(96 << 20)
        del buffer
    out.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
out = []
thread = threading.Thread(target=churn, args=(out,))
thread.start()
thread.join()
print(out[0])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tunables: Linux only")
def test_one_arena_lets_a_worker_thread_reuse_its_freed_memory() -> None:
    """What ``arena_max=1`` is for: above 64 MiB a non-main thread's glibc arena maps each
    allocation anew (whatever ``mmap_max`` says) and faults it in again; with one arena the
    thread reuses the main heap's freed memory."""
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", hugepages.OPT_OUT)}

    def faults(one_arena: bool) -> int:
        done = subprocess.run([sys.executable, "-c", THREAD_PROBE], capture_output=True,
                              text=True, check=True, timeout=120,
                              env=hugepages.with_huge_pages(env, one_arena=one_arena))
        return int(done.stdout)

    assert faults(True) < 100
    assert faults(False) > 4 * 40  # >= one 2 MiB page per 2 MiB, each time


_PROBE = "import os\n\ndef add_arguments(parser):\n    pass\n\n" \
    "def run(args):\n    print('TUNABLES', os.environ.get('GLIBC_TUNABLES', ''), flush=True)\n"


def _probe_command(tmp_path: Path, reexec: bool) -> str:
    (tmp_path / "probe_command.py").write_text(
        _PROBE + f"REEXEC_WITH_HUGE_PAGES = {reexec}\n", encoding="utf-8")
    return "probe_command"


@pytest.mark.parametrize("reexec", [True, False])
def test_a_command_that_asks_reexecutes_the_program_with_them(
        tmp_path: Path, reexec: bool) -> None:  # fmt: skip
    module = _probe_command(tmp_path, reexec)
    code = ("import sys; from t5spec import cli; "
            f"cli.COMMANDS['probe'] = ({module!r}, 'probe'); "
            "sys.argv = ['t5spec', 'probe']; sys.exit(cli.main())")
    env = {k: v for k, v in os.environ.items()
           if k not in ("GLIBC_TUNABLES", hugepages.OPT_OUT)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tmp_path), env.get("PYTHONPATH")) if p)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    seen = next(ln for ln in out.splitlines() if ln.startswith("TUNABLES ")).partition(" ")[2]
    assert seen == (hugepages.with_huge_pages({})["GLIBC_TUNABLES"] if reexec else "")


def test_serve_asks_and_a_caller_of_main_is_never_replaced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # fmt: skip
    from t5spec import cli
    from t5spec.serve import cli as serve_cli

    assert serve_cli.REEXEC_WITH_HUGE_PAGES
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, "probe", (_probe_command(tmp_path, True), "probe"))
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.delenv(hugepages.OPT_OUT, raising=False)

    def execve(*args):
        raise AssertionError(f"main(argv) re-executed its caller: {args[1]}")

    monkeypatch.setattr(os, "execve", execve)
    assert cli.main(["probe"]) == 0
    assert "TUNABLES" in capsys.readouterr().out
