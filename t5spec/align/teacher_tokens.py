"""Teacher tokens from text alone, with tiktoken, offline.

Where a teacher API returns only text, the aligner re-tokenizes it with the teacher's BPE
(``p50k_base`` for Codex-family models). The encoding files are read from the local tiktoken
cache (``shared/data/tiktoken/cache`` via :func:`t5spec.paths.tiktoken_cache_dir`, unless
``$TIKTOKEN_CACHE_DIR`` is already set); nothing is downloaded. Sampled tokens need not be the
canonical BPE of the text (two sampled ``"\\n"`` become one ``"\\n\\n"``), so tokens an API
returns are always preferred.
"""

from __future__ import annotations

from t5spec.bpe import join_utf8, load_tiktoken


def get_encoding(name: str):
    """A tiktoken encoding loaded from the offline cache."""
    return load_tiktoken(name)


def retokenize(text: str, encoding: str = "p50k_base") -> tuple[str, ...]:
    """``text`` as teacher token strings whose concatenation is ``text``.

    A BPE token may end inside a multi-byte UTF-8 character; such tokens are merged with the
    following ones until the bytes decode, so every string is valid text.
    """
    enc = get_encoding(encoding)
    ids = enc.encode(text, disallowed_special=())
    return tuple(join_utf8(enc.decode_single_token_bytes(t) for t in ids))
