"""``make bench``: the analytics, whole-command and Slack benchmarks, with their defaults.

``python -m benchmarks [--only analytics|commands|slack]``, from the repository root. Each
prints its own figures; the exit status is non-zero if either reports a failure (the Slack fan-out
losing or duplicating an invitation). For their options run ``python -m
benchmarks.analytics_bench --help``, ``python -m benchmarks.commands_bench --help`` or
``python -m benchmarks.slack_bench --help``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

from benchmarks import analytics_bench, commands_bench, slack_bench

BENCHMARKS: dict[str, Callable[[list[str]], int]] = {
    "analytics": analytics_bench.main,
    "commands": commands_bench.main,
    "slack": slack_bench.main,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--only", choices=sorted(BENCHMARKS), help="run one benchmark")
    args = parser.parse_args(argv)
    status = 0
    for name, run in BENCHMARKS.items():
        if args.only not in (None, name):
            continue
        print(f"=== {name} benchmark", flush=True)
        start = time.perf_counter()
        status = max(status, run([]))
        print(f"=== {name} benchmark done in {time.perf_counter() - start:.0f} s\n", flush=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
