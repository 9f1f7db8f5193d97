"""Errors the domain raises when a request breaks a rule a user can fix."""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the survey domain was broken; the message is one sentence for the user."""


class NotFound(DomainError):
    """A survey, round, participant or role that was asked for does not exist."""


class Conflict(DomainError):
    """The request clashes with the current state (a round already open, a closed round...)."""


class InvalidInput(DomainError):
    """A value given by the user is not acceptable."""


def unknown_survey(name: str, known: list[str]) -> NotFound:
    """No survey is called ``name``; the message lists the ``known`` ones."""
    hint = f" (surveys: {', '.join(known)})" if known else " (there are no surveys yet)"
    return NotFound(f"there is no survey called '{name}'{hint}")


def no_round(survey: str, number: int | None) -> NotFound:
    """``survey`` has no round ``number`` (None: no round at all)."""
    if number is None:
        return NotFound(f"'{survey}' has no rounds yet; run `rcbot round open`")
    return NotFound(f"'{survey}' has no round {number}")
