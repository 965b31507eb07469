"""An async client for OpenAI-compatible teachers, on the official ``openai`` SDK.

The SDK provides transport, auth headers and typed errors; its own retries are turned off
(``max_retries=0``) because this client must also retry bodies the SDK cannot see as broken
(truncated JSON, missing fields), count every retry, and honour a client-side rate limit.

Error policy:
  * retried with exponential backoff and jitter: 408/409/429/5xx, timeouts, connection
    errors, malformed bodies;
  * fatal at once (:class:`FatalTeacherError`, one line, no retries): 400/401/403/404/422,
    other 4xx, 429 ``insufficient_quota`` — a wrong key, URL, model or request never
    succeeds by asking again.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import random
from collections.abc import Sequence
from typing import Any

import openai

from t5spec.teacher.normalize import (
    MalformedResponse,
    Response,
    parse_echo,
    parse_response,
)
from t5spec.teacher.ratelimit import RateLimiter

ENDPOINTS = ("completions", "chat")
_RETRY_STATUS = frozenset({408, 409, 425, 429})


class FatalTeacherError(RuntimeError):
    """The teacher cannot serve this run (bad key, URL, model or request); one-line message."""


class RetriesExhausted(RuntimeError):
    """A request kept failing with retryable errors; the samples stay missing (resumable)."""


@dataclasses.dataclass(frozen=True)
class ClientConfig:
    """How to reach the teacher. ``api_key`` never appears in reprs or logs."""

    base_url: str
    model: str
    endpoint: str = "completions"
    api_key: str = dataclasses.field(default="", repr=False)
    timeout_s: float = 120.0
    max_retries: int = 8
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0

    def __post_init__(self) -> None:
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {ENDPOINTS}, got {self.endpoint!r}")


@dataclasses.dataclass
class RetryStats:
    """Retries so far, by kind ("429", "500", "timeout", "connection", "malformed", …)."""

    by_kind: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    requests: int = 0

    @property
    def retries(self) -> int:
        return sum(self.by_kind.values())


class TeacherClient:
    """Sends generation requests and returns normalized :class:`Response` objects."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        limiter: RateLimiter | None = None,
        rng: random.Random | None = None,
    ):
        self.config = config
        self.limiter = limiter or RateLimiter()
        self.stats = RetryStats()
        self._rng = rng or random.Random()
        self._sdk = openai.AsyncOpenAI(
            api_key=config.api_key or "no-key",
            base_url=config.base_url,
            timeout=config.timeout_s,
            max_retries=0,
        )

    async def aclose(self) -> None:
        await self._sdk.close()

    async def preflight(self) -> list[str] | None:
        """Checks URL, key and model once, without retries; returns the served model ids.

        Returns None when the server has no ``/models`` listing (then the first request
        decides). Raises FatalTeacherError for a refused connection, 401/403, or a model the
        listing does not contain.
        """
        try:
            page = await self._sdk.models.list(timeout=min(self.config.timeout_s, 30.0))
        except openai.APIStatusError as e:
            if e.status_code in (404, 405, 501):
                return None
            raise FatalTeacherError(self._describe_status(e)) from None
        except openai.APIConnectionError as e:
            raise FatalTeacherError(
                f"cannot reach the teacher at {self.config.base_url} ({_cause(e)}): "
                "check --base_url and that the server is up"
            ) from None
        except (ValueError, TypeError):  # a body that is not a model list
            return None
        ids = [m.id for m in getattr(page, "data", None) or [] if getattr(m, "id", None)]
        if ids and self.config.model not in ids:
            shown = ", ".join(ids[:10]) + (" …" if len(ids) > 10 else "")
            raise FatalTeacherError(
                f"unknown model {self.config.model!r} at {self.config.base_url}; "
                f"the server offers: {shown}"
            )
        return ids

    async def generate(
        self,
        prompt: str,
        *,
        n: int,
        max_tokens: int,
        temperature: float,
        k: int,
        seed: int | None = None,
        stop: Sequence[str] = (),
        token_estimate: int = 0,
    ) -> Response:
        """One generation request (``n`` choices asked), retried until it parses.

        Raises:
          FatalTeacherError: the server refused in a way retrying cannot fix.
          RetriesExhausted: ``max_retries`` retries all failed transiently.
        """
        return await self._retrying(
            lambda: self._send(prompt, n, max_tokens, temperature, k, seed, stop),
            lambda body: parse_response(body, endpoint=self.config.endpoint, k=k),
            token_estimate,
        )

    async def score(
        self, prompt: str, continuation: str, *, k: int, decoder_prompt: bool,
        token_estimate: int = 0,
    ) -> Response:
        """One scoring request (``echo``, ``max_tokens=0``, ``logprobs=k``; completions only),
        retried like :meth:`generate`; one choice, the continuation's tokens
        (:func:`~t5spec.teacher.normalize.parse_echo`).

        ``decoder_prompt=False`` (a decoder-only teacher) sends ``prompt + continuation`` as
        the prompt; ``True`` (an encoder-decoder one, ``t5spec serve``) sends ``prompt`` as
        the encoder input and ``continuation`` as ``decoder_prompt``.
        """
        sent = prompt if decoder_prompt else prompt + continuation
        extra = {"decoder_prompt": continuation} if decoder_prompt else {}
        boundary = 0 if decoder_prompt else len(prompt)

        async def send() -> Any:
            raw = await self._sdk.completions.with_raw_response.create(
                model=self.config.model, prompt=sent, max_tokens=0, echo=True, logprobs=k,
                extra_body=extra or None,
            )
            return json.loads(raw.http_response.content)

        return await self._retrying(
            send, lambda body: parse_echo(body, continuation, boundary=boundary, k=k),
            token_estimate,
        )

    async def _retrying(self, send: Any, parse: Any, token_estimate: int) -> Any:
        """``parse(await send())``, retried (see the module docstring)."""
        cfg = self.config
        for attempt in range(cfg.max_retries + 1):
            await self.limiter.acquire(token_estimate)
            self.stats.requests += 1
            retry_after = None
            try:
                return parse(await send())
            except openai.APIStatusError as e:
                if not _retryable(e):
                    raise FatalTeacherError(self._describe_status(e)) from None
                kind, error = str(e.status_code), e
                retry_after = _retry_after_s(e)
            except openai.APITimeoutError as e:
                kind, error = "timeout", e
            except openai.APIConnectionError as e:
                kind, error = "connection", e
            except (MalformedResponse, ValueError) as e:  # includes json.JSONDecodeError
                kind, error = "malformed", e
            if attempt == cfg.max_retries:
                raise RetriesExhausted(
                    f"gave up after {attempt + 1} attempts; last error {kind}: {_cause(error)}"
                )
            self.stats.by_kind[kind] += 1
            await asyncio.sleep(self._backoff_s(attempt, retry_after))
        raise AssertionError("unreachable")

    async def _send(
        self,
        prompt: str,
        n: int,
        max_tokens: int,
        temperature: float,
        k: int,
        seed: int | None,
        stop: Sequence[str],
    ) -> Any:
        cfg = self.config
        extra: dict[str, Any] = {}
        if seed is not None:
            extra["seed"] = seed
        if stop:
            extra["stop"] = list(stop)
        common = dict(model=cfg.model, max_tokens=max_tokens, temperature=temperature, n=n)
        if cfg.endpoint == "completions":
            raw = await self._sdk.completions.with_raw_response.create(
                prompt=prompt, logprobs=k, **common, **extra
            )
        else:
            raw = await self._sdk.chat.completions.with_raw_response.create(
                messages=[{"role": "user", "content": prompt}],
                logprobs=True,
                top_logprobs=k,
                **common,
                **extra,
            )
        return json.loads(raw.http_response.content)

    def _backoff_s(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with "equal jitter": a delay in [d/2, d], d = base·2^attempt."""
        cfg = self.config
        delay = min(cfg.backoff_max_s, cfg.backoff_base_s * 2**attempt)
        delay = delay / 2 + self._rng.uniform(0, delay / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, cfg.backoff_max_s))
        return delay

    def _describe_status(self, e: openai.APIStatusError) -> str:
        cfg = self.config
        msg = _server_message(e)
        if e.status_code in (401, 403):
            return (
                f"authentication failed ({e.status_code}) at {cfg.base_url}: {msg}; "
                + ("no API key was sent" if not cfg.api_key else "check the API key")
                + " (--api_key_env / --api_key_file)"
            )
        if e.status_code == 404:
            return (
                f"not found (404) at {cfg.base_url}: {msg}; check --base_url, --model "
                f"and --endpoint ({cfg.endpoint})"
            )
        if e.status_code == 429:
            return f"quota exhausted (429) at {cfg.base_url}: {msg}"
        return f"request rejected ({e.status_code}) by {cfg.base_url}: {msg}"


def _retryable(e: openai.APIStatusError) -> bool:
    if e.status_code == 429 and "insufficient_quota" in _server_message(e):
        return False
    return e.status_code in _RETRY_STATUS or e.status_code >= 500


def _retry_after_s(e: openai.APIStatusError) -> float | None:
    try:
        value = e.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (ValueError, AttributeError):
        return None


def _server_message(e: openai.APIStatusError) -> str:
    body = e.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            body = err.get("message") or err.get("code") or err.get("detail") or err
        else:
            body = err
    text = " ".join(str(body if body is not None else e.message).split())
    return text[:300]


def _cause(e: BaseException) -> str:
    inner = e.__cause__ or e.__context__
    detail = f"{type(inner).__name__}: {inner}" if inner else str(e)
    return " ".join(detail.split())[:200]
