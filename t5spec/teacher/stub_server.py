"""A fast, deterministic local stand-in for an OpenAI-compatible teacher (tests, benchmarks).

Not a model: it answers every prompt with a short canned chain of thought whose final number
is the gold answer for even seeds and gold + 1 for odd ones (when it knows the gold), with
``k`` made-up top log-probabilities per token. ``mode`` makes it misbehave on purpose:
``no_logprobs``, ``short_k`` (k−2 alternatives), ``bad_join`` (tokens that do not join to
the text), ``plus_one`` (k+1 alternatives, as llama.cpp sends).

Runs on 127.0.0.1 only, in a background thread (:meth:`StubTeacher.start`) or as a process::

    python -m t5spec.teacher.stub_server --delay 0.1   # prints its base_url, serves forever

Needs ``aiohttp`` (a test extra).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import threading
import time
from fractions import Fraction
from typing import Any

_TOKEN = re.compile(r"\s?\S+|\s")
MODES = ("ok", "no_logprobs", "short_k", "bad_join", "plus_one")


@dataclasses.dataclass
class StubTeacher:
    """The stub's behaviour; ``golds`` maps question text to its gold answer string."""

    delay_s: float = 0.0
    honor_n: bool = True
    mode: str = "ok"
    model: str = "stub-teacher"
    api_key: str | None = None
    golds: dict[str, str] = dataclasses.field(default_factory=dict)
    requests: int = 0  # generation requests received (any outcome)
    model_listings: int = 0
    url: str = ""

    # -- the answer --------------------------------------------------------------------
    def _text(self, prompt: str, seed: int) -> str:
        question = prompt.rsplit("\nQuestion: ", 1)[-1].split("\nLet's think step by step")[0]
        gold = self.golds.get(question)
        if gold is None:
            answer = str(seed % 97)
        else:
            answer = gold if seed % 2 == 0 else str(Fraction(gold) + 1)
        return f"\nWe work it out step by step.\nThe answer is {answer}\n\nQuestion: next"

    def _choice(self, prompt: str, seed: int, k: int, index: int, chat: bool) -> dict[str, Any]:
        text = self._text(prompt, seed)
        tokens = _TOKEN.findall(text)
        if self.mode == "bad_join":
            tokens = tokens[:-1]
        width = {"short_k": k - 2, "plus_one": k + 1}.get(self.mode, k)
        tops = [_alternatives(tok, width) for tok in tokens]
        sampled = [-0.05] * len(tokens)
        finish = "length"
        if chat:
            logprobs = {"content": [
                {"token": t, "logprob": lp, "bytes": None,
                 "top_logprobs": [{"token": a, "logprob": b, "bytes": None} for a, b in top]}
                for t, lp, top in zip(tokens, sampled, tops, strict=True)
            ]}
            out = {"index": index, "message": {"role": "assistant", "content": text},
                   "finish_reason": finish}
        else:
            logprobs = {"tokens": tokens, "token_logprobs": sampled,
                        "top_logprobs": [dict(top) for top in tops],
                        "text_offset": [len(prompt) + sum(map(len, tokens[:i]))
                                        for i in range(len(tokens))]}
            out = {"index": index, "text": text, "finish_reason": finish}
        out["logprobs"] = None if self.mode == "no_logprobs" else logprobs
        return out

    async def _generate(self, request: Any, chat: bool) -> Any:
        from aiohttp import web

        self.requests += 1
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": {"message": "Invalid API key"}}, status=401)
        body = await request.json()
        if body.get("model") != self.model:
            return web.json_response(
                {"error": {"message": f"model {body.get('model')!r} not found"}}, status=404
            )
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        prompt = body["messages"][-1]["content"] if chat else body["prompt"]
        k = int(body.get("top_logprobs" if chat else "logprobs") or 0)
        n = int(body.get("n") or 1) if self.honor_n else 1
        seed = int(body.get("seed") or 0)
        choices = [self._choice(prompt, seed + i, k, i, chat) for i in range(n)]
        return web.json_response({
            "id": f"stub-{self.requests}", "object": "chat.completion" if chat else
            "text_completion", "created": int(time.time()), "model": self.model,
            "choices": choices,
            "usage": {"prompt_tokens": len(prompt) // 4,
                      "completion_tokens": sum(len(_TOKEN.findall(c.get("text") or ""))
                                               for c in choices)},
        })

    def app(self) -> Any:
        from aiohttp import web

        async def models(request: Any) -> Any:
            self.model_listings += 1
            if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
                return web.json_response({"error": {"message": "Invalid API key"}}, status=401)
            return web.json_response({"object": "list", "data": [
                {"id": self.model, "object": "model", "owned_by": "stub"}]})

        async def completions(request: Any) -> Any:
            return await self._generate(request, chat=False)

        async def chat(request: Any) -> Any:
            return await self._generate(request, chat=True)

        app = web.Application()
        app.router.add_get("/v1/models", models)
        app.router.add_post("/v1/completions", completions)
        app.router.add_post("/v1/chat/completions", chat)
        return app

    # -- running -----------------------------------------------------------------------
    def start(self, port: int = 0) -> StubTeacher:
        """Serves on 127.0.0.1 in a daemon thread; sets and returns ``self.url``."""
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(port, ready), daemon=True, name="stub-teacher"
        )
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("stub teacher did not start")
        return self

    def _serve(self, port: int, ready: threading.Event) -> None:
        from aiohttp import web

        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(self.app(), access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        self._loop.run_until_complete(site.start())
        bound = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{bound}/v1"
        ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)

    def __enter__(self) -> StubTeacher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _alternatives(token: str, width: int) -> list[tuple[str, float]]:
    """``width`` distinct alternatives, the sampled token first."""
    alts = [(token, -0.05)] + [(f"{token}~{j}", -2.0 - j) for j in range(1, max(width, 1))]
    return alts[: max(width, 0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--ignore_n", action="store_true", help="answer one choice, like llama.cpp")
    parser.add_argument("--mode", choices=MODES, default="ok")
    parser.add_argument("--model", default="stub-teacher")
    parser.add_argument("--golds", help="JSON file {question: gold}")
    args = parser.parse_args()
    golds = {}
    if args.golds:
        with open(args.golds, encoding="utf-8") as f:
            golds = json.load(f)
    stub = StubTeacher(delay_s=args.delay, honor_n=not args.ignore_n, mode=args.mode,
                       model=args.model, golds=golds).start(args.port)
    print(stub.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stub.stop()


if __name__ == "__main__":
    main()
