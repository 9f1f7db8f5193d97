"""The Teams side of ``rcbot serve``: ``POST /api/messages`` on the Microsoft 365 Agents SDK.

Incoming requests carry a JWT that the SDK validates (an unauthenticated request gets 401).
Handlers only translate: Action.Execute invokes drive :mod:`bot.answering` and answer with
the next card, which replaces the card in place; text messages are owner commands
(:mod:`bot.commands`). Every personal conversation that reaches the bot is remembered, so
rcbot can message the person proactively later. Database work (the conversation store,
answering, owner commands) goes through :func:`bot.db_boundary.run_db`.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

from aiohttp import web
from microsoft_agents.activity import AdaptiveCardInvokeResponse, ConversationUpdateTypes
from microsoft_agents.hosting.aiohttp import (
    CloudAdapter,
    jwt_authorization_decorator,
    start_agent_process,
)
from microsoft_agents.hosting.core import (
    AgentApplication,
    Connections,
    MemoryStorage,
    TurnContext,
    TurnState,
)

from bot import content
from bot.answering import Answering, Finished, Invalid, Outcome, QuestionPage, Refused
from bot.commands import OwnerCommands
from bot.db_boundary import run_db
from bot.platforms.teams.cards import card as message_card
from bot.platforms.teams.cards import notice_card, page_card, parse_page_data
from bot.platforms.teams.client import TeamsPlatform, card_activity
from surveys.conversations import ConversationRef
from surveys.model import Email, InvitationId, Platform

log = logging.getLogger(__name__)

CARD: Final = "application/vnd.microsoft.card.adaptive"
_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)


def _reply(card: dict[str, Any]) -> AdaptiveCardInvokeResponse:
    return AdaptiveCardInvokeResponse(status_code=200, type=CARD, value=card)


def outcome_card(outcome: Outcome) -> dict[str, Any]:
    """The card that replaces the one the person acted on."""
    if isinstance(outcome, QuestionPage):
        return page_card(outcome)
    if isinstance(outcome, Invalid):
        return page_card(outcome.page, outcome.errors)
    if isinstance(outcome, Finished):
        return message_card(content.answered(outcome.view))
    return notice_card("rcbot", outcome.reason)


def build_teams_agent(
    connections: Connections,
    platform: TeamsPlatform,
    answering: Answering,
    commands: OwnerCommands,
) -> AgentApplication[TurnState]:
    agent = AgentApplication[TurnState](storage=MemoryStorage(), connection_manager=connections)

    def remember(context: TurnContext) -> str | None:
        """Store the person's 1:1 conversation; return their Entra object id."""
        activity = context.activity
        sender = activity.from_property
        user = getattr(sender, "aad_object_id", None) if sender is not None else None
        conversation = activity.conversation
        if user and conversation is not None and conversation.conversation_type == "personal":
            tenant = getattr(conversation, "tenant_id", None) or platform.tenant_id
            platform.conversations.put(
                ConversationRef(
                    Platform.TEAMS,
                    str(user),
                    str(conversation.id),
                    str(activity.service_url or platform.service_url),
                    tenant,
                )
            )
        return str(user) if user else None

    @agent.conversation_update(ConversationUpdateTypes.MEMBERS_ADDED)
    async def installed(context: TurnContext, state: TurnState) -> None:
        await run_db(remember, context)

    @agent.activity("message")
    async def message(context: TurnContext, state: TurnState) -> None:
        user = await run_db(remember, context)
        text = _MENTION.sub("", context.activity.text or "").strip()
        email: Email | None = None
        if user and platform.graph is not None:
            mail = await platform.graph.mail_of(user)
            email = Email(mail) if mail else None
        reply = await commands.run(text, email)
        await context.send_activity(card_activity(reply.message))

    @agent.adaptive_card.action_execute(re.compile(r"^rc_"))
    async def act(context: TurnContext, state: TurnState, data: Any) -> AdaptiveCardInvokeResponse:
        user = await run_db(remember, context) or ""
        invoke: Any = context.activity.value or {}
        verb = str((invoke.get("action") or {}).get("verb", ""))
        values = dict(data or {})
        try:
            if verb in {"rc_start", "rc_edit"}:
                invitation = InvitationId(int(values["value"]))
                outcome = await run_db(answering.start, invitation, Platform.TEAMS, user)
            elif verb == "rc_page":
                inv, role, editing, answers = parse_page_data(values)
                outcome = await run_db(
                    answering.submit,
                    InvitationId(inv),
                    Platform.TEAMS,
                    user,
                    role,
                    answers,
                    editing=editing,
                )
            elif verb == "rc_stop_reminders":
                invitation = InvitationId(int(values["value"]))
                refused = await run_db(answering.stop_reminders, invitation, Platform.TEAMS, user)
                outcome = refused or Refused(
                    "Done: no more reminders for this round. You can still answer until it closes."
                )
            else:
                outcome = Refused("rcbot did not recognise that button.")
        except (KeyError, ValueError):
            outcome = Refused("That card is out of date; please use the latest one.")
        # Always answer with a card: an empty invoke response shows as an error in Teams.
        return _reply(outcome_card(outcome))

    return agent


def messages_handler(agent: AgentApplication[TurnState], adapter: CloudAdapter) -> Any:
    @jwt_authorization_decorator  # type: ignore[untyped-decorator]
    async def messages(request: web.Request) -> web.StreamResponse:
        response = await start_agent_process(request, agent, adapter)
        return response if response is not None else web.Response(status=202)

    return messages
