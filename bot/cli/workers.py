"""A process that draws an analysis's pictures and makes its workbook (``rcbot analyze``).

It is forked from the command's process once pandas and the analytics are imported, so it
starts at once with both, then imports and warms up the drawing (Pillow)
(:func:`analytics.exports.prepare_worker`) while the answers are read and scored; it splits
the drawing with a fork of itself (:func:`analytics.exports.make_pictures_and_workbook`), so
they are imported once. Forking is only safe while this process runs a single thread,
so the worker is started before any other thread (rich's progress spinner, for one); where
it is not safe, or there is one core only, there is no worker and everything is drawn in this
process: the files are the same.

The worker is a plain fork that reads its jobs from a pipe and answers on another, rather
than a ``ProcessPoolExecutor``: there is nothing to import (multiprocessing and its queues
took about 20 ms of the analysis process's time before it could read the answers), no
thread hands the jobs over, and no queue is left to drain when the analysis process is
stopped while the worker is starting (the pool's shutdown could then wait forever).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import queue
import signal
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, BinaryIO, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class DrawingWorker(Executor):
    """A forked process that runs the jobs submitted to it, one at a time, in order.

    Jobs and their answers are pickled through two pipes; a thread of this process waits
    for the answers and settles each job's future. :meth:`shutdown` closes the job pipe,
    which ends the worker once it has finished what it was given.
    """

    def __init__(self, prepare: Callable[[], None] | None = None) -> None:
        job_read, job_write = os.pipe()
        answer_read, answer_write = os.pipe()
        _widen(answer_write)
        with warnings.catch_warnings():
            # Python counts the threads of the operating system: numpy's BLAS keeps a pool
            # of its own (and resets it in a forked child); no Python thread runs (checked
            # by drawing_workers).
            warnings.filterwarnings(
                "ignore", "This process .* is multi-threaded", DeprecationWarning
            )
            pid = os.fork()
        if pid == 0:  # the worker: never returns
            os.close(job_write)
            os.close(answer_read)
            _work(job_read, answer_write, prepare)
        os.close(job_read)
        os.close(answer_write)
        self.pid = pid
        self._jobs: BinaryIO | None = os.fdopen(job_write, "wb")
        self._answers = os.fdopen(answer_read, "rb")
        self._waiting: queue.SimpleQueue[Future[Any] | None] = queue.SimpleQueue()
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        self._reaped = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._jobs is None:
                raise RuntimeError("cannot submit a job after shutdown")
            if self._reader is None:
                self._reader = threading.Thread(
                    target=self._read_answers, name="drawing-worker-answers", daemon=True
                )
                self._reader.start()
            future.set_running_or_notify_cancel()  # a job given cannot be taken back
            self._waiting.put(future)
            try:
                pickle.dump((fn, args, kwargs), self._jobs)
                self._jobs.flush()
            except (BrokenPipeError, OSError) as exc:
                if not future.done():
                    future.set_exception(RuntimeError(f"the drawing worker is gone ({exc})"))
        return future

    def _read_answers(self) -> None:
        """Settle each job's future, in order, with its answer (or the worker's end)."""
        while True:
            future = self._waiting.get()
            if future is None:
                return
            try:
                outcome, value = pickle.load(self._answers)  # noqa: S301 (our own fork)
            except (EOFError, OSError, pickle.UnpicklingError):
                outcome, value = "error", RuntimeError("the drawing worker stopped unexpectedly")
            if future.done():  # the job could not be sent (see submit)
                continue
            if outcome == "ok":
                future.set_result(value)
            else:
                future.set_exception(value)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """End the worker once it has done the jobs it has (they cannot be cancelled once
        given); with ``wait``, return when it has ended."""
        with self._lock:
            jobs, self._jobs = self._jobs, None
        if jobs is not None:
            with contextlib.suppress(OSError):
                jobs.close()
        if wait and not self._reaped:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self._reaped = True
            self._waiting.put(None)
            if self._reader is not None:
                self._reader.join()
            self._answers.close()


_PIPE_BYTES = 1 << 20


def _widen(pipe: int) -> None:
    """Let the pipe hold a megabyte (where Linux allows it) rather than 64 KB: half the
    answers of a large file (some 7 MB, see :func:`analytics.load_answers`) then cross in
    a few steps instead of a hundred, each of which had to wake the reading thread: 12-13 ms
    from the worker's last check to the join on the benchmarks' machine, about 21 ms
    before."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe, set_size, _PIPE_BYTES)


def _work(job_read: int, answer_write: int, prepare: Callable[[], None] | None) -> None:
    """The worker: get ready, then run each job and answer it, until the job pipe closes."""
    status = 0
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the analysis process's handler
        if prepare is not None:
            with contextlib.suppress(Exception):  # a job that needs it will say what failed
                prepare()
        with os.fdopen(job_read, "rb") as jobs, os.fdopen(answer_write, "wb") as answers:
            while True:
                try:
                    fn, args, kwargs = pickle.load(jobs)  # noqa: S301 (from our parent)
                except (EOFError, OSError, pickle.UnpicklingError):
                    return
                try:
                    answer: tuple[str, object] = ("ok", fn(*args, **kwargs))
                except Exception as exc:
                    answer = ("error", exc)
                try:
                    data = pickle.dumps(answer)
                except Exception:
                    failure = answer[1]
                    data = pickle.dumps(
                        ("error", RuntimeError(f"{type(failure).__name__}: {failure}"))
                    )
                answers.write(data)
                answers.flush()
    except BaseException:
        status = 1
    finally:
        os._exit(status)


def prepare_drawing() -> None:
    """Import and warm up the drawing (in the worker: see :func:`drawing_workers`)."""
    from analytics.exports import prepare_worker

    prepare_worker()


def drawing_workers(*, prepare: bool = True) -> DrawingWorker | None:
    """A started worker process, or None where forking it is not safe or not useful.

    The worker gets ready to draw (:func:`prepare_drawing`) before its first job, unless
    ``prepare`` is False: it is then given that as a job of its own, when the caller has
    other work for it first (reading and checking half of the answers, see
    :func:`analytics.load_answers`).
    """
    if not hasattr(os, "fork") or threading.active_count() > 1 or (os.cpu_count() or 1) < 2:
        return None
    return DrawingWorker(prepare_drawing if prepare else None)
