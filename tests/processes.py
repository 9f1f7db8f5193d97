"""Running rcbot as its own process in a test, as it is deployed: the command line in a fresh
interpreter, configured only by the environment the test gives it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Final

CLI: Final = "from bot.cli import main; main()"


def rcbot_env(**settings: str) -> dict[str, str]:
    """This process's environment without any rcbot or Slack setting of the machine's, plus
    ``settings`` (environment variable names as keywords: DATABASE_URL=...)."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("RCBOT_", "SLACK_"))}
    return kept | settings


def slack_rcbot_env(
    database_url: str, slack_url: str, reports: Path, *, token: str, secret: str, **settings: str
) -> dict[str, str]:
    """:func:`rcbot_env` for an rcbot on ``database_url`` talking to a fake Slack at
    ``slack_url``, writing its reports under ``reports``, plus ``settings``."""
    return rcbot_env(
        DATABASE_URL=database_url,
        SLACK_BOT_TOKEN=token,
        SLACK_SIGNING_SECRET=secret,
        SLACK_API_URL=slack_url,
        RCBOT_REPORTS_DIR=str(reports),
        **settings,
    )


async def start_rcbot(
    *args: str,
    env: dict[str, str],
    cwd: Path,
    stdout: int | None = asyncio.subprocess.DEVNULL,
    stderr: int | None = asyncio.subprocess.PIPE,
) -> asyncio.subprocess.Process:
    """``rcbot ARGS...`` in a process of its own."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLI, *args, env=env, cwd=cwd, stdout=stdout, stderr=stderr
    )
