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
from bot.answering import (
    Answering,
    Finished,
    Invalid,
    Outcome,
    QuestionPage,
    Refused,
    Withdrawn,
)
from bot.commands import OwnerCommands
from bot.db_boundary import UNAVAILABLE_TEXT, DatabaseUnavailable, run_db
from bot.messages import Block, Divider, Header, Message, Text
from bot.platform import DeliveryError
from bot.platforms.teams.cards import card as message_card
from bot.platforms.teams.cards import notice_card, page_card, parse_page_data
from bot.platforms.teams.client import TeamsPlatform, card_activity
from surveys.conversations import ConversationRef
from surveys.model import Email, InvitationId, Platform

log = logging.getLogger(__name__)

CARD: Final = "application/vnd.microsoft.card.adaptive"
_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)


_PRIVATELY: Final = Message(
    "rcbot answers survey commands privately",
    (Text("I answer survey commands privately: please write to me in our 1:1 chat."),),
)


MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"


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


PARTICIPANT_WORDS: Final = frozenset(
    {"withdraw", "my answers", "my surveys", "surveys", "my data", "delete my answers"}
)


def my_surveys(answering: Answering, users: tuple[str, ...]) -> Message:
    """A person's open rounds and the closed rounds whose answers rcbot still holds, each
    with its buttons (Withdraw among them): the 1:1 chat's answer to "my surveys"."""
    service = answering.service
    seen: set[object] = set()
    sections = []
    for user in users:
        for view in service.views_for_user(Platform.TEAMS, user):
            if view.invitation.id not in seen:
                seen.add(view.invitation.id)
                sections.append(content.home_section(view))
    for user in users:
        for view in service.withdrawable_views(Platform.TEAMS, user):
            if view.invitation.id not in seen:
                seen.add(view.invitation.id)
                sections.append(content.closed_section(view))
    if not sections:
        text = (
            "You have no open surveys, and rcbot holds no answers of yours. Thank you for "
            "taking part."
        )
        return Message(text, (Text(text),))
    blocks: list[Block] = [Header("Your surveys")]
    for section in sections:
        blocks.append(Divider())
        blocks.extend(section.blocks)
    return Message("Your surveys", tuple(blocks))


def build_teams_agent(
    connections: Connections,
    platform: TeamsPlatform,
    answering: Answering,
    commands: OwnerCommands,
) -> AgentApplication[TurnState]:
    agent = AgentApplication[TurnState](storage=MemoryStorage(), connection_manager=connections)

    def identities(context: TurnContext) -> tuple[str, ...]:
        """Every id Teams gave for the sender: the Entra object id (``aadObjectId``, what a
        participant's ``teams_user_id`` usually holds) and the Teams user id."""
        sender = context.activity.from_property
        if sender is None:
            return ()
        ids = (getattr(sender, "aad_object_id", None), getattr(sender, "id", None))
        return tuple(dict.fromkeys(str(i) for i in ids if i))

    def remember(context: TurnContext) -> tuple[str, ...]:
        """Store the person's 1:1 conversation under each of their ids; return the ids."""
        activity = context.activity
        users = identities(context)
        conversation = activity.conversation
        tenant = getattr(conversation, "tenant_id", None) if conversation is not None else None
        if platform.bot_id is None and activity.recipient is not None and activity.recipient.id:
            platform.bot_id = str(activity.recipient.id)
        if platform.tenant_id is None and tenant:
            platform.tenant_id = str(tenant)  # learnt from Teams (trial mode has no setting)
        if users and conversation is not None and conversation.conversation_type == "personal":
            for user in users:
                platform.conversations.put(
                    ConversationRef(
                        Platform.TEAMS,
                        user,
                        str(conversation.id),
                        str(activity.service_url or platform.service_url),
                        str(tenant) if tenant else platform.tenant_id,
                    )
                )
        return users

    async def owner_email(context: TurnContext, users: tuple[str, ...]) -> Email | None:
        """The sender's e-mail: the connector's member lookup (it gives e-mail and UPN),
        else Microsoft Graph."""
        activity = context.activity
        sender = activity.from_property
        if sender is not None and sender.id and activity.conversation is not None:
            member = await platform.member(
                str(activity.conversation.id), str(sender.id), activity.service_url
            )
            if member is not None:
                extra = member.model_extra or {}
                mail = extra.get("email") or extra.get("userPrincipalName")
                if mail:
                    return Email(str(mail).strip().lower())
        if platform.graph is not None:
            for user in users:
                mail = await platform.graph.mail_of(user)
                if mail:
                    return Email(mail)
        return None

    @agent.conversation_update(ConversationUpdateTypes.MEMBERS_ADDED)
    async def installed(context: TurnContext, state: TurnState) -> None:
        await run_db(remember, context)

    @agent.activity("installationUpdate")
    async def installation(context: TurnContext, state: TurnState) -> None:
        await run_db(remember, context)

    @agent.activity("message")
    async def message(context: TurnContext, state: TurnState) -> None:
        try:
            await answer_message(context)
        except DatabaseUnavailable as exc:
            log.warning("Teams message during a database outage: %s", exc)
            await context.send_activity(UNAVAILABLE_TEXT)

    async def answer_message(context: TurnContext) -> None:
        users = await run_db(remember, context)
        text = _MENTION.sub("", context.activity.text or "").strip()
        if users and text.lower().strip(" .!?") in PARTICIPANT_WORDS:
            card = await run_db(my_surveys, answering, users)
            await context.send_activity(card_activity(card))
            return
        email = await owner_email(context, users)
        reply = await commands.run(text, email)
        conversation = context.activity.conversation
        personal = conversation is not None and conversation.conversation_type == "personal"
        if personal or reply.public or not users:
            await context.send_activity(card_activity(reply.message))
            return
        # Typed in a channel or group chat: answer in the person's 1:1 chat, not in public.
        sender = context.activity.from_property
        try:
            await platform.send_private(
                users,
                str(sender.id) if sender is not None and sender.id else users[0],
                reply.message,
                context.activity.service_url,
            )
        except DeliveryError as exc:
            log.warning("Teams: could not answer a command privately (%s)", exc.reason)
            await context.send_activity(card_activity(_PRIVATELY))

    @agent.adaptive_card.action_execute(re.compile(r"^rc_"))
    async def act(context: TurnContext, state: TurnState, data: Any) -> AdaptiveCardInvokeResponse:
        try:
            return await act_on_card(context, data)
        except DatabaseUnavailable as exc:
            log.warning("Teams card action during a database outage: %s", exc)
            # A message response leaves the card as it was, so the person can try again.
            return AdaptiveCardInvokeResponse(
                status_code=200, type=MESSAGE_RESPONSE, value=UNAVAILABLE_TEXT
            )

    async def act_on_card(context: TurnContext, data: Any) -> AdaptiveCardInvokeResponse:
        user = await run_db(remember, context)
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
            elif verb == "rc_withdraw":
                invitation = InvitationId(int(values["value"]))
                done = await run_db(answering.withdraw, invitation, Platform.TEAMS, user)
                outcome = Refused(done.text) if isinstance(done, Withdrawn) else done
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
