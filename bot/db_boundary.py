"""The one boundary between the event loop and the database.

``rcbot serve`` answers Slack (3 s) and Teams (15 s) from one asyncio event loop, and the
database is reached through SQLAlchemy's blocking engine. **Every** piece of database work
reached from that loop (a request handler, an owner command, the dispatcher, the scheduler's
jobs) goes through :func:`run_db`, which runs it in a small bounded thread pool, so a slow
query or a busy database never stops the loop from acknowledging the next request::

    outcome = await run_db(answering.submit, invitation, Platform.SLACK, user, role, values)

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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

MAX_THREADS: Final = 8
"""At most this many database calls at once; below SQLAlchemy's default pool (5 + 10)."""

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


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="rcbot-db")
        return _pool


async def run_db[**P, T](fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn(*args, **kwargs)`` (blocking database work) off the event loop; a failed
    database connection raises :class:`DatabaseUnavailable`."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(_executor(), functools.partial(fn, *args, **kwargs))
    except DBAPIError as exc:
        if is_unavailable(exc):
            raise DatabaseUnavailable(f"database unavailable ({type(exc.orig).__name__})") from exc
        raise


def on_loop_thread() -> bool:
    """Whether the calling thread is running an event loop right now."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
