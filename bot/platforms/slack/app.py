"""The Slack side of ``rcbot serve``: a slack_bolt app for events, interactions and ``/rc``.

Listeners only translate: Slack payloads in, calls to :mod:`bot.conversation.answering` and
:mod:`bot.conversation.commands` out, Block Kit back. Database work goes through
:func:`bot.db_boundary.run_db` (a bounded worker pool) so the event loop stays free to
acknowledge Slack within its 3 seconds; button presses are acknowledged before any work.
Request signatures (with the 5-minute replay window) are checked by bolt with the real
signing secret.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.conversation import content
from bot.conversation.answering import (
    Answering,
    Finished,
    Invalid,
    Outcome,
    QuestionPage,
    Refused,
    Withdrawn,
    same_screen,
)
from bot.conversation.commands import OwnerCommands, Reply
from bot.db_boundary import UNAVAILABLE_TEXT, DatabaseUnavailable, database_reachable, run_db
from bot.messages import Message, Text
from bot.platform import DeliveryError, MessageRef
from bot.platforms.slack import render
from bot.platforms.slack.client import SlackPlatform
from surveys.model import Email, InvitationId, Platform

log = logging.getLogger(__name__)

Ack = Callable[..., Awaitable[None]]
Listener = Callable[[dict[str, Any], Ack], Awaitable[None]]
ACK_BUDGET: Final = 1.5
"""Seconds an owner command may take to answer inside the acknowledgement; past it, rcbot
acknowledges at once ("Working on it...") and answers through the response URL, well inside
Slack's 3 seconds."""
PAGE_BUDGET: Final = 0.08
"""When a submitted page's next page cannot be known at once (this server has not read the
invitation lately: see :meth:`Answering.predict`), the seconds its saving may take to be
answered inside the acknowledgement; past it, rcbot acknowledges with "Saving your
answers..." and shows the next page with views.update. A page is saved in a few
milliseconds on a quiet server, so this path is for a busy one: acknowledgements stay
under a tenth of a second (measured by ``make bench``) instead of waiting for the
database."""
PRESS_WAITS_FOR_SAVES: Final = 1.0
"""Seconds a Start or Edit press waits for the pages of that invitation still being saved
(acknowledged with their next page, saved after): the page it opens then follows from every
page submitted before it, rather than from the database as it was a moment earlier. Well
inside the 3 s a modal's trigger lasts."""
MAX_IN_FLIGHT: Final = 64
"""Presses and page submissions whose work (reading or saving in the database, opening the
page) may be under way at once. Past it a burst is more than this machine can serve: a
press is acknowledged and told "busy, try again" (a modal's trigger lasts 3 s, so queueing
it would fail anyway), a submission is answered "busy, submit again" on its own page, the
answers still on it; either costs no database work, so every acknowledgement stays fast."""
BUSY_TEXT: Final = "rcbot is busy right now: please try again in a moment."
FAILED_TEXT: Final = (
    "Sorry, rcbot could not finish that. Please try again; if it keeps happening, tell the "
    "survey's owner."
)


class Admission:
    """A count of the work under way, refusing more than ``limit`` (no queue, no waiting)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        self.refused = 0

    def enter(self) -> bool:
        if self.running >= self.limit:
            self.refused += 1
            return False
        self.running += 1
        return True

    def leave(self) -> None:
        self.running -= 1


class InOrder:
    """Work for one key (an invitation) run one piece after another, in the order given,
    whatever became of the piece before; different keys run side by side. A piece takes its
    place in line when :meth:`run` is called (not when it is first awaited)."""

    def __init__(self) -> None:
        self._last: dict[Any, asyncio.Future[Any]] = {}

    def run[T](self, key: Any, start: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        before = self._last.get(key)

        async def after_before() -> T:
            if before is not None:
                await asyncio.wait({before})
            return await start()

        mine = asyncio.ensure_future(after_before())
        self._last[key] = mine

        def done(_: asyncio.Future[T]) -> None:
            if self._last.get(key) is mine:
                del self._last[key]

        mine.add_done_callback(done)
        return mine

    async def done_with(self, key: Any, seconds: float) -> bool:
        """Wait (at most ``seconds``) for the work put in line for ``key`` so far; whether
        it is all done."""
        last = self._last.get(key)
        if last is None:
            return True
        done, _ = await asyncio.wait({last}, timeout=seconds)
        return bool(done)

    def followed(self, key: Any, piece: asyncio.Future[Any]) -> bool:
        """Whether more work for ``key`` was put in line after ``piece``."""
        last = self._last.get(key)
        return last is not None and last is not piece

    async def settle(self, seconds: float) -> int:
        """Wait (at most ``seconds``) for the work under way; how many pieces were left."""
        pending = list(self._last.values())  # each key's last piece waits for the others
        if not pending:
            return 0
        _, left = await asyncio.wait(pending, timeout=seconds)
        return len(left)

    def __len__(self) -> int:
        return len(self._last)


class SeenEvents:
    """Event ids already handled, so a Slack retry is acknowledged without repeating work."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, event_id: str) -> bool:
        if event_id in self._ids:
            return False
        self._ids[event_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True


def build_slack_app(
    *,
    signing_secret: str,
    platform: SlackPlatform,
    answering: Answering,
    commands: OwnerCommands,
    max_in_flight: int | None = None,
    saves: InOrder | None = None,
) -> AsyncApp:
    """``saves``: where the pages saved after their acknowledgement wait in line; the
    server waits for it (:meth:`InOrder.settle`) before it stops, so a page shown as saved
    is saved."""
    admission = Admission(MAX_IN_FLIGHT if max_in_flight is None else max_in_flight)
    app = AsyncApp(
        signing_secret=signing_secret,
        client=platform.client,
        # Acknowledge as soon as a listener calls ack(); a view submission's listener
        # still answers in its ack (response_action), after saving the page.
        process_before_response=False,
        raise_error_for_unhandled_request=False,
    )
    seen = SeenEvents()

    @app.error
    async def unavailable(
        error: Exception, body: dict[str, Any], response: BoltResponse | None
    ) -> BoltResponse | None:
        """A database outage: acknowledge with 200 and a polite "try again", never a 404 or
        silence. ``response`` is None when the listener had already acknowledged."""
        if not isinstance(error, DatabaseUnavailable):
            log.error("Slack listener failed: %s", _where(error))
            return None
        log.warning("Slack request during a database outage: %s", error)
        if response is not None:
            return BoltResponse(status=200, body=_unavailable_ack(body))
        await _tell_after_ack(platform, body)
        return None

    def retried(body: dict[str, Any]) -> bool:
        """Whether this event was handled already (Slack retries an event it thinks was not
        acknowledged in time). Checked by the event listeners themselves, not by a global
        middleware, which would cost every button press and page its own call."""
        event_id = body.get("event_id")
        if event_id and not seen.first_time(str(event_id)):
            log.info("Slack retry of event %s already handled", event_id)
            return True
        return False

    def after_ack(listener: Listener) -> Listener:
        """A listener whose work may go on after it acknowledged: a failure from then on is
        told to the person here (an outage politely, anything else as a failure), never
        raised: raised after ``ack()``, bolt's runner can reset the acknowledgement and
        answer Slack with a 404. A failure before the acknowledgement is raised, for
        :func:`unavailable` to answer in the acknowledgement itself."""

        async def run(body: dict[str, Any], ack: Ack) -> None:
            acked = False

            async def ack_once(*args: Any, **kwargs: Any) -> None:
                nonlocal acked
                await ack(*args, **kwargs)
                acked = True

            try:
                await listener(body, ack_once)
            except DatabaseUnavailable as error:
                if not acked:
                    raise
                log.warning("Slack request during a database outage: %s", error)
                await _tell_after_ack(platform, body)
            except Exception as error:
                if not acked:
                    raise
                log.error("Slack listener failed after acknowledging: %s", _where(error))
                await _tell_after_ack(platform, body, FAILED_TEXT)

        return run

    saving = InOrder() if saves is None else saves

    @after_ack
    async def open_page(body: dict[str, Any], ack: Ack) -> None:
        await ack()
        user = body["user"]["id"]
        if not admission.enter():
            await _tell(platform, body, BUSY_TEXT)
            return
        try:
            invitation = InvitationId(int(body["actions"][0]["value"]))
            await saving.done_with(invitation, PRESS_WAITS_FOR_SAVES)
            outcome = await run_db(answering.start, invitation, Platform.SLACK, user)
            if isinstance(outcome, QuestionPage):
                view = render.page_view(outcome)
            else:
                reason = outcome.reason if isinstance(outcome, Refused) else "Nothing to answer."
                view = render.notice_view("rcbot", reason)
            await platform.client.views_open(trigger_id=body["trigger_id"], view=view)
        finally:
            admission.leave()

    app.action("rc_start")(open_page)
    app.action("rc_edit")(open_page)

    @app.action("rc_stop_reminders")
    @after_ack
    async def stop_reminders(body: dict[str, Any], ack: Ack) -> None:
        await ack()
        user = body["user"]["id"]
        invitation = InvitationId(int(body["actions"][0]["value"]))
        refused = await run_db(answering.stop_reminders, invitation, Platform.SLACK, user)
        text = (
            refused.reason
            if refused
            else "Done: no more reminders for this round. You can still answer until it closes."
        )
        channel = (body.get("channel") or {}).get("id") or user
        await platform.client.chat_postEphemeral(channel=channel, user=user, text=text)

    async def publish_home(user: str) -> None:
        views = await run_db(answering.service.views_for_user, Platform.SLACK, user)
        closed = await run_db(answering.service.withdrawable_views, Platform.SLACK, user)
        sections = [content.home_section(v) for v in views]
        sections += [content.closed_section(v) for v in closed]
        await platform.client.views_publish(user_id=user, view=render.home_view(sections))

    @app.action("rc_withdraw")
    @after_ack
    async def withdraw(body: dict[str, Any], ack: Ack) -> None:
        await ack()
        user = body["user"]["id"]
        invitation = InvitationId(int(body["actions"][0]["value"]))
        outcome = await run_db(answering.withdraw, invitation, Platform.SLACK, user)
        text = outcome.reason if isinstance(outcome, Refused) else outcome.text
        if isinstance(outcome, Withdrawn) and outcome.message_ref:
            try:
                await platform.update_message(
                    MessageRef.decode(outcome.message_ref), Message(text, (Text(text),))
                )
            except DeliveryError as exc:
                log.warning("could not update the invitation message: %s", exc.reason)
        if (body.get("container") or {}).get("type") == "view" or body.get("view"):
            await publish_home(user)
        channel = (body.get("channel") or {}).get("id") or user
        try:
            await platform.client.chat_postEphemeral(channel=channel, user=user, text=text)
        except SlackApiError:
            await platform.client.chat_postMessage(channel=user, text=text)

    def page_outcome_view(outcome: Outcome) -> tuple[str, dict[str, Any]]:
        """How a submitted page is answered: ("errors", errors) or ("update", view)."""
        if isinstance(outcome, Invalid):
            errors = {
                k or outcome.page.questions[0].dimension: v for k, v in outcome.errors.items()
            }
            return "errors", errors
        if isinstance(outcome, QuestionPage):
            return "update", render.page_view(outcome)
        if isinstance(outcome, Finished):
            return "update", render.notice_view(
                "Thank you",
                "**Thank you.** Your answers are saved. You can change them until "
                f"{outcome.closes} with the Edit button in our chat.",
            )
        return "update", render.notice_view("rcbot", outcome.reason)

    @app.view(render.PAGE_CALLBACK)
    @after_ack
    async def submit_page(body: dict[str, Any], ack: Ack) -> None:
        if not admission.enter():
            await ack(**_busy_page(body["view"]))
            return
        try:
            await save_page(body, ack)
        finally:
            admission.leave()

    async def save_page(body: dict[str, Any], ack: Ack) -> None:
        view = body["view"]
        user = body["user"]["id"]
        meta = json.loads(view.get("private_metadata") or "{}")
        invitation = InvitationId(int(meta["inv"]))
        role, editing = str(meta["role"]), bool(meta.get("edit"))
        values = render.page_values(view.get("state") or {})

        def submit(predicted: bool = False) -> Awaitable[Outcome]:
            return run_db(
                answering.submit,
                invitation,
                Platform.SLACK,
                user,
                role,
                values,
                editing=editing,
                predicted=predicted,
            )

        # Usually the next page is known at once (the invitation as this server last read
        # it, and the same rule): acknowledge with it, then save, and correct the screen in
        # the rare case the saved outcome differs. A page's saves run in the order submitted.
        predicted = (
            answering.predict(invitation, Platform.SLACK, user, role, values, editing=editing)
            if database_reachable()  # in an outage, "try again" comes first, not a page
            else None
        )
        if predicted is not None:
            line = saving.run(invitation, lambda: submit(predicted=True))
            await ack(response_action="update", view=page_outcome_view(predicted)[1])
            try:
                outcome = await line
            except BaseException:  # not saved: what was predicted must not be built upon
                answering.forget(invitation)
                raise
            if not same_screen(predicted, outcome):
                answering.forget(invitation)
                # Unless a later page was submitted since: it is on the screen now, and its
                # own save decides what the screen must say.
                if not saving.followed(invitation, line):
                    await show_late(view, outcome)
        else:
            outcome = await answer_or_late(view, ack, saving.run(invitation, submit))
        if isinstance(outcome, Finished):
            ref = outcome.view.invitation.message_ref
            if ref:
                try:
                    await platform.update_message(
                        MessageRef.decode(ref), content.answered(outcome.view)
                    )
                except DeliveryError as exc:
                    log.warning("could not update the invitation message: %s", exc.reason)

    async def answer_or_late(view: dict[str, Any], ack: Ack, saved: Awaitable[Outcome]) -> Outcome:
        """Answer in the acknowledgement when the page is saved in time; otherwise
        acknowledge now with "saving" and show the outcome with views.update, so
        acknowledgements never wait long for the database."""
        work = asyncio.ensure_future(saved)
        done, _ = await asyncio.wait({work}, timeout=PAGE_BUDGET)
        if not done:
            await ack(
                response_action="update",
                view=render.notice_view("rcbot", "Saving your answers..."),
            )
            outcome = await work
            await show_late(view, outcome)
            return outcome
        outcome = work.result()
        action, shown = page_outcome_view(outcome)
        if action == "errors":
            await ack(response_action="errors", errors=shown)
        else:
            await ack(response_action="update", view=shown)
        return outcome

    async def show_late(view: dict[str, Any], outcome: Outcome) -> None:
        """Show an outcome after the acknowledgement (views.update)."""
        action, shown = page_outcome_view(outcome)
        if action == "errors":  # too late to mark the fields: show the page again
            assert isinstance(outcome, Invalid)
            shown = render.page_view(outcome.page)
        try:
            await platform.client.views_update(view_id=view["id"], view=shown)
        except SlackApiError as exc:
            log.warning("could not update the page: %s", exc.response.get("error"))
        except (SlackRequestError, OSError) as exc:
            log.warning("could not update the page: %s", type(exc).__name__)

    @app.event("app_home_opened")
    async def home(body: dict[str, Any], event: dict[str, Any]) -> None:
        if retried(body) or event.get("tab", "home") != "home":
            return
        await publish_home(event["user"])

    @app.event("message")
    async def ignore_messages() -> None:
        """DMs to the bot need no answer; acknowledging them stops Slack retrying."""

    @app.command("/rc")
    async def owner_command(body: dict[str, Any], ack: Ack, respond: Any) -> None:
        async def run() -> Reply:
            email = await _email_of(platform, body["user_id"])
            return await commands.run(body.get("text") or "", email)

        # Answered in the acknowledgement itself (ephemeral) when it is ready in time, as it
        # usually is; otherwise acknowledged at once and answered through response_url.
        work = asyncio.ensure_future(run())
        done, _ = await asyncio.wait({work}, timeout=ACK_BUDGET)
        if not done:
            await ack(text="Working on it...", response_type="ephemeral")
        reply = await work
        answer = {
            "text": render.fallback(reply.message),
            "blocks": render.blocks(reply.message),
            "response_type": "in_channel" if reply.public else "ephemeral",
        }
        if done:
            await ack(**answer)
        else:
            await respond(**answer)

    return app


def _where(error: BaseException) -> str:
    """A failure for the log: its type and where it happened, never its message (a
    database error's text can quote the row it refused: someone's answers)."""
    frames = traceback.extract_tb(error.__traceback__)[-3:]
    trail = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
    return f"{type(error).__name__} at {trail or 'an unknown place'}"


def _busy_page(view: dict[str, Any]) -> dict[str, Any]:
    """The acknowledgement of a page submitted while rcbot is too busy: an error on the page
    itself (the answers stay on it, ready to submit again)."""
    blocks = list(((view.get("state") or {}).get("values") or {}).keys())
    if blocks:
        return {"response_action": "errors", "errors": {blocks[0]: BUSY_TEXT}}
    return {"response_action": "update", "view": render.notice_view("rcbot", BUSY_TEXT)}


async def _tell(platform: SlackPlatform, body: dict[str, Any], text: str) -> None:
    """A line only the person sees, where they pressed."""
    user = body["user"]["id"]
    channel = (body.get("channel") or {}).get("id") or user
    try:
        await platform.client.chat_postEphemeral(channel=channel, user=user, text=text)
    except (SlackApiError, SlackRequestError, OSError) as exc:
        log.warning("could not tell a person rcbot is busy: %s", type(exc).__name__)


def _unavailable_ack(body: dict[str, Any]) -> dict[str, Any] | str:
    """The acknowledgement body that says "try again" in the place the person looks."""
    if body.get("type") == "view_submission":
        view = render.notice_view("rcbot", UNAVAILABLE_TEXT)
        return {"response_action": "update", "view": view}
    if "command" in body:
        return {"response_type": "ephemeral", "text": UNAVAILABLE_TEXT}
    return ""


async def _tell_after_ack(
    platform: SlackPlatform, body: dict[str, Any], text: str = UNAVAILABLE_TEXT
) -> None:
    """After the acknowledgement, ``text`` (by default: rcbot is briefly unavailable): the
    page (already showing "saving" or the next page) or the command's reply says it, else a
    notice in a modal, else an ephemeral line."""
    if "command" in body and body.get("response_url"):
        try:
            await AsyncWebhookClient(body["response_url"]).send(
                text=text, response_type="ephemeral"
            )
        except (SlackRequestError, OSError) as exc:
            log.warning("could not tell the person what happened: %s", type(exc).__name__)
        return
    user = (body.get("user") or {}).get("id")
    if not user:
        return
    try:
        view_id = (body.get("view") or {}).get("id")
        if body.get("type") == "view_submission" and view_id:
            view = render.notice_view("rcbot", text)
            await platform.client.views_update(view_id=view_id, view=view)
        elif body.get("trigger_id"):
            view = render.notice_view("rcbot", text)
            await platform.client.views_open(trigger_id=body["trigger_id"], view=view)
        else:
            channel = (body.get("channel") or {}).get("id") or user
            await platform.client.chat_postEphemeral(channel=channel, user=user, text=text)
    except SlackApiError as exc:
        log.warning("could not tell the person what happened: %s", exc.response.get("error"))
    except (SlackRequestError, OSError) as exc:
        log.warning("could not tell the person what happened: %s", type(exc).__name__)


async def _email_of(platform: SlackPlatform, user_id: str) -> Email | None:
    try:
        response = await platform.client.users_info(user=user_id)
    except SlackApiError:
        return None
    email = ((response.get("user") or {}).get("profile") or {}).get("email")
    return Email(email.strip().lower()) if email else None
