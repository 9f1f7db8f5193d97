"""Benchmark: the full ``analyze`` on a million answers against a DuckDB tie aggregation.

Run with ``python benchmarks/analytics_bench.py [--rows N] [--repeat K] [--strings]``. It
generates about ``N`` answer rows (20,000 respondents for a million, 12 roles, each respondent
rating a random subset of partner roles, about 5% not applicable), times ``analyze``
(validation, respondent, tie, role, overall and dimension scores, suppression, reliability)
and, in the same process and on the same frame (categorical columns as ``load_answers_csv``
returns them; plain strings with ``--strings``), a DuckDB query computing the same tie table
(n, RC index and the seven dimension means per tie), then prints both times, their ratio and
the peak RSS. Targets: analysis within 2x of DuckDB, peak RSS under 1 GB. ``--previous`` also
times the analysis against a previous round of the same size (the trends' bootstrap
intervals over about 20,000 respondents per round), reported on its own.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from analytics import Analysis, analyze
from surveys.dimensions import DIMENSIONS

ROLES = tuple(f"Role {chr(ord('A') + i)}" for i in range(12))


def generate(rows: int, seed: int = 7) -> pd.DataFrame:
    """About ``rows`` answers: respondents rate 4-10 partner roles on all seven dimensions."""
    rng = np.random.default_rng(seed)
    k = len(DIMENSIONS)
    respondents = max(1, round(rows / (7 * k)))
    role_of = rng.integers(0, len(ROLES), size=respondents)
    partners_each = rng.integers(4, 11, size=respondents)
    # Each respondent rates the first `partners_each` roles of a random permutation.
    order = np.argsort(rng.random((respondents, len(ROLES))), axis=1)
    take = np.arange(len(ROLES))[None, :] < partners_each[:, None]
    pair_respondent = np.repeat(np.arange(respondents), partners_each)
    pair_partner = order[take]
    respondent = np.repeat(pair_respondent, k)
    partner = np.repeat(pair_partner, k)
    dimension = np.tile(np.arange(k), pair_respondent.size)
    base = rng.normal(3.6, 0.6, size=pair_respondent.size)
    scores = np.clip(np.rint(np.repeat(base, k) + rng.normal(0, 0.7, size=respondent.size)), 1, 5)
    scores[rng.random(scores.size) < 0.05] = np.nan
    names = np.array([f"r{i:06d}" for i in range(respondents)], dtype=object)
    return pd.DataFrame(
        {
            "respondent": pd.Categorical.from_codes(respondent, categories=pd.Index(names)),
            "respondent_role": pd.Categorical.from_codes(
                role_of[respondent], categories=pd.Index(ROLES)
            ),
            "partner_role": pd.Categorical.from_codes(partner, categories=pd.Index(ROLES)),
            "dimension": pd.Categorical.from_codes(dimension, categories=pd.Index(DIMENSIONS)),
            "score": scores,
        }
    )


DUCKDB_TIES = """
WITH pairs AS (
    SELECT respondent, respondent_role, partner_role, avg(score) AS rc
    FROM answers
    WHERE score IS NOT NULL
    GROUP BY respondent, respondent_role, partner_role
),
ties AS (
    SELECT respondent_role, partner_role, count(*) AS n, avg(rc) AS rc_index
    FROM pairs
    GROUP BY respondent_role, partner_role
),
dims AS (
    SELECT respondent_role, partner_role,
        {dims}
    FROM answers
    GROUP BY respondent_role, partner_role
)
SELECT * FROM ties JOIN dims USING (respondent_role, partner_role)
ORDER BY respondent_role, partner_role
"""


def duckdb_ties(frame: pd.DataFrame) -> pd.DataFrame:
    import duckdb

    dims = ",\n        ".join(
        f"avg(score) FILTER (WHERE dimension = '{d}') AS {d}" for d in DIMENSIONS
    )
    connection = duckdb.connect()
    connection.register("answers", frame)
    try:
        return connection.execute(DUCKDB_TIES.format(dims=dims)).df()
    finally:
        connection.close()


def best_of(repeat: int, action: Callable[[], object]) -> tuple[float, object]:
    best = float("inf")
    result: object = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 1024 / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--strings",
        action="store_true",
        help="give both sides plain string columns instead of categoricals",
    )
    parser.add_argument(
        "--previous",
        action="store_true",
        help="also time the analysis with a previous round of the same size (trends)",
    )
    args = parser.parse_args(argv)

    start = time.perf_counter()
    frame = generate(args.rows)
    if args.strings:
        text = ["respondent", "respondent_role", "partner_role", "dimension"]
        frame = frame.astype(dict.fromkeys(text, "str"))
    generated = time.perf_counter() - start
    print(
        f"generated {len(frame):,} answers from {frame['respondent'].nunique():,} respondents, "
        f"{len(ROLES)} roles, {frame['score'].isna().mean():.1%} not applicable "
        f"in {generated:.2f} s"
    )
    analysis_time, analysis = best_of(args.repeat, lambda: analyze(frame))
    duck_time, duck = best_of(args.repeat, lambda: duckdb_ties(frame))

    assert isinstance(analysis, Analysis)
    assert isinstance(duck, pd.DataFrame)
    ties = analysis.ties
    merged = ties.merge(duck, on=["respondent_role", "partner_role"], suffixes=("", "_duckdb"))
    difference = float((merged["rc_index"] - merged["rc_index_duckdb"]).abs().max())
    print(f"analyze (full analysis):       {analysis_time * 1000:8.1f} ms (best of {args.repeat})")
    print(f"DuckDB tie aggregation:        {duck_time * 1000:8.1f} ms (best of {args.repeat})")
    print(f"ratio analyze / DuckDB:        {analysis_time / duck_time:8.2f} x (target <= 2)")
    print(f"peak RSS:                      {peak_rss_mb():8.0f} MB (target < 1024)")
    print(f"tie RC vs DuckDB:              max |difference| {difference:.1e}, {len(merged)} ties")
    if args.previous:
        before = generate(args.rows, seed=8)
        trend_time, _ = best_of(args.repeat, lambda: analyze(frame, previous=before))
        print(
            f"analyze with previous round:   {trend_time * 1000:8.1f} ms (best of {args.repeat}; "
            f"trends alone about {(trend_time - analysis_time) * 1000:.0f} ms)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
