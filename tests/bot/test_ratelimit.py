"""The token bucket paces calls without sleeping more than it must."""

import pytest

from bot.delivery.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_burst_then_paced(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    monkeypatch.setattr("bot.delivery.ratelimit.asyncio.sleep", sleep)
    limiter = RateLimiter(10, burst=3, clock=clock)
    for _ in range(5):
        await limiter.acquire()
    assert slept == pytest.approx([0.1, 0.1])
    clock.now += 10
    await limiter.acquire()
    assert len(slept) == 2


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0)
