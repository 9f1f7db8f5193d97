"""A Slack listener's failure is logged by its type and place, never by its message."""

from __future__ import annotations


def test_a_logged_failure_names_its_place_never_its_message() -> None:
    from bot.platforms.slack.app import _where

    def save() -> None:
        raise ValueError("Failing row contains (ann, Doctors, timely, 2)")

    try:
        save()
    except ValueError as error:
        logged = _where(error)
    assert logged.startswith("ValueError at test_failure_logs.py:")
    assert "save" in logged
    assert "ann" not in logged
