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
