"""``<output>/manifest.json``: what an aligned dataset is, so ``t5spec align verify`` can check it.

Written atomically at the end of every ``t5spec align`` run (a resumed run rewrites it)::

    {"format": "t5spec.aligned/1",
     "config": {...},                  # the aligner config (also _state/config.json)
     "teacher": {"fingerprint": "<sha256>", "records": 51,
                 "files": {"/abs/teacher-0.jsonl": {"sha256": "...", "records": 30}, ...}},
     "counts": {"aligned": 51, "rejected": 0, "invalid": 0, "shards": 4},
     "shards": [{"name": "gsm8k_train-00000.tfrecord", "sha256": "...", "records": 16}, ...],
     "t5spec_version": "0.1.0", "updated": "2026-…"}

``teacher.fingerprint`` is the sha256 over the sorted lines ``"<key>\\t<content digest>\\n"`` of
every teacher record the dataset was built from (aligned or rejected; digests are sha256 of the
record's canonical JSON, :func:`t5spec.align.inputs.content_digest`), so it names the teacher
data independently of file names, order and shard boundaries. ``files`` lists the input files
each run read (sha256 of the bytes read), merged across runs.
"""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path
from typing import Any

from t5spec.align.state import FORMAT, State, file_sha256, read_json, write_json_atomic
from t5spec.errors import InputError

MANIFEST = "manifest.json"


def teacher_fingerprint(digests: dict[str, str | None]) -> str:
    """sha256 over sorted ``key\\tdigest`` lines (a missing digest counts as empty)."""
    h = hashlib.sha256()
    for key in sorted(digests):
        h.update(f"{key}\t{digests[key] or ''}\n".encode())
    return h.hexdigest()


def chunk_digests(chunks: list[dict[str, Any]]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for c in chunks:
        d = c.get("digests", {})
        out.update({k: d.get(k) for k in c["keys"]})
        out.update({r["key"]: r.get("digest") for r in c["rejects"]})
    return out


def _shards(out: Path, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    shards = []
    for c in sorted(chunks, key=lambda c: c["index"]):
        if not c.get("shard"):
            continue
        sha = c.get("sha256") or file_sha256(out / c["shard"])  # chunks of older runs
        shards.append({"name": c["shard"], "sha256": sha, "records": len(c["keys"])})
    return shards


def previous_files(out: Path) -> dict[str, Any]:
    """The input files an earlier run's manifest lists ({} if none); InputError if corrupt."""
    if not (out / MANIFEST).exists():
        return {}
    old = read_json(out / MANIFEST, "manifest")
    files = old.get("teacher", {}).get("files") if isinstance(old, dict) else None
    if not isinstance(files, dict):
        raise InputError(out / MANIFEST, "corrupt manifest (no teacher.files)", field="manifest")
    return files


def build_manifest(out: Path, config: dict[str, Any], state: State,
                   files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The manifest of ``out`` from its committed chunks (``state``) and the input files
    (earlier runs' merged with this run's, see :func:`previous_files`)."""
    import t5spec

    digests = chunk_digests(state.chunks)
    rejects = [r for c in state.chunks for r in c["rejects"]]
    shards = _shards(out, state.chunks)
    return {
        "format": FORMAT,
        "config": config,
        "teacher": {"fingerprint": teacher_fingerprint(digests), "records": len(digests),
                    "files": dict(sorted(files.items()))},
        "counts": {"aligned": sum(s["records"] for s in shards),
                   "rejected": sum(r.get("kind") == "rejected" for r in rejects),
                   "invalid": sum(r.get("kind") == "invalid" for r in rejects),
                   "shards": len(shards)},
        "shards": shards,
        "t5spec_version": t5spec.__version__,
        "updated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    write_json_atomic(out / MANIFEST, manifest)
