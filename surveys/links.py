"""Links to published files: each one a row with a token, the file's name and hash, and an
expiry. ``/files/`` serves a token only while its row exists and has not expired."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, select

from surveys.clock import Clock, ensure_utc
from surveys.persistence.orm import FileLinkRow
from surveys.persistence.uow import UnitOfWork


@dataclass(frozen=True)
class FileLink:
    token: str
    name: str
    sha256: str
    created_at: datetime
    expires_at: datetime


def _link(row: FileLinkRow) -> FileLink:
    return FileLink(row.token, row.name, row.sha256, row.created_at, row.expires_at)


class LinkStore:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def now(self) -> datetime:
        return ensure_utc(self.clock.now())

    def issue(self, link: FileLink) -> None:
        with UnitOfWork(self.engine) as uow:
            uow.session.add(
                FileLinkRow(
                    token=link.token,
                    name=link.name,
                    sha256=link.sha256,
                    created_at=link.created_at,
                    expires_at=link.expires_at,
                )
            )

    def live(self, token: str) -> FileLink | None:
        """The link with this token, if rcbot issued it and it has not expired."""
        with UnitOfWork(self.engine) as uow:
            row = uow.session.get(FileLinkRow, token)
            if row is None or row.expires_at <= self.now():
                return None
            return _link(row)

    def expired(self) -> list[FileLink]:
        with UnitOfWork(self.engine) as uow:
            rows = uow.session.scalars(
                select(FileLinkRow).where(FileLinkRow.expires_at <= self.now())
            )
            return [_link(r) for r in rows]

    def forget(self, tokens: list[str]) -> None:
        if not tokens:
            return
        with UnitOfWork(self.engine) as uow:
            uow.session.execute(delete(FileLinkRow).where(FileLinkRow.token.in_(tokens)))
