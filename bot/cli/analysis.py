"""``rcbot analyze``: the analysis, and the process it runs in.

Reading the command line and the settings takes rcbot about a third of a second (typer,
rich, pydantic), and importing pandas as long again; one after the other, they would be half
of what ``rcbot analyze`` takes on a million answers. So when the arguments start with
``analyze``, :func:`start_early` forks at once, before anything else is imported: the fork
(the analysis process) imports pandas and the reading of answers while the command line is
read here, and then waits for its :class:`Job`. The command, once the arguments are
checked, hands the job over (:func:`take_early`, :meth:`EarlyAnalysis.run`) and waits for
the :class:`Outcome`, which it prints. The fork does nothing the user did not ask for: if no job
comes (``--help``, a bad option or setting), it sees the pipe close, or is stopped when this
process exits, having written nothing.

Forking is only safe while a process runs a single thread: at the start of ``rcbot`` no
thread has been started. Where forking is not possible or not useful (one core), or the
command is run another way (the tests' ``CliRunner``), :func:`run` runs in the command's own
process instead: the files and the output are the same.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bot.cli.show import TieTable  # plain data: no rich, no pandas


@dataclass(frozen=True)
class Job:
    """What ``rcbot analyze`` was asked to do (arguments already checked)."""

    answers: Path
    out_dir: Path
    min_group: int
    previous: Path | None


@dataclass(frozen=True)
class Outcome:
    """What came of a :class:`Job`: the number of files written, or the user's error in one
    sentence, or (a bug) the traceback of what went wrong."""

    files: int = 0
    error: str | None = None
    crash: str | None = None


TableReady = Callable[[TieTable], None]


def run(
    job: Job, workers: Executor | None, table_ready: TableReady, *, prepared: bool = True
) -> Outcome:
    """Read the answers, analyse them and write every file (``workers``: see
    :func:`analytics.exports.write_all`); errors in the input become :attr:`Outcome.error`.
    The tie table goes to ``table_ready`` as soon as it is known, before the files are
    written, so that it can be laid out for the terminal meanwhile.

    The worker also reads and checks half of a large answers file (see
    :func:`analytics.load_answers`), first, and then gets ready to draw unless it is
    ``prepared`` already; with a previous round, it reads half of that too, and resamples
    it for the trends (see :func:`analytics.trends.compare_rounds`)."""
    from analytics.frames import AnswersError, load_answers
    from bot.cli.show import tie_table
    from bot.cli.workers import prepare_drawing

    def then() -> None:
        if workers is not None and not prepared:
            workers.submit(prepare_drawing)
        _import_scoring()  # while the worker reads its half

    try:
        current = load_answers(job.answers, helper=workers, then=then)
        from analytics import analyze, write_outputs

        before = None
        if job.previous is not None:
            before = load_answers(job.previous, helper=workers)
        result = analyze(current, min_group=job.min_group, previous=before, helper=workers)
        table_ready(tie_table(result))
        files = write_outputs(result, job.out_dir, workers=workers)
    except AnswersError as exc:
        return Outcome(error=str(exc))
    except FileNotFoundError as exc:
        return Outcome(error=f"{exc.filename} does not exist.")
    except ValueError as exc:
        return Outcome(error=str(exc))
    return Outcome(files=len(files))


def _import_scoring() -> None:
    """Import the scoring and the files (about 15 ms once pandas is in). Reading needs
    neither: the analysis process imports them once its worker has been given half of the
    answers to read and check, rather than before it can start reading. The worker's half
    comes back about 10 ms after this process has done its own (its rows cross a pipe), so
    the imports cost little or nothing of the time to the joined answers."""
    import analytics.exports
    import analytics.pipeline  # noqa: F401


# --------------------------------------------------------------------------- early start


@dataclass
class EarlyAnalysis:
    """The analysis process started by :func:`start_early`, seen from the command."""

    pid: int
    jobs: BinaryIO
    outcomes: BinaryIO
    given: bool = False
    reaped: bool = False

    def run(self, job: Job, table_ready: TableReady) -> Outcome:
        """Hand ``job`` over and wait for its outcome (as :func:`run`). The process may still
        be winding down (its drawing worker) when this returns: :meth:`stop` waits for it."""
        self.given = True
        outcome: object = None
        try:
            pickle.dump(job, self.jobs)
            self.jobs.close()
            # The tie table, when the analysis gets that far, then the outcome.
            outcome = pickle.load(self.outcomes)  # noqa: S301 (our own fork's answer)
            if isinstance(outcome, TieTable):
                table_ready(outcome)
                outcome = pickle.load(self.outcomes)  # noqa: S301
        except (EOFError, BrokenPipeError, pickle.UnpicklingError):
            outcome = None
        finally:
            self.outcomes.close()
        if not isinstance(outcome, Outcome):
            code = os.waitstatus_to_exitcode(self._reap())
            outcome = Outcome(crash=f"the analysis process stopped unexpectedly ({code})")
        return outcome

    def stop(self) -> None:
        """When this process exits: stop the analysis process if it was never given a job
        (the command stopped before it needed one), and wait for it to end. It is asked to
        stop (SIGTERM) rather than killed, so that it ends its drawing worker too."""
        if not self.given:
            self.given = True
            self.jobs.close()
            self.outcomes.close()
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
        self._reap()

    def _reap(self) -> int:
        if self.reaped:
            return 0
        self.reaped = True
        _, status = os.waitpid(self.pid, 0)
        return status


_early: EarlyAnalysis | None = None
_early_pid: int | None = None
"""The analysis process's id, for tests."""


def wants_early(argv: Sequence[str]) -> bool:
    """Whether ``rcbot ARGV`` is an analysis worth starting before the command line is read."""
    return (
        bool(argv)
        and argv[0] == "analyze"
        and "--help" not in argv
        and hasattr(os, "fork")
        and (os.cpu_count() or 1) >= 2
    )


def start_early(argv: Sequence[str]) -> None:
    """Fork the analysis process when ``argv`` (the arguments after ``rcbot``) asks for an
    analysis; call before any thread starts and before heavy imports."""
    global _early, _early_pid
    if _early is not None or not wants_early(argv):
        return
    job_read, job_write = os.pipe()
    outcome_read, outcome_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the analysis process: never returns
        os.close(job_write)
        os.close(outcome_read)
        _serve(job_read, outcome_write)
    os.close(job_read)
    os.close(outcome_write)
    _early = EarlyAnalysis(pid, os.fdopen(job_write, "wb"), os.fdopen(outcome_read, "rb"))
    _early_pid = pid
    atexit.register(_early.stop)


def take_early() -> EarlyAnalysis | None:
    """The analysis process started for this command, if there is one (once)."""
    global _early
    early, _early = _early, None
    return early


def _hold_to_this_cpu() -> Callable[[], None]:
    """Keep this process on the processor it runs on, until the returned function is called.

    While the analysis process imports pandas, the command imports typer and pydantic
    beside it; left free to move, the analysis process was moved between the processors as
    the command's process ran and waited (on the 2-core machine of the benchmarks), and
    each move cost it its warm caches: its imports took about 50 ms longer (0.27 s instead
    of 0.22 s after its start). Held for the imports only: once it reads the answers (beside
    its drawing worker) the kernel places it as it sees fit. Where the processor cannot be
    known or held, nothing is done."""

    def nothing() -> None:
        pass

    if not hasattr(os, "sched_setaffinity"):
        return nothing
    try:
        allowed = os.sched_getaffinity(0)
        with open("/proc/self/stat", encoding="ascii") as stat:  # field 39: the processor
            here = int(stat.read().rsplit(")", 1)[1].split()[36])
        if here not in allowed or len(allowed) < 2:
            return nothing
        os.sched_setaffinity(0, {here})
    except (OSError, ValueError, IndexError):
        return nothing

    def release() -> None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, allowed)

    return release


_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3  # glibc's mallopt parameters


def _keep_freed_memory() -> None:
    """Have the C allocator keep and reuse the memory this process frees.

    The analysis makes and drops dozens of arrays of a million values each (8 MB apiece).
    By default glibc hands each block this size out as a fresh mapping and unmaps it when it
    is freed, so every array starts with a few thousand page faults; on the benchmarks'
    virtual machine the checks then took anywhere between 0.09 and 0.25 s. Served from the
    heap instead (blocks up to 32 MB, the most glibc allows), freed and kept (up to 1 GB,
    grown 128 MB at a time), the same memory is used again: the checks take about 0.09 s
    every time. This process ends as soon as its results are written, so nothing is kept
    for long. Where the C library is not glibc, nothing is done."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    mallopt(_M_TOP_PAD, 128 << 20)


class _Stopped(Exception):
    """The command stopped before it gave this process a job (SIGTERM, see
    :meth:`EarlyAnalysis.stop`)."""


def _serve(job_read: int, outcome_write: int) -> None:
    """The analysis process: get ready, wait for the job, run it, answer, leave."""
    status = 0
    workers = None
    stopping = False
    starting_worker = False
    leaving = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        # Not while the worker is being started (it is stopped once it is known, see below),
        # nor once this process is leaving anyway: the command closes the job pipe before it
        # sends the signal, so the signal may come while the worker is being ended.
        if not (starting_worker or leaving):
            raise _Stopped

    signal.signal(signal.SIGTERM, stop)
    free = _hold_to_this_cpu()
    _keep_freed_memory()
    try:
        # Importing makes hundreds of thousands of objects and no garbage worth collecting:
        # without the collector looking at them as they come, the imports take about 20 ms
        # less (of the 0.25 s that pandas and numpy take).
        gc.disable()
        import analytics.frames  # noqa: F401 (imported while the command line is read)
        from bot.cli.workers import drawing_workers

        # What is loaded now stays to the end: the collector need not look at it again (a
        # full collection of it costs about 15 ms once the answers are in), and the worker
        # forked next shares it untouched.
        gc.freeze()
        gc.enable()
        free()
        starting_worker = True
        workers = drawing_workers(prepare=False)  # it reads first (see run)
        starting_worker = False
        if stopping:
            raise _Stopped
        with os.fdopen(job_read, "rb") as jobs:
            try:
                job = pickle.load(jobs)  # noqa: S301 (from the process that forked this one)
            except EOFError:  # no job: the command stopped before it needed the analysis
                return
        with os.fdopen(outcome_write, "wb") as answer:

            def table_ready(table: TieTable) -> None:
                pickle.dump(table, answer)
                answer.flush()

            try:
                outcome = run(job, workers, table_ready, prepared=False)
            except Exception:
                outcome = Outcome(crash=traceback.format_exc())
            pickle.dump(outcome, answer)
    except BaseException:  # stopped, interrupted, or the command went away: leave quietly
        status = 1
    finally:
        leaving = True
        try:
            if workers is not None:  # ends the worker too, so that it is not left behind
                workers.shutdown(cancel_futures=True)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)
