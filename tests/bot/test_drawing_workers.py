"""``rcbot analyze`` draws in a worker process forked from it: the same files, and nothing
written when drawing fails there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics import Analysis, analyze, load_answers_csv, write_outputs
from analytics import figures as fig
from bot.cli.workers import DrawingWorker, drawing_workers
from surveys.dimensions import DIMENSIONS
from tests.golden.regenerate import INPUTS, workbook_values


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    return analyze(
        load_answers_csv(INPUTS / "current.csv"), previous=load_answers_csv(INPUTS / "previous.csv")
    )


@pytest.fixture
def workers() -> Iterator[DrawingWorker]:
    started = drawing_workers()
    if started is None:
        pytest.skip("no worker process here (one core, or threads running)")
    yield started
    started.shutdown()


def test_the_worker_writes_the_same_files(
    analysis: Analysis, workers: DrawingWorker, tmp_path: Path
) -> None:
    here = write_outputs(analysis, tmp_path / "here")
    there = write_outputs(analysis, tmp_path / "there", workers=workers)
    assert [p.name for p in there] == [p.name for p in here]
    assert "trend.png" in [p.name for p in there]
    for a, b in zip(here, there, strict=True):
        if a.suffix in (".csv", ".md", ".json"):
            assert a.read_bytes() == b.read_bytes(), a.name
        elif a.suffix == ".xlsx":
            assert workbook_values(a) == workbook_values(b)
        else:
            assert b.read_bytes().startswith(b"\x89PNG"), b.name


def test_a_drawing_that_fails_in_the_worker_writes_nothing(
    analysis: Analysis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(analysis: Analysis, path: Path) -> Path:
        raise OSError("disk on fire")

    monkeypatch.setattr(fig, "heatmap", broken)  # before the fork: the worker has it too
    workers = drawing_workers()
    if workers is None:
        pytest.skip("no worker process here (one core, or threads running)")
    try:
        with pytest.raises(RuntimeError, match="disk on fire"):
            write_outputs(analysis, tmp_path / "out", workers=workers)
    finally:
        workers.shutdown()
    assert list(tmp_path.iterdir()) == []


def _pid_and(value: int) -> tuple[int, int]:
    import os

    return os.getpid(), value


def _fail(message: str) -> None:
    raise ValueError(message)


def _die() -> None:
    import os

    os._exit(3)


def test_the_worker_runs_jobs_in_order_in_its_own_process() -> None:
    import os

    worker = DrawingWorker()
    try:
        futures = [worker.submit(_pid_and, i) for i in range(5)]
        answers = [f.result() for f in futures]
        assert [value for _, value in answers] == list(range(5))
        assert {pid for pid, _ in answers} == {worker.pid} != {os.getpid()}
        with pytest.raises(ValueError, match="no good"):
            worker.submit(_fail, "no good").result()
        assert worker.submit(_pid_and, 7).result()[1] == 7  # still serving
    finally:
        worker.shutdown()
    with pytest.raises(ProcessLookupError):
        os.kill(worker.pid, 0)  # ended and reaped
    with pytest.raises(RuntimeError, match="after shutdown"):
        worker.submit(_pid_and, 1)


def test_a_worker_that_dies_fails_its_job_rather_than_hanging() -> None:
    worker = DrawingWorker()
    try:
        with pytest.raises(RuntimeError, match="stopped unexpectedly"):
            worker.submit(_die).result()
    finally:
        worker.shutdown()


def test_the_worker_reads_and_checks_half_of_a_large_answers_file_then_gets_ready_to_draw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    from analytics import frames, load_answers
    from bot.cli.workers import prepare_drawing

    path = tmp_path / "answers.csv"
    rows = (
        f"r{i // 21},Role {i // 2100 % 5},Role {i // 7 % 3},{DIMENSIONS[i % 7]},{1 + i % 5}\n"
        for i in range(5000)
    )
    path.write_text("respondent,respondent_role,partner_role,dimension,score\n" + "".join(rows))
    monkeypatch.setattr(frames, "_PARTS_MIN_BYTES", 1)
    worker = DrawingWorker()  # not getting ready to draw: reading comes first
    try:
        names = ["respondent", "respondent_role", "partner_role", "dimension", "score"]
        in_parts = frames._load_in_parts(path, 0, 5, [0, 1, 2, 3, 4], names, worker)
        assert in_parts is not None  # read and checked in two parts, one in the worker
        given: list[str] = []

        def then() -> None:
            given.append("prepare")
            worker.submit(prepare_drawing).result()

        answers = load_answers(path, helper=worker, then=then)
    finally:
        worker.shutdown()
    assert given == ["prepare"]
    whole = load_answers(path).frame
    pd.testing.assert_frame_equal(answers.frame, whole, check_exact=True)
    pd.testing.assert_frame_equal(in_parts, whole, check_exact=True)
