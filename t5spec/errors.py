"""One error type for bad input, so every entry point reports it the same way.

The command line prints ``str(error)`` on one line and exits with status 2 (no traceback);
library callers catch :class:`InputError` like any ``ValueError``.
"""

from __future__ import annotations

import os

EXIT_BAD_INPUT = 2


class InputError(ValueError):
    """Bad input: names the file, the line or record, and the field.

    Attributes:
      path: the file (or URL / sample id source) that holds the bad input.
      where: ``"line 12"``, ``"record 3"``, ``"sample q17/s4"`` … or None.
      field: the offending field name, or None.
      reason: what is wrong, in words.
    """

    def __init__(
        self,
        path: str | os.PathLike | None,
        reason: str,
        *,
        where: str | None = None,
        field: str | None = None,
    ):
        self.path = None if path is None else os.fspath(path)
        self.where = where
        self.field = field
        self.reason = reason
        super().__init__(self._format())

    def _format(self) -> str:
        parts = [p for p in (self.path, self.where) if p]
        head = ":".join(parts) if parts else "<input>"
        field = f" field {self.field!r}:" if self.field else ""
        return f"{head}:{field} {self.reason}"
