"""The Teams side of ``rcbot serve``: ``POST /api/messages`` on the Microsoft 365 Agents SDK.

Incoming requests carry a JWT that the SDK validates (an unauthenticated request gets 401).
Handlers only translate: Action.Execute invokes drive :mod:`bot.conversation.answering`
and answer with the next card, which replaces the card in place; text messages are owner
commands (:mod:`bot.conversation.commands`). Every personal conversation that reaches the
bot is remembered, so rcbot can message the person proactively later. Database work (the
conversation store, answering, owner commands) goes through :func:`bot.db_boundary.run_db`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable
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

from bot.conversation import content
from bot.conversation.answering import (
    Answering,
    Finished,
    Invalid,
    Outcome,
    QuestionPage,
    Refused,
    Withdrawn,
)
from bot.conversation.commands import OwnerCommands
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

ANSWER_BUDGET: Final = 5.0
"""Seconds a request may take before it is answered with "working on it" and its outcome
delivered afterwards (Teams waits about 15 seconds for a bot's response)."""

_WORKING: Final = Message("Working on it...", (Text("Working on it..."),))
_UNAVAILABLE: Final = Message(UNAVAILABLE_TEXT, (Text(UNAVAILABLE_TEXT),))
_SAVING: Final = "Saving... the next card appears here in a moment."


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

    later: set[asyncio.Task[None]] = set()
    """Answers that came too late for their request, still being delivered (a reference
    keeps each task alive until it is done)."""

    def finish_later(work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        later.add(task)
        task.add_done_callback(later.discard)

    @agent.activity("message")
    async def message(context: TurnContext, state: TurnState) -> None:
        # Answered within the request when ready in time, as usual; otherwise "working on
        # it" now and the answer as a new message when it is ready, so Teams' 15 seconds
        # never depend on the database or the analysis.
        work = asyncio.ensure_future(answer_message(context))
        done, _ = await asyncio.wait({work}, timeout=ANSWER_BUDGET)
        if done:
            reply = outage_safe(work)
            if reply is not None:
                await context.send_activity(card_activity(reply))
            return
        conversation = context.activity.conversation
        if conversation is None:
            return
        await context.send_activity(card_activity(_WORKING))
        where = (str(conversation.id), str(context.activity.service_url or platform.service_url))

        async def reply_when_ready() -> None:
            await asyncio.wait({work})
            reply = outage_safe(work)
            if reply is not None:
                try:
                    await platform.send_to_conversation(*where, reply)
                except DeliveryError as exc:
                    log.warning("Teams: could not send a late answer (%s)", exc.reason)

        finish_later(reply_when_ready())

    def outage_safe(work: asyncio.Future[Message | None]) -> Message | None:
        try:
            return work.result()
        except DatabaseUnavailable as exc:
            log.warning("Teams message during a database outage: %s", exc)
            return _UNAVAILABLE

    async def answer_message(context: TurnContext) -> Message | None:
        """The reply to a text message in the conversation it came from (None when it was
        answered elsewhere, in the person's 1:1 chat)."""
        users = await run_db(remember, context)
        text = _MENTION.sub("", context.activity.text or "").strip()
        if users and text.lower().strip(" .!?") in PARTICIPANT_WORDS:
            return await run_db(my_surveys, answering, users)
        email = await owner_email(context, users)
        reply = await commands.run(text, email)
        conversation = context.activity.conversation
        personal = conversation is not None and conversation.conversation_type == "personal"
        if personal or reply.public or not users:
            return reply.message
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
            return _PRIVATELY
        return None

    @agent.adaptive_card.action_execute(re.compile(r"^rc_"))
    async def act(context: TurnContext, state: TurnState, data: Any) -> AdaptiveCardInvokeResponse:
        # The next card is the invoke response when it is ready in time (the usual case);
        # otherwise a "saving" card now, replaced by the outcome when it is ready.
        work = asyncio.ensure_future(act_on_card(context, data))
        done, _ = await asyncio.wait({work}, timeout=ANSWER_BUDGET)
        if done:
            try:
                return _reply(work.result())
            except DatabaseUnavailable as exc:
                log.warning("Teams card action during a database outage: %s", exc)
                # A message response leaves the card as it was, so the person can try again.
                return AdaptiveCardInvokeResponse(
                    status_code=200, type=MESSAGE_RESPONSE, value=UNAVAILABLE_TEXT
                )
        activity = context.activity
        conversation = activity.conversation
        service_url = str(activity.service_url or platform.service_url)

        async def show_when_ready() -> None:
            await asyncio.wait({work})
            try:
                shown = work.result()
            except DatabaseUnavailable as exc:
                log.warning("Teams card action during a database outage: %s", exc)
                shown = notice_card("rcbot", UNAVAILABLE_TEXT)
            if conversation is None:
                return
            try:
                if activity.reply_to_id:
                    await platform.replace_card(
                        str(conversation.id), service_url, str(activity.reply_to_id), shown
                    )
                else:
                    await platform.send_card_to(str(conversation.id), service_url, shown)
            except DeliveryError as exc:
                log.warning("Teams: could not show a late outcome (%s)", exc.reason)

        finish_later(show_when_ready())
        return _reply(notice_card("rcbot", _SAVING))

    async def act_on_card(context: TurnContext, data: Any) -> dict[str, Any]:
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
        return outcome_card(outcome)

    return agent


def messages_handler(agent: AgentApplication[TurnState], adapter: CloudAdapter) -> Any:
    @jwt_authorization_decorator  # type: ignore[untyped-decorator]
    async def messages(request: web.Request) -> web.StreamResponse:
        response = await start_agent_process(request, agent, adapter)
        return response if response is not None else web.Response(status=202)

    return messages
