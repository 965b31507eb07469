"""A client-side rate limit: requests per minute and tokens per minute, as token buckets.

Each bucket holds at most one minute's budget and refills continuously. A request reserves
its token estimate (prompt + ``n × max_tokens``, the way OpenAI counts against TPM) before it
is sent; nothing is refunded afterwards, so the limit is an upper bound on what is sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class _Bucket:
    def __init__(self, per_minute: float, clock: Callable[[], float]):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # units per second
        self.level = self.capacity
        self.clock = clock
        self.stamp = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self, amount: float) -> float:
        """Seconds until ``amount`` is available (amount is capped at the capacity)."""
        self._refill()
        need = min(amount, self.capacity) - self.level
        return max(0.0, need / self.rate)

    def take(self, amount: float) -> None:
        self.level -= min(amount, self.capacity)


class RateLimiter:
    """Async limiter over requests/min and tokens/min; ``None`` or 0 means unlimited.

    ``await limiter.acquire(tokens)`` returns once both budgets allow one more request of
    ``tokens`` tokens. A single request larger than the per-minute token budget waits for a
    full bucket and then goes (it could never fit otherwise).
    """

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self._req = _Bucket(requests_per_minute, clock) if requests_per_minute else None
        self._tok = _Bucket(tokens_per_minute, clock) if tokens_per_minute else None
        self._sleep = sleep
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: int = 0) -> None:
        if self._req is None and self._tok is None:
            return
        async with self._lock:  # first come, first served
            while True:
                wait = max(
                    self._req.wait_time(1) if self._req else 0.0,
                    self._tok.wait_time(tokens) if self._tok else 0.0,
                )
                if wait <= 0:
                    break
                await self._sleep(wait)
            if self._req:
                self._req.take(1)
            if self._tok:
                self._tok.take(tokens)
