"""GPT-style BPE token strings, offline: tiktoken encodings from local files, byte joining.

Teacher APIs return tokens as strings; a BPE token may end inside a multi-byte UTF-8 character,
so byte-level tokens are joined until they decode (:func:`join_utf8`). tiktoken's encoding
files come from ``$TIKTOKEN_CACHE_DIR`` or, when unset, the data dir's ``tiktoken/cache``
(``shared/data/tiktoken``); nothing is downloaded.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable

from t5spec.errors import InputError


@functools.lru_cache(maxsize=8)
def load_tiktoken(name: str, data_dir: str | None = None):
    """The tiktoken encoding ``name`` loaded from offline files.

    Raises:
      InputError: no offline cache is configured, the name is unknown, or its file is missing.
    """
    if not os.environ.get("TIKTOKEN_CACHE_DIR"):
        from t5spec import paths

        try:
            os.environ["TIKTOKEN_CACHE_DIR"] = str(paths.tiktoken_cache_dir(data_dir).resolve())
        except InputError as e:
            raise InputError(
                None,
                "tiktoken needs its encoding files offline: set $TIKTOKEN_CACHE_DIR to a folder "
                "that holds them (e.g. shared/data/tiktoken/cache) or $T5SPEC_DATA_DIR / "
                f"--data_dir ({e.reason})",
            ) from None
    import tiktoken

    try:
        return tiktoken.get_encoding(name)
    except ValueError as e:
        if "Unknown encoding" in str(e):
            raise InputError(None, f"unknown tiktoken encoding {name!r}", field="encoding") from e
        raise _missing(name, e) from None
    except Exception as e:  # tiktoken tries to download what the cache lacks
        raise _missing(name, e) from None


def _missing(name: str, e: Exception) -> InputError:
    return InputError(
        os.environ.get("TIKTOKEN_CACHE_DIR"),
        f"cannot load tiktoken encoding {name!r} offline ({type(e).__name__}): put its file in "
        "$TIKTOKEN_CACHE_DIR (see shared/data/tiktoken/SOURCE.md)",
        field="encoding",
    )


def join_utf8(chunks: Iterable[bytes]) -> list[str]:
    """Byte chunks (one per token) as strings: a chunk that ends inside a multi-byte character
    is merged with the following ones until the bytes decode; a dangling tail is replaced."""
    out: list[str] = []
    pending = b""
    for chunk in chunks:
        pending += chunk
        try:
            out.append(pending.decode("utf-8"))
        except UnicodeDecodeError:
            continue
        pending = b""
    if pending:
        out.append(pending.decode("utf-8", errors="replace"))
    return out
