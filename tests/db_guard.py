"""A guard for rule 3, "the event loop never waits on the database".

Every connection checkout from any SQLAlchemy pool is checked: if it happens on a thread
that is running an event loop *while rcbot is serving* (inside ``rcbot serve``'s request
handlers or the scheduler; :data:`bot.db_boundary.SERVING`), the call stack is recorded and
the test fails at teardown. Database work belongs in :func:`bot.db_boundary.run_db`. A
test's own set-up and assertions on the loop thread are not rcbot serving, so they pass.
"""

from __future__ import annotations

import traceback

from sqlalchemy import event
from sqlalchemy.pool import Pool

from bot.db_boundary import SERVING, on_loop_thread

violations: list[str] = []


def _checkout(dbapi_connection: object, record: object, proxy: object) -> None:
    if SERVING.get() and on_loop_thread():
        violations.append("".join(traceback.format_stack(limit=14)[:-2]))


def install() -> None:
    if not event.contains(Pool, "checkout", _checkout):
        event.listen(Pool, "checkout", _checkout)
