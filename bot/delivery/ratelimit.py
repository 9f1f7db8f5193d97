"""Pacing calls to a platform: a token bucket, and a pause that a refusal imposes on all.

One :class:`RateLimiter` is one budget (a method of a workspace, a tenant): every sender of
that method acquires from it before calling, so when the platform refuses one call with a
``Retry-After`` (:meth:`RateLimiter.pause_until`), every other send waits out the same
window instead of running into it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class RateLimiter:
    """At most ``rate`` acquisitions a second on average, ``burst`` at once (``rate`` None:
    no pacing, only the pauses a refusal imposes). ``clock`` and ``sleep`` are injectable so
    that tests run in simulated time."""

    def __init__(
        self,
        rate: float | None,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        if (rate is not None and rate <= 0) or burst < 1:
            raise ValueError("the rate must be positive and the burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._paused_until = float("-inf")
        self._lock = asyncio.Lock()

    @property
    def paused_until(self) -> float:
        """The clock reading before which nothing is let through (-inf: not paused)."""
        return self._paused_until

    def pause_until(self, deadline: float) -> None:
        """Let nothing through before ``deadline`` (a reading of the clock); a later pause
        extends it, an earlier one changes nothing."""
        if deadline > self._paused_until:
            self._paused_until = deadline

    def pause_for(self, seconds: float) -> float:
        """Pause for ``seconds`` from now; returns the deadline."""
        deadline = self._clock() + max(seconds, 0.0)
        self.pause_until(deadline)
        return deadline

    async def _wait(self, seconds: float) -> None:
        if self._sleep is not None:
            await self._sleep(seconds)
        else:
            await asyncio.sleep(seconds)

    def _refill(self) -> None:
        now = self._clock()
        if self.rate is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._paused_until:
                    await self._wait(self._paused_until - now)
                    # Time spent paused earns no burst: the platform has just refused, so
                    # the senders that waited go one by one at the pace, not all at once.
                    self._stamp = max(self._stamp, self._paused_until)
                    self._tokens = min(self._tokens, 1.0)
                    continue
                if self.rate is None:
                    return
                self._refill()
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await self._wait((1 - self._tokens) / self.rate)
