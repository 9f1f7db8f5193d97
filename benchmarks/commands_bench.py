"""Benchmark: whole commands as a user runs them, each beside a yardstick in the same run.

Run with ``python -m benchmarks --only commands`` or ``python -m benchmarks.commands_bench
[options]`` from the repository root. Every figure is a whole process, timed from outside
(start-up, imports, reading files and writing every output included):

* **analyze**: ``rcbot analyze ANSWERS.csv --out DIR`` on a generated CSV of about
  ``--rows`` answers (the documented long-form contract) against a DuckDB process that
  reads the same CSV and computes the same tie table (n, RC index, the seven dimension
  means), run in turn ``--runs`` times each; medians, the ratio rcbot / DuckDB (target <= 2)
  and each side's peak RSS (target under 1 GB for rcbot); then ``rcbot analyze
  --previous`` with a previous round's answers of the same size (trends), reported
  separately (``--no-previous`` leaves it out).
* **start-up**: ``rcbot --help`` and ``rcbot round status`` on a small SQLite database
  (target under 0.5 s wall each), against ``python -c pass`` as the floor; and ``rcbot serve``
  from its start until ``GET /healthz`` answers (target under 3 s), with the fake Slack of
  ``tests/fakes`` on 127.0.0.1 standing in for Slack's token check.

Nothing leaves 127.0.0.1. Where ``rcbot analyze``'s time goes, phase by phase and process by
process: ``python -m benchmarks.analyze_phases ANSWERS.csv``.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from surveys.dimensions import DIMENSIONS

HERE = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RCBOT = str(BIN / "rcbot")


def duckdb_copy(answers: Path, out: Path) -> str:
    """The SQL a DuckDB process runs: read the CSV, compute the tie table, write it out."""
    dims = ", ".join(f"avg(score) FILTER (WHERE dimension = '{d}') AS {d}" for d in DIMENSIONS)
    columns = (
        "{'respondent': 'VARCHAR', 'respondent_role': 'VARCHAR', "
        "'partner_role': 'VARCHAR', 'dimension': 'VARCHAR', 'score': 'DOUBLE'}"
    )
    # Built from the benchmark's own temp paths and constants, never from outside input.
    return f"""
COPY (
WITH answers AS (SELECT * FROM read_csv('{answers}', header = true, columns = {columns})),
pairs AS (
    SELECT respondent, respondent_role, partner_role, avg(score) AS rc
    FROM answers WHERE score IS NOT NULL
    GROUP BY respondent, respondent_role, partner_role),
ties AS (
    SELECT respondent_role, partner_role, count(*) AS n, avg(rc) AS rc_index
    FROM pairs GROUP BY respondent_role, partner_role),
dimension_means AS (
    SELECT respondent_role, partner_role, {dims}
    FROM answers GROUP BY respondent_role, partner_role)
SELECT * FROM ties JOIN dimension_means USING (respondent_role, partner_role)
ORDER BY respondent_role, partner_role
) TO '{out}' (HEADER)
"""  # noqa: S608


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    peak_mb: float
    status: int


def as_installed(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a command runs in, with its bytecode cached as an installed rcbot's is
    (pip compiles it on install): without PYTHONDONTWRITEBYTECODE, which some shells and
    containers set, the warm-up run writes the .pyc files and the timed runs read them,
    instead of compiling rcbot's own modules again on every run."""
    env = dict(os.environ if env is None else env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


# Runs in a small process of its own: forks and times each command it is sent (one JSON
# line each: command, environment, working directory, a file for stderr) and answers with
# its wall time, CPU time, peak RSS and exit status.
LAUNCHER = r"""
import json, os, sys, time
for line in sys.stdin:
    command, env, cwd, errors = json.loads(line)
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(cwd)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            os.dup2(os.open(errors, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
            os.execvpe(command[0], command, env)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    cpu = usage.ru_utime + usage.ru_stime
    answer = [wall, cpu, usage.ru_maxrss, os.waitstatus_to_exitcode(status)]
    print(json.dumps(answer), flush=True)
"""


class Launcher:
    """Starts the benchmark's commands from a process of its own.

    Linux counts, in a process's peak RSS, the memory of the process it was started from as
    it stood at the start (the exec replaces a copy of it). Started from the benchmark, which
    by then holds a million generated answers, ``python -c pass`` showed 147 MB; started
    from this small process, each command's peak is its own (plus a few MB)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 (this benchmark's own launcher)
            [sys.executable, "-c", LAUNCHER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, command: Sequence[str], env: dict[str, str], errors: Path) -> Run:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps([list(command), env, str(HERE), str(errors)]))
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        wall, cpu, peak_kb, status = json.loads(self.process.stdout.readline())
        return Run(wall, cpu, peak_kb / 1024, status)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait()


_launcher: Launcher | None = None


def run_once(command: Sequence[str], env: dict[str, str] | None = None) -> Run:
    """One whole process: wall time, CPU (user + system) and peak RSS from the kernel."""
    global _launcher
    if _launcher is None:
        _launcher = Launcher()
        atexit.register(_launcher.close)
    with tempfile.NamedTemporaryFile(prefix="rcbot-bench-", suffix=".err") as errors:
        run = _launcher.run(command, as_installed(env), Path(errors.name))
        if run.status != 0:
            stderr = Path(errors.name).read_text(errors="replace")
            raise SystemExit(f"{' '.join(command)} failed ({run.status}):\n{stderr[-2000:]}")
    return run


@dataclass(frozen=True)
class Pair:
    name: str
    a: list[Run]
    b: list[Run]

    @staticmethod
    def med(runs: list[Run], field: Callable[[Run], float]) -> float:
        return statistics.median(field(r) for r in runs)

    def ratio(self) -> float:
        """Median of the pairwise ratios (A and B ran in turn, so drift cancels)."""
        return statistics.median(a.wall / b.wall for a, b in zip(self.a, self.b, strict=True))


def alternate(
    name: str, a: Sequence[str], b: Sequence[str], runs: int, env: dict[str, str] | None = None
) -> Pair:
    first_a, first_b = [], []
    run_once(a, env)  # warm the page cache and .pyc files; not counted
    run_once(b, env)
    for _ in range(runs):
        first_a.append(run_once(a, env))
        first_b.append(run_once(b, env))
    return Pair(name, first_a, first_b)


def write_answers_csv(path: Path, rows: int, seed: int) -> int:
    from benchmarks.analytics_bench import generate

    frame = generate(rows, seed=seed)
    frame.to_csv(path, index=False, na_rep="")
    return len(frame)


def small_database(directory: Path) -> dict[str, str]:
    """A SQLite database with one survey, 60 people and an open round."""
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{directory / 'status.db'}")
    csv = directory / "people.csv"
    roles = ("Nurse", "Doctor", "Pharmacist")
    csv.write_text(
        "email,name,role\n"
        + "".join(f"p{i}@bench.example,Person {i},{roles[i % 3]}\n" for i in range(60))
    )
    for command in (
        [RCBOT, "init"],
        [RCBOT, "survey", "create", "Bench", "--owner", "lead@bench.example"],
        [RCBOT, "participants", "import", str(csv), "--survey", "Bench"],
        [RCBOT, "round", "open", "--survey", "Bench", "--closes-in", "14d"],
    ):
        subprocess.run(command, env=env, check=True, capture_output=True, cwd=HERE)  # noqa: S603
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_ready(env: dict[str, str], runs: int) -> list[float]:
    """Seconds from starting ``rcbot serve`` until ``/healthz`` answers 200."""
    from benchmarks.slack_bench import TOKEN, fake_slack

    times: list[float] = []
    with fake_slack(in_process=False) as (_slack, url):
        env = dict(
            env,
            SLACK_BOT_TOKEN=TOKEN,
            SLACK_SIGNING_SECRET="bench-secret",  # noqa: S106
            SLACK_API_URL=url,
        )
        for _ in range(runs + 1):
            port = free_port()
            start = time.perf_counter()
            process = subprocess.Popen(  # noqa: S603
                [RCBOT, "serve", "--port", str(port)],
                env=as_installed(env),
                cwd=HERE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                deadline = start + 60
                while True:
                    if process.poll() is not None:
                        raise SystemExit(f"rcbot serve exited with {process.returncode}")
                    try:
                        with urllib.request.urlopen(
                            f"http://127.0.0.1:{port}/healthz", timeout=1
                        ) as response:
                            if response.status == 200:
                                break
                    except (urllib.error.URLError, ConnectionError, TimeoutError):
                        pass
                    if time.perf_counter() > deadline:
                        raise SystemExit("rcbot serve did not answer /healthz within 60 s")
                    time.sleep(0.02)
                times.append(time.perf_counter() - start)
            finally:
                process.terminate()
                process.wait(30)
    return times[1:]  # the first run warms caches


def print_pair(pair: Pair, a_label: str, b_label: str, target: str) -> None:
    for label, runs in ((a_label, pair.a), (b_label, pair.b)):
        walls = sorted(r.wall for r in runs)
        wall, cpu = Pair.med(runs, lambda r: r.wall), Pair.med(runs, lambda r: r.cpu)
        print(
            f"  {label:<34} wall median {wall:7.2f} s (min {walls[0]:.2f}, max {walls[-1]:.2f}), "
            f"cpu {cpu:6.2f} s, peak RSS {max(r.peak_mb for r in runs):6.0f} MB"
        )
    print(f"  ratio {a_label} / {b_label}: {pair.ratio():.2f}x ({target})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.commands_bench", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="answers in the CSV")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each command")
    parser.add_argument(
        "--previous",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time analyze --previous (trends), reported separately",
    )
    parser.add_argument(
        "--only", choices=("analyze", "startup"), help="run one part of the benchmark"
    )
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="rcbot-bench-"))
    try:
        if args.only in (None, "startup"):
            env = small_database(work)
            print("start-up (whole process, medians of", args.runs, "runs)")
            floor = [sys.executable, "-c", "pass"]
            for name, command in (
                ("rcbot --help", [RCBOT, "--help"]),
                ("rcbot round status", [RCBOT, "round", "status", "--survey", "Bench"]),
            ):
                pair = alternate(name, command, floor, args.runs, env)
                print_pair(pair, name, "python -c pass", "target: rcbot under 0.5 s wall")
            ready = serve_ready(env, args.runs)
            print(
                f"  rcbot serve until /healthz answers: median {statistics.median(ready):.2f} s "
                f"(min {min(ready):.2f}, max {max(ready):.2f}; target under 3 s)"
            )
        if args.only in (None, "analyze"):
            answers = work / "answers.csv"
            rows = write_answers_csv(answers, args.rows, seed=7)
            size = answers.stat().st_size / 1e6
            print(f"analyze: {rows:,} answer rows, {size:.0f} MB CSV (medians of {args.runs} runs)")
            duck = [
                sys.executable,
                "-c",
                "import sys, duckdb; duckdb.connect().execute(sys.argv[1])",
                duckdb_copy(answers, work / "duck.csv"),
            ]
            rcbot = [RCBOT, "analyze", str(answers), "--out", str(work / "out")]
            pair = alternate("analyze", rcbot, duck, args.runs)
            print_pair(pair, "rcbot analyze", "DuckDB tie table", "target <= 2x")
            if args.previous:
                previous = work / "previous.csv"
                write_answers_csv(previous, args.rows, seed=8)
                trend = [*rcbot, "--previous", str(previous)]
                pair = alternate("analyze --previous", trend, duck, args.runs)
                print_pair(pair, "rcbot analyze --previous", "DuckDB tie table", "trends")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
