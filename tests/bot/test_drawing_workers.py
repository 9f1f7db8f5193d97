"""``rcbot analyze`` draws in a worker process forked from it: the same files, and nothing
written when drawing fails there."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from analytics import Analysis, analyze, load_answers_csv, write_outputs
from analytics import figures as fig
from bot.cli.workers import drawing_workers
from tests.golden.regenerate import INPUTS, workbook_values


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    return analyze(
        load_answers_csv(INPUTS / "current.csv"), previous=load_answers_csv(INPUTS / "previous.csv")
    )


@pytest.fixture
def workers() -> Iterator[ProcessPoolExecutor]:
    started = drawing_workers()
    if started is None:
        pytest.skip("no worker process here (one core, or threads running)")
    yield started
    started.shutdown()


def test_the_worker_writes_the_same_files(
    analysis: Analysis, workers: ProcessPoolExecutor, tmp_path: Path
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
