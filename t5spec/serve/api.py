"""The HTTP surface of ``t5spec serve``: OpenAI request validation, routes, the app.

Every refusal is an OpenAI-style body ``{"error": {"message", "type", "param", "code"}}``:
400 ``invalid_request_error`` for malformed JSON, a missing/wrong field, a value out of range
(``max_tokens`` above the server's limit, a prompt longer than ``max_input_tokens``, ``n``
above ``max_batch``), or an unsupported option; 404 ``model_not_found`` for another model
name; 404 for unknown paths; 429 when the queue is full. See :mod:`t5spec.serve`.

Seeds: choice ``i`` of a request (``i`` counts ``n`` choices per prompt, prompt after
prompt) is drawn with seed ``seed + i``, exactly as the single choice of a request for that
prompt with ``n=1`` and seed ``seed + i`` — whatever else the server batches it with. A
request without ``seed`` gets one from the server's own generator (seeded by ``--seed``), so
repeated unseeded requests differ.

Scoring (``echo``). OpenAI's legacy scoring request is ``echo: true, max_tokens: 0,
logprobs: k``: the prompt comes back with every token's log-probability and top-k, the first
token ``null`` (it has no context). A decoder-only model scores its prompt; this model reads the
prompt with its encoder, which predicts nothing. So ``prompt`` stays the encoder input (as
when generating) and the text to score goes in ``decoder_prompt`` (vLLM's name for an
encoder-decoder model's decoder-side prompt; a string, or a list as long as ``prompt``'s).
The choice echoes the decoder side: ``text`` is its tokens joined (SentencePiece may normalize
the text: compare it with what you sent), ``logprobs`` lists the decoder start token (``""``,
``null`` log-prob, ``null`` alternatives, offset 0) and then every token of
``decoder_prompt`` with ``log p(token | prompt, tokens before it)`` and its top-``logprobs``
alternatives, exactly the numbers a generation of that text reports; ``text_offset`` counts
from the start of the decoder text. ``finish_reason`` is ``"length"``, ``completion_tokens``
0. ``echo`` is refused without ``decoder_prompt`` or with ``max_tokens`` > 0 (echo and generate
at once), ``decoder_prompt`` without ``echo``, ``max_tokens: 0`` without ``echo``, and a
``decoder_prompt`` longer than the server's ``max_tokens`` tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
import uuid
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from t5spec.serve.batcher import Batcher
from t5spec.serve.engine import Engine, Row, ServeConfig

MAX_LOGPROBS = 5


class CompletionRequest(BaseModel):
    """The fields of ``POST /v1/completions`` that the server reads (others are ignored)."""

    model_config = ConfigDict(extra="ignore")

    model: str
    prompt: str | list[str]
    max_tokens: int = Field(16, ge=0)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1)
    logprobs: int | None = Field(None, ge=0, le=MAX_LOGPROBS)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    echo: bool = False
    decoder_prompt: str | list[str] | None = None  # echo: the decoder-side text to score
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
    refused = _echo_problem(req)
    if refused:
        return refused
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


def _echo_problem(req: CompletionRequest) -> tuple[str, str] | None:
    """Why an echo/scoring request is malformed (see the module docstring), else None."""
    if req.echo and req.decoder_prompt is None:
        return ("echo=true scores the decoder side of this encoder-decoder model: send the "
                "text to score as decoder_prompt (prompt is the encoder input)"), "decoder_prompt"
    if req.echo and req.max_tokens != 0:
        return "echo=true is supported for scoring only: set max_tokens to 0", "max_tokens"
    if req.decoder_prompt is not None and not req.echo:
        return "decoder_prompt is only read by scoring requests (echo=true, max_tokens=0)", \
            "decoder_prompt"
    if req.max_tokens == 0 and not req.echo:
        return "max_tokens=0 generates nothing: it needs echo=true (scoring)", "max_tokens"
    if isinstance(req.decoder_prompt, list) and (
            not isinstance(req.prompt, list) or len(req.prompt) != len(req.decoder_prompt)):
        return "a decoder_prompt list needs a prompt list of the same length", "decoder_prompt"
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


def add_routes(app: Any, engine: Engine, batcher: Batcher, config: ServeConfig) -> None:
    """Registers ``/v1/completions``, ``/v1/models``, ``/health`` and the error handlers."""
    from starlette.exceptions import HTTPException

    unseeded = random.Random(config.seed)  # seeds for requests that send none

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
        scored = _decoder_ids(req, engine, len(prompts))
        for i, ids in enumerate(scored or ()):
            if len(ids) > config.max_tokens:
                return error(400, f"decoder_prompt {i} has {len(ids)} tokens, more than this "
                             f"server's max_tokens {config.max_tokens}", param="decoder_prompt",
                             code="context_length_exceeded")
        if len(batcher.pending) + req.n * len(prompts) > config.max_pending:
            return error(429, "too many queued requests; retry later",
                         kind="rate_limit_error")
        stop = (req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ())
        seed = req.seed if req.seed is not None else unseeded.getrandbits(63)
        pairs = [(p, ids, dec) for p, ids, dec in zip(
            prompts, encoded, scored or [None] * len(prompts), strict=True) for _ in range(req.n)]
        rows = [Row(ids, 0 if dec is not None else len(p), req.max_tokens, req.temperature,
                    req.top_p, req.logprobs, stop, seed=seed + i, decoder_ids=dec)
                for i, (p, ids, dec) in enumerate(pairs)]
        results = await batcher.submit(rows)
        choices = [{"text": r["text"], "index": i, "logprobs": r["logprobs"],
                    "finish_reason": r["finish_reason"]} for i, r in enumerate(results)]
        prompt_tokens = sum(len(ids) for ids in encoded) + sum(map(len, scored or ()))
        completion_tokens = sum(r["n_ids"] for r in results)
        # Already plain JSON types: a JSONResponse skips FastAPI's jsonable_encoder walk
        # (over a millisecond per 32-token logprobs=5 response, on the event loop).
        return _Completion({
            "id": new_id(), "object": "text_completion", "created": int(time.time()),
            "model": config.model_name, "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}})


class _Completion(JSONResponse):
    """A completion body written by orjson: 0.45 ms for a batch of 16 logprobs=5 bodies of
    80 tokens against 4.6 ms with ``json`` (Starlette's), on the event loop that also
    feeds the decoder (docs/benchmarks.md, 2026-12-07, "completion bodies by orjson"). Its
    floats are the same shortest round-trip decimals; a non-finite float, which ``json``
    refuses here (``allow_nan=False``), is written as ``null``."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _decoder_ids(req: CompletionRequest, engine: Engine, prompts: int) -> list | None:
    """The decoder-side ids to score per prompt (echo requests), else None."""
    if req.decoder_prompt is None:
        return None
    texts = [req.decoder_prompt] * prompts if isinstance(req.decoder_prompt, str) \
        else req.decoder_prompt
    return [engine.encode_decoder(t) for t in texts]


def create_app(engine: Engine, config: ServeConfig):
    """The FastAPI application (see module docstring); starts its batcher on startup."""
    from fastapi import FastAPI

    batcher = Batcher(engine, config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        task = asyncio.create_task(batcher.run_forever())
        yield
        task.cancel()
        batcher.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="t5spec serve", lifespan=lifespan)
    app.state.batcher = batcher
    add_routes(app, engine, batcher, config)
    return app


class ServerThread:
    """A uvicorn server in a background thread on 127.0.0.1 (tests, benchmarks, the lab)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0):
        import socket

        import uvicorn

        self.socket = socket.socket()
        self.socket.bind((host, port))
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)
        self.base_url = "http://{}:{}/v1".format(*self.socket.getsockname()[:2])

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()


def new_id() -> str:
    return f"cmpl-{uuid.uuid4().hex[:24]}"
