"""Streams teacher JSONL shards through the aligner into TFRecord shards, resumably.

Layout of the output directory::

    <prefix>-00000.tfrecord, …   aligned samples (schema: t5spec.align.store)
    _state/<prefix>-00000.json   per committed chunk: the keys aligned and the samples rejected
    rejects.jsonl                all rejected samples (rebuilt from _state/ at the end)
    _summary.json                the counts of the last run

Input is read in chunks of ``records_per_shard`` samples; each chunk's DP runs in batches of
``batch_size`` and the chunk is committed as one shard (temp file + rename), then its state
file. A re-run reads ``_state/`` and skips every key already aligned or rejected, so at most
one chunk of work is repeated after a crash and nothing written is lost. Only a chunk is ever
in memory.
"""

from __future__ import annotations

import dataclasses
import glob as globlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from t5spec.align.aligner import Aligner, Job, Rejected
from t5spec.align.store import AlignedSample, shard_name, write_shard
from t5spec.errors import InputError
from t5spec.teacher.record import TeacherSample
from t5spec.teacher.store import read_records, shard_paths

STATE_DIR = "_state"


@dataclasses.dataclass
class AlignStats:
    """Counts of one run (positions/covered: over samples aligned in this run)."""

    read: int = 0
    aligned: int = 0
    skipped_filter: int = 0
    already_done: int = 0
    rejected: int = 0
    invalid: int = 0
    shards: int = 0
    positions: int = 0
    covered: int = 0

    @property
    def coverage(self) -> float:
        return self.covered / self.positions if self.positions else 0.0


def input_files(pattern: str) -> list[str]:
    """Sorted JSONL files of a teacher store directory, a path or a glob; InputError if none."""
    if os.path.isdir(pattern):
        files = [str(p) for p in shard_paths(pattern)]
    elif any(c in pattern for c in "*?["):
        files = sorted(globlib.glob(pattern))
    else:
        files = [pattern]
    files = [f for f in files if os.path.isfile(f)]
    if not files:
        raise InputError(pattern, "no teacher sample file matches", field="teacher_samples")
    return files


def read_teacher_samples(pattern: str) -> Iterator[tuple[str, int, TeacherSample]]:
    """(file, line number, sample) for every record of the matching files.

    Lines are read by the teacher store's own reader, so a torn last line of a store that is
    still being written (a sampling run killed mid-write) is not taken for a record.
    """
    for path in input_files(pattern):
        for n, d in read_records(path):
            try:
                sample = TeacherSample.from_json(d)
            except (TypeError, ValueError, KeyError, AttributeError) as e:
                raise InputError(path, f"not a TeacherSample record ({e})",
                                 where=f"line {n}", field="record") from e
            yield path, n, sample


def _load_state(out: Path, prefix: str) -> tuple[set[str], int]:
    done: set[str] = set()
    next_index = 0
    for p in sorted((out / STATE_DIR).glob(f"{prefix}-*.json")):
        state = json.loads(p.read_text(encoding="utf-8"))
        done.update(state["keys"])
        done.update(r["key"] for r in state["rejects"])
        next_index = max(next_index, int(state["index"]) + 1)
    for tmp in out.glob(f".tmp-{prefix}-*"):
        tmp.unlink()
    return done, next_index


@dataclasses.dataclass
class _Chunk:
    jobs: list[Job] = dataclasses.field(default_factory=list)
    done: list[AlignedSample] = dataclasses.field(default_factory=list)
    rejects: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.jobs) + len(self.done) + len(self.rejects)


class AlignRun:
    """One resumable run of the aligner from teacher JSONL into an output directory."""

    def __init__(self, aligner: Aligner, output_dir: str | os.PathLike, *, prefix: str =
                 "gsm8k_train", records_per_shard: int = 5000, batch_size: int = 256,
                 include_incorrect: bool = False, skip_invalid: bool = False):
        self.aligner = aligner
        self.out = Path(output_dir)
        self.prefix = prefix
        self.records_per_shard = max(1, records_per_shard)
        self.batch_size = max(1, batch_size)
        self.include_incorrect = include_incorrect
        self.skip_invalid = skip_invalid
        self.stats = AlignStats()

    def run(self, pattern: str, progress: Callable[[int], None] | None = None) -> AlignStats:
        """Aligns every new sample of ``pattern``; returns the counts."""
        (self.out / STATE_DIR).mkdir(parents=True, exist_ok=True)
        done, self.index = _load_state(self.out, self.prefix)
        chunk = _Chunk()
        try:
            for path, line, sample in read_teacher_samples(pattern):
                self.stats.read += 1
                if progress:
                    progress(1)
                if sample.key in done:
                    self.stats.already_done += 1
                    continue
                if not (sample.valid and (sample.correct or self.include_incorrect)):
                    self.stats.skipped_filter += 1
                    continue
                done.add(sample.key)
                self._add(chunk, sample, path, line)
                if len(chunk.jobs) >= self.batch_size:
                    self._finish_jobs(chunk)
                if len(chunk) >= self.records_per_shard:
                    self._finish_jobs(chunk)
                    self._commit(chunk)
                    chunk = _Chunk()
        finally:  # on bad input too: keep what was aligned before it
            self._finish_jobs(chunk)
            if len(chunk):
                self._commit(chunk)
            self._write_rejects()
        return self.stats

    def _add(self, chunk: _Chunk, sample: TeacherSample, path: str, line: int) -> None:
        where = f"line {line} (sample {sample.key})"
        try:
            chunk.jobs.append(self.aligner.prepare(sample, path, where))
        except Rejected as e:
            self.stats.rejected += 1
            chunk.rejects.append({"key": sample.key, "reason": str(e), "kind": "rejected",
                                  "source": path, "where": where})
        except InputError as e:
            if not self.skip_invalid:
                raise
            self.stats.invalid += 1
            chunk.rejects.append({"key": sample.key, "reason": e.reason, "kind": "invalid",
                                  "field": e.field, "source": path, "where": where})

    def _finish_jobs(self, chunk: _Chunk) -> None:
        if chunk.jobs:
            for s in self.aligner.finish(chunk.jobs):
                chunk.done.append(s)
                self.stats.aligned += 1
                self.stats.positions += s.length
                self.stats.covered += int(s.teacher_mask.sum())
            chunk.jobs = []

    def _commit(self, chunk: _Chunk) -> None:
        name = shard_name(self.prefix, self.index)
        if chunk.done:
            write_shard(self.out / name, chunk.done)
            self.stats.shards += 1
        state = {"index": self.index, "shard": name if chunk.done else None,
                 "keys": [s.key for s in chunk.done], "rejects": chunk.rejects}
        _write_json_atomic(self.out / STATE_DIR / f"{self.prefix}-{self.index:05d}.json", state)
        self.index += 1

    def _write_rejects(self) -> None:
        rejects = []
        for p in sorted((self.out / STATE_DIR).glob(f"{self.prefix}-*.json")):
            rejects += json.loads(p.read_text(encoding="utf-8"))["rejects"]
        tmp = self.out / ".tmp-rejects.jsonl"
        with open(tmp, "w", encoding="utf-8") as f:
            for r in rejects:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        os.replace(tmp, self.out / "rejects.jsonl")
        _write_json_atomic(self.out / "_summary.json", dataclasses.asdict(self.stats))


def _write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
