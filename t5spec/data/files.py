"""Validated reading of the raw data files, and the skip accounting for ``skip_invalid``.

Every reader goes through here, so bad input fails the same way everywhere: an
:class:`~t5spec.errors.InputError` naming the file, the line (or record) and the field —
missing file, empty file, a byte that is not UTF-8, malformed JSON. Nothing is skipped unless
the caller passes ``skip_invalid=True``; then readers return a :class:`Loaded` list whose
``skipped`` attribute holds one InputError per dropped record (and log a warning with the
count), so callers can read and report how much was lost.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from t5spec.errors import InputError

log = logging.getLogger(__name__)
T = TypeVar("T")


class Loaded(list[T]):
    """A list of records plus what was dropped under ``skip_invalid=True``.

    Attributes:
      skipped: one InputError per skipped record (file, line/record, field, reason); empty
        unless the reader was asked to skip.
    """

    skipped: tuple[InputError, ...]

    def __init__(self, items: Iterable[T] = (), skipped: Iterable[InputError] = ()):
        super().__init__(items)
        self.skipped = tuple(skipped)


def read_text(path: str | os.PathLike) -> str:
    """The file's text, strictly UTF-8; InputError if missing, empty or not UTF-8."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror or e}") from None
    if not raw.strip():
        raise InputError(path, "empty file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        reason = f"byte 0x{raw[e.start]:02x} at offset {e.start} is not UTF-8"
        raise InputError(path, reason, where=f"line {line}") from None


def load_json(path: str | os.PathLike) -> Any:
    """Parses a whole-file JSON document; floats become exact ``Decimal`` values."""
    text = read_text(path)
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as e:
        raise InputError(path, f"malformed JSON: {e.msg}", where=f"line {e.lineno}") from None


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, Any | InputError]]:
    """Yields ``(line_number, object)`` per line of a JSON Lines file (1-based lines).

    A line that is blank or not valid JSON yields an InputError instead of an object, so the
    caller decides (via :func:`collect`) whether to raise or skip. A single trailing newline is
    not a blank line.
    """
    text = read_text(path)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        where = f"line {number}"
        if not line.strip():
            yield number, InputError(path, "blank line", where=where)
            continue
        try:
            yield number, json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as e:
            yield number, InputError(path, f"malformed JSON: {e.msg}", where=where)


def collect(
    items: Iterable[T | InputError],
    *,
    skip_invalid: bool,
    path: str | os.PathLike,
) -> Loaded[T]:
    """Raises the first InputError in ``items``, or (``skip_invalid``) drops and counts them."""
    kept: list[T] = []
    skipped: list[InputError] = []
    for item in items:
        if isinstance(item, InputError):
            if not skip_invalid:
                raise item
            skipped.append(item)
        else:
            kept.append(item)
    if skipped:
        log.warning("%s: skipped %d invalid record(s); first: %s", path, len(skipped), skipped[0])
    return Loaded(kept, skipped)


def guarded(fn: Callable[[], T]) -> T | InputError:
    """Runs a record parser, returning its InputError instead of raising it."""
    try:
        return fn()
    except InputError as e:
        return e


def require(
    record: Any, key: str, kind: type | tuple[type, ...], *, path: os.PathLike | str, where: str
) -> Any:
    """``record[key]``, checked to exist and to be of ``kind`` (strings must be non-empty)."""
    if not isinstance(record, dict):
        raise InputError(path, f"expected a JSON object, got {type(record).__name__}", where=where)
    if key not in record:
        raise InputError(path, "missing field", where=where, field=key)
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise InputError(path, f"wrong type {type(value).__name__}", where=where, field=key)
    if isinstance(value, str) and not value.strip():
        raise InputError(path, "empty string", where=where, field=key)
    return value
