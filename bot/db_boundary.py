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
* Handling "database unavailable" (retry, a polite "try again" to the person) belongs here,
  in one place, when it is added.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final

MAX_THREADS: Final = 8
"""At most this many database calls at once; below SQLAlchemy's default pool (5 + 10)."""

SERVING: contextvars.ContextVar[bool] = contextvars.ContextVar("rcbot_serving", default=False)
"""True while the web server or the scheduler runs code on the event loop; the test guard
uses it to tell the server's database use from a test's own set-up."""

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="rcbot-db")
        return _pool


async def run_db[**P, T](fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn(*args, **kwargs)`` (blocking database work) off the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(), functools.partial(fn, *args, **kwargs))


def on_loop_thread() -> bool:
    """Whether the calling thread is running an event loop right now."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
