"""A small but complete round shared by the figure, export and pipeline tests."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics import Analysis, Pooling, TrendOptions, analyze

from .helpers import frame, respondent_rows

N = None


def round_answers(shift: int = 0) -> pd.DataFrame:
    """Nurses (8), doctors (6), a pharmacist pair and a porter trio (pooled: 5)."""
    rows: list[tuple[str, str, str, str, float | None]] = []
    plan = {
        "Nurse": (8, {"Nurse": 4, "Doctor": 3, "Pharmacist": 3}),
        "Doctor": (6, {"Doctor": 4, "Nurse": 3}),
        "Pharmacist": (2, {"Doctor": 2, "Nurse": 3}),
        "Porter": (3, {"Nurse": 3, "Doctor": 2}),
    }
    for role, (size, partners) in plan.items():
        for i in range(size):
            for partner, base in partners.items():
                if role == "Doctor" and partner == "Nurse" and i >= 4:
                    continue  # only four doctors describe nurses: a hidden tie
                scores: list[float | None] = [
                    min(5, max(1, base + shift + (i + d) % 3 - 1)) for d in range(7)
                ]
                if i == 0:
                    scores[2] = N  # one "not applicable" per tie
                rows += respondent_rows(f"{role[:3].lower()}{i}", role, partner, scores)
    return frame(rows)


def invitations() -> pd.DataFrame:
    answers = round_answers()
    people = answers.drop_duplicates("respondent")[["respondent", "respondent_role"]]
    extra = pd.DataFrame({"respondent": ["nur-x", "doc-x"], "respondent_role": ["Nurse", "Doctor"]})
    table = pd.concat([people, extra], ignore_index=True).rename(
        columns={"respondent_role": "role"}
    )
    table["completed"] = ~table["respondent"].str.endswith("-x")
    table["team"] = ["Ward 1" if i % 2 else "Ward 2" for i in range(len(table))]
    return table


@pytest.fixture(scope="package")
def full_analysis() -> Analysis:
    return analyze(
        round_answers(shift=1),
        previous=round_answers(),
        invitations=invitations(),
        pooling=Pooling(),
        trend_options=TrendOptions(resamples=200, seed=1),
    )


@pytest.fixture(scope="package")
def plain_analysis() -> Analysis:
    return analyze(round_answers())
