"""Where t5spec finds things: its gin files, the checkout it runs from, and the raw data.

- **gin files** (:func:`gin_root`, the gin search path: includes name ``'gin/runs/spec.gin'``):
  installed (``pip install .``) they are package data, ``t5spec/resources/gin/``; in a checkout
  (``pip install -e .``) the repository's ``gin/``. Every gin parse in t5spec and every
  ``t5x.train`` / ``t5x.eval`` command t5spec writes searches :func:`gin_root`.
- **the checkout** (:func:`repo_root`): the repository root when t5spec runs from one, else None
  (installed: nothing beside the package, e.g. no ``../shared/wheels``).
- **raw data** — one policy: an explicit ``--data_dir`` argument, else ``$T5SPEC_DATA_DIR``.
  There is deliberately no silent default: a missing directory is an
  :class:`~t5spec.errors.InputError` that says how to provide one (see README, "Data");
  :func:`data_dir_or_none` is the same lookup for optional uses (a launcher ships data only
  when one is named).
"""

from __future__ import annotations

import os
from pathlib import Path

from t5spec.errors import InputError

ENV_DATA_DIR = "T5SPEC_DATA_DIR"
PACKAGE_DIR = Path(__file__).resolve().parent
# setup.py installs the repository's gin/ here (package data); a checkout has none.
INSTALLED_GIN_ROOT = PACKAGE_DIR / "resources"


def repo_root() -> Path | None:
    """The checkout t5spec runs from (``setup.py`` beside the package), or None if installed."""
    root = PACKAGE_DIR.parent
    return root if (root / "setup.py").is_file() and (root / "gin").is_dir() else None


def gin_root() -> Path:
    """The folder holding ``gin/``: the search path for ``include`` and ``--gin_file``.

    The installed package's ``resources/`` if it has the gin files, else the checkout (a
    missing file is then reported by gin with its path under the checkout)."""
    if (INSTALLED_GIN_ROOT / "gin" / "runs" / "spec.gin").is_file():
        return INSTALLED_GIN_ROOT
    return PACKAGE_DIR.parent


def gin_dir() -> Path:
    """t5spec's gin files (``gin_root() / 'gin'``)."""
    return gin_root() / "gin"


def data_dir_or_none(explicit: str | os.PathLike | None = None) -> Path | None:
    """:func:`data_dir`'s lookup (argument, else ``$T5SPEC_DATA_DIR``) for optional uses:
    None when neither names a directory."""
    raw = explicit if explicit is not None else os.environ.get(ENV_DATA_DIR)
    path = Path(raw).expanduser() if raw else None
    return path if path is not None and path.is_dir() else None


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
