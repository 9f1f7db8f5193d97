"""`rcbot demo` runs a whole round end to end (the same code `make demo` runs)."""

from pathlib import Path

from rich.console import Console

from bot.demo import run_demo


async def test_the_demo_runs_a_round_and_reports(tmp_path: Path) -> None:
    console = Console(record=True, width=120)
    await run_demo(tmp_path / "demo", seed=3, console=console)
    text = console.export_text()
    assert "Chemotherapy pathway" in text
    assert "Crisis service" in text
    assert "Closed 2 rounds" in text
    assert "response rate" in text
    assert (tmp_path / "demo" / "demo.db").exists()
