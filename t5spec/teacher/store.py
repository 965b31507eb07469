"""The teacher store: a directory of append-only JSONL shards plus a run manifest.

Layout of ``DIR``::

    .lock                   flock held by the one writer (released by the kernel on any exit)
    manifest.json           settings of the run (teacher, prompt, temperature, k, N, …) and
                            the code version that created it; written once, atomically
    sessions.jsonl          one line per (re)start: time, code version, base_url
    samples-00000.jsonl     TeacherSample records (``TeacherSample.to_json``), one per line
    samples-00001.jsonl     … a new shard per session, and every ``shard_records`` records
    samples-00000.jsonl.torn-<bytes>   bytes cut from a torn last line (kept for inspection)

Durability. Each record is encoded whole and handed to the kernel with one ``os.write`` on an
``O_APPEND`` descriptor before the sample counts as done, so a killed process (even
``kill -9``) loses nothing it finished: the page cache belongs to the kernel. ``fsync`` only
adds protection against an OS crash or power loss; there the worst case is a torn or missing
tail, which a restart detects and re-requests — a cost, never a wrong or duplicated record.
So the default policy is ``interval``: fsync at most every few seconds and at close, not per
record (``always`` trades throughput for durability against power loss; ``never`` for tests).

Recovery. On open, every shard is read. A last line without its newline (a write cut short)
is moved to a ``.torn-*`` side file and the shard truncated to its last complete line; that
sample is simply asked again. A complete line that is not a record, or a key that occurs
twice, is corruption and an :class:`~t5spec.errors.InputError` naming shard and line.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from t5spec.errors import InputError
from t5spec.teacher.record import TeacherSample, record_type_error

FORMAT = "t5spec.teacher/1"
MANIFEST = "manifest.json"
SESSIONS = "sessions.jsonl"
_SHARD_RE = re.compile(r"^samples-(\d{5})\.jsonl$")
FSYNC_POLICIES = ("interval", "always", "never")


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """What must stay equal across the sessions of one run (resume with others is an error)."""

    model: str
    endpoint: str
    dataset: str
    split: str
    prompt_id: str
    prompt_sha256: str
    temperature: float
    top_logprobs: int
    num_samples: int
    max_tokens: int
    stop: tuple[str, ...]
    seed: int

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["stop"] = list(self.stop)
        return d


def code_version() -> str:
    """``t5spec`` version plus a hash of this package's sources (e.g. ``0.1.0+3fa2c81b90``)."""
    import t5spec

    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"{t5spec.__version__}+{digest.hexdigest()[:10]}"


@dataclasses.dataclass
class ScanResult:
    """What a store holds: its keys, and how many torn tails were cut on open."""

    keys: set[str]
    torn_tails: int = 0


class TeacherStore:
    """Append-only writer over a store directory (one writer at a time)."""

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        fsync: str = "interval",
        fsync_interval_s: float = 5.0,
        shard_records: int = 10_000,
    ):
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {FSYNC_POLICIES}, got {fsync!r}")
        self.dir = Path(directory)
        self.fsync = fsync
        self.fsync_interval_s = fsync_interval_s
        self.shard_records = shard_records
        self.keys: set[str] = set()
        self.torn_tails = 0
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._in_shard = 0
        self._last_sync = time.monotonic()

    # -- opening -------------------------------------------------------------------------
    def open(self, settings: RunSettings, *, base_url: str = "") -> set[str]:
        """Checks or writes the manifest, repairs torn tails, returns the keys already stored."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        version = code_version()
        try:
            check_manifest(self.dir, settings, version)
            scan = scan_store(self.dir, repair=True)
        except BaseException:
            self.close()
            raise
        self.keys, self.torn_tails = scan.keys, scan.torn_tails
        with open(self.dir / SESSIONS, "a", encoding="utf-8") as f:
            f.write(json.dumps({
                "started": _now(), "code_version": version, "base_url": base_url,
                "records_before": len(self.keys), "torn_tails_cut": self.torn_tails,
            }) + "\n")
        return set(self.keys)

    # -- writing -------------------------------------------------------------------------
    def append(self, sample: TeacherSample) -> None:
        """Writes one record whole; refuses a key the store already holds."""
        key = sample.key
        if key in self.keys:
            raise ValueError(f"duplicate sample {key}: the store already holds it")
        if self._fd is None or self._in_shard >= self.shard_records:
            self._next_shard()
        data = (json.dumps(sample.to_json(), ensure_ascii=False) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        self.keys.add(key)
        self._in_shard += 1
        now = time.monotonic()
        if self.fsync == "always" or (
            self.fsync == "interval" and now - self._last_sync >= self.fsync_interval_s
        ):
            os.fsync(self._fd)
            self._last_sync = now

    def close(self) -> None:
        self._close_shard()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _close_shard(self) -> None:
        if self._fd is not None:
            if self.fsync != "never":
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None

    def _lock(self) -> None:
        """One writer per store: a second concurrent run would write duplicates."""
        import fcntl

        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InputError(self.dir, "another sampling run is writing to this store") from None
        self._lock_fd = fd

    def __enter__(self) -> TeacherStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next_shard(self) -> None:
        self._close_shard()
        used = [int(m.group(1)) for p in self.dir.iterdir() if (m := _SHARD_RE.match(p.name))]
        path = self.dir / f"samples-{max(used, default=-1) + 1:05d}.jsonl"
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        self._in_shard = 0
        _fsync_dir(self.dir)




# -- manifest ------------------------------------------------------------------------------
def check_manifest(directory: Path, settings: RunSettings, version: str) -> None:
    """Writes the manifest of a new run, or checks that a resumed run uses the same settings."""
    path = directory / MANIFEST
    wanted = settings.to_json()
    if not path.exists():
        if shard_paths(directory):
            raise InputError(path, "shards exist but the manifest is missing", field="manifest")
        _atomic_write_json(path, {
            "format": FORMAT, "settings": wanted, "code_version": version, "created": _now(),
        })
        return
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        stored = manifest["settings"]
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(path, f"unreadable manifest ({e})") from None
    if manifest.get("format") != FORMAT:
        raise InputError(path, f"format {manifest.get('format')!r}, expected {FORMAT!r}")
    diffs = [k for k in wanted if stored.get(k) != wanted[k]]
    if diffs:
        detail = "; ".join(f"{k}: run has {stored.get(k)!r}, now {wanted[k]!r}" for k in diffs)
        raise InputError(
            path,
            f"cannot resume with different settings ({detail}); use the run's settings or a "
            "new --output",
            field=diffs[0],
        )


def read_manifest(directory: str | os.PathLike) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    if not path.exists():
        raise InputError(path, "not a teacher store (no manifest.json)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:  # also UnicodeDecodeError
        raise InputError(path, f"unreadable manifest ({e})") from None
    if not isinstance(manifest, dict):
        raise InputError(path, "unreadable manifest (not a JSON object)")
    return manifest


# -- reading -------------------------------------------------------------------------------
def shard_paths(directory: str | os.PathLike) -> list[Path]:
    d = Path(directory)
    return sorted(p for p in d.iterdir() if _SHARD_RE.match(p.name)) if d.is_dir() else []


def scan_store(directory: str | os.PathLike, *, repair: bool = False) -> ScanResult:
    """Reads every record's key; with ``repair``, cuts torn tails (see module docstring)."""
    result = ScanResult(keys=set())
    where: dict[str, str] = {}
    for path in shard_paths(directory):
        if repair and _cut_torn_tail(path):
            result.torn_tails += 1
        for line_no, record in read_records(path):
            key = record["key"]
            if key in where:
                raise InputError(
                    path, f"duplicate key {key!r} (first at {where[key]})", where=f"line {line_no}"
                )
            where[key] = f"{path.name}:{line_no}"
            result.keys.add(key)
    return result


def read_samples(directory: str | os.PathLike) -> Iterator[TeacherSample]:
    """Yields every stored record. A torn last line (no newline) is not a record: skipped.
    A field of the wrong JSON type is an InputError naming shard, line and field."""
    for path in shard_paths(directory):
        for line_no, record in read_records(path):
            problem = record_type_error(record)
            if problem is not None:
                raise InputError(path, problem[1], where=f"line {line_no} (sample "
                                 f"{record['key']})", field=problem[0])
            yield TeacherSample.from_json(record)


def read_records(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, JSON object) of one JSONL shard; a torn last line is no record."""
    with open(path, "rb") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.endswith(b"\n"):
                return  # torn tail: an unfinished write, never a finished sample
            try:
                record = json.loads(line)
            except ValueError as e:
                reason = f"not a JSON record ({e})"
                raise InputError(path, reason, where=f"line {line_no}") from None
            if not isinstance(record, dict) or not isinstance(record.get("key"), str):
                raise InputError(path, "record without a key", where=f"line {line_no}", field="key")
            yield line_no, record


def _cut_torn_tail(path: Path) -> bool:
    """Moves bytes after the last newline to a side file and truncates; True if it cut."""
    size = path.stat().st_size
    if size == 0:
        return False
    with open(path, "rb+") as f:
        back = min(size, 1 << 16)
        while True:
            f.seek(size - back)
            chunk = f.read(back)
            cut = chunk.rfind(b"\n")
            if cut >= 0 or back == size:
                break
            back = min(size, back * 4)
        keep = size - back + cut + 1 if cut >= 0 else 0
        if keep == size:
            return False
        f.seek(keep)
        tail = f.read()
        side = path.with_name(f"{path.name}.torn-{keep}")
        side.write_bytes(tail)
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return True


# -- small helpers -------------------------------------------------------------------------
def _atomic_write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
