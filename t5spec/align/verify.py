"""``t5spec align verify DIR``: an aligned dataset against its manifest, and a sample of records.

Checks (each failure is one line naming the shard, and the record where there is one):
  * every shard the manifest lists exists, has its sha256 and its record count;
  * no ``<prefix>-NNNNN.tfrecord`` on disk is missing from the manifest (another run's data);
  * the record counts add up to ``counts.aligned``, and ``teacher.fingerprint`` matches the
    chunk state in ``_state/`` when that is present;
  * a sample of records (evenly spread over the dataset, or all) decodes, and each one holds
    the store's invariants: ``key == question_id#sample_index``; ``targets`` [L],
    ``teacher_ids``/``teacher_probs`` [L, k] with the manifest's k, ``teacher_mask`` [L] of 0/1;
    ids in ``[0, vocab_size + 100)``; probabilities finite, ≥ 0, each row summing to at most
    ``1 + PROB_SUM_TOL`` (default mode: a mask-1 row sums to 1 within it); a mask-0 row is
    one-hot on its target.

Exit status: 0 all good, 1 a mismatch (the data is not what the manifest says), 2 bad input
(not a directory, no manifest, an unreadable manifest).
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from t5spec.align.manifest import MANIFEST, chunk_digests, teacher_fingerprint
from t5spec.align.state import FORMAT, STATE_DIR, chunk_re, file_sha256, read_json, shard_re
from t5spec.align.validate import PROB_SUM_TOL
from t5spec.align.vocab import EXTRA_IDS
from t5spec.errors import InputError


@dataclasses.dataclass
class Report:
    shards: int = 0
    records: int = 0
    checked: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)


def tfrecords(path: Path) -> Iterator[bytes]:
    """The records of a TFRecord file (framing only; integrity is the sha256's job).

    Raises ValueError on a truncated file.
    """
    with open(path, "rb") as f:
        while header := f.read(12):
            if len(header) < 12:
                raise ValueError("truncated record header")
            (n,) = struct.unpack("<Q", header[:8])
            data = f.read(n)
            if len(data) < n or len(f.read(4)) < 4:
                raise ValueError("truncated record")
            yield data


def load_manifest(directory: Path) -> dict[str, Any]:
    if not directory.is_dir():
        raise InputError(directory, "not a directory", field="DIR")
    path = directory / MANIFEST
    if not path.is_file():
        raise InputError(path, "no manifest: not an aligned dataset (or aligned by an older "
                         "t5spec; align it again)", field="manifest")
    m = read_json(path, "manifest")
    ok = (isinstance(m, dict) and m.get("format") == FORMAT
          and isinstance(m.get("config"), dict) and isinstance(m.get("shards"), list)
          and isinstance(m.get("counts"), dict) and isinstance(m.get("teacher"), dict)
          and all(isinstance(s, dict) and {"name", "sha256", "records"} <= set(s)
                  for s in m["shards"]))
    if not ok:
        raise InputError(path, f"not a {FORMAT} manifest", field="manifest")
    return m


def check_record(s: Any, config: dict[str, Any]) -> str | None:
    """Why a decoded AlignedSample breaks the store's invariants, or None."""
    k, n = config["k"], s.targets.shape[0]
    if s.key != f"{s.question_id}#{s.sample_index}":
        return f"key {s.key!r} is not question_id#sample_index"
    if s.teacher_ids.shape != (n, k) or s.teacher_probs.shape != (n, k):
        return f"teacher arrays {s.teacher_ids.shape} are not [L={n}, k={k}]"
    if s.teacher_mask.shape != (n,) or not np.isin(s.teacher_mask, (0, 1)).all():
        return "teacher_mask is not [L] of 0/1"
    limit = config["vocab_size"] + EXTRA_IDS
    for name, ids in (("targets", s.targets), ("teacher_ids", s.teacher_ids)):
        if ids.size and (ids.min() < 0 or ids.max() >= limit):
            return f"{name} has an id outside [0, {limit})"
    p = s.teacher_probs
    if not np.isfinite(p).all() or (p < 0).any():
        return "teacher_probs has a negative or non-finite value"
    sums = p.sum(axis=1)
    if (sums > 1 + PROB_SUM_TOL).any():
        row = int(np.argmax(sums))
        return f"row {row} of teacher_probs sums to {sums[row]:.4f} > 1"
    dist = s.teacher_mask == 1
    if not config["paper_compat"] and (np.abs(sums[dist] - 1) > PROB_SUM_TOL).any():
        return "a teacher row does not sum to 1 (default mode renormalizes)"
    one_hot = ~dist
    if (s.teacher_ids[one_hot, 0] != s.targets[one_hot]).any() or (
            p[one_hot, 0] != 1).any() or p[one_hot, 1:].any():
        return "a mask-0 row is not one-hot on its target"
    return None


def _check_shards(directory: Path, m: dict[str, Any], report: Report) -> list[Path]:
    good = []
    for entry in m["shards"]:
        path = directory / entry["name"]
        report.shards += 1
        if not path.is_file():
            report.problems.append(f"{path}: missing")
            continue
        if file_sha256(path) != entry["sha256"]:
            report.problems.append(f"{path}: sha256 differs from the manifest")
            continue
        try:
            count = sum(1 for _ in tfrecords(path))
        except ValueError as e:
            report.problems.append(f"{path}: {e}")
            continue
        if count != entry["records"]:
            report.problems.append(f"{path}: {count} records, manifest says {entry['records']}")
        report.records += count
        good.append(path)
    listed = {e["name"] for e in m["shards"]}
    pattern = shard_re(m["config"]["prefix"])
    for p in sorted(directory.iterdir()):
        if pattern.match(p.name) and p.name not in listed:
            report.problems.append(f"{p}: shard not in the manifest (another run's data?)")
    if report.records != m["counts"].get("aligned") and not report.problems:
        report.problems.append(f"{directory}: {report.records} records in the shards, "
                               f"manifest counts {m['counts'].get('aligned')}")
    return good


def _check_state(directory: Path, m: dict[str, Any], report: Report) -> None:
    state = directory / STATE_DIR
    if not state.is_dir():
        return
    pattern = chunk_re(m["config"]["prefix"])
    chunks = [read_json(p, "state") for p in sorted(state.iterdir()) if pattern.match(p.name)]
    try:
        fingerprint = teacher_fingerprint(chunk_digests(chunks))
    except (KeyError, TypeError, AttributeError):
        report.problems.append(f"{state}: unreadable chunk state")
        return
    if fingerprint != m["teacher"].get("fingerprint"):
        report.problems.append(f"{state}: teacher fingerprint differs from the manifest")


def verify(directory: str | Path, sample: int = 100) -> Report:
    """Checks ``directory`` (see module docstring); ``sample=0`` decodes every record."""
    from t5spec.align.store import deserialize

    directory = Path(directory)
    m = load_manifest(directory)
    report = Report()
    shards = _check_shards(directory, m, report)
    _check_state(directory, m, report)
    total = report.records
    picks = set(range(total)) if sample <= 0 or sample >= total else {
        i * total // sample for i in range(sample)}
    index = 0
    for path in shards:
        for n, rec in enumerate(tfrecords(path)):
            if index in picks:
                report.checked += 1
                try:
                    why = check_record(deserialize(rec), m["config"])
                except Exception as e:  # any decode failure is a mismatch
                    why = f"does not decode ({type(e).__name__}: {e})"
                if why:
                    report.problems.append(f"{path}: record {n}: {why}")
            index += 1
    return report
