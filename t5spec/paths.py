"""Where t5spec finds its raw data: an explicit argument, else ``$T5SPEC_DATA_DIR``.

There is deliberately no silent default for users: a missing directory is an
:class:`~t5spec.errors.InputError` that says how to provide one (see README, "Data").
"""

from __future__ import annotations

import os
from pathlib import Path

from t5spec.errors import InputError

ENV_DATA_DIR = "T5SPEC_DATA_DIR"


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Returns the raw-data root (the layout of ``shared/data``: ``gsm8k/``, ``bbh/``, …)."""
    raw = explicit if explicit is not None else os.environ.get(ENV_DATA_DIR)
    if not raw:
        raise InputError(
            None,
            f"no data directory: pass --data_dir or set ${ENV_DATA_DIR} to the folder that "
            "holds gsm8k/, svamp/, asdiv/, multiarith/, bbh/, t5_vocab/ (see README, 'Data')",
        )
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise InputError(path, "data directory does not exist", field=ENV_DATA_DIR)
    return path


def data_file(relative: str, explicit: str | os.PathLike | None = None) -> Path:
    """Returns ``data_dir(explicit) / relative``, or an InputError naming the missing file."""
    path = data_dir(explicit) / relative
    if not path.exists():
        raise InputError(path, "file not found")
    return path


def t5_vocab_path(explicit: str | os.PathLike | None = None) -> Path:
    """The T5/FlanT5 SentencePiece model (``t5_vocab/spiece.model``)."""
    return data_file("t5_vocab/spiece.model", explicit)


def tiktoken_cache_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The offline tiktoken cache (``tiktoken/cache``), usable as ``TIKTOKEN_CACHE_DIR``."""
    return data_file("tiktoken/cache", explicit)


def absolute_local(path: str | os.PathLike) -> str:
    """``path`` made absolute (``~`` expanded) unless it is a URL such as ``gs://bucket/x``.

    Checkpoint paths go through this where they enter a command: Orbax reads no metadata
    from a relative path, and ``t5x.eval`` subprocesses need paths that do not depend on
    the working directory.
    """
    text = os.fspath(path)
    return text if "://" in text else str(Path(text).expanduser().resolve())
