"""The output directory of ``t5spec align``: who may write into it, and what it has done.

``_state/config.json`` records the aligner config of the run that created the directory (written
before the first shard). A later run resumes only with an equal config; a directory that holds
aligned data but no ``_state/`` (another tool's, or a run whose state was deleted) is refused,
as is one whose state has no config (we could not tell what config made its shards). Refusals
happen before anything is written, so existing outputs stay byte-identical.

``_state/<prefix>-NNNNN.json`` is one committed chunk: its shard (name, sha256, record count),
the keys aligned with their content digests, and the samples rejected.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from t5spec.errors import InputError

STATE_DIR = "_state"
CONFIG = "config.json"
FORMAT = "t5spec.aligned/1"
# Names a run writes at the top of its output directory (besides the shards).
RUN_FILES = ("rejects.jsonl", "_summary.json", "manifest.json")


def chunk_re(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(prefix)}-(\d{{5}})\.json$")


def shard_re(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(prefix)}-(\d{{5}})\.tfrecord$")


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_json(path: Path, what: str) -> Any:
    """A JSON file the run wrote itself; a corrupt one is an InputError naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(path, f"corrupt {what} ({e}); delete the output directory and "
                         "align again", field=what) from None


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _has_run_data(out: Path) -> list[str]:
    names = sorted(p.name for p in out.iterdir()
                   if ".tfrecord" in p.name and not p.name.startswith(".tmp-"))
    return names + [n for n in RUN_FILES if (out / n).exists()]


def open_output(out: Path, config: dict[str, Any], prefix: str) -> None:
    """Checks that ``out`` may take this run (see module docstring); creates it if new."""
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a directory", field="output")
    state, cfg_path = out / STATE_DIR, out / STATE_DIR / CONFIG
    if cfg_path.exists():
        stored = read_json(cfg_path, "config")
        if not isinstance(stored, dict):
            raise InputError(cfg_path, "corrupt config (not an object)", field="config")
        diffs = sorted(k for k in set(stored) | set(config) if stored.get(k) != config.get(k))
        if diffs:
            detail = "; ".join(f"{k}: output has {stored.get(k)!r}, this run "
                               f"{config.get(k)!r}" for k in diffs)
            raise InputError(cfg_path, f"cannot resume with a different config ({detail}); use "
                             "the same options or a new --output", field=diffs[0])
        return
    if state.is_dir() and any(state.iterdir()):
        raise InputError(state, "has chunk state but no config.json (written by an older "
                         "t5spec): its config is unknown; align into a new --output",
                         field="output")
    if out.is_dir():
        found = _has_run_data(out)
        if found:
            raise InputError(out, f"already holds aligned data ({', '.join(found[:4])}) but no "
                             f"{STATE_DIR}/ to resume from; choose a new --output or remove it",
                             field="output")
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(out, f"cannot create the output directory ({e})",
                         field="output") from None
    write_json_atomic(cfg_path, config)


@dataclasses.dataclass
class State:
    """What earlier runs committed: key -> (content digest or None, state file)."""

    done: dict[str, tuple[str | None, str]] = dataclasses.field(default_factory=dict)
    chunks: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    next_index: int = 0


def _check_chunk(path: Path, c: Any) -> None:
    ok = (isinstance(c, dict) and isinstance(c.get("index"), int)
          and isinstance(c.get("keys"), list) and isinstance(c.get("rejects"), list)
          and all(isinstance(r, dict) and isinstance(r.get("key"), str) for r in c["rejects"])
          and isinstance(c.get("digests", {}), dict))
    if not ok:
        raise InputError(path, "corrupt chunk state (expected index, keys, rejects)",
                         field="state")


def load_state(out: Path, prefix: str) -> State:
    """Reads every committed chunk of ``prefix``; removes temp files of an interrupted run."""
    st, pattern = State(), chunk_re(prefix)
    for p in sorted((out / STATE_DIR).iterdir()):
        if not pattern.match(p.name):
            continue
        chunk = read_json(p, "state")
        _check_chunk(p, chunk)
        digests = chunk.get("digests", {})
        for key in chunk["keys"]:
            st.done[key] = (digests.get(key), p.name)
        for r in chunk["rejects"]:
            st.done[r["key"]] = (r.get("digest"), p.name)
        st.chunks.append(chunk)
        st.next_index = max(st.next_index, chunk["index"] + 1)
    for tmp in out.glob(f".tmp-{prefix}-*"):
        tmp.unlink()
    return st
