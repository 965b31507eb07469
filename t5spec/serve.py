"""``t5spec serve``: a T5X checkpoint behind an OpenAI-compatible completions API.

Endpoints (127.0.0.1 unless ``--host`` says otherwise):

* ``POST /v1/completions`` — ``model``, ``prompt`` (a string or a list of strings),
  ``max_tokens``, ``temperature`` (0 = greedy), ``top_p``, ``n``, ``logprobs`` (0–5), ``stop``,
  ``seed`` (accepted; randomness is per batch, see below). ``logprobs`` come in OpenAI's
  legacy format: ``tokens``, ``token_logprobs``, ``top_logprobs`` (one ``{token: logprob}``
  per token: the ``logprobs`` most likely distinct strings, plus the sampled token when it is
  not among them — "up to logprobs+1", as OpenAI documents) and ``text_offset`` (character
  offsets counted from the start of the prompt). Log-probs are the model's own (temperature
  1, unfiltered), natural log. ``stream``, ``echo``, ``suffix`` and ``best_of`` are refused.
* ``GET /v1/models`` and ``GET /health``.

Token strings: a SentencePiece piece is shown with ``▁`` as a space and byte pieces as their
bytes (pieces that split one UTF-8 character are merged into one token), so ``tokens`` always
join to ``text`` — with a T5 vocabulary the text starts with a space (T5's dummy prefix).
Alternatives that are a partial character read ``bytes:\\xNN``, as OpenAI writes them.

Batching: requests wait for as many rows as were in flight last time, at most
``--batch_wait_ms`` or half a decode (see :class:`Batcher`), then rows with the same
temperature/top_p (``n`` rows per prompt) are decoded together, up to ``--max_batch``, by
:class:`t5spec.models.decoding.Decoder` (T5X's ``temperature_sample`` with per-step top-k
records); more arrive while a batch runs. Shapes are padded to powers of two so only a few
programs compile. Bad requests get OpenAI-style errors (``{"error": {"message", "type",
"param", "code"}}``): 400 for invalid fields or malformed JSON, 404 for an unknown model.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

NUM_ALTERNATIVES = 5


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """Server limits. ``max_tokens`` bounds what a request may ask for; decode batches are
    padded to a power of two of at least ``min_batch`` rows (fewer shapes to compile)."""

    model_name: str
    max_tokens: int = 256
    max_input_tokens: int = 1024
    max_batch: int = 32
    min_batch: int = 1
    batch_wait_ms: float = 5.0
    max_pending: int = 4096
    seed: int = 0


@dataclasses.dataclass
class Row:
    """One sequence to generate: encoder ids (with EOS) and its request's settings."""

    ids: list[int]
    prompt_chars: int
    max_tokens: int
    temperature: float
    top_p: float
    logprobs: int | None
    stop: tuple[str, ...]
    future: asyncio.Future | None = None


def _bucket(n: int, low: int, high: int | None = None) -> int:
    size = max(low, 1 << max(0, n - 1).bit_length())
    return min(size, high) if high else size


class Engine:
    """Tokenizer + decoder; :meth:`run` decodes one batch of compatible rows (blocking)."""

    def __init__(self, decoder: Any, processor: Any, *, eos_id: int = 1):
        self.decoder, self.sp, self.eos_id = decoder, processor, eos_id
        vocab = decoder.config.vocab_size
        if processor.get_piece_size() > vocab:
            raise ValueError(f"vocabulary has {processor.get_piece_size()} pieces but the "
                             f"model only {vocab} embedding rows")
        self.piece_bytes = [self._bytes(i) for i in range(vocab)]
        self.alt_text = [_show(b) for b in self.piece_bytes]

    def _bytes(self, i: int) -> bytes:
        from t5spec.lab.tokenizers import piece_bytes

        n = self.sp.get_piece_size()
        if i >= n:
            extra = i - n
            return (f"<extra_id_{99 - extra}>" if extra < 100 else f"<id_{i}>").encode()
        return piece_bytes(self.sp.id_to_piece(i))

    def encode(self, prompt: str) -> list[int]:
        return [*self.sp.encode(prompt), self.eos_id]

    def run(self, rows: list[Row], seed: int, min_batch: int = 1) -> list[dict]:
        import numpy as np

        from t5spec.models.decoding import SamplingParams

        batch = _bucket(len(rows), min_batch)
        tokens = np.zeros((batch, _bucket(max(len(r.ids) for r in rows), 16)), np.int32)
        for b, r in enumerate(rows):
            tokens[b, :len(r.ids)] = r.ids
        tokens[len(rows):, 0] = self.eos_id
        top_p = rows[0].top_p if rows[0].top_p < 1 else 0.0
        params = SamplingParams(
            max_new_tokens=_bucket(max(r.max_tokens for r in rows), 16),
            temperature=rows[0].temperature, top_p=top_p,
            num_alternatives=NUM_ALTERNATIVES, seed=seed)
        gen = self.decoder.generate(tokens, params)
        n = len(rows)  # plain lists once per batch: no per-element numpy scalars below
        lists = _Lists(gen.lengths[:n].tolist(), gen.tokens[:n].tolist(),
                       gen.token_logprobs[:n], gen.top_ids[:n].tolist(),
                       gen.top_logprobs[:n].tolist())
        return [self._choice(lists, b, r) for b, r in enumerate(rows)]

    def _choice(self, gen: _Lists, b: int, row: Row) -> dict:
        """``text``, ``finish_reason``, ``logprobs`` and the id count of one generated row."""
        length = min(gen.lengths[b], row.max_tokens)
        ids = gen.tokens[b][:length]
        finish = "length"
        if self.eos_id in ids:
            ids, finish = ids[:ids.index(self.eos_id)], "stop"
        groups = _merge_characters([self.piece_bytes[i] for i in ids])
        strings = [s for s, _ in groups]
        keep, stopped = _apply_stop(strings, row.stop)
        groups = groups[:keep]
        finish = "stop" if stopped else finish
        out = {"text": "".join(s for s, _ in groups), "finish_reason": finish,
               "logprobs": None, "n_ids": len(ids)}
        if row.logprobs is not None:
            out["logprobs"] = self._logprobs(gen, b, row, groups)
        return out

    def _logprobs(self, gen: _Lists, b: int, row: Row, groups: list[tuple[str, range]]) -> dict:
        tokens, token_lp, tops, offsets = [], [], [], []
        offset = row.prompt_chars
        row_lp, row_ids, row_top = gen.token_logprobs[b], gen.top_ids[b], gen.top_logprobs[b]
        alt_text = self.alt_text
        for text, span in groups:
            tokens.append(text)
            token_lp.append(float(sum(row_lp[t] for t in span)))  # float32 sum, as generated
            first = span[0]
            top: dict[str, float] = {}
            for i, lp in zip(row_ids[first], row_top[first], strict=True):
                if len(top) == row.logprobs:
                    break
                top.setdefault(alt_text[i], lp)
            top.setdefault(text, token_lp[-1])
            tops.append(top)
            offsets.append(offset)
            offset += len(text)
        return {"tokens": tokens, "token_logprobs": token_lp, "top_logprobs": tops,
                "text_offset": offsets}


@dataclasses.dataclass(frozen=True)
class _Lists:
    """A :class:`~t5spec.models.decoding.Generation`'s first rows as Python lists (token
    log-probs stay float32 numpy: merged tokens sum them in float32)."""

    lengths: list[int]
    tokens: list[list[int]]
    token_logprobs: Any
    top_ids: list[list[list[int]]]
    top_logprobs: list[list[list[float]]]


def _show(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{c:02x}" for c in raw)


def _merge_characters(pieces: list[bytes]) -> list[tuple[str, range]]:
    """(token string, positions) per output token; pieces that split a character merge."""
    out: list[tuple[str, range]] = []
    start, pending = 0, b""
    for pos, raw in enumerate(pieces):
        pending += raw
        try:
            text = pending.decode("utf-8")
        except UnicodeDecodeError:
            if pos + 1 < len(pieces) and pos - start < 3:
                continue
            text = pending.decode("utf-8", errors="replace")
        out.append((text, range(start, pos + 1)))
        start, pending = pos + 1, b""
    return out


def _apply_stop(strings: list[str], stop: tuple[str, ...]) -> tuple[int, bool]:
    """(number of whole tokens before the first stop string, whether one occurred)."""
    text = "".join(strings)
    cuts = [text.find(s) for s in stop if s and s in text]
    if not cuts:
        return len(strings), False
    cut, end = min(cuts), 0
    for n, s in enumerate(strings):
        end += len(s)
        if end > cut:
            return n, True
    return len(strings), True


class Batcher:
    """Waits for the rows it expects, then decodes compatible ones together on one thread.

    Clients answered by one batch come back one by one, each after its response was written
    and read (tens of milliseconds on a busy CPU), so a fixed short wait starts a half-full
    batch — padded to the next power of two, it costs a full one — and the rest wait for
    another decode of the same cost; the two halves then stay out of step. So a batch starts
    once ``expected`` rows wait — the rows of the previous batch plus those that queued while
    it ran (``max_batch`` before the first) — or after ``batch_wait_ms`` or half the previous
    decode's time, whichever is longer. A lone client is served at once; when clients leave,
    one wait ends at the deadline and the expectation drops.
    """

    def __init__(self, engine: Engine, config: ServeConfig):
        self.engine, self.config = engine, config
        self.pending: list[Row] = []
        self.wake = asyncio.Event()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="t5spec-decode")
        self.seed = config.seed
        self.stats = {"batches": 0, "rows": 0}
        self.expected, self.last_seconds = config.max_batch, 0.0

    async def submit(self, rows: list[Row]) -> list[dict]:
        loop = asyncio.get_running_loop()
        for r in rows:
            r.future = loop.create_future()
        self.pending.extend(rows)
        self.wake.set()
        return list(await asyncio.gather(*(r.future for r in rows)))

    def _take(self) -> list[Row]:
        first = self.pending[0]
        key = (first.temperature, first.top_p)
        group = [r for r in self.pending if (r.temperature, r.top_p) == key]
        group = group[:self.config.max_batch]
        chosen = {id(r) for r in group}
        self.pending = [r for r in self.pending if id(r) not in chosen]
        return [r for r in group if not r.future.done()]  # drop cancelled requests

    async def _gather(self) -> None:
        """Returns once the expected rows wait, or at the deadline (see class doc)."""
        loop = asyncio.get_running_loop()
        wait = self.config.batch_wait_ms / 1000
        target = min(self.config.max_batch, self.expected)
        deadline = loop.time() + max(wait, self.last_seconds / 2)
        while len(self.pending) < target and (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(left, 0.002))

    async def run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            await self._gather()
            group = self._take()
            if not self.pending:
                self.wake.clear()
            if not group:
                continue
            self.seed += 1
            self.stats["batches"] += 1
            self.stats["rows"] += len(group)
            start = loop.time()
            try:
                results = await loop.run_in_executor(
                    self.executor, self.engine.run, group, self.seed, self.config.min_batch)
            except Exception as e:  # a decode failure fails its requests, not the server
                results = [e] * len(group)
            self.expected = len(group) + len(self.pending)
            self.last_seconds = loop.time() - start
            for row, result in zip(group, results, strict=True):
                if row.future.done():
                    continue
                if isinstance(result, Exception):
                    row.future.set_exception(result)
                else:
                    row.future.set_result(result)


def create_app(engine: Engine, config: ServeConfig):
    """The FastAPI application (see module docstring); starts its batcher on startup."""
    from fastapi import FastAPI

    from t5spec import serve_api

    batcher = Batcher(engine, config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        task = asyncio.create_task(batcher.run_forever())
        yield
        task.cancel()
        batcher.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="t5spec serve", lifespan=lifespan)
    app.state.batcher = batcher
    serve_api.add_routes(app, engine, batcher, config)
    return app


# ------------------------------------------------------------------------------------ running
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


def load_engine(checkpoint: str | os.PathLike, vocab: str | os.PathLike) -> Engine:
    """An :class:`Engine` over a T5X checkpoint and a SentencePiece model file."""
    import sentencepiece as spm

    from t5spec.errors import InputError
    from t5spec.models.decoding import Decoder

    try:
        processor = spm.SentencePieceProcessor(model_file=os.fspath(vocab))
    except (OSError, RuntimeError) as e:
        raise InputError(vocab, f"not a SentencePiece model: {e}") from None
    decoder = Decoder.from_checkpoint(checkpoint, eos_id=processor.eos_id())
    try:
        return Engine(decoder, processor, eos_id=processor.eos_id())
    except ValueError as e:
        raise InputError(vocab, str(e)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="T5X checkpoint directory")
    parser.add_argument("--vocab", help="SentencePiece model (default: the data dir's "
                        "t5_vocab/spiece.model)")
    parser.add_argument("--data_dir", help="raw-data root (default $T5SPEC_DATA_DIR)")
    parser.add_argument("--model_name", help="model id clients send (default: checkpoint name)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max_tokens", type=int, default=256, help="largest max_tokens")
    parser.add_argument("--max_input_tokens", type=int, default=1024)
    parser.add_argument("--max_batch", type=int, default=32, help="rows per decode")
    parser.add_argument("--min_batch", type=int, default=1,
                        help="pad decode batches to at least this many rows")
    parser.add_argument("--batch_wait_ms", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from t5spec import paths

    vocab = args.vocab or paths.t5_vocab_path(args.data_dir)
    engine = load_engine(args.checkpoint, vocab)
    name = args.model_name or os.path.basename(os.path.normpath(args.checkpoint))
    config = ServeConfig(model_name=name, max_tokens=args.max_tokens,
                         max_input_tokens=args.max_input_tokens, max_batch=args.max_batch,
                         min_batch=args.min_batch, batch_wait_ms=args.batch_wait_ms, seed=args.seed)
    print(f"t5spec serve: model {name!r} at http://{args.host}:{args.port}/v1", flush=True)
    uvicorn.run(create_app(engine, config), host=args.host, port=args.port, log_level="warning")
    return 0


def new_id() -> str:
    return f"cmpl-{uuid.uuid4().hex[:24]}"
