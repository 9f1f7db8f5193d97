"""Where ``rcbot analyze`` spends its time: a timeline of its phases, in every process.

Run with ``python -m benchmarks.analyze_phases ANSWERS.csv`` from the repository root (make
a big file with ``python -m benchmarks.commands_bench --only analyze`` or
:func:`benchmarks.commands_bench.write_answers_csv`). It runs ``rcbot analyze ANSWERS.csv
--out DIR`` in a fresh interpreter that notes, in seconds since that process started, when
each heavy import and each phase (reading, checking, scoring, each file and picture) starts
and ends, and in which process: the command's own, the analysis process forked before the
command line is read, its drawing worker and the worker's fork. The notes add about a
millisecond each; the figures are for finding the long poles, not for comparing runs
(``benchmarks.commands_bench`` does that).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.commands_bench import as_installed

HERE = Path(__file__).resolve().parent.parent

# Runs in the traced process: wraps the functions below as their modules are imported.
TRACER = r"""
import functools, importlib.abc, importlib.util, os, sys, time

def _started():
    with open("/proc/self/stat") as stat:
        ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as uptime:
        up = float(uptime.read().split()[0])
    return time.time() - (up - ticks / os.sysconf("SC_CLK_TCK"))

T0 = _started()
PHASES = {
    "analytics.frames": ["load_answers", "_read_categories", "_load_in_parts", "_read_part",
                         "_normalised_part", "_joined",
                         "_in_order_of_appearance", "_normalise"],
    "analytics.pipeline": ["analyze", "write_outputs"],
    "analytics.exports": ["_render", "report_workbook", "prepare_worker",
                          "make_pictures_and_workbook"],
    "analytics.figures": ["heatmap", "network_map", "dimension_profile", "trend_chart"],
    "bot.cli.analysis": ["start_early", "run"],
    "bot.cli.workers": ["drawing_workers", "prepare_drawing"],
    "bot.cli.show": ["tie_table", "print_tie_table"],
    "bot.settings": ["load_settings"],
}
IMPORTS = {"numpy", "pandas", "PIL", "openpyxl", "typer", "pydantic", "bot.cli.commands"}

def note(text):  # one write, so that processes writing at once do not mix their lines
    os.write(2, f"{time.time() - T0:7.3f}  [{os.getpid()}]  {text}\n".encode())

def timed(name, function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        note(f"> {name}")
        try:
            return function(*args, **kwargs)
        finally:
            note(f"< {name}")
    return wrapper

class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname not in PHASES and fullname not in IMPORTS:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module
        def exec_module(module):
            note(f"> import {fullname}")
            execute(module)
            note(f"< import {fullname}")
            for name in PHASES.get(fullname, ()):
                setattr(module, name, timed(name, getattr(module, name)))
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, Finder())
note("interpreter started")
from bot.cli import main
main()
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.analyze_phases", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("answers", type=Path, help="an answers CSV")
    parser.add_argument("--previous", type=Path, help="a previous round's answers (trends)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rcbot-phases-") as out:
        command = [sys.executable, "-c", TRACER, "analyze", str(args.answers), "--out", out]
        if args.previous is not None:
            command += ["--previous", str(args.previous)]
        result = subprocess.run(  # noqa: S603 (this benchmark's own command)
            command, capture_output=True, text=True, cwd=HERE, check=False, env=as_installed()
        )
    if result.returncode != 0:
        print(result.stderr[-3000:], file=sys.stderr)
        return result.returncode
    lines = [line for line in result.stderr.splitlines() if line.strip()[:1].isdigit()]
    lines.sort(key=lambda line: float(line.split()[0]))
    print("seconds  [process]  > starts, < ends (each process's clock starts with rcbot's)")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
