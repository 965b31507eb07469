"""glibc's ``malloc`` settings for XLA:CPU's buffers: huge pages, kept in the process.

Where the kernel grants transparent huge pages only to memory that asks for them
(``/sys/kernel/mm/transparent_hugepage/enabled`` = ``madvise``, the development machine's
setting), glibc's ``malloc`` hands XLA:CPU its buffers in 4 KiB pages; and it gives large freed
buffers back to the kernel (``munmap``, trimming), so every training step faults its ~300 MB
of temporaries in again, page by page (the lab step: 40,000-120,000 minor faults a step).
Three glibc tunables (glibc >= 2.35; older glibc and other C libraries ignore them):

- ``glibc.malloc.hugetlb=1``: ``malloc`` asks for 2 MiB pages;
- ``glibc.malloc.mmap_max=0``: no allocation gets its own mapping (each would be unmapped
  when freed), all come from malloc's arenas;
- ``glibc.malloc.trim_threshold=4 GiB``: freed memory stays in the process for reuse.

Together the lab student's train step takes ~280 page faults a step and its median step is
17-33% shorter than with huge pages alone in one process, 6-12% with two processes at once;
the default lab ran 4-7% faster (docs/benchmarks.md, 2026-12-07); values are unchanged. The
cost: a process keeps its peak heap until it exits (the lab's largest, 2.98 GB, as before).
What they leave: XLA allocates a step's temporaries on a worker thread, whose glibc arena holds
at most 64 MiB, so larger ones (the lab step's 455 MB) are still mapped and unmapped each step.
:data:`ONE_ARENA` (``glibc.malloc.arena_max=1``, ``with_huge_pages(env, one_arena=True)``)
ends that (two lab processes at once: 0.44 s a step against 0.53-0.55 s) but lengthens
compilation (~8 s against ~6 s a stage) and peak memory (4.6 GB against 3.0 GB), so the lab
sets it for its long training stages only (``pipeline.ONE_ARENA_MIN_STEPS``): the default lab
515-520 s against 568 s, the quick lab untouched (docs/benchmarks.md, 2026-12-07).

glibc reads its tunables when a process starts, so t5spec sets them in the environment of the
processes it starts (the lab's stages, ``t5spec select``'s ``t5x.eval``) and the benchmarks
re-execute themselves with them. ``T5SPEC_HUGE_PAGES=0`` turns this off; a tunable that
``GLIBC_TUNABLES`` already sets is left as it is.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

TUNABLES = (("glibc.malloc.hugetlb", "1"), ("glibc.malloc.mmap_max", "0"),
            ("glibc.malloc.trim_threshold", str(4 << 30)))
ONE_ARENA = ("glibc.malloc.arena_max", "1")
OPT_OUT = "T5SPEC_HUGE_PAGES"


def with_huge_pages(env: Mapping[str, str], *, one_arena: bool = False) -> dict[str, str]:
    """A copy of ``env`` whose ``GLIBC_TUNABLES`` has each of :data:`TUNABLES` (and
    :data:`ONE_ARENA` with ``one_arena``) it does not set already (appended in order), unless
    ``T5SPEC_HUGE_PAGES=0``."""
    out = dict(env)
    tunables = out.get("GLIBC_TUNABLES", "")
    names = {item.split("=", 1)[0] for item in tunables.split(":") if item}
    wanted = (*TUNABLES, ONE_ARENA) if one_arena else TUNABLES
    missing = [f"{name}={value}" for name, value in wanted if name not in names]
    if out.get(OPT_OUT, "1") != "0" and missing:
        out["GLIBC_TUNABLES"] = ":".join([tunables, *missing] if tunables else missing)
    return out


def reexec_with_huge_pages(*, one_arena: bool = False) -> None:
    """Re-execute this Python process (same interpreter, flags and arguments) with
    :func:`with_huge_pages` of its environment (``one_arena`` passed on) if that differs, on
    Linux; :func:`describe` reports what the process then runs with."""
    env = with_huge_pages(os.environ, one_arena=one_arena)
    if sys.platform.startswith("linux") and env != dict(os.environ):
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def describe() -> str:
    """One line for a benchmark's output: this process's tunables and the kernel's mode."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled", encoding="utf-8") as f:
            mode = f.read().strip()
    except OSError:
        mode = "unknown"
    tunables = os.environ.get("GLIBC_TUNABLES", "") or "unset"
    return (f"malloc: GLIBC_TUNABLES={tunables} (t5spec/hugepages.py, as the lab's processes "
            f"run; {OPT_OUT}=0 to measure without); transparent huge pages: {mode}")
