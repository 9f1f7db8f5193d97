"""One scheduler leader among several rcbot processes.

With PostgreSQL the leader holds a session-level advisory lock on a connection of its own;
if the process dies its connection closes, the lock is released and another process takes
over. With SQLite (one machine) a lock file next to the database does the same job.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)


class LeaderLock(Protocol):
    def try_acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...


class PostgresLeaderLock:
    """``key`` defaults to one derived from the schema rcbot uses, because advisory locks
    are shared by the whole database: two deployments in two schemas must not block each
    other."""

    def __init__(self, engine: Engine, key: int | None = None) -> None:
        self.engine = engine
        self.key = key
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return self.still_held()
        conn = self.engine.connect()
        try:
            if self.key is None:
                schema = conn.execute(text("SELECT current_database(), current_schema()")).one()
                digest = hashlib.sha256(f"rcbot:{schema[0]}:{schema[1]}".encode()).digest()
                self.key = int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            conn.commit()
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            held = self._conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND pid = pg_backend_pid() AND granted "
                    "AND ((classid::bigint << 32) | objid::bigint) = :k"
                ),
                {"k": self.key},
            ).scalar()
            self._conn.commit()
        except Exception:
            log.warning("lost the leader connection")
            self._drop()
            return False
        if not held:
            self._drop()
        return bool(held)

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self._conn.commit()
        finally:
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # already broken: nothing more to do
                log.debug("closing a broken leader connection failed", exc_info=True)
            self._conn = None


class FileLeaderLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def still_held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def leader_lock(engine: Engine) -> LeaderLock:
    if engine.dialect.name == "postgresql":
        return PostgresLeaderLock(engine)
    database = engine.url.database
    if not database or database == ":memory:":
        return FileLeaderLock(Path(".rcbot-scheduler.lock"))
    return FileLeaderLock(Path(database + ".leader"))
