"""A process that draws an analysis's pictures and makes its workbook (``rcbot analyze``).

It is forked from the command's process once pandas and the analytics are imported, so it
starts at once with both, then imports and warms up the drawing (Pillow)
(:func:`analytics.exports.prepare_worker`) while the answers are read and scored; it splits
the drawing with a fork of itself (:func:`analytics.exports.make_pictures_and_workbook`), so
they are imported once. Forking is only safe while this process runs a single thread,
so the worker is started before any other thread (rich's progress spinner, for one); where
it is not safe, or there is one core only, there is no worker and everything is drawn in this
process: the files are the same.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import warnings
from concurrent.futures import ProcessPoolExecutor


def _start_worker() -> None:
    """In the worker: a plain SIGTERM (the forking process may handle it its own way), then
    get ready to draw."""
    from analytics.exports import prepare_worker

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    prepare_worker()


def drawing_workers() -> ProcessPoolExecutor | None:
    """A started worker process, or None where forking it is not safe or not useful."""
    if (
        "fork" not in multiprocessing.get_all_start_methods()
        or threading.active_count() > 1
        or (os.cpu_count() or 1) < 2
    ):
        return None
    workers = ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start_worker,
    )
    with warnings.catch_warnings():
        # Python counts the threads of the operating system: numpy's BLAS keeps a pool of
        # its own (and resets it in a forked child); no Python thread runs (checked above).
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        workers.submit(int)  # forks the worker now
    return workers
