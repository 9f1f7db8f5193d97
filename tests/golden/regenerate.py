"""Write the golden copies that ``tests/golden/test_golden.py`` compares every output with.

Run from the repository root: ``python -m tests.golden.regenerate`` (``--inputs`` also
rewrites the two answer files). Only do it when an output is meant to change, and say why in
the commit: the copies were first made by the code before the start-up and speed work of
issue 13, so that work could be shown to change no published byte.

What is kept, per case (``analyze``: ``rcbot analyze inputs/current.csv --previous
inputs/previous.csv``; ``demo-survey-1`` and ``demo-survey-2``: the demo's round 1):

* every CSV, Markdown and JSON file as written;
* ``report.xlsx`` as its sheets' cell values (``report.xlsx.json``): the file's bytes carry
  the time it was saved;
* the pictures as what they are drawn from (``figures.json``, from
  :func:`analytics.figures.figure_data`), not as PNG bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from surveys.dimensions import DIMENSIONS

HERE = Path(__file__).resolve().parent
INPUTS = HERE / "inputs"
EXPECTED = HERE / "expected"
ROOT = HERE.parent.parent
DEMO_SEED = 7
DEMO_STEP = timedelta(hours=6)
DEMO_END = datetime(2026, 4, 1, tzinfo=UTC)  # after the demo round closed
TEXT_SUFFIXES = (".csv", ".md", ".json")
# Headcounts: small roles make hidden cells, ties and roles; odd names test the escaping.
ROLES = {
    "Nurse": 14,
    "Doctor": 9,
    "Pharmacist": 6,
    "=Admin": 5,
    "Ward 2": 4,
    "Porter, night": 2,
}


def write_inputs(seed: int, path: Path, dropouts: float) -> None:
    """A long-form answers CSV that exercises the reader: a BOM, CRLF line ends, padded
    values, quoted commas, blank lines, an extra column, "3" next to "3.0", not-applicable
    answers and a team column."""
    rng = random.Random(seed)
    lines = ["respondent,respondent_role,partner_role,dimension,score,comment,team"]
    level = {role: 3.0 + rng.random() * 1.6 for role in ROLES}
    number = 0
    for role, headcount in ROLES.items():
        for i in range(headcount):
            number += 1
            if rng.random() < dropouts:
                continue
            respondent = f"p{number:03d}"
            team = f"Site {'AB'[i % 2]}"
            personal = rng.gauss(0, 0.4)
            for partner in ROLES:
                if rng.random() < 0.15:
                    continue  # this respondent was not asked about this partner
                apart = rng.random() < 0.05
                for dimension in DIMENSIONS:
                    if apart or rng.random() < 0.04:
                        score = ""
                    else:
                        value = round(level[partner] + personal + rng.gauss(0, 0.7))
                        score = str(min(5, max(1, value)))
                        if rng.random() < 0.3:
                            score += ".0"
                    pad = " " if rng.random() < 0.1 else ""
                    fields = [
                        respondent,
                        f"{pad}{role}{pad}",
                        partner,
                        dimension,
                        score,
                        "free text, ignored" if rng.random() < 0.01 else "",
                        team,
                    ]
                    lines.append(",".join(_quote(f) for f in fields))
            if rng.random() < 0.05:
                lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))


def _quote(field: str) -> str:
    return f'"{field}"' if "," in field else field


def plain(value: Any) -> Any:
    """Figure data (frozen dataclasses, tuples, floats) as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, float):
        return repr(value)  # exact: compared as text
    return value


def workbook_values(path: Path) -> dict[str, list[list[Any]]]:
    from openpyxl import load_workbook

    book = load_workbook(path)
    return {
        sheet.title: [
            [repr(cell) if isinstance(cell, float) else cell for cell in row]
            for row in sheet.iter_rows(values_only=True)
        ]
        for sheet in book.worksheets
    }


def snapshot(folder: Path, figures: dict[str, object]) -> dict[str, str]:
    """Everything compared for one output folder, as file name -> text."""
    files: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix in TEXT_SUFFIXES:
            files[path.name] = path.read_text(encoding="utf-8")
        elif path.suffix == ".xlsx":
            files[path.name + ".json"] = _dump(workbook_values(path))
        elif path.suffix != ".png":
            raise AssertionError(f"unexpected output {path.name}")
    pictures = sorted(p.name for p in folder.glob("*.png"))
    if pictures != sorted(figures):
        raise AssertionError(f"pictures {pictures} but figure data for {sorted(figures)}")
    files["figures.json"] = _dump({name: plain(data) for name, data in figures.items()})
    return files


def _dump(value: object) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True, default=str) + "\n"


def analyze_case(work: Path) -> dict[str, str]:
    """``rcbot analyze`` as a user runs it (a process of its own), and its figure data."""
    from analytics import analyze, load_answers_csv
    from analytics.figures import figure_data

    out = work / "analyze"
    current, previous = INPUTS / "current.csv", INPUTS / "previous.csv"
    rcbot = Path(sys.executable).parent / "rcbot"
    command = [str(rcbot), "analyze", str(current), "--previous", str(previous), "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    result = analyze(load_answers_csv(current), previous=load_answers_csv(previous))
    return snapshot(out, figure_data(result))


def demo_cases(work: Path) -> dict[str, dict[str, str]]:
    """The demo's round 1 of both surveys, and the figure data of their analyses."""
    from rich.console import Console

    from analytics.figures import figure_data
    from bot.demo import run_demo
    from bot.publishing.reporting import build_report
    from surveys.clock import FixedClock
    from surveys.persistence.db import make_engine
    from surveys.service import SurveyService

    demo = work / "demo"
    with open(work / "demo.log", "w") as log:
        asyncio.run(run_demo(demo, DEMO_SEED, Console(file=log), step=DEMO_STEP))
    engine = make_engine(f"sqlite:///{demo / 'demo.db'}")
    try:
        service = SurveyService(engine, FixedClock(DEMO_END))
        cases: dict[str, dict[str, str]] = {}
        for survey in service.list_surveys():
            assert survey.id is not None
            report = build_report(service, survey.name, 1, work / "again")
            assert report.analysis is not None
            folder = demo / "reports" / f"survey-{int(survey.id)}" / "round-1"
            cases[f"demo-survey-{int(survey.id)}"] = snapshot(folder, figure_data(report.analysis))
        return cases
    finally:
        engine.dispose()


def all_cases(work: Path) -> dict[str, dict[str, str]]:
    return {"analyze": analyze_case(work), **demo_cases(work)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--inputs", action="store_true", help="rewrite the answer files too")
    args = parser.parse_args(argv)
    if args.inputs:
        write_inputs(11, INPUTS / "previous.csv", dropouts=0.1)
        write_inputs(12, INPUTS / "current.csv", dropouts=0.15)
    with tempfile.TemporaryDirectory(prefix="rcbot-golden-") as tmp:
        cases = all_cases(Path(tmp))
    shutil.rmtree(EXPECTED, ignore_errors=True)
    for case, files in cases.items():
        for name, text in files.items():
            target = EXPECTED / case / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", newline="")
    print(f"wrote {sum(len(f) for f in cases.values())} golden files under {EXPECTED}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
