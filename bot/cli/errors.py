"""User errors exit 2 with one clear sentence and no traceback."""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from surveys.errors import DomainError

USER_ERROR = 2


class UserError(Exception):
    """A problem the user can fix; the message is shown as is."""


def explain(exc: DomainError) -> str:
    """The message for a domain error, with the list of problems where there is one."""
    # Imported here: only a command that failed needs them (the importer is 5 ms to load).
    from surveys.importing import ImportRejected
    from surveys.instrument import InstrumentError

    message = str(exc)
    message += "" if message.endswith(".") else "."
    if isinstance(exc, ImportRejected):
        return message + "\n" + "\n".join(f"  {line}" for line in exc.details())
    if isinstance(exc, InstrumentError):
        return message + "\n" + "\n".join(f"  {p}" for p in exc.problems)
    return message


def database_failure(exc: BaseException) -> tuple[bool, BaseException | None]:
    """Whether ``exc`` means the database could not be used, and the SQLAlchemy error
    behind it (whose ``orig`` is the driver's message).

    The classes are looked up in ``sys.modules`` rather than imported: a command that never
    touched the database (``--help``, ``analyze``) must not import SQLAlchemy to find out."""
    boundary = sys.modules.get("bot.db_boundary")
    if boundary is not None and isinstance(exc, boundary.DatabaseUnavailable):
        return True, exc.__cause__
    errors = sys.modules.get("sqlalchemy.exc")
    if errors is not None and isinstance(exc, errors.OperationalError):
        return True, exc
    return False, None


def fail(message: str) -> typer.Exit:
    Console(stderr=True, soft_wrap=True).print(f"[bold red]Error:[/] {escape(message)}")
    return typer.Exit(USER_ERROR)


class RcbotGroup(TyperGroup):
    """Turns domain and database errors from any subcommand into user errors."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            raise fail(str(exc)) from None
        except DomainError as exc:
            raise fail(explain(exc)) from None
        except Exception as exc:
            failed, cause = database_failure(exc)
            if not failed:
                raise
            orig = getattr(cause, "orig", None)
            reason = str(orig).strip().splitlines()[0] if orig else "unknown error"
            url = getattr(ctx.obj, "safe_database_url", "the database")
            raise fail(f"Cannot use the database {url}: {reason}.") from None
