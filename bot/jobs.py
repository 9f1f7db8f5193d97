"""The scheduler's jobs, referenced by text (``"bot.jobs:remind"``) in the job store.

A job stored in the database cannot hold a Python object, so the scheduler host installs the
:class:`~bot.lifecycle.Lifecycle` here before it starts and the jobs look it up.
"""

from __future__ import annotations

import logging

from bot.lifecycle import Lifecycle

log = logging.getLogger(__name__)

_lifecycle: Lifecycle | None = None


def install(lifecycle: Lifecycle | None) -> None:
    global _lifecycle
    _lifecycle = lifecycle


def _current() -> Lifecycle:
    if _lifecycle is None:
        raise RuntimeError("no lifecycle installed; the scheduler host must call install()")
    return _lifecycle


def open_rounds() -> None:
    lifecycle = _current()
    lifecycle.open_rounds()
    lifecycle.invite()


def remind() -> None:
    _current().remind()


def digest() -> None:
    _current().digest()


async def close_rounds() -> None:
    await _current().close_rounds()


async def send() -> None:
    report = await _current().send()
    if report.handled or report.uncertain:
        log.info(
            "outbox: %d sent, %d to retry, %d failed, %d uncertain",
            report.sent,
            report.retrying,
            report.failed,
            report.uncertain,
        )


JOBS: dict[str, str] = {
    "open-rounds": "bot.jobs:open_rounds",
    "close-rounds": "bot.jobs:close_rounds",
    "remind": "bot.jobs:remind",
    "digest": "bot.jobs:digest",
    "send": "bot.jobs:send",
}
"""Job id -> the function it runs. Each runs every tick; each is idempotent."""
