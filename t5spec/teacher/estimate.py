"""Token and cost estimate of a sampling run, printed before the first request.

Counts use tiktoken with its encoding files read offline: ``$TIKTOKEN_CACHE_DIR`` when set,
else ``<data_dir>/tiktoken/cache`` (:func:`t5spec.paths.tiktoken_cache_dir`). The encoding is
the model's own when tiktoken knows the model name (``code-davinci-002`` → p50k_base), else
``cl100k_base`` — then the numbers are an approximation of the teacher's own tokenizer.

Prompt tokens are billed once per request (OpenAI counts the prompt once for ``n`` choices);
completion tokens are an upper bound, ``max_tokens`` per sample.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from t5spec.bpe import load_tiktoken

FALLBACK_ENCODING = "cl100k_base"


@dataclasses.dataclass(frozen=True)
class Estimate:
    requests: int
    samples: int
    prompt_tokens: int
    max_completion_tokens: int
    encoding: str
    exact_encoding: bool
    usd: float | None = None

    def summary(self) -> str:
        approx = "" if self.exact_encoding else " (approximate: model unknown to tiktoken)"
        cost = f", at most ${self.usd:,.2f}" if self.usd is not None else ""
        return (
            f"estimate: {self.samples} samples in ≥{self.requests} requests, "
            f"{self.prompt_tokens:,} prompt + ≤{self.max_completion_tokens:,} completion tokens "
            f"[{self.encoding}{approx}]{cost}"
        )


NO_ENCODING = "none"
CHARS_PER_TOKEN = 4  # the rough count used without an encoding


def load_encoding(model: str, encoding: str | None = None, data_dir: str | None = None):
    """The tiktoken encoding for ``model`` (or the named one), loaded from offline files.

    Returns ``(encoding, exact)`` where ``exact`` says whether it is the model's own.
    """
    import tiktoken

    if encoding == NO_ENCODING:  # a teacher with its own tokenizer (the lab's): no tiktoken
        return None, False
    exact = encoding is not None
    name = encoding
    if name is None:
        try:
            name = tiktoken.encoding_name_for_model(model)
            exact = True
        except KeyError:
            name = FALLBACK_ENCODING
    return load_tiktoken(name, data_dir), exact


def count_prompt_tokens(enc, prompts: Sequence[str], split_at: str = "\nQuestion:") -> list[int]:
    """Token counts of prompts that share a long prefix, counting the prefix once.

    Each prompt is split at its last ``split_at``; the parts are counted separately (a BPE
    merge across the cut is rare, so each count is within a token or two of the exact one).
    """
    if enc is None:
        return [max(1, len(p) // CHARS_PER_TOKEN) for p in prompts]
    cache: dict[str, int] = {}
    counts = []
    for prompt in prompts:
        cut = max(prompt.rfind(split_at), 0)
        head = prompt[:cut]
        if head not in cache:
            cache[head] = len(enc.encode(head, disallowed_special=()))
        counts.append(cache[head] + len(enc.encode(prompt[cut:], disallowed_special=())))
    return counts


def estimate_run(
    prompt_tokens: Sequence[int],
    missing: Sequence[int],
    *,
    samples_per_request: int,
    max_tokens: int,
    encoding: str,
    exact_encoding: bool,
    usd_per_1m_prompt: float | None = None,
    usd_per_1m_completion: float | None = None,
) -> Estimate:
    """Totals for questions with ``prompt_tokens[i]`` and ``missing[i]`` samples to ask."""
    per_request = max(1, samples_per_request)
    requests = [math.ceil(m / per_request) for m in missing]
    prompt_total = sum(r * p for r, p in zip(requests, prompt_tokens, strict=True))
    completion = sum(missing) * max_tokens
    usd = None
    if usd_per_1m_prompt is not None or usd_per_1m_completion is not None:
        usd = (prompt_total * (usd_per_1m_prompt or 0.0)
               + completion * (usd_per_1m_completion or 0.0)) / 1e6
    return Estimate(
        requests=sum(requests),
        samples=sum(missing),
        prompt_tokens=prompt_total,
        max_completion_tokens=completion,
        encoding=encoding,
        exact_encoding=exact_encoding,
        usd=usd,
    )
