"""The HTTP surface of ``t5spec serve``: OpenAI request validation, routes and error bodies.

Every refusal is an OpenAI-style body ``{"error": {"message", "type", "param", "code"}}``:
400 ``invalid_request_error`` for malformed JSON, a missing/wrong field, a value out of range
(``max_tokens`` above the server's limit, a prompt longer than ``max_input_tokens``, ``n``
above ``max_batch``), or an unsupported option; 404 ``model_not_found`` for another model
name; 404 for unknown paths; 429 when the queue is full. See :mod:`t5spec.serve`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_LOGPROBS = 5


class CompletionRequest(BaseModel):
    """The fields of ``POST /v1/completions`` that the server reads (others are ignored)."""

    model_config = ConfigDict(extra="ignore")

    model: str
    prompt: str | list[str]
    max_tokens: int = Field(16, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1)
    logprobs: int | None = Field(None, ge=0, le=MAX_LOGPROBS)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    echo: bool = False
    suffix: str | None = None
    best_of: int | None = None


def error(status: int, message: str, *, param: str | None = None, code: str | None = None,
          kind: str = "invalid_request_error") -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def _first_problem(e: ValidationError) -> tuple[str, str | None]:
    problem = e.errors()[0]
    loc = problem.get("loc", ())
    param = str(loc[0]) if loc else None  # "prompt", not pydantic's "prompt.str"
    return f"{param}: {problem.get('msg')}" if param else str(problem.get("msg")), param


def _unsupported(req: CompletionRequest, config: Any) -> tuple[str, str] | None:
    """(message, param) for a valid request this server will not honour, else None."""
    if req.stream:
        return "stream=true is not supported", "stream"
    if req.echo:
        return "echo=true is not supported", "echo"
    if req.suffix:
        return "suffix is not supported", "suffix"
    if req.best_of not in (None, req.n):
        return "best_of is not supported (use n)", "best_of"
    if req.max_tokens > config.max_tokens:
        return (f"max_tokens={req.max_tokens} is larger than this server's limit "
                f"{config.max_tokens}"), "max_tokens"
    prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
    if not prompts:
        return "prompt must not be an empty list", "prompt"
    if req.n * len(prompts) > config.max_batch:
        return (f"n * number of prompts = {req.n * len(prompts)} exceeds this server's "
                f"max_batch {config.max_batch}"), "n"
    return None


async def parse_request(request: Request, config: Any) -> CompletionRequest | Any:
    """The validated request, or an error response."""
    try:
        raw = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return error(400, f"malformed JSON body: {e}")
    if not isinstance(raw, dict):
        return error(400, "the body must be a JSON object")
    try:
        req = CompletionRequest.model_validate(raw)
    except ValidationError as e:
        message, param = _first_problem(e)
        return error(400, message, param=param)
    if req.model != config.model_name:
        return error(404, f"The model {req.model!r} does not exist; this server serves "
                     f"{config.model_name!r}", param="model", code="model_not_found")
    refused = _unsupported(req, config)
    if refused:
        return error(400, refused[0], param=refused[1])
    return req


def add_routes(app: Any, engine: Any, batcher: Any, config: Any) -> None:
    """Registers ``/v1/completions``, ``/v1/models``, ``/health`` and the error handlers."""
    from starlette.exceptions import HTTPException

    from t5spec import serve

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, e: HTTPException):
        return error(e.status_code, str(e.detail), kind="invalid_request_error")

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "model": config.model_name, **batcher.stats}

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": config.model_name, "object": "model",
                                            "created": 0, "owned_by": "t5spec"}]}

    @app.post("/v1/completions")
    async def completions(request: Request):
        req = await parse_request(request, config)
        if not isinstance(req, CompletionRequest):
            return req
        prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
        encoded = [engine.encode(p) for p in prompts]
        for i, ids in enumerate(encoded):
            if len(ids) > config.max_input_tokens:
                return error(400, f"prompt {i} has {len(ids)} tokens, more than this server's "
                             f"max_input_tokens {config.max_input_tokens}", param="prompt",
                             code="context_length_exceeded")
        if len(batcher.pending) + req.n * len(prompts) > config.max_pending:
            return error(429, "too many queued requests; retry later",
                         kind="rate_limit_error")
        stop = (req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ())
        rows = [serve.Row(ids, len(p), req.max_tokens, req.temperature, req.top_p,
                          req.logprobs, stop)
                for p, ids in zip(prompts, encoded, strict=True) for _ in range(req.n)]
        results = await batcher.submit(rows)
        choices = [{"text": r["text"], "index": i, "logprobs": r["logprobs"],
                    "finish_reason": r["finish_reason"]} for i, r in enumerate(results)]
        prompt_tokens = sum(len(ids) for ids in encoded)
        completion_tokens = sum(r["n_ids"] for r in results)
        # Already plain JSON types: a JSONResponse skips FastAPI's jsonable_encoder walk
        # (over a millisecond per 32-token logprobs=5 response, on the event loop).
        return JSONResponse({
            "id": serve.new_id(), "object": "text_completion", "created": int(time.time()),
            "model": config.model_name, "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}})
