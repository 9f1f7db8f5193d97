"""``rcbot analyze`` as deployed: its analysis process is started before the command line is
read, does the work and reports back; the command's own process never imports pandas; bad
input, a bad option or no job at all leave nothing written and no process behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.analysis import wants_early
from surveys.dimensions import DIMENSIONS
from tests.processes import CLI, rcbot_env

ANSWERS = "respondent,respondent_role,partner_role,dimension,score\n" + "".join(
    f"r{i},Nurses,Doctors,{d},{3 + i % 2}\n" for i in range(6) for d in DIMENSIONS
)
ROOT = Path(__file__).resolve().parents[2]

early = pytest.mark.skipif(
    not wants_early(["analyze", "a.csv"]), reason="no analysis process here (no fork, one core)"
)


def rcbot(*args: str, cwd: Path, code: str = CLI) -> subprocess.CompletedProcess[str]:
    # A process left behind would hold the output pipes open: fail rather than wait for it.
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=rcbot_env(COLUMNS="200"),
        check=False,
        timeout=300,
    )


def test_only_an_analysis_starts_early() -> None:
    if not hasattr(os, "fork") or (os.cpu_count() or 1) < 2:
        assert not wants_early(["analyze", "a.csv", "--out", "o"])
        return
    assert wants_early(["analyze", "a.csv", "--out", "o"])
    assert not wants_early(["analyze", "--help"])
    assert not wants_early(["analyze", "a.csv", "--help"])
    assert not wants_early(["round", "status", "--survey", "analyze"])
    assert not wants_early([])


@early
def test_the_analysis_process_writes_the_files_and_the_command_prints_them(
    tmp_path: Path,
) -> None:
    (tmp_path / "answers.csv").write_text(ANSWERS)
    # The command ends its own process once the analysis process has ended (stop): what it
    # imported is looked at then.
    code = (
        "import sys\n"
        "from bot.cli import analysis\n"
        "stop = analysis.EarlyAnalysis.stop\n"
        "def stop_and_report(self):\n"
        "    stop(self)\n"
        "    loaded = {m.split('.')[0] for m in sys.modules}\n"
        "    heavy = {'pandas', 'numpy', 'PIL', 'openpyxl'} & loaded\n"
        "    print('heavy:', sorted(heavy))\n"
        "    print('pid', analysis._early_pid, flush=True)\n"
        "analysis.EarlyAnalysis.stop = stop_and_report\n"
        f"{CLI}\n"
    )
    result = rcbot("analyze", "answers.csv", "--out", "results", cwd=tmp_path, code=code)
    assert result.returncode == 0, result.stderr
    assert "Nurses" in result.stdout
    assert "3.50" in result.stdout
    assert "Wrote 9 files to results." in " ".join(result.stdout.split())
    assert "heavy: []" in result.stdout  # pandas and the drawing ran in the analysis process
    assert (tmp_path / "results" / "heatmap.png").exists()
    assert (tmp_path / "results" / "ties.csv").read_text().startswith("respondent_role,")
    assert (tmp_path / "results" / "ties.csv").stat().st_mode & 0o077 == 0  # rcbot's umask
    pid = int(result.stdout.split("pid", 1)[1].split()[0])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the analysis process ended with the command


@early
def test_bad_input_stops_with_the_line_at_fault_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text(
        ANSWERS.replace("r2,Nurses,Doctors,timely,3", "r2,Nurses,Doctors,timely,7")
    )
    result = rcbot("analyze", "bad.csv", "--out", "results", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Error:" in result.stderr
    assert "line" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "results").exists()
    missing = rcbot("analyze", "nowhere.csv", "--out", "results", cwd=tmp_path)
    assert missing.returncode == 2
    assert "nowhere.csv" in missing.stderr
    assert "cannot read the file" in missing.stderr


@early
def test_an_analysis_process_without_a_job_leaves_with_the_command(tmp_path: Path) -> None:
    """A bad option stops the command before it hands over the job: its analysis process,
    started already, is stopped and reaped, having written nothing."""
    (tmp_path / "answers.csv").write_text(ANSWERS)
    code = (
        "import atexit, sys\n"
        "from bot.cli import analysis\n"
        "def report():\n"
        "    print('pid', analysis._early_pid, flush=True)\n"
        "atexit.register(report)  # runs after the command's own exit handlers (LIFO)\n"
        f"{CLI}\n"
    )
    result = rcbot(
        "analyze", "answers.csv", "--out", "results", "--min-group", "2", cwd=tmp_path, code=code
    )
    assert result.returncode == 2
    assert "between 3 and 25" in result.stderr
    pid = int(result.stdout.split("pid", 1)[1].split()[0])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped by the command on its way out
    assert not (tmp_path / "results").exists()


@early
def test_a_stopped_analysis_process_ends_its_drawing_worker(tmp_path: Path) -> None:
    """Stopped once it has started its drawing worker (the command failed late), the
    analysis process ends the worker before it ends itself."""
    if not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists():
        pytest.skip("the kernel does not list a process's children")
    code = (
        "import time\n"
        "from bot.cli.analysis import start_early, take_early\n"
        "start_early(['analyze', 'answers.csv', '--out', 'results'])\n"
        "early = take_early()\n"
        "assert early is not None\n"
        "children, deadline = [], time.monotonic() + 120\n"
        "while not children and time.monotonic() < deadline:  # until the worker is there\n"
        "    with open(f'/proc/{early.pid}/task/{early.pid}/children') as listed:\n"
        "        children = listed.read().split()\n"
        "    time.sleep(0.01)\n"
        "early.stop()\n"
        "print('worker', children[0] if children else None)\n"
    )
    result = rcbot(cwd=tmp_path, code=code)
    assert result.returncode == 0, result.stderr
    worker = int(result.stdout.split("worker", 1)[1].split()[0])
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)
    assert not (tmp_path / "results").exists()


KEEP_MEMORY = """
import ctypes, sys
from bot.cli.analysis import _keep_freed_memory

class Info(ctypes.Structure):  # glibc's struct mallinfo2
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
if not hasattr(libc, "mallinfo2"):
    sys.exit(3)  # not glibc
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
if sys.argv[1] == "keep":
    _keep_freed_memory()
before = libc.mallinfo2().hblks
block = libc.malloc(8 << 20)  # a million float64: what the analysis makes and drops
mapped = libc.mallinfo2().hblks - before
libc.free(block)
kept = libc.mallinfo2().fordblks
print(mapped, kept >= 8 << 20)
"""


def test_the_analysis_process_keeps_the_large_blocks_it_frees() -> None:
    """Blocks of a million values come from the heap and stay there once freed, to be used
    again (see bot.cli.analysis._keep_freed_memory), rather than being mapped afresh."""

    def blocks(mode: str) -> list[str]:
        result = subprocess.run(
            [sys.executable, "-c", KEEP_MEMORY, mode],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=rcbot_env(),
            check=False,
            timeout=60,
        )
        if result.returncode == 3:
            pytest.skip("the C library is not glibc")
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    assert blocks("default") == ["1", "False"]  # mapped afresh, and unmapped when freed
    assert blocks("keep") == ["0", "True"]  # from the heap, and kept there
