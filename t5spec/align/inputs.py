"""Reading teacher JSONL for the aligner: type-strict records, torn tails, content digests.

The teacher store's record (:mod:`t5spec.teacher.record`) is built without validation, so a
field of the wrong JSON type would be coerced (``"0"`` as an index, ``"false"`` as true, a dict
of alternatives read key by key). Here every field the aligner uses is checked against its
JSON type first; a wrong type is an :class:`~t5spec.errors.InputError` naming file, line and
field, which ``--skip_invalid`` may count (the record has a key). A line that is not a JSON
object with a string ``key`` is always fatal.

A last line without its newline is a write cut short (the store writes a record and its
newline at once): it is not read, and the caller is told (file and line) so it can say so.
Each record gets a content digest (sha256 of its canonical JSON) so that two records with one
key can be told apart: identical ones are harmless, different ones are an error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob as globlib
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

from t5spec.errors import InputError
from t5spec.teacher.record import TeacherSample, sample_key
from t5spec.teacher.store import shard_paths

_STR = (str,)
_NUM = (int, float)
# field -> (allowed JSON types, may be null, required)
FIELD_TYPES: dict[str, tuple[tuple[type, ...], bool, bool]] = {
    "question_id": (_STR, False, True),
    "sample_index": ((int,), False, True),
    "prompt_id": (_STR, False, True),
    "question": (_STR, False, True),
    "gold": (_STR, False, True),
    "text": (_STR, False, True),
    "tokens": ((list,), False, True),
    "top_logprobs": ((list,), False, True),
    "token_logprobs": ((list,), False, False),
    "finish_reason": (_STR, True, False),
    "answer": (_STR, True, False),
    "correct": ((bool,), False, False),
    "model": (_STR, False, False),
    "usage": ((dict,), False, False),
    "valid": ((bool,), False, False),
    "invalid_reason": (_STR, True, False),
}
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true/false",
               list: "a list", dict: "an object"}


@dataclasses.dataclass(frozen=True)
class Record:
    """One input line: its place, key and content digest, and the sample or why it is bad."""

    path: str
    line: int
    key: str
    digest: str
    sample: TeacherSample | None
    error: InputError | None = None

    @property
    def where(self) -> str:
        return f"line {self.line} (sample {self.key})"


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
    if all(os.path.getsize(f) == 0 for f in files):
        raise InputError(", ".join(files), "empty input: no teacher records to align",
                         field="teacher_samples")
    return files


def content_digest(record: dict[str, Any]) -> str:
    """sha256 of the record's canonical JSON (sorted keys, no spaces): stable across runs."""
    text = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _type_error(path: str, where: str, field: str, value: Any, types: tuple[type, ...]):
    want = " or ".join(_TYPE_NAMES[t] for t in types)
    return InputError(path, f"expected {want}, got {json.dumps(value)[:60]}", where=where,
                      field=field)


def check_types(record: dict[str, Any], path: str, where: str) -> None:
    """Raises InputError for a field whose JSON type is wrong (see :data:`FIELD_TYPES`)."""
    for field, (types, nullable, required) in FIELD_TYPES.items():
        if field not in record:
            if required:
                raise InputError(path, "missing", where=where, field=field)
            continue
        value = record[field]
        if value is None and nullable:
            continue
        is_bool = isinstance(value, bool)
        if not isinstance(value, types) or (is_bool and bool not in types):
            raise _type_error(path, where, field, value, types)
    if record["sample_index"] < 0:
        raise InputError(path, f"negative index {record['sample_index']}", where=where,
                         field="sample_index")
    if record["key"] != sample_key(record["question_id"], record["sample_index"]):
        raise InputError(path, f"{record['key']!r} is not question_id#sample_index",
                         where=where, field="key")
    _check_lists(record, path, where)


def _check_lists(record: dict[str, Any], path: str, where: str) -> None:
    for i, tok in enumerate(record["tokens"]):
        if not isinstance(tok, str):
            raise InputError(path, f"token {i} is {json.dumps(tok)[:40]}, not a string",
                             where=where, field="tokens")
    for i, lp in enumerate(record.get("token_logprobs", ())):
        if lp is not None and (isinstance(lp, bool) or not isinstance(lp, _NUM)):
            raise InputError(path, f"token {i}: {json.dumps(lp)[:40]} is not a number",
                             where=where, field="token_logprobs")
    for i, alts in enumerate(record["top_logprobs"]):
        if not isinstance(alts, list):
            raise InputError(path, f"token {i}: alternatives {json.dumps(alts)[:60]} are not a "
                             "list of [string, logprob]", where=where, field="top_logprobs")
        for entry in alts:
            if (not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str)
                    or isinstance(entry[1], bool) or not isinstance(entry[1], _NUM)):
                raise InputError(path, f"token {i}: entry {json.dumps(entry)[:60]} is not "
                                 "[string, logprob]", where=where, field="top_logprobs")


def _parse(path: str, line_no: int, line: bytes) -> Record:
    record = _keyed(path, line_no, line)
    key, digest = record["key"], content_digest(record)
    where = f"line {line_no} (sample {key})"
    try:
        check_types(record, path, where)
        sample = TeacherSample.from_json(record)
    except InputError as e:
        return Record(path, line_no, key, digest, None, e)
    return Record(path, line_no, key, digest, sample)


def natural_key(key: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key of a sample key: digit runs compare as numbers (``q/2#10`` after ``q/2#9``)."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", key) if p)


@dataclasses.dataclass(frozen=True)
class _Place:
    order: tuple[tuple[int, int | str], ...]
    file: int
    line: int
    offset: int


def _index(path: str, file: int, on_torn: Callable[[str, int], None] | None,
           ) -> tuple[list[_Place], dict[str, Any], InputError | None]:
    """Pass 1 over one file: where each record is and its key's sort order, the file's
    digest, and the first line that is not a keyed JSON record (fatal; reading stops there)."""
    places, h, offset = [], hashlib.sha256(), 0
    with open(path, "rb") as f:
        for line_no, line in enumerate(f, start=1):
            h.update(line)
            if not line.endswith(b"\n"):
                if on_torn:
                    on_torn(path, line_no)
                break
            try:
                key = _keyed(path, line_no, line)["key"]
            except InputError as e:
                return places, {}, e
            places.append(_Place(natural_key(key), file, line_no, offset))
            offset += len(line)
    return places, {"sha256": h.hexdigest(), "records": len(places)}, None


def _keyed(path: str, line_no: int, line: bytes) -> dict[str, Any]:
    """The line as a JSON object with a string ``key``; InputError (fatal) otherwise."""
    try:
        record = json.loads(line)
    except ValueError as e:
        raise InputError(path, f"not a JSON record ({e})", where=f"line {line_no}") from None
    if not isinstance(record, dict) or not isinstance(record.get("key"), str):
        raise InputError(path, "record without a key", where=f"line {line_no}", field="key")
    return record


def read_records(
    pattern: str, on_torn: Callable[[str, int], None] | None = None,
    file_hashes: dict[str, dict[str, Any]] | None = None,
) -> Iterator[Record]:
    """Every record of the matching files, in key order (:func:`natural_key`; a key repeated
    keeps file, then line order), so that what is aligned does not depend on the order in
    which a concurrent teacher run finished its samples.

    ``on_torn(path, line)`` is called for a last line without a newline (not read).
    ``file_hashes`` (optional) receives ``{abs path: {"sha256", "records"}}`` per file read
    to its end: the bytes as read, torn tail included. A line that is not a keyed JSON record
    stops the reading: the records before it (in file order) are yielded, in key order, then
    its InputError is raised.
    """
    files = input_files(pattern)
    places: list[_Place] = []
    fatal = None
    for i, path in enumerate(files):
        found, digest, fatal = _index(path, i, on_torn)
        places += found
        if fatal is not None:
            break
        if file_hashes is not None:
            file_hashes[os.path.abspath(path)] = digest
    with contextlib.ExitStack() as stack:
        handles: dict[int, Any] = {}
        for place in sorted(places, key=lambda p: (p.order, p.file, p.line)):
            if place.file not in handles:
                handles[place.file] = stack.enter_context(open(files[place.file], "rb"))
            f = handles[place.file]
            f.seek(place.offset)
            yield _parse(files[place.file], place.line, f.readline())
    if fatal is not None:
        raise fatal
