"""Streams teacher JSONL shards through the aligner into TFRecord shards, resumably.

Layout of the output directory (one dataset per directory)::

    <prefix>-00000.tfrecord, …   aligned samples (schema: t5spec.align.store)
    manifest.json                config, teacher fingerprint, counts, per-shard sha256
                                 (t5spec.align.manifest; checked by ``t5spec align verify``)
    _state/config.json           the aligner config; a resume must match it (t5spec.align.state)
    _state/<prefix>-00000.json   per committed chunk: its shard, the keys aligned (with content
                                 digests) and the samples rejected
    rejects.jsonl                all rejected samples (rebuilt from _state/ at the end)
    _summary.json                the counts of the last run

Input is read in chunks of ``records_per_shard`` samples; each chunk's DP runs in batches of
``batch_size`` and the chunk is committed as one shard (temp file + rename), then its state
file. A re-run reads ``_state/`` and skips every key already aligned or rejected, so at most
one chunk of work is repeated after a crash and nothing written is lost. Only a chunk is ever
in memory. A key seen twice with identical content is skipped (counted as a duplicate); with
different content (in this run's input or against an earlier run's) it is an InputError
naming both places. A torn last line is skipped with a warning and counted.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from t5spec.align import manifest as manifest_lib
from t5spec.align.aligner import Aligner, Job, Rejected
from t5spec.align.inputs import Record, input_files, read_records
from t5spec.align.state import (
    STATE_DIR,
    State,
    file_sha256,
    load_state,
    open_output,
    write_json_atomic,
)
from t5spec.align.store import AlignedSample, shard_name, write_shard
from t5spec.errors import InputError

__all__ = ["STATE_DIR", "AlignRun", "AlignStats", "input_files", "run_config"]
log = logging.getLogger(__name__)


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
    duplicates: int = 0
    torn_lines: list[str] = dataclasses.field(default_factory=list)

    @property
    def coverage(self) -> float:
        return self.covered / self.positions if self.positions else 0.0


def run_config(aligner: Aligner, prefix: str, include_incorrect: bool) -> dict[str, Any]:
    """Everything that decides a dataset's content; a resume must match it exactly."""
    c = aligner.config
    return {
        "prefix": prefix, "paper_compat": c.paper_compat, "k": c.k,
        "prompt_continuation": list(c.prompt_continuation),
        "match_word_initial": c.match_word_initial,
        "ignore_whitespace_tokens": c.ignore_whitespace_tokens,
        "teacher_encoding": aligner.teacher_encoding, "include_incorrect": include_incorrect,
        "vocab_sha256": file_sha256(aligner.vocab.path), "vocab_size": aligner.vocab.size,
    }


@dataclasses.dataclass
class _Chunk:
    jobs: list[Job] = dataclasses.field(default_factory=list)
    done: list[AlignedSample] = dataclasses.field(default_factory=list)
    rejects: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    digests: dict[str, str] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.jobs) + len(self.done) + len(self.rejects)


class AlignRun:
    """One resumable run of the aligner from teacher JSONL into an output directory.

    ``warn``: called with one line per thing skipped that the user should know of (a torn
    last line); default: this module's logger.
    """

    def __init__(self, aligner: Aligner, output_dir: str | os.PathLike, *, prefix: str =
                 "gsm8k_train", records_per_shard: int = 5000, batch_size: int = 256,
                 include_incorrect: bool = False, skip_invalid: bool = False,
                 warn: Callable[[str], None] | None = None):
        self.aligner = aligner
        self.out = Path(output_dir)
        self.prefix = prefix
        self.records_per_shard = max(1, records_per_shard)
        self.batch_size = max(1, batch_size)
        self.include_incorrect = include_incorrect
        self.skip_invalid = skip_invalid
        self.warn = warn or log.warning
        self.config = run_config(aligner, prefix, include_incorrect)
        self.stats = AlignStats()
        self._files: dict[str, dict[str, Any]] = {}

    def run(self, pattern: str, progress: Callable[[int], None] | None = None) -> AlignStats:
        """Aligns every new sample of ``pattern``; returns the counts.

        Raises InputError (nothing written) when the output directory holds another run's
        data or config, and InputError for bad input (what was committed before it is kept).
        """
        input_files(pattern)
        open_output(self.out, self.config, self.prefix)
        state = load_state(self.out, self.prefix)
        self._files = manifest_lib.previous_files(self.out)
        self.index = state.next_index
        chunk = _Chunk()
        try:
            seen: dict[str, tuple[str, str]] = {}
            for rec in read_records(pattern, self._torn, self._files):
                self.stats.read += 1
                if progress:
                    progress(1)
                if self._seen_before(rec, seen, state):
                    continue
                sample = rec.sample
                if sample is not None and not (
                        sample.valid and (sample.correct or self.include_incorrect)):
                    self.stats.skipped_filter += 1
                    continue
                self._add(chunk, rec)
                if len(chunk.jobs) >= self.batch_size:
                    self._finish_jobs(chunk)
                if len(chunk) >= self.records_per_shard:
                    self._finish_jobs(chunk)
                    self._commit(chunk, state)
                    chunk = _Chunk()
            if self.stats.read == 0:
                raise InputError(pattern, "empty input: no complete teacher record",
                                 field="teacher_samples")
        finally:  # on bad input too: keep what was aligned before it
            self._finish_jobs(chunk)
            if len(chunk):
                self._commit(chunk, state)
            self._write_outputs(state)
        return self.stats

    def _torn(self, path: str, line: int) -> None:
        self.stats.torn_lines.append(f"{path}:{line}")
        self.warn(f"{path}: line {line} has no newline (a write cut short?): skipped")

    def _seen_before(self, rec: Record, seen: dict[str, tuple[str, str]], state: State) -> bool:
        """True for a key already read or committed; InputError if its content differs."""
        here = f"{rec.path}:{rec.line}"
        if rec.key in seen:
            first, digest = seen[rec.key]
            if digest != rec.digest:
                raise InputError(rec.path, f"key {rec.key!r} also at {first} with different "
                                 "content", where=f"line {rec.line}", field="key")
            self.stats.duplicates += 1
            return True
        seen[rec.key] = (here, rec.digest)
        if rec.key in state.done:
            digest, state_file = state.done[rec.key]
            if digest is not None and digest != rec.digest:
                raise InputError(rec.path, f"key {rec.key!r} was aligned by an earlier run "
                                 f"({STATE_DIR}/{state_file}) from different content",
                                 where=f"line {rec.line}", field="key")
            self.stats.already_done += 1
            return True
        return False

    def _add(self, chunk: _Chunk, rec: Record) -> None:
        def reject(kind: str, reason: str, field: str | None = None) -> None:
            chunk.rejects.append({"key": rec.key, "reason": reason, "kind": kind,
                                  **({"field": field} if kind == "invalid" else {}),
                                  "source": rec.path, "where": rec.where,
                                  "digest": rec.digest})

        try:
            if rec.error is not None:
                raise rec.error
            chunk.jobs.append(self.aligner.prepare(rec.sample, rec.path, rec.where))
            chunk.digests[rec.key] = rec.digest
        except Rejected as e:
            self.stats.rejected += 1
            reject("rejected", str(e))
        except InputError as e:
            if not self.skip_invalid:
                raise
            self.stats.invalid += 1
            reject("invalid", e.reason, e.field)

    def _finish_jobs(self, chunk: _Chunk) -> None:
        if chunk.jobs:
            for s in self.aligner.finish(chunk.jobs):
                chunk.done.append(s)
                self.stats.aligned += 1
                self.stats.positions += s.length
                self.stats.covered += int(s.teacher_mask.sum())
            chunk.jobs = []

    def _commit(self, chunk: _Chunk, state: State) -> None:
        name = shard_name(self.prefix, self.index)
        entry: dict[str, Any] = {"index": self.index, "shard": None}
        if chunk.done:
            write_shard(self.out / name, chunk.done)
            entry.update(shard=name, sha256=file_sha256(self.out / name))
            self.stats.shards += 1
        entry.update(keys=[s.key for s in chunk.done],
                     digests={s.key: chunk.digests[s.key] for s in chunk.done},
                     rejects=chunk.rejects)
        write_json_atomic(self.out / STATE_DIR / f"{self.prefix}-{self.index:05d}.json", entry)
        state.chunks.append(entry)
        self.index += 1

    def _write_outputs(self, state: State) -> None:
        rejects = [r for c in sorted(state.chunks, key=lambda c: c["index"])
                   for r in c["rejects"]]
        tmp = self.out / ".tmp-rejects.jsonl"
        with open(tmp, "w", encoding="utf-8") as f:
            for r in rejects:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        os.replace(tmp, self.out / "rejects.jsonl")
        write_json_atomic(self.out / "_summary.json", dataclasses.asdict(self.stats))
        manifest_lib.write_manifest(
            self.out, manifest_lib.build_manifest(self.out, self.config, state, self._files))
