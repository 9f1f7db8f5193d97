"""The database boundary's two lanes: background work (a fan-out, a round's publication)
keeping all of its threads busy never makes the work of a person waiting queue behind it."""

import asyncio
import threading
from pathlib import Path

from bot.db_boundary import BACKGROUND_THREADS, run_background_db, run_db


def test_a_press_is_served_while_every_background_thread_is_busy() -> None:
    release = threading.Event()
    started = threading.Semaphore(0)

    def background_step() -> str:
        started.release()
        release.wait(timeout=60)
        return "sent"

    async def main() -> tuple[str, list[str]]:
        busy = [
            asyncio.ensure_future(run_background_db(background_step))
            for _ in range(BACKGROUND_THREADS + 2)
        ]
        for _ in range(BACKGROUND_THREADS):  # the background lane is full
            await asyncio.to_thread(started.acquire)
        try:
            answered = await asyncio.wait_for(run_db(lambda: "page saved"), timeout=30)
        finally:
            release.set()
        return answered, list(await asyncio.gather(*busy))

    answered, sent = asyncio.run(main())
    assert answered == "page saved"
    assert sent == ["sent"] * (BACKGROUND_THREADS + 2)


def test_threads_of_each_lane_are_named_for_it() -> None:
    async def main() -> tuple[str, str]:
        here = await run_db(lambda: threading.current_thread().name)
        there = await run_background_db(lambda: threading.current_thread().name)
        return here, there

    here, there = asyncio.run(main())
    assert here.startswith("rcbot-db_")
    assert there.startswith("rcbot-db-background_")


def test_reachable_only_once_work_started_after_the_failure_reaches_the_database(
    tmp_path: Path,
) -> None:
    """A failure for want of a connection marks the database unreachable; work that had
    started before it and succeeds after it does not mark it reachable again, nor does work
    that needs no connection; work started after it that takes a live connection does."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from bot.db_boundary import DatabaseUnavailable, database_reachable
    from surveys.persistence.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'reach.db'}")
    release, started = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(timeout=60)
        with engine.connect() as connection:
            return str(connection.execute(text("SELECT 'done'")).scalar())

    def refused() -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))

    def ping() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    async def main() -> list[bool]:
        seen = []
        earlier = asyncio.ensure_future(run_db(slow))
        await asyncio.to_thread(started.wait, 60)
        try:
            await run_db(refused)
        except DatabaseUnavailable:
            seen.append(database_reachable())
        release.set()
        assert await earlier == "done"
        seen.append(database_reachable())
        await run_db(lambda: None)  # no connection: says nothing
        seen.append(database_reachable())
        await run_db(ping)
        seen.append(database_reachable())
        return seen

    try:
        assert asyncio.run(main()) == [False, False, False, True]
    finally:
        engine.dispose()
