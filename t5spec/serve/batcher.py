"""Batching for ``t5spec serve``: rows from concurrent requests decoded together.

Requests wait for as many rows as were in flight last time, at most ``batch_wait_ms`` or
half a decode (see :class:`Batcher`), then rows with the same temperature/top_p (``n`` rows
per prompt; rows to score, from ``echo`` requests, apart from rows to generate) are decoded
together, up to ``max_batch``, by :meth:`Engine.run
<t5spec.serve.engine.Engine.run>`; more arrive while a batch runs. Each row draws from its
own seed, so batching changes no row's output.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from t5spec.serve.engine import Engine, Row, ServeConfig


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
        def key(r: Row) -> tuple:
            return r.temperature, r.top_p, r.decoder_ids is None  # scoring rows apart

        first = key(self.pending[0])
        group = [r for r in self.pending if key(r) == first]
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
            self.stats["batches"] += 1
            self.stats["rows"] += len(group)
            start = loop.time()
            try:
                results = await loop.run_in_executor(
                    self.executor, self.engine.run, group, self.config.min_batch,
                    self.config.min_input_tokens)
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
