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
