"""A fault-injecting HTTP proxy (aiohttp, 127.0.0.1) for the teacher client tests.

Every request is forwarded to ``upstream``; a seeded ``rate`` of them instead gets one
fault, kinds taken in turn so that every kind occurs: ``429``, ``500``, ``hang`` (no answer
for ``hang_s``, past the client's timeout), ``truncated`` (the upstream body cut in half,
sent with a matching Content-Length, so it is well-framed but not JSON) and ``drop`` (the
connection closed without a response). ``/v1/models`` is never faulted (preflight).
"""

from __future__ import annotations

import asyncio
import collections
import random
import socket
import threading
from typing import Any

KINDS = ("429", "500", "hang", "truncated", "drop")


def golds_of(examples) -> dict[str, str]:
    """{question text: gold string} of MathExamples, for the stub teacher."""
    from t5spec.data.answers import format_number

    return {ex.question: format_number(ex.answer) for ex in examples}


def closed_port_url() -> str:
    """A base_url on 127.0.0.1 where nothing listens (a wrong --base_url)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class FaultProxy:
    def __init__(self, upstream: str, *, rate: float = 0.2, hang_s: float = 10.0, seed: int = 0):
        self.upstream = upstream.rstrip("/")
        self.rate, self.hang_s = rate, hang_s
        self._rng = random.Random(seed)
        self.faults: collections.Counter = collections.Counter()
        self.forwarded = 0
        self.url = ""

    def _next_fault(self) -> str | None:
        if self._rng.random() >= self.rate:
            return None
        kind = KINDS[sum(self.faults.values()) % len(KINDS)]
        self.faults[kind] += 1
        return kind

    async def _handle(self, request: Any) -> Any:
        import aiohttp
        from aiohttp import web

        path = request.match_info["tail"]
        fault = None if path == "models" else self._next_fault()
        if fault == "429":
            return web.json_response({"error": {"message": "slow down"}}, status=429,
                                     headers={"Retry-After": "0"})
        if fault == "500":
            return web.json_response({"error": {"message": "injected"}}, status=500)
        if fault == "hang":
            await asyncio.sleep(self.hang_s)
            return web.json_response({"error": {"message": "too late"}}, status=504)
        body = await request.read()
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("authorization", "content-type")}
        timeout = aiohttp.ClientTimeout(total=600)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(request.method, f"{self.upstream}/{path}", data=body,
                            headers=headers) as up,
        ):
            payload = await up.read()
            status = up.status
        self.forwarded += 1
        if fault == "drop":
            request.transport.close()
            raise ConnectionResetError("injected drop")
        if fault == "truncated":
            payload = payload[: len(payload) // 2]
        return web.Response(body=payload, status=status, content_type="application/json")

    def start(self) -> FaultProxy:
        from aiohttp import web

        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            app = web.Application()
            app.router.add_route("*", "/v1/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", 0).start())
            self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=serve, daemon=True, name="fault-proxy")
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("fault proxy did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(60)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
