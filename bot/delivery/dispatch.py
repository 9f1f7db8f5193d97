"""Turning planned messages into sent ones: the outbox's sender.

``plan_invitations`` puts an invitation for every undelivered participant into the outbox;
``Dispatcher.drain`` claims due messages, finds each recipient on their platform (stored id,
else a bulk look-up by e-mail), sends, and records the outcome on the outbox row and the
invitation. Nobody is dropped silently: not found, not reachable and uncertain messages stay
visible to owners.

The dispatcher runs on the event loop (sends are awaited), and every database step (claim,
compose, record, cancel, mark) goes through :func:`bot.db_boundary.run_background_db`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

from bot.conversation import content
from bot.db_boundary import run_background_db
from bot.messages import Attachment, Message, message_from_dict, message_to_dict
from bot.platform import ChannelId, ChatPlatform, DeliveryError, MessageRef, PlatformUserId
from surveys.delivery import Outbox
from surveys.model import (
    DeliveryState,
    Email,
    Participant,
    ParticipantId,
    Platform,
    RoundId,
    RoundState,
    RoundStatus,
)
from surveys.outbox import (
    LEASE,
    Address,
    AddressKind,
    NewMessage,
    OutboxItem,
    OutboxKind,
    OutboxState,
)
from surveys.publishing import PublishJobs
from surveys.service import SurveyService

log = logging.getLogger(__name__)

FLUSH_EVERY = 25
"""Successful sends are recorded in batches of this many (one transaction each)."""
RENEW_SECONDS = LEASE.total_seconds() / 4
"""How often (real seconds) a sender at work renews the leases of the batch it holds."""


@runtime_checkable
class ChecksHistory(Protocol):
    """A platform that can tell whether a message with an outbox key was already sent."""

    async def find_sent(self, user: PlatformUserId, key: str) -> MessageRef | None: ...


@runtime_checkable
class ChecksChannelHistory(Protocol):
    """A platform that can tell whether a channel post with an outbox key was made."""

    async def find_posted(self, channel: ChannelId, key: str) -> MessageRef | None: ...


@dataclass
class DrainReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    uncertain: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)
    """(recipient, reason) for every message that will not be delivered."""

    @property
    def handled(self) -> int:
        return self.sent + self.retrying + self.failed


def plan_invitations(service: SurveyService, outbox: Outbox) -> int:
    """Queue one invitation per undelivered participant of every open round (idempotent)."""
    return outbox.enqueue(
        NewMessage(
            key=f"invitation:{view.invitation.id}",
            kind=OutboxKind.INVITATION,
            survey_id=view.round.survey_id,
            platform=view.participant.platform,
            recipient=Address.participant(view.participant.id),
            round_id=view.round.id,
            invitation_id=view.invitation.id,
            payload={"message": message_to_dict(content.invitation(view))},
        )
        for view in service.undelivered()
    )


def platform_user(person: Participant) -> str | None:
    return person.platform_user_id(person.platform)


class Dispatcher:
    def __init__(
        self,
        service: SurveyService,
        outbox: Outbox,
        platforms: Mapping[Platform, ChatPlatform],
        *,
        batch: int = 200,
        concurrency: int = 8,
        renew_seconds: float = RENEW_SECONDS,
    ) -> None:
        self.service = service
        self.outbox = outbox
        self.platforms = dict(platforms)
        self.batch = batch
        self.concurrency = concurrency
        self.renew_seconds = renew_seconds
        self._statuses: dict[RoundId, RoundStatus] = {}
        self.publications = PublishJobs(service.engine, service.clock)
        self._missing: dict[ParticipantId, str] = {}
        self._sent: list[tuple[OutboxItem, str]] = []
        """Why each person the last look-up did not find was not found."""

    async def drain(
        self,
        max_batches: int | None = None,
        *,
        round_id: RoundId | None = None,
        kinds: Sequence[OutboxKind] = (),
    ) -> DrainReport:
        """Send everything that is due now (or only a round's messages of some kinds),
        batch by batch."""
        report = DrainReport()
        await self._recover(report)
        batches = 0
        while max_batches is None or batches < max_batches:
            items = await run_background_db(self._claim, round_id, kinds)
            if not items:
                break
            batches += 1
            await self._send_batch(items, report)
        return report

    def _claim(self, round_id: RoundId | None, kinds: Sequence[OutboxKind]) -> list[OutboxItem]:
        return [
            item
            for platform in self.platforms
            for item in self.outbox.claim(self.batch, platform, round_id=round_id, kinds=kinds)
        ]

    async def _send_batch(self, items: list[OutboxItem], report: DrainReport) -> None:
        people = await run_background_db(
            self.service.participants_by_id,
            [pid for i in items if (pid := i.recipient.participant_id) is not None],
        )
        users = await self._resolve(list(people.values()))
        self._statuses.clear()  # response rates quoted in reminders: fresh once per batch
        gate = asyncio.Semaphore(self.concurrency)

        async def one(item: OutboxItem) -> None:
            async with gate:
                await self._send(item, people, users, report)

        # However long the batch takes (a slow workspace, a long Retry-After), its leases
        # stay this sender's: only a sender that is gone lets them run out.
        keeper = asyncio.create_task(self._keep_leases([i.id for i in items]))
        try:
            await asyncio.gather(*(one(item) for item in items))
        finally:
            try:
                await self._flush()
            finally:
                keeper.cancel()

    async def _keep_leases(self, ids: list[int]) -> None:
        while True:
            await asyncio.sleep(self.renew_seconds)
            try:
                await run_background_db(self.outbox.renew, ids)
            except Exception as exc:  # the database is away: recovery settles what expires
                log.warning("could not renew the outbox leases (%s)", type(exc).__name__)

    async def _resolve(self, people: Sequence[Participant]) -> dict[ParticipantId, str]:
        """Platform user ids: stored ones, else one bulk look-up by e-mail per platform."""
        users: dict[ParticipantId, str] = {}
        lookup: dict[Platform, list[Participant]] = defaultdict(list)
        for person in people:
            assert person.id is not None
            known = platform_user(person)
            if known:
                users[person.id] = known
            elif person.platform in self.platforms:
                lookup[person.platform].append(person)
        for platform, group in lookup.items():
            resolution = await self.platforms[platform].resolve_users([p.email for p in group])
            new_ids: dict[ParticipantId, str] = {}
            for person in group:
                assert person.id is not None
                found = resolution.found.get(person.email)
                if found is None:
                    self._missing[person.id] = resolution.missing.get(
                        person.email, f"not found on {platform.value} by e-mail"
                    )
                    continue
                users[person.id] = new_ids[person.id] = found
            # Stored before anything is sent: crash recovery relies on it. An account that
            # another participant already holds is refused and reported to the owners.
            refused = await run_background_db(self.service.remember_platform_ids, platform, new_ids)
            for participant_id, reason in refused.items():
                users.pop(participant_id, None)
                self._missing[participant_id] = reason
        return users

    async def _send(
        self,
        item: OutboxItem,
        people: Mapping[ParticipantId, Participant],
        users: Mapping[ParticipantId, str],
        report: DrainReport,
    ) -> None:
        chat = self.platforms[item.platform]
        message = await run_background_db(self._compose, item)
        if message is None:
            return
        try:
            address = item.recipient
            if address.kind is AddressKind.CHANNEL:
                channel = ChannelId(address.value)
                files = [_attachment(f) for f in item.payload.get("files", [])]
                ref = await chat.post_to_channel(channel, message, files, key=item.key)
            elif address.kind is AddressKind.OWNER:
                email = Email(address.value)
                found = (await chat.resolve_users([email])).found.get(email)
                if found is None:
                    reason = f"not found on {item.platform.value} by e-mail"
                    await self._undeliverable(item, email, reason, DeliveryState.FAILED, report)
                    return
                files = [_attachment(f) for f in item.payload.get("files", [])]
                ref = await chat.send_direct(found, message, key=item.key, attachments=files)
            else:
                pid = ParticipantId(int(address.value))
                user = users.get(pid)
                if user is None:
                    reason = self._missing.get(pid, f"not found on {item.platform.value} by e-mail")
                    await self._undeliverable(
                        item, people[pid].email, reason, DeliveryState.UNRESOLVED, report
                    )
                    return
                ref = await chat.send_direct(PlatformUserId(user), message, key=item.key)
        except DeliveryError as exc:
            await self._failed(item, people, exc, report)
            return
        report.sent += 1
        self._sent.append((item, ref.encode()))
        if len(self._sent) >= FLUSH_EVERY:
            await self._flush()

    async def _flush(self) -> None:
        """Record the sends so far in one transaction (a crash before this leaves them
        "sending", which recovery settles without sending twice)."""
        sent, self._sent = self._sent, []
        if sent:
            await run_background_db(self.outbox.mark_many_sent, sent)

    def _compose(self, item: OutboxItem) -> Message | None:
        """The message to send: stored when planned, or composed now from fresh figures
        (reminders quote the current response rate). None: no longer wanted."""
        if "message" in item.payload:
            return message_from_dict(item.payload["message"])
        assert item.round_id is not None
        status = self._statuses.get(item.round_id)
        if status is None:
            status = self._statuses[item.round_id] = self.service.status_of(item.round_id)
        now = self.service.clock.now()
        template = item.payload.get("template")
        if template == "results_notice":
            survey = self.service.get_survey_by_id(item.survey_id)
            return content.results_notice(
                survey, status.round, self.publications.status(item.round_id)
            )
        if template == "digest":
            if status.round.state is not RoundState.OPEN:
                self.outbox.cancel(item.id, "the round closed before the digest went")
                return None
            problems = self.outbox.undeliverable(item.round_id)
            previous: list[str] = []
            latest = self.publications.latest(item.survey_id)
            if latest is not None:
                survey = self.service.get_survey_by_id(item.survey_id)
                previous = content.results_status(survey, *latest)
            return content.digest(status, problems, now, previous)
        assert item.invitation_id is not None
        view = self.service.view(item.invitation_id)
        if view.invitation.completed or view.invitation.reminders_opt_out:
            self.outbox.cancel(item.id, "answered or opted out before the reminder went")
            return None
        if not view.round.accepts_answers(now):
            self.outbox.cancel(item.id, "the round closed before the reminder went")
            return None
        return content.reminder(view, status, now)

    async def _failed(
        self,
        item: OutboxItem,
        people: Mapping[ParticipantId, Participant],
        exc: DeliveryError,
        report: DrainReport,
    ) -> None:
        if exc.uncertain:
            # It may have gone out: settled at the next drain like a crash (history first).
            await run_background_db(self.outbox.mark_uncertain, item, exc.reason)
            report.retrying += 1
            return
        if exc.retry_after is not None and not exc.permanent:
            # Rate limited: not the message's fault, so it does not use up an attempt.
            await run_background_db(self.outbox.release, item, timedelta(seconds=exc.retry_after))
            report.retrying += 1
            return
        state = await run_background_db(
            self.outbox.mark_failed, item, exc.reason, permanent=exc.permanent
        )
        if state is OutboxState.PENDING:
            report.retrying += 1
            return
        who = item.recipient.value
        if (pid := item.recipient.participant_id) is not None:
            who = people[pid].email
        await self._undeliverable(item, who, exc.reason, DeliveryState.FAILED, report, marked=True)

    async def _undeliverable(
        self,
        item: OutboxItem,
        who: str,
        reason: str,
        state: DeliveryState,
        report: DrainReport,
        *,
        marked: bool = False,
    ) -> None:
        await run_background_db(self._record_undeliverable, item, reason, state, marked)
        report.failed += 1
        report.problems.append((who, reason))
        log.warning("message %s not delivered: %s", item.key, reason)

    def _record_undeliverable(
        self, item: OutboxItem, reason: str, state: DeliveryState, marked: bool
    ) -> None:
        if not marked:
            self.outbox.mark_failed(item, reason, permanent=True)
        if item.kind is OutboxKind.INVITATION and item.invitation_id is not None:
            self.service.record_delivery(item.invitation_id, state, error=reason)

    async def _recover(self, report: DrainReport) -> None:
        """Settle messages a crashed sender left mid-send, and sends whose outcome was
        uncertain (a 5xx or a timeout after posting), without sending any twice.

        A message is resent only when it surely did not go out: its recipient had no platform
        id yet (ids are stored before any send), or the platform's history lacks its key.
        One that keeps failing ends failed after :data:`~surveys.outbox.MAX_ATTEMPTS`; one
        the platform cannot check is left uncertain and reported.
        """
        for item in await run_background_db(self.outbox.expired_leases):
            chat = self.platforms.get(item.platform)
            try:
                ref, unsent = (None, False) if chat is None else await self._look_up(chat, item)
            except DeliveryError as exc:
                if not exc.permanent:
                    continue  # the platform cannot tell now: ask at the next drain
                ref, unsent = None, False
            sent_ref = None if ref is None else ref.encode()
            state, error = await run_background_db(self._settle, item, sent_ref, unsent)
            if state is OutboxState.UNCERTAIN:
                report.uncertain += 1
                report.problems.append((str(item.recipient), error))
            elif state is OutboxState.FAILED:
                report.failed += 1
                report.problems.append((str(item.recipient), error))
                log.warning("message %s not delivered: %s", item.key, error)

    async def _look_up(
        self, chat: ChatPlatform, item: OutboxItem
    ) -> tuple[MessageRef | None, bool]:
        """(the message found in the platform's history, whether it surely was not sent)."""
        address = item.recipient
        if (pid := address.participant_id) is not None:
            person = (await run_background_db(self.service.participants_by_id, [pid]))[pid]
            user = platform_user(person)
            if user is None:
                return None, True
            if isinstance(chat, ChecksHistory):
                ref = await chat.find_sent(PlatformUserId(user), item.key)
                return ref, ref is None
        elif address.kind is AddressKind.OWNER and isinstance(chat, ChecksHistory):
            email = Email(address.value)
            found = (await chat.resolve_users([email])).found.get(email)
            if found is not None:
                ref = await chat.find_sent(found, item.key)
                return ref, ref is None
        elif address.kind is AddressKind.CHANNEL and isinstance(chat, ChecksChannelHistory):
            ref = await chat.find_posted(ChannelId(address.value), item.key)
            return ref, ref is None
        return None, False

    def _settle(
        self, item: OutboxItem, sent_ref: str | None, unsent: bool
    ) -> tuple[OutboxState, str]:
        state = self.outbox.resolve_expired(item, sent_ref=sent_ref, unsent=unsent)
        error = ""
        if state in (OutboxState.UNCERTAIN, OutboxState.FAILED):
            (settled,) = self.outbox.items(ids=[item.id])
            error = settled.last_error or state.value
        if item.kind is OutboxKind.INVITATION and item.invitation_id:
            if sent_ref is not None:
                self.service.record_delivery(
                    item.invitation_id, DeliveryState.SENT, message_ref=sent_ref
                )
            elif state is OutboxState.FAILED:
                self.service.record_delivery(item.invitation_id, DeliveryState.FAILED, error=error)
        return state, error


def _attachment(spec: Mapping[str, str]) -> Attachment:
    """The file as it was analysed: when the message carries the hash of the analysed bytes,
    different bytes (the file was rewritten or replaced) are never sent."""
    path = Path(spec["path"])
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise DeliveryError(f"the file {path.name} cannot be read ({exc.strerror})") from None
    expected = spec.get("sha256")
    if expected and hashlib.sha256(content).hexdigest() != expected:
        raise DeliveryError(
            f"the file {path.name} changed after it was analysed, so it was not sent",
            permanent=True,
        )
    return Attachment(
        filename=spec.get("name", path.name),
        content=content,
        mime_type=spec.get("mime_type", "application/octet-stream"),
        title=spec.get("title", ""),
    )
