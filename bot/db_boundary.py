"""The one boundary between the event loop and the database.

``rcbot serve`` answers Slack (3 s) and Teams (15 s) from one asyncio event loop, and the
database is reached through SQLAlchemy's blocking engine. **Every** piece of database work
reached from that loop goes through this module, which runs it in a small bounded thread
pool, so a slow query or a busy database never stops the loop from acknowledging the next
request. There are two lanes, each its own pool:

* :func:`run_db` for work a person is waiting for (a button press, a page, an owner command,
  a health check)::

      outcome = await run_db(answering.submit, invitation, Platform.SLACK, user, role, values)

* :func:`run_background_db` for work nobody is waiting on this second (the dispatcher's
  sending, the scheduler's jobs, publishing a round), so that a 5,000-person fan-out keeping
  every one of its threads busy never makes a press or a page queue behind it.

Rules of thumb:

* Pass a plain function that does all of one step's database work (ideally one
  transaction) and returns plain values; do not hand ORM objects back to the loop.
* Never call a :class:`~surveys.service.SurveyService` method (or anything that opens a
  session) directly in an ``async def`` in :mod:`bot`; the test suite fails if the engine is
  used on a thread that is running an event loop while serving (see ``tests/db_guard.py``).
* A lost or refused database connection (a restart, a failover, a network blip) comes out
  of :func:`run_db` as one exception, :class:`DatabaseUnavailable`, whatever the driver said;
  the Slack and Teams handlers answer it with :data:`UNAVAILABLE_TEXT` and the scheduler host
  backs off and tries again. Other errors (bugs, constraint violations) pass through as
  they are.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.pool import Pool

MAX_THREADS: Final = 8
"""At most this many database calls at once for people waiting (:func:`run_db`)."""

BACKGROUND_THREADS: Final = 4
"""At most this many for background work (:func:`run_background_db`); with MAX_THREADS,
below SQLAlchemy's default pool (5 + 10 connections)."""

SERVING: contextvars.ContextVar[bool] = contextvars.ContextVar("rcbot_serving", default=False)
"""True while the web server or the scheduler runs code on the event loop; the test guard
uses it to tell the server's database use from a test's own set-up."""

UNAVAILABLE_TEXT: Final = "rcbot is briefly unavailable, please try again in a minute."


class DatabaseUnavailable(Exception):
    """The database cannot be reached right now (refused, dropped or invalidated
    connection); trying again later can succeed."""


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database connection failed, not that the work was wrong."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


_pools: dict[str, ThreadPoolExecutor] = {}
_pool_lock = threading.Lock()


def _executor(lane: str, size: int) -> ThreadPoolExecutor:
    with _pool_lock:
        pool = _pools.get(lane)
        if pool is None:
            pool = _pools[lane] = ThreadPoolExecutor(max_workers=size, thread_name_prefix=lane)
        return pool


def close_pools() -> None:
    """End the boundary's threads, once the work they were given is done; the next work
    starts new ones. For a process done with the database for now (a test, say): the threads
    otherwise stay for the life of the process, and while they do, forking it is unsafe
    (``rcbot analyze``'s drawing worker is then not started)."""
    with _pool_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=True)


_failed_at: float | None = None
"""When (monotonic) database work last failed for want of a connection."""
_worked_from: float = 0.0
"""When the latest database work that reached the database had started."""
_local = threading.local()


@event.listens_for(Pool, "checkout")
def _checked_out(*_: object) -> None:
    """A connection was handed out (pinged first if it lay idle, see
    :data:`surveys.persistence.db.PING_AFTER`; one that broke since fails the work, which
    then counts as failed): count it for this thread."""
    _local.checkouts = getattr(_local, "checkouts", 0) + 1


def database_reachable() -> bool:
    """Whether the database answered the latest work through this boundary: False from a
    failure for want of a connection until work that started after it has really had a
    live connection (work that started before the failure and ends after it, or work that
    never needed a connection, says nothing about now). For work that would act before the
    database answers (a page answered at once) to wait for it instead during an outage."""
    return _failed_at is None or _worked_from > _failed_at


def _counted[T](work: Callable[[], T]) -> Callable[[], tuple[T, bool]]:
    """``work``, and whether it took a live connection from a pool."""

    def run() -> tuple[T, bool]:
        before = getattr(_local, "checkouts", 0)
        result = work()
        return result, getattr(_local, "checkouts", 0) > before

    return run


async def _run[T](pool: ThreadPoolExecutor, work: Callable[[], T]) -> T:
    global _failed_at, _worked_from
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    try:
        result, connected = await loop.run_in_executor(pool, _counted(work))
    except DBAPIError as exc:
        if is_unavailable(exc):
            _failed_at = time.monotonic()
            raise DatabaseUnavailable(f"database unavailable ({type(exc.orig).__name__})") from exc
        raise
    if connected:
        _worked_from = max(_worked_from, started)
    return result


async def run_db[**P, T](fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn(*args, **kwargs)`` (blocking database work someone is waiting for) off the
    event loop; a failed database connection raises :class:`DatabaseUnavailable`."""
    pool = _executor("rcbot-db", MAX_THREADS)
    return await _run(pool, functools.partial(fn, *args, **kwargs))


async def run_background_db[**P, T](fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """:func:`run_db` for background work (sending, scheduled jobs, publishing), in a pool of
    its own, so it never holds up the database work of the people waiting on the server."""
    pool = _executor("rcbot-db-background", BACKGROUND_THREADS)
    return await _run(pool, functools.partial(fn, *args, **kwargs))


def on_loop_thread() -> bool:
    """Whether the calling thread is running an event loop right now."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
