"""The ``rcbot`` command line: :func:`main` runs it, :data:`app` is its typer app (the
commands are in :mod:`bot.cli.commands`)."""

from __future__ import annotations

import gc
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.cli.commands import app

__all__ = ["app", "main"]


def main() -> None:
    """``rcbot``: run the command the process's arguments name."""
    # Everything rcbot creates (the SQLite database, reports, published copies) is for its
    # own user only: 0600 files, 0700 folders.
    os.umask(0o077)
    # Before the commands (typer, rich, pydantic) are imported: rcbot analyze starts its
    # analysis process now (see bot.cli.analysis).
    from bot.cli.analysis import start_early

    start_early(sys.argv[1:])
    # The collector finds no garbage among the objects imports make, only time to lose
    # looking (some 5 ms of the commands' imports).
    gc.disable()
    try:
        from bot.cli.commands import app
    finally:
        gc.enable()
    app()


def __getattr__(name: str) -> Any:
    # The typer app is imported on first use, so that main() starts before it is.
    if name == "app":
        from bot.cli.commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
