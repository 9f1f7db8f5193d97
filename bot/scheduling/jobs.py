"""The scheduler's jobs, referenced by text (``"bot.scheduling.jobs:remind"``) in the job store.

A job stored in the database cannot hold a Python object, so the scheduler host installs the
:class:`~bot.scheduling.lifecycle.Lifecycle` here before it starts and the jobs look it up.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from bot.db_boundary import run_background_db
from bot.scheduling.lifecycle import Lifecycle

log = logging.getLogger(__name__)

_lifecycle: Lifecycle | None = None
_running: dict[str, int] = {}
"""Jobs under way (sync ones run in a worker thread), so a stopping host can let them end
and a wake-up does not start one that is already running."""
_lock = threading.Lock()


def busy(job: str | None = None) -> bool:
    """Whether any job (or the job named) is under way."""
    with _lock:
        return bool(_running.get(job, 0)) if job else any(_running.values())


@contextlib.contextmanager
def _tracked(job: str) -> Iterator[None]:
    with _lock:
        _running[job] = _running.get(job, 0) + 1
    try:
        yield
    finally:
        with _lock:
            _running[job] -= 1


def install(lifecycle: Lifecycle | None) -> None:
    global _lifecycle
    _lifecycle = lifecycle


def _current() -> Lifecycle | None:
    if _lifecycle is None:
        # A run already under way when this process stopped leading: nothing to do.
        log.debug("no lifecycle installed; job skipped")
    return _lifecycle


def open_rounds() -> None:
    with _tracked("open-rounds"):
        if lifecycle := _current():
            lifecycle.open_rounds()
            lifecycle.invite()


def remind() -> None:
    with _tracked("remind"):
        if lifecycle := _current():
            lifecycle.remind()


def digest() -> None:
    with _tracked("digest"):
        if lifecycle := _current():
            lifecycle.digest()


def purge() -> None:
    with _tracked("purge"):
        if lifecycle := _current():
            lifecycle.purge()


def close_rounds() -> None:
    with _tracked("close-rounds"):
        if lifecycle := _current():
            lifecycle.close_rounds()


async def publish() -> None:
    with _tracked("publish"):
        if lifecycle := _current():
            await lifecycle.publish()
            # Results that could not be delivered: the owners are told (once each).
            await run_background_db(lifecycle.notify)


async def send() -> None:
    lifecycle = _current()
    if lifecycle is None:
        return
    with _tracked("send"):
        report = await lifecycle.send()
    if report.handled or report.uncertain:
        log.info(
            "outbox: %d sent, %d to retry, %d failed, %d uncertain",
            report.sent,
            report.retrying,
            report.failed,
            report.uncertain,
        )


JOBS: dict[str, str] = {
    "open-rounds": "bot.scheduling.jobs:open_rounds",
    "close-rounds": "bot.scheduling.jobs:close_rounds",
    "publish": "bot.scheduling.jobs:publish",
    "remind": "bot.scheduling.jobs:remind",
    "digest": "bot.scheduling.jobs:digest",
    "send": "bot.scheduling.jobs:send",
    "purge": "bot.scheduling.jobs:purge",
}
"""Job id -> the function it runs. Each runs every tick; each is idempotent."""
