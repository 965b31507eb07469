"""Teacher tokens from text alone, with tiktoken, offline.

Where a teacher API returns only text, the aligner re-tokenizes it with the teacher's BPE
(``p50k_base`` for Codex-family models). The encoding files are read from the local tiktoken
cache (``shared/data/tiktoken/cache`` via :func:`t5spec.paths.tiktoken_cache_dir`, unless
``$TIKTOKEN_CACHE_DIR`` is already set); nothing is downloaded. Sampled tokens need not be the
canonical BPE of the text (two sampled ``"\\n"`` become one ``"\\n\\n"``), so tokens an API
returns are always preferred.
"""

from __future__ import annotations

import functools
import os

from t5spec.errors import InputError


@functools.lru_cache(maxsize=4)
def get_encoding(name: str):
    """A tiktoken encoding loaded from the offline cache."""
    if not os.environ.get("TIKTOKEN_CACHE_DIR"):
        from t5spec.paths import tiktoken_cache_dir

        os.environ["TIKTOKEN_CACHE_DIR"] = str(tiktoken_cache_dir().resolve())
    import tiktoken

    try:
        return tiktoken.get_encoding(name)
    except ValueError as e:
        raise InputError(None, f"unknown tiktoken encoding {name!r}", field="encoding") from e


def retokenize(text: str, encoding: str = "p50k_base") -> tuple[str, ...]:
    """``text`` as teacher token strings whose concatenation is ``text``.

    A BPE token may end inside a multi-byte UTF-8 character; such tokens are merged with the
    following ones until the bytes decode, so every string is valid text.
    """
    enc = get_encoding(encoding)
    out: list[str] = []
    pending = b""
    for tok in enc.encode(text, disallowed_special=()):
        pending += enc.decode_single_token_bytes(tok)
        try:
            out.append(pending.decode("utf-8"))
        except UnicodeDecodeError:
            continue
        pending = b""
    if pending:
        out.append(pending.decode("utf-8", errors="replace"))
    return tuple(out)
