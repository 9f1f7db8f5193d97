"""Saves of one invitation's pages run in the order submitted, whatever became of the one
before; different invitations' saves run side by side."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from bot.platforms.slack.app import InOrder


async def test_one_key_runs_in_order_and_keys_run_side_by_side() -> None:
    order = InOrder()
    gates = {name: asyncio.Event() for name in ("a1", "a2", "b1")}
    ran: list[str] = []

    def piece(name: str, fail: bool = False) -> Callable[[], Awaitable[str]]:
        async def run() -> str:
            ran.append(f"{name} started")
            await gates[name].wait()
            if fail:
                raise RuntimeError(name)
            return name

        return run

    a1 = order.run(1, piece("a1", fail=True))
    a2 = order.run(1, piece("a2"))  # in line behind a1 at once, before anything runs
    b1 = order.run(2, piece("b1"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert ran == ["a1 started", "b1 started"]  # a2 waits for a1; b1 does not
    gates["a2"].set()
    gates["b1"].set()
    assert await b1 == "b1"
    assert ran == ["a1 started", "b1 started"]
    gates["a1"].set()
    with pytest.raises(RuntimeError):
        await a1
    assert await a2 == "a2"  # after a1, although a1 failed
    assert ran == ["a1 started", "b1 started", "a2 started"]
    assert len(order) == 0
    assert await order.settle(1.0) == 0


async def test_settling_waits_for_the_work_in_line() -> None:
    order = InOrder()
    gate = asyncio.Event()

    async def held() -> str:
        await gate.wait()
        return "saved"

    first = order.run(1, held)
    second = order.run(1, held)
    asyncio.get_running_loop().call_soon(gate.set)
    assert await order.settle(30.0) == 0
    assert (first.result(), second.result()) == ("saved", "saved")


async def test_a_piece_knows_whether_more_was_put_in_line_after_it() -> None:
    order = InOrder()
    gate = asyncio.Event()

    async def held() -> None:
        await gate.wait()

    first = order.run(1, held)
    assert not order.followed(1, first)
    second = order.run(1, held)
    other = order.run(2, held)
    assert order.followed(1, first)
    assert not order.followed(1, second)
    assert not order.followed(2, other)
    gate.set()
    await asyncio.gather(first, second, other)
    assert not order.followed(1, first)
    assert not order.followed(1, second)


async def test_a_press_waits_for_the_saves_already_in_line_for_its_invitation() -> None:
    """``done_with``: what was put in line for a key before it is awaited, failed or not;
    another key's work is not waited for; past the time given it says it is not done."""
    order = InOrder()
    assert await order.done_with(1, 0)  # nothing in line
    gates = [asyncio.Event(), asyncio.Event()]
    other = asyncio.Event()

    async def save(gate: asyncio.Event, fail: bool) -> None:
        await gate.wait()
        if fail:
            raise RuntimeError("not saved")

    first = order.run(1, lambda: save(gates[0], True))
    second = order.run(1, lambda: save(gates[1], False))
    order.run(2, lambda: save(other, False))
    assert not await order.done_with(1, 0)  # still saving: not done in no time at all
    waiting = asyncio.ensure_future(order.done_with(1, 60))
    gates[0].set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert not waiting.done()  # the second save is still in line
    gates[1].set()
    assert await waiting  # both done (the first failed), the other key's work still going
    assert first.done()
    assert second.done()
    assert not other.is_set()
    with pytest.raises(RuntimeError):
        first.result()
    other.set()
    await order.settle(60)
