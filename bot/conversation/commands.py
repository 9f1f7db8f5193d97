"""Owner commands typed in chat (``/rc status`` in Slack, ``status`` to the Teams bot).

Only a survey's owners may run them; everyone else gets a polite refusal. Replies are
neutral messages, shown privately (ephemeral in Slack, 1:1 in Teams).

:meth:`OwnerCommands.run` does its database work through :func:`bot.db_boundary.run_db`,
and no command does long work: ``close`` records the publish job in the closing transaction
and the scheduler's leader publishes, so the reply never waits for the analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.conversation.content import results_status, status_lines
from bot.db_boundary import run_db
from bot.messages import Context, Fields, Header, Message, Text
from surveys.errors import DomainError
from surveys.model import Email, Survey
from surveys.publishing import PublishJobs
from surveys.service import SurveyService

HELP = (
    "**rcbot commands** (survey owners only):\n"
    "• `status [survey]`: response rate overall and per role\n"
    "• `nudge [survey]`: remind everyone who has not answered (at most once a day each)\n"
    "• `close [survey]`: close the current round now; the results follow within a minute\n"
    "• `results [survey]`: where the latest results are\n"
    "• `help`: this list\n"
    "Name the survey when you own more than one."
)


@dataclass(frozen=True)
class Reply:
    message: Message
    public: bool = False


def _say(text: str) -> Reply:
    return Reply(Message(text, (Text(text),)))


class OwnerCommands:
    def __init__(self, service: SurveyService) -> None:
        self.service = service
        self.publications = PublishJobs(service.engine, service.clock)

    async def run(self, text: str, email: Email | None) -> Reply:
        """Run a command off the event loop (every command reads the database)."""
        return await run_db(self.run_now, text, email)

    def run_now(self, text: str, email: Email | None) -> Reply:
        """Run a command in the calling thread (blocking)."""
        words = text.strip().split(maxsplit=1)
        verb = words[0].lower() if words else "help"
        rest = words[1].strip() if len(words) > 1 else ""
        if verb in {"help", "?"}:
            return Reply(Message("rcbot commands", (Text(HELP),)))
        if verb not in {"status", "nudge", "close", "results"}:
            return Reply(Message("Unknown command", (Text(f"I don't know `{verb}`.\n\n{HELP}"),)))
        if email is None:
            return _say("I could not read your e-mail address, so I cannot check you own a survey.")
        survey = self._survey(rest, email)
        if isinstance(survey, Reply):
            return survey
        try:
            if verb == "status":
                return self._status(survey)
            if verb == "nudge":
                count = self.service.nudge(survey.name)
                if not count:
                    return _say(
                        "Nobody to nudge: everyone has answered, opted out or was reminded today."
                    )
                return _say(
                    f"Nudge queued for {count} people who have not answered; each arrives in "
                    "their working hours."
                )
            if verb == "close":
                closed = self.service.close_round(survey.name)
                status = self.service.round_status(survey.name, closed.number)
                channels = ", ".join(str(c) for c in survey.leadership_channels)
                where = (
                    f"posted to {channels} and the workbook sent to the owners"
                    if channels
                    else "sent to the owners (the survey has no leadership channel)"
                )
                return _say(
                    f"Round {closed.number} of {survey.name} is closed with {status.completed} of "
                    f"{status.invited} answered ({status.rate:.0%}). The results will be "
                    f"{where} within a minute or two; `results` shows where they are."
                )
            return self._results(survey)
        except DomainError as exc:
            return _say(str(exc)[0].upper() + str(exc)[1:] + ".")

    def _survey(self, name: str, email: Email) -> Survey | Reply:
        owned = [s for s in self.service.list_surveys() if email in s.owners]
        if name:
            match = [s for s in owned if s.name.casefold() == name.casefold()]
            if match:
                return match[0]
            return _say(
                f"Sorry, only the owners of a survey called '{name}' can do that, and you are "
                "not one of them."
            )
        if not owned:
            return _say("Sorry, these commands are for survey owners, and you own no survey.")
        if len(owned) > 1:
            names = ", ".join(s.name for s in owned)
            return _say(f"You own several surveys; name one: {names}.")
        return owned[0]

    def _status(self, survey: Survey) -> Reply:
        status = self.service.round_status(survey.name)
        r = status.round
        return Reply(
            Message(
                f"{survey.name}: {status.rate:.0%} answered",
                (
                    Header(f"{survey.name}, round {r.number} ({r.state.value})"),
                    Fields(tuple(status_lines(status))),
                    Context(
                        "Counts only: rcbot never shows who answered what. Roles below "
                        f"{survey.min_group_size} answers will be hidden in the results."
                    ),
                ),
            )
        )

    def _results(self, survey: Survey) -> Reply:
        assert survey.id is not None
        latest = self.publications.latest(survey.id)
        if latest is None:
            return _say(f"{survey.name} has no closed round yet, so there are no results.")
        lines = results_status(survey, *latest)
        text = "\n".join(lines)
        return Reply(Message(lines[0], (Text(text),)))
