"""Turns one OpenAI-compatible response body into per-choice token records, and checks them.

Pure functions on the decoded JSON (plain dicts), so the same code reads ``/v1/completions``
and ``/v1/chat/completions`` bodies from any server (OpenAI, vLLM, llama.cpp, …).

Completions (``logprobs=k``)::

    choices[i] = {"index", "text", "finish_reason",
                  "logprobs": {"tokens": [str], "token_logprobs": [float|None],
                               "top_logprobs": [{token: logprob}], "text_offset": [int]}}

Chat (``logprobs=true, top_logprobs=k``)::

    choices[i] = {"index", "finish_reason", "message": {"content": str},
                  "logprobs": {"content": [{"token", "logprob",
                                            "top_logprobs": [{"token", "logprob"}]}]}}

A structurally broken body (not an object, no ``choices`` list, a choice that is not an
object) raises :class:`MalformedResponse`: the request is retried. A well-formed body whose
choice is unusable for distillation (no logprobs, fewer than ``k`` alternatives, tokens that do
not join to the text, non-finite numbers) gives a :class:`Choice` with ``invalid_reason`` set:
it is stored as an invalid record and counted, never used for training.

Scoring (``echo: true, max_tokens: 0``): :func:`parse_echo` keeps the tokens of the scored
continuation out of an echoed completions body (``t5spec teacher score``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

TopK = list[tuple[str, float]]


class MalformedResponse(ValueError):
    """The body is not a usable completions/chat response (retried like a 5xx)."""


@dataclasses.dataclass(frozen=True)
class Choice:
    """One generated sample, normalized across endpoints.

    ``top_logprobs[i]`` holds at most ``k`` ``(token, logprob)`` pairs (natural log) for the
    i-th generated token, in the order the server sent them.
    """

    index: int
    text: str
    tokens: tuple[str, ...]
    top_logprobs: tuple[TopK, ...]
    token_logprobs: tuple[float | None, ...]
    finish_reason: str | None
    invalid_reason: str | None = None


@dataclasses.dataclass(frozen=True)
class Response:
    """A decoded response: its choices (sorted by ``index``), model name and usage."""

    choices: tuple[Choice, ...]
    model: str
    usage: dict[str, int]


def parse_response(body: Any, *, endpoint: str, k: int) -> Response:
    """Normalizes a decoded response body of ``endpoint`` ("completions" | "chat").

    Raises:
      MalformedResponse: the body is not a response object with a list of choice objects.
    """
    if not isinstance(body, dict):
        raise MalformedResponse(f"response body is {type(body).__name__}, not an object")
    raw_choices = body.get("choices")
    if not isinstance(raw_choices, list) or not raw_choices:
        raise MalformedResponse("response has no 'choices' list")
    parse = _parse_completion_choice if endpoint == "completions" else _parse_chat_choice
    choices = []
    for pos, raw in enumerate(raw_choices):
        if not isinstance(raw, dict):
            raise MalformedResponse(f"choice {pos} is not an object")
        index = raw.get("index", pos)
        if not isinstance(index, int):
            raise MalformedResponse(f"choice {pos} has a non-integer index")
        choices.append(parse(raw, index, k))
    return Response(tuple(sorted(choices, key=lambda c: c.index)), *_model_usage(body))


def _model_usage(body: dict[str, Any]) -> tuple[str, dict[str, int]]:
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    clean_usage = {
        name: int(usage[name])
        for name in ("prompt_tokens", "completion_tokens")
        if isinstance(usage.get(name), (int, float))
    }
    return (body.get("model") if isinstance(body.get("model"), str) else ""), clean_usage


def parse_echo(body: Any, continuation: str, *, boundary: int, k: int) -> Response:
    """The continuation's tokens in a scoring (``echo``) completions body.

    The echoed tokens are those with ``boundary <= text_offset < boundary +
    len(continuation)`` (the prompt's and anything generated after are dropped); a leading
    ``""`` token with a null log-prob there is an encoder-decoder's decoder start (``t5spec
    serve``) and is dropped too. The choice's text is ``continuation``; it is invalid (stored,
    never trained on) when a teacher token straddles the boundary, a kept token has no
    log-prob or alternatives, or the tokens do not join to ``continuation`` (see
    :func:`invalid_reason`). Raises MalformedResponse for a structurally broken body.
    """
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list) \
            or not body["choices"] or not isinstance(body["choices"][0], dict):
        raise MalformedResponse("response has no 'choices' list of objects")
    return Response((_echo_choice(body["choices"][0], continuation, boundary, k),),
                    *_model_usage(body))


def _echo_choice(raw: dict[str, Any], continuation: str, boundary: int, k: int) -> Choice:
    finish = raw.get("finish_reason")
    lp = raw.get("logprobs")
    names = ("tokens", "token_logprobs", "top_logprobs", "text_offset")
    if not isinstance(lp, dict) or not all(isinstance(lp.get(n), list) for n in names):
        return _invalid(0, continuation, finish, "echo response has no logprobs "
                        "(tokens, token_logprobs, top_logprobs, text_offset)")
    arrays = [lp[n] for n in names]
    if len({len(a) for a in arrays}) != 1:
        return _invalid(0, continuation, finish, "echo logprobs arrays differ in length")
    end = boundary + len(continuation)
    kept = []
    for i, (token, offset) in enumerate(zip(lp["tokens"], lp["text_offset"], strict=True)):
        if not isinstance(token, str) or not _is_number(offset):
            return _invalid(0, continuation, finish, f"echo token {i} has no string/offset")
        if offset < boundary < offset + len(token):
            return _invalid(0, continuation, finish, f"teacher token {i} {token!r} straddles "
                            "the start of the continuation")
        if boundary <= offset < end:
            kept.append(i)
    if kept and lp["tokens"][kept[0]] == "" and lp["token_logprobs"][kept[0]] is None:
        kept = kept[1:]  # an encoder-decoder's decoder start token
    tops: list[list[tuple[Any, Any]]] = []
    for i in kept:
        alts = lp["top_logprobs"][i]
        if lp["token_logprobs"][i] is None or not isinstance(alts, dict):
            return _invalid(0, continuation, finish, f"echo token {i} has no log-probability")
        tops.append(list(alts.items()))
    sampled = [lp["token_logprobs"][i] for i in kept]
    return _checked(0, continuation, [lp["tokens"][i] for i in kept], tops, sampled, finish, k)


def _parse_completion_choice(raw: dict[str, Any], index: int, k: int) -> Choice:
    text = raw.get("text")
    finish = raw.get("finish_reason")
    if not isinstance(text, str):
        raise MalformedResponse(f"choice {index} has no 'text' string")
    lp = raw.get("logprobs")
    if not isinstance(lp, dict) or not isinstance(lp.get("tokens"), list):
        return _invalid(index, text, finish, "response has no logprobs (tokens)")
    tokens = lp["tokens"]
    tops_raw = lp.get("top_logprobs")
    sampled = lp.get("token_logprobs") or [None] * len(tokens)
    if not isinstance(tops_raw, list):
        return _invalid(index, text, finish, "response has no top_logprobs")
    if not (len(tokens) == len(tops_raw) == len(sampled)):
        reason = (
            f"logprobs arrays differ in length (tokens {len(tokens)}, top_logprobs "
            f"{len(tops_raw)}, token_logprobs {len(sampled)})"
        )
        return _invalid(index, text, finish, reason)
    tops: list[TopK] = []
    for alts in tops_raw:
        if not isinstance(alts, dict):
            return _invalid(index, text, finish, f"top_logprobs[{len(tops)}] is not an object")
        tops.append(list(alts.items()))
    return _checked(index, text, tokens, tops, sampled, finish, k)


def _parse_chat_choice(raw: dict[str, Any], index: int, k: int) -> Choice:
    message = raw.get("message")
    finish = raw.get("finish_reason")
    if not isinstance(message, dict):
        raise MalformedResponse(f"choice {index} has no 'message' object")
    text = message.get("content") or ""
    if not isinstance(text, str):
        raise MalformedResponse(f"choice {index} message content is not a string")
    lp = raw.get("logprobs")
    content = lp.get("content") if isinstance(lp, dict) else None
    if not isinstance(content, list):
        return _invalid(index, text, finish, "response has no logprobs (content)")
    tokens, sampled, tops = [], [], []
    for pos, entry in enumerate(content):
        alts = entry.get("top_logprobs") if isinstance(entry, dict) else None
        if not isinstance(alts, list) or not all(isinstance(a, dict) for a in alts):
            return _invalid(index, text, finish, f"logprobs.content[{pos}] has no top_logprobs")
        tokens.append(entry.get("token"))
        sampled.append(entry.get("logprob"))
        tops.append([(a.get("token"), a.get("logprob")) for a in alts])
    return _checked(index, text, tokens, tops, sampled, finish, k)


def _checked(
    index: int,
    text: str,
    tokens: list[Any],
    tops: list[list[tuple[Any, Any]]],
    sampled: list[Any],
    finish: Any,
    k: int,
) -> Choice:
    """Type-checks the arrays and applies the validity rules (see :func:`invalid_reason`)."""
    if not all(isinstance(t, str) for t in tokens):
        return _invalid(index, text, finish, "a token is not a string")
    if not all(_is_number(lp) or lp is None for lp in sampled):
        return _invalid(index, text, finish, "a token_logprob is not a number")
    for pos, alts in enumerate(tops):
        if not all(isinstance(t, str) and _is_number(lp) for t, lp in alts):
            return _invalid(index, text, finish, f"top_logprobs[{pos}] has a non-numeric entry")
    kept = tuple(_top_k([(t, float(lp)) for t, lp in alts], k) for alts in tops)
    choice = Choice(
        index=index,
        text=text,
        tokens=tuple(tokens),
        top_logprobs=kept,
        token_logprobs=tuple(None if lp is None else float(lp) for lp in sampled),
        finish_reason=finish if isinstance(finish, str) else None,
    )
    reason = invalid_reason(choice, k)
    return dataclasses.replace(choice, invalid_reason=reason) if reason else choice


def invalid_reason(choice: Choice, k: int) -> str | None:
    """Why a choice cannot serve as a distillation target, or None when it can.

    Rules: the tokens must join to the text exactly; every token must carry ``k``
    alternatives (a server that caps or drops them gives a smaller k than asked); every
    log-probability must be finite.
    """
    joined = "".join(choice.tokens)
    if joined != choice.text:
        at = next(
            (i for i, (a, b) in enumerate(zip(joined, choice.text, strict=False)) if a != b),
            min(len(joined), len(choice.text)),
        )
        return (
            f"tokens do not concatenate to the text (first difference at char {at}; "
            f"{len(joined)} vs {len(choice.text)} chars)"
        )
    for pos, alts in enumerate(choice.top_logprobs):
        if len(alts) < k:
            return f"token {pos} has {len(alts)} top_logprobs, asked for {k}"
        if not all(math.isfinite(lp) for _, lp in alts):
            return f"token {pos} has a non-finite top logprob"
    if not all(lp is None or math.isfinite(lp) for lp in choice.token_logprobs):
        return "a sampled token has a non-finite logprob"
    return None


def _top_k(alts: TopK, k: int) -> TopK:
    """Keeps the ``k`` most likely alternatives, preserving the server's order among them.

    Some servers add the sampled token to the top-k dict (k+1 entries); the record holds k.
    """
    if len(alts) <= k:
        return alts
    keep = {i for i, _ in sorted(enumerate(alts), key=lambda p: -p[1][1])[:k]}
    return [a for i, a in enumerate(alts) if i in keep]


def _invalid(index: int, text: str, finish: Any, reason: str) -> Choice:
    return Choice(
        index=index,
        text=text,
        tokens=(),
        top_logprobs=(),
        token_logprobs=(),
        finish_reason=finish if isinstance(finish, str) else None,
        invalid_reason=reason,
    )


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)
