"""The public API end to end, and all-or-nothing output writing."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import analytics
from analytics import Analysis, analyze, load_answers_csv, write_outputs
from analytics import figures as fig
from analytics.exports import KNOWN_OUTPUTS

from .conftest import round_answers

EXPECTED_FILES = {
    "ties.csv",
    "roles.csv",
    "dimensions.csv",
    "response_rates.csv",
    "trends.csv",
    "heatmap.png",
    "network.png",
    "dimensions.png",
    "trend.png",
    "report.xlsx",
    "report.md",
    "extract.json",
}


def test_public_api() -> None:
    assert {"load_answers_csv", "analyze", "write_outputs"} <= set(analytics.__all__)
    assert analytics.__doc__ == (
        "Relational Coordination analytics: pure functions over pandas frames."
    )
    parameters = inspect.signature(analyze).parameters
    assert list(parameters)[:6] == [
        "answers",
        "min_group",
        "previous",
        "invitations",
        "bands",
        "pooling",
    ]
    assert parameters["min_group"].default == 5


def test_csv_to_outputs(tmp_path: Path) -> None:
    source = tmp_path / "answers.csv"
    round_answers().to_csv(source, index=False)
    analysis = analyze(load_answers_csv(source), min_group=3)
    written = write_outputs(analysis, tmp_path / "out")
    names = {p.name for p in written}
    assert names == EXPECTED_FILES - {"response_rates.csv", "trends.csv", "trend.png"}
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)
    assert {p.name for p in (tmp_path / "out").iterdir()} == names
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_all_outputs_with_previous_round_and_invitations(
    full_analysis: Analysis, tmp_path: Path
) -> None:
    written = write_outputs(full_analysis, tmp_path / "deep" / "out")
    assert {p.name for p in written} == EXPECTED_FILES
    assert set(KNOWN_OUTPUTS) == EXPECTED_FILES


def test_nothing_is_written_on_error(
    full_analysis: Analysis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(analysis: Analysis, path: Path) -> Path:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(fig, "network_map", broken)
    target = tmp_path / "out"
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_outputs(full_analysis, target)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary directory left behind

    target.mkdir()
    (target / "ties.csv").write_text("old", encoding="utf-8")
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(RuntimeError):
        write_outputs(full_analysis, target)
    assert (target / "ties.csv").read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt", "ties.csv"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_rewriting_replaces_outputs_and_drops_stale_ones(
    full_analysis: Analysis, plain_analysis: Analysis, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    write_outputs(full_analysis, target)
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    write_outputs(plain_analysis, target)
    names = {p.name for p in target.iterdir()}
    assert "trend.png" not in names  # from the earlier run, no longer true
    assert "notes.txt" in names  # not ours: left alone
    assert "response_rates.csv" not in names


def test_out_dir_that_is_a_file(plain_analysis: Analysis, tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_text("x", encoding="utf-8")
    with pytest.raises(NotADirectoryError):
        write_outputs(plain_analysis, target)
    assert target.read_text(encoding="utf-8") == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_outputs_when_nothing_is_published(tmp_path: Path) -> None:
    from .helpers import frame, uniform_tie

    tiny = frame(uniform_tie("A", "B", [3, 4]))
    analysis = analyze(tiny, previous=tiny)
    assert analysis.trends is not None
    assert analysis.trends.ties.empty
    written = write_outputs(analysis, tmp_path / "out")
    assert {p.name for p in written} == EXPECTED_FILES - {"response_rates.csv"}
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "Too few answers" in report
    ties = (tmp_path / "out" / "ties.csv").read_text(encoding="utf-8").splitlines()
    assert ties[1] == "A,B,,,,,,,,,,,true"
