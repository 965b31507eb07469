"""Transparent huge pages for XLA:CPU's buffers: the glibc setting a process starts with.

Where the kernel grants transparent huge pages only to memory that asks for them
(``/sys/kernel/mm/transparent_hugepage/enabled`` = ``madvise``, the development machine's
setting), glibc's ``malloc`` hands XLA:CPU its buffers in 4 KiB pages, though a training step
streams tens of MB of attention scores and activations through them.
``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` (glibc >= 2.35; older glibc and other C libraries
ignore it) makes ``malloc`` ask for 2 MiB pages. The lab student's train step ran 15-25%
faster with it (docs/benchmarks.md, 2026-12-07); values are unchanged.

glibc reads its tunables when a process starts, so t5spec sets it in the environment of the
processes it starts (the lab's stages, ``t5spec select``'s ``t5x.eval``) and the benchmarks
re-execute themselves with it. ``T5SPEC_HUGE_PAGES=0`` turns both off; a ``GLIBC_TUNABLES``
that already sets ``glibc.malloc.hugetlb`` is left as it is.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

TUNABLE = "glibc.malloc.hugetlb"
OPT_OUT = "T5SPEC_HUGE_PAGES"


def with_huge_pages(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``env`` whose ``GLIBC_TUNABLES`` asks for huge pages (``TUNABLE=1`` appended),
    unless ``T5SPEC_HUGE_PAGES=0`` or the tunable is already set either way."""
    out = dict(env)
    tunables = out.get("GLIBC_TUNABLES", "")
    names = {item.split("=", 1)[0] for item in tunables.split(":") if item}
    if out.get(OPT_OUT, "1") == "0" or TUNABLE in names:
        return out
    out["GLIBC_TUNABLES"] = f"{tunables}:{TUNABLE}=1" if tunables else f"{TUNABLE}=1"
    return out


def reexec_with_huge_pages() -> None:
    """Re-execute this Python process (same interpreter, flags and arguments) with
    :func:`with_huge_pages` of its environment if that differs, on Linux; :func:`describe`
    reports what the process then runs with."""
    env = with_huge_pages(os.environ)
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
