"""`rcbot demo` runs a whole round end to end on the real scheduler (what `make demo` runs)."""

from pathlib import Path

from rich.console import Console

from bot.demo import run_demo


async def test_the_demo_runs_a_round_and_reports(tmp_path: Path) -> None:
    console = Console(record=True, width=120)
    await run_demo(tmp_path / "demo", seed=3, console=console)
    text = console.export_text()
    assert "Chemotherapy pathway" in text
    assert "Crisis service" in text
    assert "reminders:" in text
    assert "RC per tie" in text
    assert "Posted to the leadership channel" in text
    assert "For the conversation" in text
    reports = tmp_path / "demo" / "reports"
    for survey in ("survey-1", "survey-2"):  # keyed by id, never by name
        folder = reports / survey / "round-1"
        for name in ("heatmap.png", "network.png", "report.xlsx", "report.md", "ties.csv"):
            assert (folder / name).stat().st_size > 0, name
