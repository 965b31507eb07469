"""Runs the lab's stages: a small dependency graph, each stage cached in the lab directory.

A stage is done when ``stages/<name>.json`` exists with the same fingerprint (a hash of the
commands it runs, which hold every size and path) and none of its dependencies ran again in
this invocation; then it is skipped. A stage that starts over a different fingerprint first
deletes its outputs (a T5X run directory would otherwise resume a different model); one that
was interrupted with the same fingerprint resumes (T5X from its last checkpoint, the teacher
store from its last record). Independent stages run concurrently (``jobs``), each child's
output in ``logs/<stage>.log``; a failing stage stops the run with the log's last lines.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from t5spec import hugepages, subprocs
from t5spec.lab.stages import REPO, LabPaths


class StageFailed(RuntimeError):
    """A stage's command exited non-zero (message: the log path and its last lines)."""


@dataclasses.dataclass(frozen=True)
class Stage:
    """One node of the graph.

    Attributes:
      name: marker/log name.
      deps: names of stages that must finish first.
      action: does the work; returns a one-line summary for the time table.
      fingerprint: identifies what the stage computes (commands, sizes, paths).
      outputs: paths deleted before a fresh (re)start.
      progress: (total, current-count function) for the stage's progress bar, or None.
    """

    name: str
    deps: tuple[str, ...]
    action: Callable[[Stage], str]
    fingerprint: str
    outputs: tuple[Path, ...] = ()
    progress: tuple[int, Callable[[], int]] | None = None


@dataclasses.dataclass
class Outcome:
    name: str
    status: str  # "ran", "cached", "failed", "not run"
    seconds: float = 0.0
    summary: str = ""
    startup: float | None = None  # launch -> first T5X train step (startup_seconds)


def fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def child_env(paths: LabPaths, *, one_arena: bool = False) -> dict[str, str]:
    """The environment of every child: the lab data folder, CPU JAX, a local API key,
    JAX's persistent compilation cache (``LAB/jax_cache`` unless the environment names one):
    later processes of the same shapes — the selection's ``t5x.eval``, a re-run after a
    changed budget, the methods experiment's seeds — load compiled programs instead of
    compiling them again; and glibc's huge pages for XLA's buffers (``t5spec/hugepages.py``),
    with one malloc arena if ``one_arena`` (the long training stages, ``pipeline.train_run``)."""
    env = hugepages.with_huge_pages(os.environ, one_arena=one_arena)
    env.update(T5SPEC_DATA_DIR=str(paths.data), JAX_PLATFORMS="cpu",
               OPENAI_API_KEY=env.get("T5SPEC_LAB_API_KEY", "lab-local"),
               TF_CPP_MIN_LOG_LEVEL="2")  # fmt: skip
    env.setdefault("JAX_COMPILATION_CACHE_DIR", str(paths.jax_cache))
    return env


def _tail(path: Path, lines: int = 25) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    keep = [ln for ln in text.splitlines() if ln.strip()][-lines:]
    return "\n".join(keep)


# run_logged writes this, with the Unix time, before each command's "$ argv" line.
LAUNCHED = "[t5spec lab] launched at"
# T5X's train loop logs this after imports, the tf.data pipeline, initialization or restore,
# and the train step's compilation: the end of a training process's start-up.
T5X_TRAIN_READY = re.compile(
    r"^I(\d\d)(\d\d) (\d\d):(\d\d):(\d\d\.\d+) .*train\.py:\d+\] BEGIN Train loop", re.M)


def startup_seconds(log: Path, since: float = 0.0) -> float | None:
    """Seconds from launch to T5X's first train step, summed over the ``t5x.train``
    processes launched into ``log`` from ``since`` on (Unix time, to a second); None if none logged
    its train loop. T5X stamps its lines in local time (glog ``IMMDD HH:MM:SS.us``)."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    total, found = 0.0, False
    for section in text.split(LAUNCHED)[1:]:
        head, _, body = section.partition("\n")
        launched = float(head.strip())
        ready = T5X_TRAIN_READY.search(body)
        if launched < since - 1.0 or ready is None:  # the stamp is rounded to ms
            continue
        month, day, hour, minute, sec = ready.groups()
        year = time.localtime(launched).tm_year
        stamp = time.mktime((year, int(month), int(day), int(hour), int(minute), 0, 0, 0, -1))
        total += stamp + float(sec) - launched
        found = True
    return round(total, 1) if found else None


def run_logged(argv: Sequence[str], log: Path, env: dict[str, str],
               poll: Callable[[], None] | None = None,
               finished: re.Pattern[str] | None = None) -> None:  # fmt: skip
    """Runs ``argv`` (cwd: the repository) with output appended to ``log``; StageFailed
    on a non-zero exit. ``poll`` is called about once a second while it runs. With
    ``finished``, a child that logged a match and is still tearing down
    :data:`~t5spec.subprocs.TEARDOWN_GRACE_S` later is terminated and counts as done
    (:func:`t5spec.subprocs.wait`)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n{LAUNCHED} {time.time():.3f}\n$ {' '.join(argv)}\n")
        out.flush()
        start = out.tell()
        proc = subprocess.Popen(list(argv), cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
        if subprocs.wait(proc, log, start, finished=finished, poll=poll):
            out.write(f"\n[t5spec lab] stopped after its finish line (pid {proc.pid})\n")
            return
    if proc.returncode != 0:
        raise StageFailed(f"exit {proc.returncode}; {log}:\n{_tail(log)}")


_STEP = re.compile(r"\[(\d+)\] collection=train")


def logged_train_step(log: Path) -> int:
    """The last step T5X logged train scalars for (0 before the first)."""
    if not log.is_file():
        return 0
    steps = _STEP.findall(log.read_text(encoding="utf-8", errors="replace"))
    return int(steps[-1]) if steps else 0


def last_train_scalar(log: Path, name: str) -> float | None:
    """The last logged value of train scalar ``name`` (e.g. ``loss``) in a T5X log."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    found = re.findall(rf"collection=train .*?\b{re.escape(name)}=([-+0-9.eE]+|nan)", text)
    return float(found[-1]) if found else None


class Runner:
    """Executes a list of stages in dependency order, ``jobs`` at a time."""

    def __init__(self, paths: LabPaths, stages: Sequence[Stage], *, jobs: int = 2,
                 redo: Sequence[str] = (), progress: bool = True) -> None:  # fmt: skip
        names = [s.name for s in stages]
        unknown = sorted(set(redo) - set(names))
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; stages: {names}")
        self.paths, self.stages, self.jobs = paths, {s.name: s for s in stages}, max(1, jobs)
        self.redo, self.show_progress = set(redo), progress
        self.outcomes = {n: Outcome(n, "not run") for n in names}
        self._ran: set[str] = set()

    # -- caching ---------------------------------------------------------------------------
    def _marker(self, stage: Stage) -> dict | None:
        path = self.paths.marker(stage.name)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None

    def _is_done(self, stage: Stage) -> bool:
        marker = self._marker(stage)
        return (stage.name not in self.redo and marker is not None
                and marker.get("fingerprint") == stage.fingerprint
                and not any(d in self._ran for d in stage.deps))  # fmt: skip

    def _prepare(self, stage: Stage) -> None:
        started = self.paths.marker(stage.name).with_suffix(".started")
        fresh = (stage.name in self.redo or not started.is_file()
                 or started.read_text().strip() != stage.fingerprint
                 or any(d in self._ran for d in stage.deps))  # fmt: skip
        if fresh:
            for out in stage.outputs:
                shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink(
                    missing_ok=True)
        self.paths.marker(stage.name).unlink(missing_ok=True)
        started.parent.mkdir(parents=True, exist_ok=True)
        started.write_text(stage.fingerprint + "\n")

    # -- execution -------------------------------------------------------------------------
    def _execute(self, stage: Stage, position: int) -> Outcome:
        self._prepare(stage)
        bar = self._bar(stage, position)
        t0, began = time.monotonic(), time.time()
        try:
            summary = stage.action(dataclasses.replace(stage, progress=(
                stage.progress[0], self._ticker(stage, bar)) if stage.progress else None))
        finally:
            if bar is not None:
                bar.close()
        seconds = time.monotonic() - t0
        startup = startup_seconds(self.paths.log(stage.name), since=began)
        marker = {"fingerprint": stage.fingerprint, "seconds": round(seconds, 1),
                  "summary": summary, "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                  "startup_seconds": startup}  # fmt: skip
        self.paths.marker(stage.name).write_text(json.dumps(marker, indent=1) + "\n")
        return Outcome(stage.name, "ran", seconds, summary, startup)

    def _bar(self, stage: Stage, position: int):
        if not (self.show_progress and stage.progress):
            return None
        from tqdm.auto import tqdm

        return tqdm(total=stage.progress[0], desc=f"{stage.name:<12}", position=position,
                    leave=True, file=sys.stderr, mininterval=2.0, dynamic_ncols=True)  # fmt: skip

    @staticmethod
    def _ticker(stage: Stage, bar) -> Callable[[], int]:
        count = stage.progress[1]

        def tick() -> int:
            n = count()
            if bar is not None and n > bar.n:
                bar.update(min(n, bar.total) - bar.n)
            return n

        return tick

    def _ready(self, stage: Stage) -> bool:
        return all(self.outcomes[d].status in ("ran", "cached") for d in stage.deps)

    def _schedule(self, pending: dict, running: dict, pool) -> None:
        """Marks cached stages done and submits ready ones while workers are free."""
        changed = True
        while changed:
            changed = False
            for stage in [s for s in pending.values() if self._ready(s)]:
                if self._is_done(stage):
                    marker = self._marker(stage) or {}
                    self.outcomes[stage.name] = Outcome(stage.name, "cached",
                                                        marker.get("seconds", 0.0),
                                                        marker.get("summary", ""),
                                                        marker.get("startup_seconds"))  # fmt: skip
                elif len(running) < self.jobs:
                    self._log(f"start {stage.name}")
                    running[pool.submit(self._execute, stage, len(running))] = stage.name
                else:
                    continue
                del pending[stage.name]
                changed = True

    def run(self) -> list[Outcome]:
        """Runs every stage not already done; StageFailed after the running ones finish."""
        pending, running, failure = dict(self.stages), {}, None
        with cf.ThreadPoolExecutor(self.jobs) as pool:
            while True:
                if failure is None:
                    self._schedule(pending, running, pool)
                if not running:
                    break
                done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    try:
                        self.outcomes[name] = future.result()
                    except Exception as e:
                        self.outcomes[name] = Outcome(name, "failed", summary=str(e)[:200])
                        failure = failure or (name, e)
                        continue
                    self._ran.add(name)
                    self._log(f"done  {name} ({self.outcomes[name].seconds:.0f} s): "
                              f"{self.outcomes[name].summary}")
        if failure is not None:
            name, error = failure
            raise StageFailed(f"stage {name!r} failed: {error}") from error
        return list(self.outcomes.values())

    @staticmethod
    def _log(message: str) -> None:
        print(f"[t5spec lab {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def time_table(outcomes: Sequence[Outcome], total_seconds: float) -> str:
    """The stage-by-stage time table (Markdown); ``start-up``: seconds from launching each
    T5X training process to its first step (imports, tf.data, initialization, compilation)."""
    def startup(o: Outcome) -> str:
        return "" if o.startup is None else f"{o.startup:.0f}"

    rows = ["| stage | status | seconds | start-up | result |", "|---|---|---:|---:|---|"]
    rows += [f"| {o.name} | {o.status} | {o.seconds:.0f} | {startup(o)} | {o.summary} |"
             for o in outcomes]  # fmt: skip
    ran = [o.startup for o in outcomes if o.status == "ran" and o.startup is not None]
    rows.append(f"| **total** | | **{total_seconds:.0f}** | {sum(ran):.0f} | wall time of this "
                f"invocation; start-up of the {len(ran)} training stages it ran |")
    return "\n".join(rows)
